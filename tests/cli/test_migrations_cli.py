"""``push``, ``reconcile``, ``graph diff`` and ``metaxy migrations ...`` with ``--format json``,
through the real entry point on a project folder in ``tmp_path``.

The store holds the example pipeline's rows written under an *older* graph (the transcript's
``code_version`` was ``"0"``) and that graph's snapshot; the code (the example teams) is the
refactored version, so a reconcile of ``speech/transcript`` has rows to append.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

import metaxy as mx
from metaxy.migrations import api as mig
from metaxy.migrations.snapshots import Snapshot
from metaxy.versions import versions_of
from tests.cli.conftest import one_line_error, run
from tests.migrations.conftest import PROJECT, populate, variant

#: videos a, b, c; c's audio changed after its transcript was written (stale before the refactor)
UP_TO_DATE, STALE = 2, 1


def _older_transcript(snap: Snapshot) -> None:
    snap.features["speech/transcript"].spec["fields"][0]["code_version"] = "0"


def cli_json(*args: str, exit_code: int = 0) -> Any:
    """``metaxy ARGS --format json``: stdout is exactly one JSON document."""
    result = run(*args, "--format", "json", ok=False)
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def json_error(*args: str) -> str:
    """A failing ``--format json`` command: one error line, exit code 1, nothing on stdout."""
    result: Result = run(*args, "--format", "json", ok=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    return one_line_error(result)


def _project_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> dict[str, str]:
    """A project folder whose store holds rows and the snapshot of the older graph."""
    (tmp_path / "metaxy.toml").write_text(
        f'project = "{PROJECT}"\nstore = "dev"\n[stores.dev]\nurl = "{url}"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    code = mx.load_features(mx.FeatureGraph())
    old = variant(code, _older_transcript)
    store = mx.get_store(url, graph=old)
    populate(store, old)
    assert mig.push(store, old, PROJECT).created
    return {"old": versions_of(old).project_version(PROJECT),
            "new": versions_of(code).project_version(PROJECT)}


@pytest.fixture
def duck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return _project_at(tmp_path, monkeypatch, f"duckdb:///{tmp_path / 'store.duckdb'}")


def _stale_transcripts(url: str) -> int:
    code = mx.load_features(mx.FeatureGraph())
    store = mx.get_store(url, graph=code)
    with store:
        inc = store.resolve_update("speech/transcript")
        return inc.stale.height + inc.new.height  # type: ignore[union-attr]


def _enable_reconcile(path: str) -> None:
    """The author's decision: the transcript refactor is non-breaking."""
    text = Path(path).read_text(encoding="utf-8")
    assert "# op.reconcile('speech/transcript')" in text
    Path(path).write_text(text.replace("# op.reconcile('speech/transcript')",
                                       "op.reconcile('speech/transcript')"), encoding="utf-8")


# ---------------------------------------------------------------------------- push / diff
def test_push_and_graph_diff_json(duck: dict[str, str]) -> None:
    diff = cli_json("graph", "diff")
    assert (diff["old_version"], diff["new_version"]) == (duck["old"], duck["new"])
    changed = {c["key"]: c for c in diff["changed"]}
    assert set(changed) == {"speech/transcript", "speech/keywords"}
    [field] = changed["speech/transcript"]["fields_changed"]
    assert field["code_version"] == ["0", "1"] and field["reason"] == "code_version 0 -> 1"
    first = cli_json("push")
    assert first["created"] is True and first["project"] == PROJECT
    assert first["project_version"] == duck["new"] and first["n_features"] == 6
    again = cli_json("push")
    assert again["created"] is False and again["project_version"] == duck["new"]
    assert cli_json("graph", "diff")["changed"] == []  # the code is the last pushed snapshot
    assert run("graph", "diff", "--format", "mermaid").stdout.startswith("flowchart")
    assert run("graph", "diff", "-f", "dot").stdout.startswith("digraph")


def test_format_is_a_checked_choice(duck: dict[str, str]) -> None:
    for args in (["graph", "diff"], ["push"], ["reconcile", "speech/transcript"],
                 ["migrations", "history"], ["migrations", "check"]):
        result = run(*args, "--format", "yaml", ok=False)
        assert result.exit_code == 2, args  # a usage error: nothing ran
        assert "yaml" in result.stderr and result.stdout == ""
    assert run("push", "--format", "mermaid", ok=False).exit_code == 2  # graph diff only
    assert cli_json("graph", "diff")["new_version"] == duck["new"]  # still not pushed


