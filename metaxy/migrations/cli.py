"""``metaxy migrations ...``, ``metaxy push``, ``metaxy graph diff``, ``metaxy reconcile``.

A thin layer over :mod:`metaxy.migrations.api`; attached to the main CLI by :func:`register`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
migrations_app = typer.Typer(name="migrations", help="Alembic migrations of the metadata store.",
                             no_args_is_help=True)
graph_app = typer.Typer(name="graph", help="Graph snapshots and diffs.", no_args_is_help=True)
StoreOpt = Annotated[str | None, typer.Option(
    "--store", "-s", help="Store name from the configuration, or a store URL.")]


def _project(store: str | None) -> tuple[Any, Any, Any]:
    from metaxy.api import load_project
    from metaxy.store.registry import get_store

    project = load_project()
    return project, get_store(store, config=project.config, graph=project.graph), project.graph


def _migrations(store: str | None) -> Any:
    from metaxy.migrations.api import Migrations

    project, st, graph = _project(store)
    directory = project.config.root / project.config.migrations_dir
    return Migrations(st, graph, project.config.project, directory)


def _print_report(report: Any) -> None:
    if report.sql is not None:
        print(report.sql)
        return
    for rev in report.applied:
        console.print(f"applied {rev}")
    for r in report.operations:
        state = "would append" if r.dry_run else ("already done" if r.resumed else "appended")
        console.print(f"{r.operation} {r.feature}: {state} {r.rows} rows"
                      + (f" ({r.skipped_stale} stale samples left stale)"
                         if r.skipped_stale else ""))
    if report.snapshot is not None and report.snapshot.created:
        console.print(f"recorded snapshot {report.snapshot.project_version}")


@migrations_app.command("init")
def init_cmd(store: StoreOpt = None) -> None:
    """Install metaxy's Alembic environment into the project's migrations folder."""
    console.print(f"created {_migrations(store).init()}")


@migrations_app.command("revision")
def revision_cmd(message: Annotated[str, typer.Option("-m", "--message")],
                 autogenerate: bool = False, rev_id: str | None = None,
                 head: str = "head", splice: bool = False, store: StoreOpt = None) -> None:
    """Write a new revision (--autogenerate: last pushed snapshot vs the code)."""
    path = _migrations(store).revision(message, autogenerate=autogenerate, rev_id=rev_id,
                                       head=head, splice=splice)
    console.print(f"wrote {path}")


@migrations_app.command("upgrade")
def upgrade_cmd(target: str = "head", sql: bool = False, dry_run: bool = False,
                store: StoreOpt = None) -> None:
    """Apply revisions up to TARGET (--sql: print the DDL; --dry-run: count rows)."""
    _print_report(_migrations(store).upgrade(target, sql=sql, dry_run=dry_run))


@migrations_app.command("downgrade")
def downgrade_cmd(target: str, sql: bool = False, store: StoreOpt = None) -> None:
    """Revert revisions down to TARGET (schema operations; data operations stay)."""
    _print_report(_migrations(store).downgrade(target, sql=sql))


@migrations_app.command("current")
def current_cmd(store: StoreOpt = None) -> None:
    """The revision(s) the store is at."""
    heads = _migrations(store).current()
    console.print("\n".join(heads) if heads else "(no revision applied)")


@migrations_app.command("heads")
def heads_cmd(store: StoreOpt = None) -> None:
    """The head revision(s) of the migrations folder."""
    console.print("\n".join(_migrations(store).heads()) or "(no revisions)")


@migrations_app.command("history")
def history_cmd(store: StoreOpt = None, format: str = "text") -> None:
    """Every revision, newest first, with the project versions it goes from and to."""
    rows = _migrations(store).history()
    if format == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        head = " (head)" if r["is_head"] else ""
        console.print(f"{r['down_revision'] or '<base>'} -> {r['revision']}{head}: "
                      f"{r['message']}  [{r['from_version']} -> {r['to_version']}]",
                      highlight=False)


@migrations_app.command("check")
def check_cmd(store: StoreOpt = None) -> None:
    """Exit non-zero when the code's project version is not the head revision's target."""
    ok, message = _migrations(store).check()
    console.print(message, highlight=False)
    if not ok:
        raise typer.Exit(1)


@migrations_app.command("stamp")
def stamp_cmd(target: str, store: StoreOpt = None) -> None:
    """Record TARGET as applied without running it."""
    _migrations(store).stamp(target)


def push_cmd(store: StoreOpt = None) -> None:
    """Record the current graph as a snapshot in the store."""
    from metaxy.migrations import api

    project, st, graph = _project(store)
    result = api.push(st, graph, project.config.project)
    word = "recorded" if result.created else "already recorded"
    console.print(f"{word}: project {result.project} @ {result.project_version} "
                  f"({result.n_features} features)")


@graph_app.command("diff")
def diff_cmd(old: Annotated[str | None, typer.Argument(help="old project version")] = None,
             new: Annotated[str | None, typer.Argument(help="new project version")] = None,
             format: str = "text", store: StoreOpt = None) -> None:
    """Diff the last pushed snapshot (or OLD) against the code (or NEW)."""
    from metaxy.migrations import api
    from metaxy.migrations.diff import RENDERERS

    project, st, graph = _project(store)
    diff = api.graph_diff(st, graph, project.config.project, old, new)
    if format not in RENDERERS:
        raise typer.BadParameter(f"format must be one of {sorted(RENDERERS)}")
    text = RENDERERS[format](diff)
    console.print(text, highlight=False) if format == "text" else print(text)


def reconcile_cmd(feature: str,
                  fields: Annotated[list[str] | None, typer.Option("--fields")] = None,
                  dry_run: bool = False, store: StoreOpt = None) -> None:
    """Reconcile FEATURE from the last pushed snapshot to the code (no recomputation)."""
    from metaxy.migrations import api

    project, st, graph = _project(store)
    r = api.reconcile(st, graph, project.config.project, feature, fields=fields,
                      dry_run=dry_run)
    verb = "would append" if dry_run else "appended"
    console.print(f"reconcile {r.feature}: {verb} {r.rows} rows ({r.skipped_stale} stale "
                  "samples left stale)")


#: picked up by metaxy.cli's plugin registration as ``metaxy migrations``
app = migrations_app


def register(main_app: typer.Typer, main_graph_app: typer.Typer | None = None) -> None:
    """Attach ``push``, ``reconcile`` and ``graph diff`` to the main ``metaxy`` app."""
    main_app.command("push")(push_cmd)
    main_app.command("reconcile")(reconcile_cmd)
    target = main_graph_app if main_graph_app is not None else graph_app
    if target is graph_app:
        main_app.add_typer(graph_app, name="graph")
    else:
        target.command("diff")(diff_cmd)


__all__ = ["app", "register"]
