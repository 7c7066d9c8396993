"""The ``metaxy`` command line: argument parsing and rendering over :mod:`metaxy.api`."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from metaxy import api
from metaxy.errors import MetaxyError

app = typer.Typer(name="metaxy", help="Metadata layer for multimodal pipelines.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
FormatOpt = Annotated[str, typer.Option("--format", help="text or json")]


@app.command("list")
def list_cmd(format: FormatOpt = "text") -> None:
    """List features in topological order with their versions."""
    project = api.load_project()
    rows = api.list_features(project)
    if format == "json":
        print(json.dumps({"project": project.config.project, "project_version": project.version,
                          "features": [dataclasses.asdict(r) for r in rows]}, indent=2))
        return
    table = Table(title=f"project {project.config.project} @ {project.version}")
    for col in ("feature", "version", "fields (version)", "upstream", "package"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.key, r.feature_version,
                      "\n".join(f"{k} {v}" for k, v in r.fields.items()),
                      ", ".join(r.upstream), r.package or "")
    console.print(table)


@app.command("demo")
def demo_cmd() -> None:
    """Run the example pipeline end to end (for now: discover the teams and list them)."""
    list_cmd()


def main() -> None:
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except MetaxyError as e:
        if debug:
            raise
        Console(stderr=True).print(f"[red]error:[/red] {e}", highlight=False)
        raise SystemExit(1) from None