# ---------------------------------------------------------------------------- migrations
def test_migration_commands_json(duck: dict[str, str], tmp_path: Path) -> None:
    init = cli_json("migrations", "init")
    assert init["directory"] == str(tmp_path / "migrations")
    assert {"env.py", "script.py.mako", "versions"} <= set(init["files"])
    assert cli_json("migrations", "heads") == {"heads": [], "revisions": []}

    check = cli_json("migrations", "check", exit_code=1)  # the code is ahead: CI fails
    assert check["ok"] is False and check["code_version"] == duck["new"]
    assert check["head_to_version"] is None and check["heads"] == []

    rev = cli_json("migrations", "revision", "--autogenerate", "-m", "refactor transcript")
    assert (rev["from_version"], rev["to_version"]) == (duck["old"], duck["new"])
    assert rev["message"] == "refactor transcript" and rev["down_revision"] is None
    assert rev["is_head"] is True and Path(rev["path"]).name.startswith(rev["revision"])
    _enable_reconcile(rev["path"])
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    assert _stale_transcripts(url) == UP_TO_DATE + STALE

    dry = cli_json("migrations", "upgrade", "--dry-run")
    assert dry["dry_run"] is True and dry["before"] == [] and dry["current"] == []
    assert [r["revision"] for r in dry["revisions"]] == [rev["revision"]]
    assert dry["rows_by_feature"] == {"speech/transcript": UP_TO_DATE}
    assert dry["rows_appended"] == 0 and dry["snapshot"] is None
    [op] = dry["operations"]
    assert (op["operation"], op["rows"], op["skipped_stale"], op["dry_run"]) == \
        ("reconcile", UP_TO_DATE, STALE, True)
    assert _stale_transcripts(url) == UP_TO_DATE + STALE  # the dry run changed nothing

    up = cli_json("migrations", "upgrade")
    assert up["command"] == "upgrade" and up["target"] == "head" and up["sql"] is None
    assert up["before"] == [] and up["current"] == [rev["revision"]]
    [applied] = up["revisions"]
    assert applied["revision"] == rev["revision"]
    assert (applied["from_version"], applied["to_version"]) == (duck["old"], duck["new"])
    assert up["rows_appended"] == UP_TO_DATE
    assert up["rows_by_feature"] == {"speech/transcript": UP_TO_DATE}
    assert up["snapshot"] == {"project": PROJECT, "project_version": duck["new"],
                              "created": True, "n_features": 6}
    assert _stale_transcripts(url) == STALE  # only the sample stale before the refactor

    again = cli_json("migrations", "upgrade")  # idempotent
    assert again["before"] == again["current"] == [rev["revision"]]
    assert again["revisions"] == [] and again["rows_appended"] == 0
    assert again["snapshot"]["created"] is False

    current = cli_json("migrations", "current")
    assert current["current"] == [rev["revision"]]
    assert current["revisions"][0]["to_version"] == duck["new"]
    heads = cli_json("migrations", "heads")
    assert heads["heads"] == [rev["revision"]] and heads["revisions"] == current["revisions"]
    assert cli_json("migrations", "history")["revisions"] == current["revisions"]
    ok = cli_json("migrations", "check")
    assert ok["ok"] is True and ok["head_to_version"] == ok["code_version"] == duck["new"]

    down = cli_json("migrations", "downgrade", "base")
    assert down["command"] == "downgrade" and down["before"] == [rev["revision"]]
    assert down["current"] == [] and [r["revision"] for r in down["revisions"]] == \
        [rev["revision"]]
    assert down["rows_appended"] == 0  # data operations are not reversed
    assert _stale_transcripts(url) == STALE
    assert cli_json("migrations", "current")["current"] == []

    stamp = cli_json("migrations", "stamp", "head")
    assert stamp["target"] == "head" and stamp["current"] == [rev["revision"]]
    assert "stamped head" in run("migrations", "stamp", "head").stdout

    sql = cli_json("migrations", "upgrade", "--sql", "base:head")
    assert sql["sql"].startswith("-- metaxy migrations upgrade base:head --sql")
    assert "metaxy_alembic_version" in sql["sql"]
    assert sql["before"] is None and sql["current"] is None and sql["operations"] == []
    down_sql = cli_json("migrations", "downgrade", "--sql", "head:base")
    assert down_sql["command"] == "downgrade" and "DELETE FROM metaxy_alembic_version" in \
        down_sql["sql"]


def test_text_output_is_unchanged(duck: dict[str, str]) -> None:
    """The human output still reads as before (docs/migrations.md shows it)."""
    run("migrations", "init")
    path = run("migrations", "revision", "--autogenerate", "-m", "r").stdout.split("wrote ")[1]
    _enable_reconcile("".join(path.split()))
    assert f"would append {UP_TO_DATE} rows ({STALE} stale" in \
        run("migrations", "upgrade", "--dry-run").stdout
    out = run("migrations", "upgrade").stdout
    assert f"appended {UP_TO_DATE} rows" in out and f"recorded snapshot {duck['new']}" in out
    assert "is the head revision's target" in run("migrations", "check").stdout


