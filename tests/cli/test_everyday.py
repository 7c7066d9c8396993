"""Issue 19 items 3 and 6: tables keep their width in a pipe, one style of boolean flag,
``delete --dry-run`` lists what it would delete, progress reports of ``ingest`` and
``migrations upgrade``, and ``plan``'s hint after a code_version bump."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.table import Table

import metaxy as mx
from metaxy import api, demo
from metaxy.cli import app
from metaxy.cli_options import PIPE_WIDTH, output_console
from metaxy.migrations import api as mig
from tests.cli.conftest import N, one_line_error, run, run_json
from tests.cli.test_migrations_cli import _enable_reconcile, cli_json, duck  # noqa: F401
from tests.migrations.conftest import PROJECT


def test_piped_tables_are_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # some CI runners set it for their log
    out = run("list").stdout  # CliRunner's stdout is not a terminal, like a pipe
    row = next(line for line in out.splitlines() if line.startswith("│ speech/keywords "))
    assert "speech/transcript" in row and "team-speech" in row  # whole cells, one line
    table = Table("feature", "upstream")
    table.add_row("a/" + "x" * 120, ", ".join(f"up/{i}" for i in range(30)))
    buf = io.StringIO()
    console = output_console()
    console.file = buf
    console.print(table)
    assert console.width == PIPE_WIDTH
    assert "up/29" in buf.getvalue().splitlines()[3]  # no wrapped cell
    assert Console(file=io.StringIO(), force_terminal=True, width=50).width == 50


def test_boolean_flags_have_one_style() -> None:
    """Every boolean option is a plain ``--flag`` (no ``--flag/--no-flag`` pairs)."""
    root = typer.main.get_command(app)
    pairs = []

    def walk(cmd: object, path: list[str]) -> None:
        for p in getattr(cmd, "params", []):
            if getattr(p, "is_flag", False) and getattr(p, "secondary_opts", None):
                pairs.append(f"{' '.join(path)} {p.opts[0]}/{p.secondary_opts[0]}")
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(root, ["metaxy"])
    assert pairs == []


def test_delete_dry_run_lists_the_samples(populated: str) -> None:
    result = run("delete", "media/video", "--where", "video_id < 'v0003'", "--dry-run",
                 "--store", populated)
    assert [line.strip() for line in result.stdout.splitlines()[:3]] == [
        "video_id=v0000", "video_id=v0001", "video_id=v0002"]
    assert "would delete 3 row(s)" in result.stdout
    doc = run_json("delete", "media/video", "-w", "video_id >= 'v0000'", "--dry-run",
                   "--store", populated)
    assert doc["matched"] == N and doc["deleted"] == 0
    assert doc["samples"][0] == {"video_id": "v0000"} and len(doc["samples"]) == N
    (row,) = run_json("status", "media/video", "--store", populated)["features"]
    assert row["stored"] == N  # nothing was deleted


def test_ingest_reports_its_steps(tmp_path: Path, project: api.Project) -> None:
    url = f"duckdb:///{tmp_path / 'i.duckdb'}"
    file = tmp_path / "videos.parquet"
    demo.make_samples(3).write_parquet(file)
    seen: list[str] = []
    result = api.ingest(project, project.store(url), "media/video", file, progress=seen.append)
    assert seen == ["read", "resolve", "write"] and result.written == 3


def test_plan_suggests_autogenerate_after_a_bump_and_upgrade_reports_progress(
        duck: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    doc = cli_json("plan")
    assert [(c["feature"], c["field"], c["pushed"], c["code"]) for c in doc["code_changes"]] \
        == [("speech/transcript", "text", "0", "1")]
    text = run("plan").stdout
    assert "metaxy migrations revision --autogenerate" in " ".join(text.split())
    cli_json("migrations", "init")
    rev = cli_json("migrations", "revision", "--autogenerate", "-m", "refactor")
    _enable_reconcile(rev["path"])
    code = mx.load_features(mx.FeatureGraph())
    store = mx.get_store(f"duckdb:///{tmp_path / 'store.duckdb'}", graph=code)
    m = mig.Migrations(store, code, PROJECT, tmp_path / "migrations")
    assert m.pending() == [rev["revision"]]
    seen: list[str] = []
    m.upgrade(progress=seen.append)
    assert seen == [rev["revision"]] and m.pending() == []
    assert cli_json("plan")["code_changes"] == []  # the upgrade recorded the new snapshot


def test_break_lock_on_a_store_whose_locks_end_with_their_holder(tmp_path: Path) -> None:
    done = run("break-lock", "metaxy-snapshots", "--store", f"duckdb:///{tmp_path}/x.duckdb",
               "--yes", ok=False)
    assert "nothing to break" in one_line_error(done)


def test_break_lock_asks_before_removing(tmp_path: Path) -> None:
    done = run("break-lock", "metaxy-snapshots", "--store", f"duckdb:///{tmp_path}/x.duckdb",
               ok=False)
    assert "pass --yes" in one_line_error(done)  # stdin is not a terminal here
