"""Bad input gives one clear line on stderr and a non-zero exit code (no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy.plugins import backends, get_plugin_manager
from tests.cli.conftest import one_line_error, run


@pytest.mark.parametrize("args", [
    ["describe", "no/such"],
    ["status", "no/such", "--store", "memory://"],
    ["explain", "no/such", "x"],
    ["resolve", "no/such"],
    ["delete", "no/such", "--where", "a == 1"],
])
def test_unknown_feature(args: list[str]) -> None:
    line = one_line_error(run(*args, ok=False))
    assert "unknown feature 'no/such'" in line


@pytest.mark.parametrize("command", [["status"], ["plan"], ["list"], ["resolve", "media/chunk"]])
def test_bad_store_url(command: list[str]) -> None:
    line = one_line_error(run(*command, "--store", "nosuch://x", ok=False))
    assert "no store backend accepts 'nosuch://x'" in line


def test_unknown_store_name() -> None:
    line = one_line_error(run("status", "--store", "nope", ok=False))
    assert "unknown store 'nope'" in line


def test_unreachable_postgres_hides_password() -> None:
    if "postgresql" not in backends(get_plugin_manager()):
        pytest.skip("no plugin provides the store backend 'postgresql' (metaxy-postgres)")
    line = one_line_error(run("status", "--store", "postgresql://u:hunter2@127.0.0.1:1/db",
                              ok=False))
    assert "127.0.0.1" in line and "hunter2" not in line


@pytest.mark.parametrize("content, expected", [
    ("project = [", "invalid TOML"),
    ('project = "ok"\nunknown_key = 1\n', "unknown_key"),
    ('project = "bad name!"\n', "project"),
])
def test_malformed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str,
                          expected: str) -> None:
    cfg = tmp_path / "metaxy.toml"
    cfg.write_text(content)
    monkeypatch.setenv("METAXY_CONFIG", str(cfg))
    for command in (["list"], ["config", "show"], ["status"]):
        line = one_line_error(run(*command, ok=False))
        assert expected in line and str(cfg) in line


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "nope.toml"))
    assert "not a file" in one_line_error(run("list", ok=False))


@pytest.mark.parametrize("where, expected", [
    ("nope == 1", "has no column 'nope'"),
    ("n_faces == 'many'", "does not fit column 'n_faces' (int)"),
    ("video_id ==", "ended early"),
    ("video_id == 'a'; drop table x", "unexpected character ';'"),
])
def test_bad_filter(where: str, expected: str) -> None:
    line = one_line_error(run("delete", "vision/faces", "--where", where, "--store", "memory://",
                              ok=False))
    assert expected in line


def test_bad_sample_id_and_output(tmp_path: Path) -> None:
    line = one_line_error(run("explain", "media/chunk", "v0001", "--store", "memory://",
                              ok=False))
    assert "video_id, chunk_id" in line
    line = one_line_error(run("explain", "media/chunk", "v0001,abc", "--store", "memory://",
                              ok=False))
    assert "not a valid int" in line
    line = one_line_error(run("resolve", "media/chunk", "-o", str(tmp_path / "x.txt"),
                              "--store", "memory://", ok=False))
    assert ".parquet or .csv" in line


def test_bad_format_option() -> None:
    result = run("list", "--format", "yaml", ok=False)
    assert result.exit_code == 2  # typer's usage error