# ---------------------------------------------------------------------------- reconcile
def test_reconcile_json(duck: dict[str, str], tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    dry = cli_json("reconcile", "speech/transcript", "--dry-run")
    assert dry["feature"] == "speech/transcript" and dry["dry_run"] is True
    assert dry["fields"] is None
    assert (dry["from_version"], dry["to_version"]) == (duck["old"], duck["new"])
    assert dry["rows_by_feature"] == {"speech/transcript": UP_TO_DATE}
    assert dry["rows_appended"] == 0 and dry["operations"][0]["skipped_stale"] == STALE
    assert _stale_transcripts(url) == UP_TO_DATE + STALE

    done = cli_json("reconcile", "speech/transcript", "--fields", "text")
    assert done["fields"] == ["text"] and done["dry_run"] is False
    assert done["rows_appended"] == UP_TO_DATE and done["operations"][0]["dry_run"] is False
    assert _stale_transcripts(url) == STALE
    assert cli_json("reconcile", "speech/transcript", "--dry-run")["rows_by_feature"] == \
        {"speech/transcript": 0}  # nothing left to reconcile


# ---------------------------------------------------------------------------- errors
def test_errors_stay_one_line_under_json(duck: dict[str, str]) -> None:
    line = json_error("reconcile", "speech/transcrpt")
    assert "speech/transcrpt" in line
    line = json_error("migrations", "upgrade")  # no `migrations init` yet
    assert "no env.py" in line and "metaxy migrations init" in line
    json_error("migrations", "check")
    cli_json("migrations", "init")
    assert "already holds an env.py" in json_error("migrations", "init")
    assert "nosuchrev" in json_error("migrations", "stamp", "nosuchrev")
    assert "scheme" in json_error("push", "--store", "/tmp/nowhere.duckdb")


def test_reconcile_without_a_snapshot_is_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "metaxy.toml").write_text(
        f'project = "{PROJECT}"\nstore = "dev"\n[stores.dev]\n'
        f'url = "duckdb:///{tmp_path / "empty.duckdb"}"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    assert "metaxy push" in json_error("reconcile", "speech/transcript", "--dry-run")
    cli_json("migrations", "init")
    assert "holds no snapshot" in json_error("migrations", "revision", "--autogenerate", "-m",
                                             "x")


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_push_and_upgrade_json_on_postgresql(postgres_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    versions = _project_at(tmp_path, monkeypatch, postgres_url)
    pushed_before = cli_json("graph", "diff")
    assert pushed_before["old_version"] == versions["old"]
    cli_json("migrations", "init")
    rev = cli_json("migrations", "revision", "--autogenerate", "-m", "refactor")
    _enable_reconcile(rev["path"])
    up = cli_json("migrations", "upgrade")
    assert up["store"].startswith("postgresql") and up["current"] == [rev["revision"]]
    assert up["rows_by_feature"] == {"speech/transcript": UP_TO_DATE}
    assert up["rows_appended"] == UP_TO_DATE and up["snapshot"]["created"] is True
    assert _stale_transcripts(postgres_url) == STALE
    push = cli_json("push")
    assert push["created"] is False and push["project_version"] == versions["new"]
    assert cli_json("migrations", "upgrade")["rows_appended"] == 0


def test_lock_timeout_on_postgresql(postgres_url: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """While another process holds the project's migration lock, ``upgrade``, ``stamp`` and
    ``reconcile`` fail with one line naming the lock after ``--lock-timeout`` seconds; once it
    is released they run."""
    import subprocess
    import sys

    from tests.migrations.test_migration_lock import HOLDER

    _project_at(tmp_path, monkeypatch, postgres_url)
    cli_json("migrations", "init")
    rev = cli_json("migrations", "revision", "--autogenerate", "-m", "refactor")
    child = subprocess.Popen([sys.executable, "-c", HOLDER, postgres_url, PROJECT],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        for args in (("migrations", "upgrade"), ("migrations", "stamp", "head"),
                     ("reconcile", "speech/transcript")):
            line = json_error(*args, "--lock-timeout", "0.2")
            assert f"migrations` run of project '{PROJECT}'" in line, line
            assert "gave up after waiting 0.2 s" in line, line
        assert "could not take it at once" in json_error("migrations", "upgrade")
    finally:
        child.kill()
        child.wait(30)
    refused = run("migrations", "upgrade", "--lock-timeout", "-1", ok=False)
    assert refused.exit_code == 2 and "--lock-timeout" in refused.stderr
    up = cli_json("migrations", "upgrade", "--lock-timeout", "5")
    assert up["current"] == [rev["revision"]]
