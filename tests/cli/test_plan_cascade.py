"""``metaxy plan`` counts the cascade (issue 18, item 5): an upper bound, through lineage, of the
downstream samples a pending upstream change may make stale; an empty upstream is named."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from metaxy import api
from tests.cli.conftest import N, run, run_json

DUCKDB = pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)


@DUCKDB
def test_cascade_is_counted_through_lineage(populated: str) -> None:
    rule = "speech/transcript: video_id in ('v0001', 'v0002', 'v0003')"
    rows = {r["feature"]: r for r in run_json("plan", "--store", populated, "--stale-if", rule)[
        "features"]}
    assert rows["speech/transcript"]["status"]["stale"] == 3
    keywords = rows["speech/keywords"]  # identity on transcript: exactly those three
    assert keywords["cascade"] == {"keywords": ["speech/transcript:text"]}
    assert keywords["cascade_samples"] == 3
    assert rows["vision/faces"]["cascade_samples"] is None  # not downstream of transcripts
    assert run("plan", "--store", populated, "--stale-if", rule).exit_code == 0


def test_the_table_labels_the_bound_and_the_empty_upstream() -> None:
    from rich.console import Console

    from metaxy.api import RunPlanRow
    from metaxy.render import run_plan_table
    from metaxy.store.results import Status

    rows = [RunPlanRow("speech/keywords", Status("speech/keywords", False, 0, 0, 0, 5), {},
                       {"keywords": ["speech/transcript:text"]}, 3),
            RunPlanRow("media/chunk", Status("media/chunk", False, 0, 0, 0, 0), {}, {}, None,
                       "no samples: upstream media/video is empty")]
    console = Console(width=200, record=True)
    console.print(run_plan_table(rows))
    text = console.export_text()
    assert "cascade: up to 3 more sample(s) (upper bound through lineage)" in text
    assert "no samples: upstream media/video is empty" in text


@DUCKDB
def test_code_change_bounds_every_linked_sample(project: api.Project, populated: str) -> None:
    bumped = api.with_code_versions(project.graph, {"media/chunk": {"audio": "2"}})
    changed = api.Project(project.config, bumped)
    rows = {r.feature: r for r in api.run_plan(changed, changed.store(populated))}
    assert rows["media/chunk"].status.stale == N  # 1:N: one row per parent video
    summary = rows["speech/summary"]  # aggregation of the chunks per video: every video
    assert summary.cascade == {"summary": ["media/chunk:audio"]}
    assert summary.cascade_samples == N


def test_empty_upstream_is_named(project: api.Project, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/empty.duckdb"
    store = project.store(url)
    with store.open("w"):  # media/video exists, but holds no sample any more
        store.write("media/video", pl.DataFrame({"video_id": ["v1"], "path": ["p"]}))
        store.delete("media/video", store.feature("media/video").video_id == "v1", soft=False)  # type: ignore[attr-defined]
    rows = {r["feature"]: r for r in run_json("plan", "--store", url)["features"]}
    assert rows["media/chunk"]["note"] == "no samples: upstream media/video is empty"
    assert run("plan", "--store", url).exit_code == 0
