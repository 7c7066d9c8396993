"""Issue 19 item 6: ``metaxy --version``, shell completion, and help text on every option and
argument of every command (walks the typer app, so a new option without help fails here)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import typer

from metaxy.cli import app
from tests.cli.conftest import run


def _params(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    out = [(" ".join(("metaxy", *path)), p) for p in cmd.params]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out.extend(_params(sub, (*path, name)))
    return out


def test_every_option_and_argument_has_help() -> None:
    params = _params(typer.main.get_command(app))
    assert len(params) > 50
    missing = [f"{where} {p.name}" for where, p in params if not getattr(p, "help", None)]
    assert not missing, f"options/arguments without help: {missing}"


def test_version() -> None:
    result = run("--version")
    assert result.stdout.strip() == f"metaxy {importlib.metadata.version('metaxy')}"


def test_shell_completion_is_offered() -> None:
    text = run("--help").stdout
    assert "--install-completion" in text and "--show-completion" in text
