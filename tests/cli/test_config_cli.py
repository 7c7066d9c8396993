"""Issue 19 item 3 at the CLI: ``--config`` on every command, reads of a store file that does not
exist, one-line configuration errors, and the demo's closing hint naming the store it used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from metaxy import api, demo
from metaxy.cli import app
from metaxy.errors import StoreFileNotFoundError
from tests.cli.conftest import one_line_error, run, run_json


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    subs = getattr(cmd, "commands", None)
    if subs is None:
        return [(path, cmd)]
    return [c for name, sub in sorted(subs.items()) for c in _commands(sub, (*path, name))]


def test_every_command_takes_config() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    missing = [" ".join(path) for path, cmd in commands
               if not any("--config" in p.opts for p in cmd.params)]
    assert not missing, f"commands without --config: {missing}"


def test_config_option_selects_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('project = "other_project"\n[stores.mine]\nurl = "duckdb:///mine.duckdb"\n',
                     encoding="utf-8")
    assert run_json("list", "--config", str(other))["project"] == "other_project"
    shown = run_json("config", "show", "--config", str(other))
    assert shown["path"] == str(other.resolve()) and list(shown["stores"]) == ["mine"]
    assert run_json("config", "show")["project"] != "other_project"  # nothing leaks after
    line = one_line_error(run("list", "--config", str(tmp_path / "nope.toml"), ok=False))
    assert "--config" in line and "nope.toml: no such file" in line


def test_config_errors_are_one_line_in_metaxys_words(tmp_path: Path) -> None:
    bad = tmp_path / "metaxy.toml"
    bad.write_text('[stores.dev]\nurl = "duckdb:///x.duckdb"\ntreads = 2\n', encoding="utf-8")
    line = one_line_error(run("status", "--config", str(bad), ok=False))
    assert "unknown key 'stores.dev.treads' (allowed in [stores.dev]: extend, fallback, " \
           "options, url)" in line
    bad.write_text('[stores.dev]\nurl = "duckdb:///${MX_TEST_UNSET_DIR}/x.duckdb"\n',
                   encoding="utf-8")
    line = one_line_error(run("status", "--config", str(bad), ok=False))
    assert "'stores.dev.url': environment variable MX_TEST_UNSET_DIR is not set" in line


READS = [("status",), ("plan",), ("explain", "speech/transcript", "v0001"),
         ("resolve", "speech/transcript")]


@pytest.mark.parametrize("scheme", ["duckdb", "sqlite"])
@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_a_read_of_a_missing_store_file_is_an_error(tmp_path: Path, scheme: str,
                                                    command: tuple[str, ...]) -> None:
    path = tmp_path / "typo" / f"stor.{scheme}"
    line = one_line_error(run(*command, "--store", f"{scheme}:///{path}", ok=False))
    assert f"store file {path} does not exist" in line
    assert not path.exists() and not path.parent.exists()  # a read creates nothing


def test_api_reads_refuse_a_missing_store_file(project: api.Project, tmp_path: Path) -> None:
    store = project.store(f"duckdb:///{tmp_path / 'missing.duckdb'}")
    for call in (lambda: api.status(project, store), lambda: api.run_plan(project, store),
                 lambda: api.resolve(project, store, "speech/transcript"),
                 lambda: api.explain(project, store, "speech/transcript", ["v1"])):
        with pytest.raises(StoreFileNotFoundError, match=r"missing\.duckdb does not exist"):
            call()
    assert not (tmp_path / "missing.duckdb").exists()
    api.require_store_file(project.store("memory://"))  # nothing to check: no error


def test_a_written_store_file_reads_fine(populated: str) -> None:
    assert run_json("status", "--store", populated)["needs_work"] is False


def test_demo_hint_names_the_store_it_used(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'demo.duckdb'}"
    text = run("demo", "--videos", "12", "--store", url).stdout
    flat = " ".join(text.split())
    assert f"metaxy status --store {url}" in flat
    assert f"metaxy explain vision/faces v0001 --store {url}" in flat
    assert "--store demo" not in flat
    assert demo.hint_store_option("dev", "duckdb:///x") == "--store dev"
    assert demo.hint_store_option(None, "postgresql://u:***@h/db") == \
        "--store 'postgresql://u:***@h/db'"
    report = demo.run_demo(url, 12, Console(quiet=True))
    assert report.store == url
