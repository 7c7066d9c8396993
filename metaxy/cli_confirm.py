"""Confirmation of the CLI's destructive commands (``delete``, ``cleanup``).

A destructive command first counts what it would remove and prints the count. With nothing to
remove, or with ``--yes``, it proceeds; otherwise an interactive session (stdin is a terminal) is
asked, and a non-interactive one (a script, a pipe, CI) is refused with a message naming
``--yes``: a script can never delete data by accident because nobody was there to answer.
Light on purpose (typer and rich only): the CLI imports it at startup.
"""

from __future__ import annotations

import sys

import typer

from metaxy.errors import ApiError


def stdin_is_interactive() -> bool:
    """Whether a person can answer a prompt (tests replace this to simulate a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def confirm_destructive(count: int, what: str, question: str, *, yes: bool,
                        command: str) -> None:
    """Return to proceed; raise :class:`typer.Abort` (declined) or :class:`ApiError` (refused).

    ``count``: how much the command would remove (0 proceeds without asking), ``what`` says it
    in words; ``question``: the prompt; ``command``: the command to name in the refusal.
    """
    if count == 0 or yes:
        return
    if not stdin_is_interactive():
        raise ApiError(f"{command}: {what} would be removed and stdin is not a terminal, so "
                       "nobody can confirm; pass --yes to proceed (or --dry-run to only count)")
    if not typer.confirm(question, err=True):
        raise typer.Abort()
