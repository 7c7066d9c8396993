"""``metaxy optimize``: compact a store's files (see :func:`metaxy.api.optimize`); attached by
:func:`register`."""

from __future__ import annotations

from typing import Annotated

import typer

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


def register(app: typer.Typer) -> None:
    """Attach ``optimize`` to the main ``metaxy`` app."""
    app.command("optimize")(optimize_cmd)


__all__ = ["register"]
