"""``metaxy init NAME``: a new team package (see :mod:`metaxy.api.scaffold`); attached by
:func:`register`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from metaxy.cli_options import Format, FormatOpt, output_console

console = output_console()


def init_cmd(
    name: Annotated[str, typer.Argument(help="Team package name, e.g. team-vision.")],
    folder: Annotated[Path, typer.Option(
        "--dir", help="Folder to create the package in (default: the current one).")] = Path(),
    format: FormatOpt = Format.text,
) -> None:
    """Start a team package: an example feature, its entry point and a test.

    Writes NAME/ (pyproject.toml with the metaxy.features entry point, the package with one
    example feature, a test using metaxy.testing) and, when no metaxy.toml is found, a
    metaxy.toml listing the module in entrypoints so `metaxy list` shows it without an install.
    """
    from metaxy import api
    from metaxy.render import print_json

    result = api.init_team(name, folder)
    if format is Format.json:
        print_json(result)
        return
    for path in result.files:
        console.print(escape(f"created {path}"), highlight=False)
    console.print(escape(f"feature {result.feature_key} in module {result.module}"),
                  highlight=False)
    console.print("next:", highlight=False)
    for step in result.next_steps:
        console.print(escape(f"  {step}"), highlight=False)


def register(app: typer.Typer) -> None:
    """Attach ``init`` to the main ``metaxy`` app."""
    app.command("init")(init_cmd)


__all__ = ["register"]
