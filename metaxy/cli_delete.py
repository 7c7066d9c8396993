"""``metaxy delete`` and ``metaxy cleanup``: the commands that remove metadata (each asks for
confirmation, see :mod:`metaxy.cli_confirm`); attached by :func:`register`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from metaxy import api
from metaxy.cli_confirm import confirm_destructive
from metaxy.cli_options import Format, FormatOpt, StoreOpt, output_console

console = output_console()


def _json(data: Any) -> None:
    from metaxy.render import print_json

    print_json(data)


def delete_cmd(
    feature: Annotated[str, typer.Argument(help="Feature key.")],
    where: Annotated[str, typer.Option(
        "--where", "-w", help="Filter, e.g. \"video_id in ('v1', 'v2') or duration_s < 5\".")],
    hard: Annotated[bool, typer.Option(
        "--hard", help="Delete rows physically (default: append tombstones).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show the matching samples (the first 20 ids) and their "
                          "count.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOpt = None, format: FormatOpt = Format.text,
) -> None:
    """Delete the samples matching a filter (soft by default: history stays queryable).

    Prints how many samples match, then asks for confirmation unless --yes or --dry-run;
    without a terminal to ask on (a script), it refuses unless --yes.
    """
    project = api.load_project()
    st = project.store(store)
    matched = api.delete_matches(project, st, feature, where, hard=hard)
    Console(stderr=True).print(escape(f"{matched} sample(s) of {feature} match {where!r}"),
                               highlight=False)
    n = 0
    preview = api.delete_preview(project, st, feature, where, hard=hard) if dry_run else []
    if not dry_run:
        what = f"{matched} sample(s) of {feature}"
        confirm_destructive(matched, what, f"{'Delete' if hard else 'Soft-delete'} {what} "
                            f"in {st.display()}?", yes=yes, command="delete")
        n = api.delete(project, st, feature, where, hard=hard) if matched else 0
    if format is Format.json:
        _json({"feature": feature, "matched": matched, "deleted": n, "hard": hard,
               "dry_run": dry_run, **({"samples": preview} if dry_run else {})})
        return
    for ids in preview:
        console.print(escape("  " + ", ".join(f"{k}={v}" for k, v in ids.items())),
                      highlight=False)
    if dry_run and len(preview) < matched:
        console.print(f"  ... and {matched - len(preview)} more", highlight=False)
    verb = "would delete" if dry_run else "deleted" if hard else "soft-deleted"
    console.print(escape(f"{verb} {matched if dry_run else n} row(s) of {feature}"),
                  highlight=False)


def cleanup_cmd(
    features: Annotated[list[str] | None, typer.Argument(
        help="Feature keys (default: all).")] = None,
    older_than: Annotated[str, typer.Option(
        "--older-than", help="Age (30d, 12h, 1w2d, 90m) or ISO date: drop history written "
                             "before it.")] = "30d",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only count the rows that would be dropped.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOpt = None, format: FormatOpt = Format.text,
) -> None:
    """Drop history older than a bound, physically; every sample keeps its latest row.

    Superseded rows (earlier versions of a sample) written before the bound are deleted; the
    latest row of every sample, tombstones included, is always kept, so reads and increments do
    not change. Asks for confirmation (after showing the counts) unless --yes or --dry-run;
    without a terminal to ask on (a script), it refuses unless --yes.
    """
    project = api.load_project()
    st = project.store(store)
    bound = api.parse_age(older_than)
    rows = None
    if not dry_run and not yes:
        preview = api.cleanup(project, st, features, bound, dry_run=True)
        total = sum(r.rows for r in preview)
        if total == 0:
            rows = preview  # nothing to drop: nothing to confirm
        err = Console(stderr=True)
        for r in preview:
            if r.rows:
                err.print(f"{r.feature}: {r.rows} row(s)", highlight=False)
        what = f"{total} history row(s) older than {older_than}"
        confirm_destructive(total, what, f"Drop {what} from {st.display()}?", yes=yes,
                            command="cleanup")
    if rows is None:
        rows = api.cleanup(project, st, features, bound, dry_run=dry_run)
    if format is Format.json:
        _json({"store": st.display(), "older_than": older_than, "dry_run": dry_run,
               "features": rows})
        return
    verb = "would drop" if dry_run else "dropped"
    for r in rows:
        if r.rows:  # features without old history would only add noise
            console.print(f"{r.feature}: {verb} {r.rows} row(s)", highlight=False)
    console.print(f"{verb} {sum(r.rows for r in rows)} history row(s) older than "
                  f"{older_than}; the latest row of every sample is kept", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach ``delete`` and ``cleanup`` to the main ``metaxy`` app."""
    app.command("delete")(delete_cmd)
    app.command("cleanup")(cleanup_cmd)


__all__ = ["register"]
