"""`metaxy cleanup` through the real entry point, on DuckDB and PostgreSQL, and its Python API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from metaxy import api, demo
from metaxy.cli import app
from tests.cli.conftest import N, one_line_error, run, run_json

FUTURE = "2999-01-01"


def _history_counts(project: api.Project, url: str) -> dict[str, tuple[int, int]]:
    """Per feature: (physical rows, latest rows incl. tombstones)."""
    store = project.store(url)
    out = {}
    with store.open("r"):
        for key in project.graph.topological_order():
            cls = project.graph.get(key)
            out[str(key)] = (store.read(cls, with_history=True).height,
                             store.read(cls, include_deleted=True).height)
    return out


@pytest.fixture
def rewritten(project: api.Project, populated: str) -> str:
    """The populated store after a second run where video 1's audio changed."""
    store = project.store(populated)
    demo.run_pipeline(store, project.graph, demo.make_samples(N, audio_rev={1: 1}), "again")
    return populated


def test_cleanup_dry_run_then_confirmed(project: api.Project, rewritten: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _history_counts(project, rewritten)
    status_before = run_json("status", "--store", rewritten)
    superseded = {k: rows - latest for k, (rows, latest) in before.items()}
    assert superseded["media/video"] == 1 and superseded["speech/transcript"] == 1
    assert superseded["vision/faces"] == 0  # frames did not change

    data = run_json("cleanup", "--older-than", FUTURE, "--dry-run", "--store", rewritten)
    assert data["dry_run"] is True
    assert {r["feature"]: r["rows"] for r in data["features"]} == superseded
    assert _history_counts(project, rewritten) == before  # a dry run drops nothing
    recent = run("cleanup", "--older-than", "30d", "--dry-run", "--store", rewritten).stdout
    assert "would drop 0 history row(s)" in recent and "0 row(s)" not in recent  # no noise

    monkeypatch.setattr("metaxy.cli_confirm.stdin_is_interactive", lambda: True)
    refused = CliRunner().invoke(app, ["cleanup", "--older-than", FUTURE, "--store", rewritten],
                                 input="n\n")
    assert refused.exit_code != 0
    assert "Drop " in refused.stderr and "media/video: 1 row(s)" in refused.stderr
    assert _history_counts(project, rewritten) == before

    confirmed = CliRunner().invoke(app, ["cleanup", "--older-than", FUTURE, "--store", rewritten],
                                   input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert f"dropped {sum(superseded.values())} history row(s)" in confirmed.stdout
    after = _history_counts(project, rewritten)
    assert after == {k: (latest, latest) for k, (_, latest) in before.items()}
    assert run_json("status", "--store", rewritten) == status_before  # latest rows intact
    assert all(f["stale"] in (0, None) for f in status_before["features"])


def test_cleanup_yes_json_and_selected_features(project: api.Project, rewritten: str) -> None:
    data = run_json("cleanup", "media/video", "speech/transcript", "--older-than", FUTURE,
                    "--yes", "--store", rewritten)
    assert data["dry_run"] is False
    assert {r["feature"]: r["rows"] for r in data["features"]} == {
        "media/video": 1, "speech/transcript": 1}
    after = _history_counts(project, rewritten)
    assert after["media/video"][0] == after["media/video"][1] == N
    assert after["media/chunk"][0] > after["media/chunk"][1]  # not selected: untouched


def test_cleanup_keeps_tombstones(project: api.Project, populated: str) -> None:
    run("delete", "speech/keywords", "--where", "video_id == 'v0002'", "--yes", "--store",
        populated)
    data = run_json("cleanup", "speech/keywords", "--older-than", FUTURE, "--yes",
                    "--store", populated)
    assert data["features"] == [{"feature": "speech/keywords", "rows": 1}]
    store = project.store(populated)
    with store.open("r"):
        kw = project.graph.get("speech/keywords")
        assert store.read(kw).height == N - 1
        shown = store.read(kw, include_deleted=True)
    assert shown.height == N  # the tombstone is the sample's latest row and stays


def test_nothing_to_drop_needs_no_confirmation(populated: str) -> None:
    out = run("cleanup", "--older-than", FUTURE, "--store", populated).stdout
    assert "dropped 0 history row(s)" in out


@pytest.mark.parametrize("bad", ["soon", "30x", "-5d", "2026-13-45"])
def test_bad_older_than(bad: str) -> None:
    line = one_line_error(run("cleanup", "--older-than", bad, "--dry-run", "--store", "memory://",
                              ok=False))
    assert "--older-than" in line


def test_unknown_feature() -> None:
    line = one_line_error(run("cleanup", "no/such", "--dry-run", "--store", "memory://", ok=False))
    assert "unknown feature 'no/such'" in line


def test_parse_age() -> None:
    assert api.parse_age("30d") == timedelta(days=30)
    assert api.parse_age("1w2d") == timedelta(days=9)
    assert api.parse_age("1.5h") == timedelta(minutes=90)
    assert api.parse_age("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert api.parse_age("2026-01-31T10:00:00+02:00") == datetime(2026, 1, 31, 8, tzinfo=UTC)
