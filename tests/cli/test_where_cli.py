"""Issue 19 item 2: ``--where`` on ``status``, ``resolve`` and ``explain`` (DuckDB and
PostgreSQL): every count and every explained sample is restricted to the matching samples."""

from __future__ import annotations

from metaxy import api
from tests.cli.conftest import one_line_error, run, run_json
from tests.cli.test_ci_gate import _make_transcripts_stale


def test_status_and_resolve_where(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)  # v0001 and v0002
    (row,) = run_json("status", "speech/transcript", "--where", "video_id = 'v0001'",
                      "--store", populated)["features"]
    assert (row["stale"], row["up_to_date"], row["new"]) == (1, 0, 0)
    (row,) = run_json("status", "speech/transcript", "--where",
                      "video_id in ('v0003', 'v0004')", "--exit-code", "--store",
                      populated)["features"]
    assert (row["stale"], row["up_to_date"]) == (0, 2)
    (root,) = run_json("status", "media/video", "--where", "video_id < 'v0005'", "--store",
                       populated)["features"]
    assert root["stored"] == 5
    doc = run_json("resolve", "speech/transcript", "-w", "video_id != 'v0001'", "--store",
                   populated)
    assert doc["counts"]["stale"] == 1 and [r["video_id"] for r in doc["rows"]] == ["v0002"]
    rows = api.status(project, project.store(populated), ["speech/keywords"],
                      where="video_id = 'v0002'")
    assert (rows[0].up_to_date, rows[0].stale) == (1, 0)  # stale only once transcripts rerun


def test_explain_where(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)
    out = run_json("explain", "speech/transcript", "--where",
                   "video_id in ('v0001', 'v0002', 'v0003')", "--store", populated)
    assert [(e["sample"]["video_id"], e["state"]) for e in out] == [("v0001", "stale"),
                                                                   ("v0002", "stale")]
    assert run_json("explain", "speech/transcript", "--where", "video_id = 'v0003'",
                    "--store", populated) == []
    text = run("explain", "speech/transcript", "-w", "video_id = 'v0003'", "--store",
               populated).stdout
    assert "needs work" in text
    limited = api.explain(project, project.store(populated), "speech/transcript",
                          where="video_id < 'v0009'", limit=1)
    assert [e.sample["video_id"] for e in limited] == ["v0001"]


def test_where_on_a_feature_without_the_column_is_one_line(populated: str) -> None:
    line = one_line_error(run("status", "--where", "chunk_id = 1", "--store", populated,
                              ok=False))
    assert "--where on feature 'media/video'" in line and "--select" in line
    line = one_line_error(run("explain", "speech/transcript", "--store", populated, ok=False))
    assert "give sample ids or --where" in line
