"""``metaxy copy``: copy stored rows between two stores (:mod:`metaxy.api.copying`).

Attached to the main CLI by :func:`register`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Annotated

import typer
from rich.console import Console

from metaxy.cli_options import ExcludeOpt, Format, FormatOpt, SelectOpt

console = Console()


def copy_cmd(
    source: Annotated[str, typer.Option(
        "--from", help="Source store: a configured name or a URL.")],
    target: Annotated[str, typer.Option(
        "--to", help="Target store: a configured name or a URL.")],
    features: Annotated[list[str] | None, typer.Argument(
        help="Feature keys (default: every feature the source stores).")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", help="Copy only the rows matching this filter (filter syntax), e.g. "
                        "\"video_id in ('v1', 'v2')\".")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="Copy every stored row (default: the latest row per sample, "
                          "tombstones included).")] = False,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", min=1, help="Rows per batch (one transaction each).")] = 10_000,
    format: FormatOpt = Format.text, select: SelectOpt = None, exclude: ExcludeOpt = None,
) -> None:
    """Copy stored rows (row ids, provenance, timestamps unchanged) from one store to another.

    Streams in batches; rows the target already holds are skipped, so a rerun copies nothing
    new and an interrupted copy is finished by running it again. With --select/--exclude,
    the selected features the source does not store are skipped.
    """
    from metaxy.api import load_project, select_features
    from metaxy.api.copying import copy
    from metaxy.render import print_json

    project = load_project()
    src, dst = project.store(source), project.store(target)
    chosen = features or None
    if select or exclude:  # positional keys are selectors too, as in list/status/plan
        chosen = select_features(project, [*(features or []), *(select or [])], exclude, src)
    with _progress(format is Format.text) as tick:
        report = copy(src, dst, chosen, where=where, history=history, batch_rows=batch_rows,
                      progress=tick, skip_unstored=bool(select or exclude))
    if format is Format.json:
        print_json({"source": report.source, "target": report.target,
                    "mode": "history" if report.history else "latest",
                    "copied": report.copied, "features": report.features})
        return
    from rich.table import Table

    table = Table(title=f"copy {report.source} -> {report.target} "
                        f"({'history' if report.history else 'latest rows'})",
                  title_justify="left")
    for name in ("feature", "read", "copied", "already there"):
        table.add_column(name, justify="left" if name == "feature" else "right")
    for f in report.features:
        table.add_row(f.feature, str(f.read), str(f.copied), str(f.skipped))
    console.print(table)
    console.print(f"{report.copied} row(s) copied")


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A transient progress display of the rows read and copied, per feature (terminals)."""
    if not enabled or not console.is_terminal or console.quiet:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("copy", total=None)

        def tick(feature: str, read: int, copied: int) -> None:
            bar.update(task, description=f"copy {feature}: {read} rows read, {copied} copied")

        yield tick


def register(app: typer.Typer) -> None:
    """Add ``metaxy copy`` to the main CLI."""
    app.command("copy")(copy_cmd)
