"""``metaxy graph render``: the feature graph as text, Mermaid, DOT, JSON or a self-contained HTML
page (``-o graph.html``, see :mod:`metaxy.render_html`); attached by :func:`register`."""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from metaxy.cli_options import ExcludeOpt, SelectOpt, StoreOpt, output_console

console = output_console()


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"
    html = "html"


_BY_SUFFIX = {".html": GraphFormat.html, ".htm": GraphFormat.html, ".mmd": GraphFormat.mermaid,
              ".dot": GraphFormat.dot, ".gv": GraphFormat.dot, ".json": GraphFormat.json,
              ".txt": GraphFormat.text}


def _statuses(project: Any, st: Any, keys: list[str]) -> tuple[list[Any], str]:
    """The features' counts for the page's colours; none (grey, with a note on stderr) when
    the store's file does not exist yet."""
    from metaxy import api
    from metaxy.errors import StoreFileNotFoundError

    try:
        return api.status(project, st, keys), st.display()
    except StoreFileNotFoundError as e:
        Console(stderr=True).print(escape(f"note: {e}; the page shows no counts"),
                                   highlight=False, soft_wrap=True)
        return [], ""


def graph_render_cmd(
    format: Annotated[GraphFormat | None, typer.Option(
        "--format", "-f", help="Output format (default: from the --output suffix, .html "
                               "included; else text).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of stdout; graph.html writes a "
                               "self-contained page coloured by status from the store.")] = None,
    select: SelectOpt = None, exclude: ExcludeOpt = None, store: StoreOpt = None,
) -> None:
    """Render the feature graph (with field-level dependencies) as text, Mermaid, DOT, JSON or
    an HTML page."""
    from metaxy import api
    from metaxy.render import plain, render_graph

    project = api.load_project()
    st = project.store(store)
    fmt = format or (_BY_SUFFIX.get(output.suffix.lower(), GraphFormat.text) if output
                     else GraphFormat.text)
    keys = (api.select_features(project, select, exclude, st) if select or exclude
            else [str(k) for k in project.graph.topological_order()])
    if fmt is GraphFormat.json:
        text = json.dumps(plain({"features": [dataclasses.asdict(api.describe(project, k))
                                              for k in keys]}), indent=2)
    elif fmt is GraphFormat.html:
        from metaxy.render_html import render_html

        statuses, source = _statuses(project, st, keys)
        text = render_html(project.graph, keys, statuses,
                           title=f"project {project.config.project}", source=source)
    else:
        text = render_graph(project.graph, fmt.value, keys)
    if output is None:
        sys.stdout.write(text.rstrip("\n") + "\n")
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    except OSError as e:
        raise api.ApiError(f"cannot write {output}: {e}") from e
    console.print(escape(f"wrote {output} ({fmt.value}, {len(keys)} features)"), highlight=False)


def register(graph_app: typer.Typer) -> None:
    """Attach ``render`` to ``metaxy graph``."""
    graph_app.command("render")(graph_render_cmd)


__all__ = ["GraphFormat", "register"]
