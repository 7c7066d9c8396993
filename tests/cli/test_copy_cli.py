"""``metaxy copy`` (issue 18, item 3): the CLI over ``mx.copy``."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy import api
from tests.cli.conftest import N, one_line_error, run, run_json


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_copy_then_rerun_copies_nothing(project: api.Project, populated: str,
                                        tmp_path: Path) -> None:
    dev = f"sqlite:///{tmp_path / 'dev.sqlite'}"
    out = run_json("copy", "--from", populated, "--to", dev, "speech/transcript",
                   "media/video", "--where", "video_id != 'v0001'")
    assert out["mode"] == "latest"
    assert {f["feature"]: f["copied"] for f in out["features"]} == {
        "media/video": N - 1, "speech/transcript": N - 1}
    text = run("copy", "--from", populated, "--to", dev, "--history").stdout
    assert "row(s) copied" in text and "media/video" in text
    again = run_json("copy", "--from", populated, "--to", dev, "--history")
    assert again["copied"] == 0
    [st] = run_json("status", "speech/transcript", "--store", dev)["features"]
    assert (st["new"], st["stale"], st["up_to_date"]) == (0, 0, N)
    error = one_line_error(run("copy", "--from", populated, "--to", populated, ok=False))
    assert "same store" in error


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_copy_selects_features_like_the_other_commands(populated: str, tmp_path: Path) -> None:
    first = f"sqlite:///{tmp_path / 'first.sqlite'}"
    out = run_json("copy", "--from", populated, "--to", first, "--select", "media/*",
                   "--exclude", "media/chunk")
    assert [f["feature"] for f in out["features"]] == ["media/video"]
    out = run_json("copy", "--from", populated, "--to", first, "speech/transcript",
                   "--select", "vision/*")  # positional keys are selectors too
    assert [f["feature"] for f in out["features"]] == ["speech/transcript", "vision/faces"]
    # a selector may name features the source does not store: they are skipped...
    second = f"sqlite:///{tmp_path / 'second.sqlite'}"
    out = run_json("copy", "--from", first, "--to", second, "--select", "speech/*")
    assert [(f["feature"], f["copied"]) for f in out["features"]] == [("speech/transcript", N)]
    # ...while a feature named without selectors must be stored
    error = one_line_error(run("copy", "--from", first, "--to", second, "speech/keywords",
                               ok=False))
    assert "stores no rows of feature(s) speech/keywords" in error
