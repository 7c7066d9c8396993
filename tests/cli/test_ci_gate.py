"""Issue 19 item 1: the CI gate. ``status/plan --exit-code`` exit 2 when something needs work
(errors: 1), their JSON carries ``needs_work``, and ``explain`` of a wrong sample id exits non-zero.

API and CLI level, on DuckDB and PostgreSQL (the ``populated`` fixture)."""

from __future__ import annotations

import json

import pytest

from metaxy import api, demo
from metaxy.errors import SampleNotFoundError
from tests.cli.conftest import N, one_line_error, run


def _make_transcripts_stale(project: api.Project, url: str) -> None:
    """Re-ingest two videos with another audio input: their chunks and transcripts go stale."""
    store = project.store(url)
    with store.open("w"):
        inc = store.resolve_update("media/video",
                                   samples=demo.make_samples(N, audio_rev={1: 1, 2: 1}))
        store.write("media/video", inc.to_process())  # type: ignore[union-attr]


@pytest.mark.parametrize("command", ["status", "plan"])
def test_exit_code_is_zero_when_everything_is_up_to_date(populated: str, command: str) -> None:
    result = run(command, "--exit-code", "--store", populated)
    assert result.exit_code == 0
    doc = json.loads(run(command, "--exit-code", "--format", "json", "--store",
                         populated).stdout)
    assert doc["needs_work"] is False


@pytest.mark.parametrize("command", ["status", "plan"])
def test_exit_code_is_two_when_samples_are_stale(project: api.Project, populated: str,
                                                  command: str) -> None:
    _make_transcripts_stale(project, populated)
    gated = run(command, "--exit-code", "--store", populated, ok=False)
    assert gated.exit_code == 2
    assert "speech/transcript" in gated.stdout  # the table is printed before exiting
    assert gated.stderr.strip() == "" or "error" not in gated.stderr
    doc = json.loads(run(command, "--exit-code", "--format", "json", "--store", populated,
                         ok=False).stdout)
    assert doc["needs_work"] is True
    # without --exit-code the report is the same but the exit code stays 0 (unchanged habit)
    plain = json.loads(run(command, "--format", "json", "--store", populated).stdout)
    assert plain["needs_work"] is True


def test_exit_code_follows_the_selected_features(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)
    assert run("status", "vision/faces", "--exit-code", "--store", populated).exit_code == 0
    assert run("status", "speech/transcript", "--exit-code", "--store", populated,
               ok=False).exit_code == 2


def test_new_and_orphaned_samples_need_work_too(project: api.Project, populated: str) -> None:
    run("delete", "speech/keywords", "--where", "video_id == 'v0001'", "--yes", "--store",
        populated)
    store = project.store(populated)
    rows = api.status(project, store, ["speech/keywords"])
    assert rows[0].new == 1 and api.needs_work(rows)
    run("delete", "media/video", "--where", "video_id == 'v0002'", "--yes", "--store", populated)
    rows = api.status(project, store, ["speech/transcript"])
    assert rows[0].orphaned and api.needs_work(rows)
    assert run("status", "speech/transcript", "--exit-code", "--store", populated,
               ok=False).exit_code == 2


def test_api_needs_work(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    assert not api.needs_work(api.status(project, store))
    assert not api.needs_work(api.run_plan(project, store))
    _make_transcripts_stale(project, populated)
    assert api.needs_work(api.status(project, store))
    plan = api.run_plan(project, store)
    assert api.needs_work(plan)
    # speech/keywords has nothing stale yet, only a cascade from the transcript: work all the same
    keywords = next(r for r in plan if r.feature == "speech/keywords")
    assert keywords.status.stale == 0 and api.needs_work([keywords])
    assert not api.needs_work([])


def test_explain_of_an_unknown_sample_exits_non_zero(populated: str) -> None:
    result = run("explain", "speech/transcript", "v9999", "--store", populated, ok=False)
    line = one_line_error(result)
    assert "feature 'speech/transcript' has no sample video_id=v9999" in line
    assert "not_found" in result.stdout  # the explanation is still printed
    doc = run("explain", "speech/transcript", "v9999", "--format", "json", "--store", populated,
              ok=False)
    assert doc.exit_code == 1 and json.loads(doc.stdout)[0]["state"] == "unknown"
    # a known and an unknown id: both explained, the exit code says one is wrong
    known = demo.make_samples(N)["video_id"][0]
    both = run("explain", "speech/transcript", known, "v9998", "--store", populated, ok=False)
    assert "v9999" not in both.stderr and "v9998" in both.stderr
    assert run("explain", "speech/transcript", known, "--store", populated).exit_code == 0


def test_explain_of_an_unknown_root_sample_exits_non_zero(populated: str) -> None:
    line = one_line_error(run("explain", "media/video", "v9999", "--store", populated, ok=False))
    assert "feature 'media/video' has no sample video_id=v9999" in line


def test_api_explain_strict_raises(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    [ex] = api.explain(project, store, "speech/transcript", ["v9999"])
    assert not ex.found
    with pytest.raises(SampleNotFoundError, match="v9999"):
        api.explain(project, store, "speech/transcript", ["v9999"], strict=True)
    known = demo.make_samples(N)["video_id"][0]
    [ok] = api.explain(project, store, "speech/transcript", [known], strict=True)
    assert ok.found and ok.state == "up_to_date"


def test_an_error_under_the_gate_exits_one_not_two(tmp_path: object) -> None:
    """A script must tell "work to do" (2) from "could not tell" (1)."""
    result = run("status", "--exit-code", "--store", f"duckdb:///{tmp_path}/missing.duckdb",
                 ok=False)
    assert result.exit_code == 1
    assert "does not exist" in one_line_error(result)
