"""Issue 19 item 2 at the CLI: ``--select`` / ``--exclude`` on ``list``, ``status`` and ``plan``
(DuckDB and PostgreSQL), combined with the ``--exit-code`` gate."""

from __future__ import annotations

from metaxy import api
from tests.cli.conftest import one_line_error, run, run_json
from tests.cli.test_ci_gate import _make_transcripts_stale


def test_list_select_and_exclude() -> None:
    data = run_json("list", "--select", "+speech/keywords")
    assert [f["key"] for f in data["features"]] == ["media/video", "speech/transcript",
                                                    "speech/keywords"]
    data = run_json("list", "--select", "speech/*", "--exclude", "speech/summary")
    assert [f["key"] for f in data["features"]] == ["speech/transcript", "speech/keywords"]


def test_status_and_plan_select(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)
    status = run_json("status", "--select", "speech/transcript+", "--store", populated)
    assert [f["feature"] for f in status["features"]] == ["speech/transcript", "speech/keywords"]
    assert status["needs_work"] is True
    plan = run("plan", "--select", "vision/*", "--exit-code", "--format", "json", "--store",
               populated)
    assert plan.exit_code == 0 and '"vision/faces"' in plan.stdout
    gated = run("plan", "--select", "+speech/keywords", "--exclude", "media/*", "--exit-code",
                "--store", populated, ok=False)
    assert gated.exit_code == 1 and "speech/keywords" in gated.stdout
    assert "media/video" not in gated.stdout


def test_a_bad_selector_is_one_line(populated: str) -> None:
    line = one_line_error(run("status", "--select", "speech/nope", "--store", populated,
                              ok=False))
    assert "selector 'speech/nope' matches no feature" in line
