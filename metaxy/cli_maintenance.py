"""``metaxy optimize`` (compact a store's files, :func:`metaxy.api.optimize`) and ``metaxy
break-lock`` (remove a dead holder's lock); attached by :func:`register`."""

from __future__ import annotations

from typing import Annotated

import typer

from metaxy.cli_confirm import confirm_destructive
from metaxy.cli_options import Format, FormatOpt, StoreOpt, output_console

console = output_console()


def optimize_cmd(
    features: Annotated[list[str] | None, typer.Argument(
        help="Feature keys (default: all).")] = None,
    store: StoreOpt = None, format: FormatOpt = Format.text,
) -> None:
    """Compact each feature's table: many small appended files into few large ones.

    For stores of files (Delta Lake), where every write adds a file and reads slow down as they
    pile up; the rows do not change. The replaced files are vacuumed (the Delta store's
    vacuum_retention_hours option). A SQL database manages its own storage: an error says so.
    """
    from metaxy import api
    from metaxy.render import print_json

    project = api.load_project()
    st = project.store(store)
    rows = api.optimize(project, st, features)
    if format is Format.json:
        print_json({"store": st.display(), "features": rows})
        return
    for r in rows:
        if r.files_removed:
            console.print(f"{r.feature}: {r.files_removed} file(s) -> {r.files_added}",
                          highlight=False)
    console.print(f"compacted {sum(r.files_removed for r in rows)} file(s) into "
                  f"{sum(r.files_added for r in rows)}", highlight=False)


def break_lock_cmd(
    name: Annotated[str, typer.Argument(help="The lock's name, as the lock error gives it.")],
    store: StoreOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Remove a named lock whose holder died without releasing it.

    Only a lock object on an object store (a Delta root on S3, GCS or Azure) outlives its
    process; a process on the same host takes such a lock over by itself, one on another
    machine cannot know the holder is gone. Run this once you know it is: a live holder (a
    migration still running) would lose its exclusion. Other stores' locks end with their
    holder: an error says there is nothing to break.
    """
    from metaxy import api
    from metaxy.render import print_json

    st = api.load_project().store(store)
    confirm_destructive(1, f"the lock '{name}' of {st.display()}",
                        f"Remove the lock '{name}' of {st.display()} (its holder must be dead)?",
                        yes=yes, command="metaxy break-lock")
    holder = api.break_lock(st, name)
    if format is Format.json:
        print_json({"store": st.display(), "lock": name, "removed": holder is not None,
                    "holder": holder})
        return
    console.print(f"removed the lock '{name}' (it said: {holder})" if holder is not None
                  else f"nobody held the lock '{name}'", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach ``optimize`` and ``break-lock`` to the main ``metaxy`` app."""
    app.command("optimize")(optimize_cmd)
    app.command("break-lock")(break_lock_cmd)


__all__ = ["register"]
