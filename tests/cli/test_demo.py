"""The main job (`metaxy demo`) end to end: its numbers, and that a rerun starts fresh."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from metaxy import demo
from tests.cli.conftest import run

FEATURES = ["media/video", "media/chunk", "speech/transcript", "speech/keywords",
            "speech/summary", "vision/faces"]


def test_demo_numbers(tmp_path: Path) -> None:
    n = 60
    url = f"duckdb:///{tmp_path / 'demo.duckdb'}"
    report = demo.run_demo(url, n, Console(quiet=True))
    first, second, third = (report.processed(i) for i in range(3))
    assert first == dict.fromkeys(FEATURES, n)  # everything new
    n_audio, n_frames = (len(x) for x in demo.changed_indexes(n))
    assert second == {
        "media/video": n_audio + n_frames,  # only the changed sources
        "media/chunk": n_audio,             # chunks depend on the audio only
        "speech/transcript": n_audio,
        "speech/keywords": n_audio,         # staleness travelled through the transcript
        "speech/summary": n_audio,          # ... and through the chunks (N:1)
        "vision/faces": n,                  # the code_version bump: every sample
    }
    assert all(r.stale == r.processed for r in report.runs[1])  # stale, never "new"
    assert third == dict.fromkeys(FEATURES, 0)
    plan = {p.feature: p for p in report.plan}
    assert plan["media/video"].stale_fields == {"audio": n_audio, "frames": n_frames}
    assert plan["vision/faces"].stale_fields == {"faces": n}
    assert plan["speech/transcript"].cascade == {"text": ["media/video:audio"]}
    assert plan["speech/keywords"].cascade == {"keywords": ["speech/transcript:text"]}
    assert [c.kind for c in report.explained[0].causes] == ["code_version"]
    # chunks really are 1:N
    assert report.runs[0][1].rows_written > n


def test_demo_cli_is_repeatable(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'demo.duckdb'}"
    outputs = []
    for _ in range(2):
        data = json.loads(run("demo", "--videos", "12", "--store", url, "--format",
                              "json").stdout)
        outputs.append([{k: v["new"] + v["stale"] for k, v in r.items()} for r in data["runs"]])
    assert outputs[0] == outputs[1]  # the store was recreated: same numbers again
    assert outputs[0][0]["media/video"] == 12 and outputs[0][2]["vision/faces"] == 0
    text = run("demo", "--videos", "12", "--store", url).stdout
    assert "second run" in text and "third run: 0 samples to compute" in text
