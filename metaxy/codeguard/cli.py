"""``metaxy check``: does the code computing each guarded field match the last push?

Attached to the main CLI by :func:`register`; ``metaxy push --accept`` lives with ``push`` in
:mod:`metaxy.migrations.cli`.
"""

from __future__ import annotations

import dataclasses

import typer
from rich.markup import escape

from metaxy.cli_options import Format, FormatOpt, StoreOpt, output_console

console = output_console()


def check_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Compare the code of declared compute functions with the last push (CI guard).

    Exits 1 when a function's fingerprint (normalised AST plus same-package helpers) changed
    while its field's code_version did not: bump code_version, or accept the change as
    output-neutral with `metaxy push --accept FEATURE:FIELD`.
    """
    from metaxy.api import load_project
    from metaxy.codeguard.check import check

    project = load_project()
    st = project.store(store)
    report = check(st, project.graph, project.config.project)
    if format is Format.json:
        from metaxy.render import print_json

        print_json({"ok": report.ok, "store": report.store, "project": report.project,
                    "failures": len(report.failures),
                    "fields": [{**dataclasses.asdict(f), "ok": f.ok,
                                **({"message": f.message()} if not f.ok else {})}
                               for f in report.fields]})
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: object) -> None:
    from metaxy.codeguard.check import CheckReport

    assert isinstance(report, CheckReport)
    if not report.fields:
        console.print("no guarded fields: declare compute functions with "
                      "@Feature.computes(...) to guard them")
        return
    marks = {"changed": "[red]✗[/]", "bumped": "[cyan]↑[/]", "new": "[cyan]+[/]",
             "accepted": "[yellow]~[/]", "unchanged": "[green]✓[/]"}
    for f in report.fields:
        console.print(f"{marks[f.status]} {escape(f.message())}", highlight=False,
                      soft_wrap=True)
    bad = len(report.failures)
    summary = f"{len(report.fields)} guarded field(s), {bad} changed without a code_version bump"
    console.print(f"[red]{summary}[/]" if bad else summary, highlight=False)


def register(main_app: typer.Typer) -> None:
    """Attach ``check`` to the main ``metaxy`` app."""
    main_app.command("check")(check_cmd)
