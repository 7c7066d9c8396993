"""Option types shared by every ``metaxy`` command module (``metaxy.cli``, the migrations CLI)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console, ConsoleDimensions


class Format(StrEnum):
    """``--format``: human-readable text or a JSON document for machines."""

    text = "text"
    json = "json"


StoreOpt = Annotated[str | None, typer.Option(
    "--store", "-s", help="Store name from the configuration, or a store URL.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ExitCodeOpt = Annotated[bool, typer.Option(
    "--exit-code", help="Exit with code 2 when any selected feature has new, stale or orphaned "
                        "samples (a CI gate; errors exit with 1, up to date with 0).")]
SelectOpt = Annotated[list[str] | None, typer.Option(
    "--select", help="Only these features, dbt syntax (repeatable): key, speech/*, +key "
                     "(with ancestors), key+ (with descendants), 2+key, key+1.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Leave out these features (same syntax as --select; repeatable).")]
StaleIfOpt = Annotated[list[str] | None, typer.Option(
    "--stale-if", metavar="[FEATURE:]FILTER",
    help="Custom staleness rule (repeatable): samples whose stored row matches the filter "
         "(filter syntax, the feature's own columns) are stale, e.g. \"status == 'failed'\"; "
         "prefix FEATURE: unless the command names one feature.")]
WhereOpt = Annotated[str | None, typer.Option(
    "--where", "-w", help="Only the samples matching this filter, e.g. \"video_id in ('v1', "
                          "'v2') or duration_s < 5\" (columns of every selected feature).")]


class _OutputConsole(Console):
    """A console for stdout that never cuts a line when stdout is not a terminal.

    Rich lays out for 80 columns when it cannot ask a terminal, so a piped table wraps its cells
    mid-word (``upstrea│m``). Piped or redirected, this console is as wide as the widest line
    (also when ``COLUMNS`` is set, as some CI runners do); on a terminal it behaves as rich's
    own.
    """

    def __init__(self) -> None:
        super().__init__()
        # rich fixes the width from COLUMNS here, once; `size` reads it on every call instead,
        # and only for a terminal
        self._width = None

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


PIPE_WIDTH = 1000
"""The layout width of :func:`output_console` when stdout is a pipe or a file."""


def output_console() -> Console:
    """The console every command prints its (non-JSON) output on: see :class:`_OutputConsole`."""
    return _OutputConsole()
