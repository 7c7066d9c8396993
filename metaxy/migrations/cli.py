"""``metaxy migrations ...``, ``metaxy push``, ``metaxy graph diff``, ``metaxy reconcile``.

A thin layer over :mod:`metaxy.migrations.api`; attached to the main CLI by :func:`register`.
Every command takes ``--format text|json`` (``graph diff`` also ``mermaid|dot``). The JSON
documents are built from the API's return values (dataclasses become objects); errors are one
line on stderr with exit code 1, whatever the format (``metaxy.cli`` guards every command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from metaxy.cli_options import Format, FormatOpt, StoreOpt, output_console

console = output_console()
migrations_app = typer.Typer(name="migrations", help="Alembic migrations of the metadata store.",
                             no_args_is_help=True)
graph_app = typer.Typer(name="graph", help="Graph snapshots and diffs.", no_args_is_help=True)


class DiffFormat(StrEnum):
    text = "text"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


TargetArg = Annotated[str, typer.Argument(
    help="Revision to upgrade to: head (default), a revision id, +1, or base:head with --sql.")]
SqlOpt = Annotated[bool, typer.Option(
    "--sql", help="Offline: print the SQL instead of running it.")]
DiffFormatOpt = Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format.")]
LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", min=0.0, metavar="SECONDS",
    help="Seconds to wait for the project's migration lock held by another run (0: fail).")]


def _project(store: str | None) -> tuple[Any, Any, Any]:
    from metaxy.api import load_project
    from metaxy.store.registry import get_store

    project = load_project()
    return project, get_store(store, config=project.config, graph=project.graph), project.graph


def _migrations(store: str | None, lock_timeout: float = 0.0) -> Any:
    from metaxy.migrations.api import Migrations

    project, st, graph = _project(store)
    directory = project.config.root / project.config.migrations_dir
    return Migrations(st, graph, project.config.project, directory, lock_timeout=lock_timeout)


# ---------------------------------------------------------------------------- JSON output
def _emit(data: dict[str, Any]) -> None:
    from metaxy.render import print_json

    print_json(data)


@contextlib.contextmanager
def _quiet_stdout(fmt: Format | DiffFormat) -> Iterator[None]:
    """Under ``--format json`` stdout holds the JSON document only: Alembic's own status lines
    ("Generating ... done") go to stderr instead."""
    if fmt != Format.json:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _revisions(m: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The history entries (revision, down_revision, message, is_head, from/to project
    versions) of ``ids``, in that order."""
    if not ids:
        return []
    by_id = {r["revision"]: r for r in m.history()}
    return [by_id[i] for i in ids if i in by_id]


def _operations(report_ops: list[Any]) -> dict[str, Any]:
    """Per-operation results plus per-feature totals (appended, or counted with --dry-run)."""
    by_feature: dict[str, int] = {}
    for r in report_ops:
        if not r.resumed:
            by_feature[r.feature] = by_feature.get(r.feature, 0) + r.rows
    return {"operations": report_ops,
            "rows_appended": sum(r.rows for r in report_ops if not r.dry_run and not r.resumed),
            "rows_by_feature": by_feature}


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


# ---------------------------------------------------------------------------- migrations
@migrations_app.command("init")
def init_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Install metaxy's Alembic environment into the project's migrations folder."""
    directory = _migrations(store).init()
    if format is Format.json:
        _emit({"directory": str(directory),
               "files": sorted(p.relative_to(directory).as_posix()
                               for p in directory.iterdir())})
        return
    console.print(f"created {directory}")


@migrations_app.command("revision")
def revision_cmd(message: Annotated[str, typer.Option(
                     "-m", "--message", help="Message of the revision (names its file).")],
                 autogenerate: Annotated[bool, typer.Option(
                     "--autogenerate", help="Compare the last pushed snapshot with the code "
                                            "and write the operations.")] = False,
                 rev_id: Annotated[str | None, typer.Option(
                     help="Revision id to use (default: generated).")] = None,
                 head: Annotated[str, typer.Option(
                     help="Head the new revision follows.")] = "head",
                 splice: Annotated[bool, typer.Option(
                     "--splice",
                     help="Allow a new branch from a revision that is not a head.")] = False,
                 allow_drop: Annotated[bool, typer.Option(
                     "--allow-drop", help="Autogenerate: write drop_column of columns that hold "
                     "data (by default commented out, with a warning).")] = False,
                 store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Write a new revision (--autogenerate: last pushed snapshot vs the code).

    Autogenerate proposes a removed + added column of one type as a rename (alter_column with
    new_column_name) and comments out the drop of a column holding data; both are printed as
    warnings to review.
    """
    import warnings

    m = _migrations(store)
    with _quiet_stdout(format), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # printed below, once, as `warning: ...`
        path = m.revision(message, autogenerate=autogenerate, rev_id=rev_id, head=head,
                          splice=splice, allow_drop=allow_drop)
    for text in m.warnings:
        Console(stderr=True).print(f"warning: {text}", highlight=False, soft_wrap=True)
    if format is Format.json:
        rev = next((r for r in m.script().walk_revisions()
                    if r.path is not None and path.samefile(r.path)), None)
        info = _revisions(m, [rev.revision]) if rev is not None else []
        _emit({"path": str(path), "autogenerate": autogenerate, "warnings": m.warnings,
               **(info[0] if info else {"revision": None, "down_revision": None,
                                        "message": message, "is_head": None,
                                        "from_version": None, "to_version": None})})
        return
    console.print(f"wrote {path}")


def _run_report(command: str, target: str, format: Format, sql: bool, dry_run: bool,
                store: str | None, lock_timeout: float) -> None:
    """``upgrade`` / ``downgrade``: run, then print the report as text or JSON."""
    from metaxy.render import progress_bar

    m = _migrations(store, lock_timeout)
    before = None if sql or format is Format.text else m.current()
    bar = command == "upgrade" and not sql and not dry_run and format is Format.text
    total = len(m.pending(target)) if bar else 0
    with _quiet_stdout(format), progress_bar(console, total, "upgrade", bar) as tick:
        report = m.upgrade(target, sql=sql, dry_run=dry_run, progress=tick) \
            if command == "upgrade" else m.downgrade(target, sql=sql)
    if format is Format.text:
        _print_report(report)
        return
    current = None if sql else m.current()
    if command == "upgrade" and dry_run:  # the pending revisions whose operations were counted
        moved = [r.revision for r in reversed(list(m.script().iterate_revisions(
            target, before[0] if before else "base")))]
    elif command == "upgrade":
        moved = [str(r) for r in report.applied]
    elif sql:
        moved = []
    else:  # downgrade: the revisions that were applied before and are not any more
        script = m.script()
        still = {r.revision for r in script.iterate_revisions(tuple(current or ()), "base")} \
            if current else set()
        moved = [r.revision for r in script.iterate_revisions(tuple(before or ()), "base")
                 if r.revision not in still] if before else []
    _emit({"command": command, "store": m.store.display(), "target": target,
           "dry_run": dry_run, "sql": report.sql, "before": before, "current": current,
           "revisions": _revisions(m, moved), **_operations(report.operations),
           "snapshot": report.snapshot})


@migrations_app.command("upgrade")
def upgrade_cmd(target: TargetArg = "head", sql: SqlOpt = False,
                dry_run: Annotated[bool, typer.Option(
                    "--dry-run",
                    help="Only count the rows the pending revisions would change.")] = False,
                store: StoreOpt = None, format: FormatOpt = Format.text,
                lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Apply revisions up to TARGET (--sql: print the DDL; --dry-run: count rows)."""
    _run_report("upgrade", target, format, sql, dry_run, store, lock_timeout)


@migrations_app.command("downgrade")
def downgrade_cmd(target: Annotated[str, typer.Argument(
                      help="Revision to downgrade to: a revision id, -1, or base.")],
                  sql: SqlOpt = False, store: StoreOpt = None,
                  format: FormatOpt = Format.text, lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Revert revisions down to TARGET (schema operations; data operations stay)."""
    _run_report("downgrade", target, format, sql, False, store, lock_timeout)


@migrations_app.command("current")
def current_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """The revision(s) the store is at."""
    m = _migrations(store)
    heads = m.current()
    if format is Format.json:
        _emit({"store": m.store.display(), "current": heads,
               "revisions": _revisions(m, heads)})
        return
    console.print("\n".join(heads) if heads else "(no revision applied)")


@migrations_app.command("heads")
def heads_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """The head revision(s) of the migrations folder."""
    m = _migrations(store)
    heads = m.heads()
    if format is Format.json:
        _emit({"heads": heads, "revisions": _revisions(m, heads)})
        return
    console.print("\n".join(heads) or "(no revisions)")


@migrations_app.command("history")
def history_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Every revision, newest first, with the project versions it goes from and to."""
    rows = _migrations(store).history()
    if format is Format.json:
        _emit({"revisions": rows})
        return
    for r in rows:
        head = " (head)" if r["is_head"] else ""
        console.print(f"{r['down_revision'] or '<base>'} -> {r['revision']}{head}: "
                      f"{r['message']}  [{r['from_version']} -> {r['to_version']}]",
                      highlight=False)


@migrations_app.command("check")
def check_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Exit non-zero when the code's project version is not the head revision's target."""
    from metaxy.versions import versions_of

    m = _migrations(store)
    ok, message = m.check()
    if format is Format.json:
        _emit({"ok": ok, "message": message,
               "code_version": versions_of(m.graph).project_version(m.project),
               "head_to_version": m.head_to_version(), "heads": m.heads()})
    else:
        console.print(message, highlight=False)
    if not ok:
        raise typer.Exit(1)


@migrations_app.command("stamp")
def stamp_cmd(target: Annotated[str, typer.Argument(
                  help="Revision to record as applied, without running it (e.g. head).")],
              store: StoreOpt = None, format: FormatOpt = Format.text,
              lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Record TARGET as applied without running it."""
    m = _migrations(store, lock_timeout)
    m.stamp(target)
    current = m.current()
    if format is Format.json:
        _emit({"store": m.store.display(), "target": target, "current": current,
               "revisions": _revisions(m, current)})
        return
    console.print(f"stamped {target}: store at {', '.join(current) or '<base>'}",
                  highlight=False)


# ---------------------------------------------------------------------------- main app
AcceptOpt = Annotated[list[str] | None, typer.Option(
    "--accept", metavar="FEATURE:FIELD",
    help="Accept a code change of a guarded field as output-neutral (recorded in the "
         "snapshot; repeatable). See `metaxy check`.")]


def push_cmd(store: StoreOpt = None, accept: AcceptOpt = None,
             format: FormatOpt = Format.text) -> None:
    """Record the current graph as a snapshot in the store.

    Also records the fingerprints of declared compute functions (@Feature.computes); refuses
    (exit 1) when one changed while its field's code_version did not, unless --accept'ed.
    """
    from metaxy.codeguard.check import guarded_push

    project, st, graph = _project(store)
    pushed = guarded_push(st, graph, project.config.project, accept)
    result = pushed.push
    if format is Format.json:
        _emit({"store": st.display(), **dataclasses.asdict(result),
               "code": [{"feature": f.feature, "field": f.field, "status": f.status,
                         "fingerprint": f.fingerprint, "function": f.function}
                        for f in pushed.recorded]})
        return
    word = "recorded" if result.created else "already recorded"
    console.print(f"{word}: project {result.project} @ {result.project_version} "
                  f"({result.n_features} features)")
    for f in pushed.recorded:
        console.print(f"recorded code of {f.target} ({f.status}): {f.function} "
                      f"@ {f.fingerprint}", highlight=False, soft_wrap=True)


@graph_app.command("diff")
def diff_cmd(old: Annotated[str | None, typer.Argument(help="old project version")] = None,
             new: Annotated[str | None, typer.Argument(help="new project version")] = None,
             format: DiffFormatOpt = DiffFormat.text, store: StoreOpt = None) -> None:
    """Diff the last pushed snapshot (or OLD) against the code (or NEW)."""
    from metaxy.migrations import api
    from metaxy.migrations.diff import RENDERERS

    project, st, graph = _project(store)
    diff = api.graph_diff(st, graph, project.config.project, old, new)
    text = RENDERERS[format.value](diff)
    console.print(text, highlight=False) if format is DiffFormat.text else print(text)


def reconcile_cmd(feature: Annotated[str, typer.Argument(help="Feature key to reconcile.")],
                  fields: Annotated[list[str] | None, typer.Option(
                      "--fields", help="Only these fields (repeatable; default: every changed "
                                       "field).")] = None,
                  dry_run: Annotated[bool, typer.Option(
                      "--dry-run",
                      help="Only show what would be reconciled; write nothing.")] = False,
                  store: StoreOpt = None,
                  format: FormatOpt = Format.text, lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Reconcile FEATURE from the last pushed snapshot to the code (no recomputation)."""
    from metaxy.migrations import api
    from metaxy.migrations.snapshots import load_snapshot
    from metaxy.versions import versions_of

    project, st, graph = _project(store)
    name = project.config.project
    r = api.reconcile(st, graph, name, feature, fields=fields, dry_run=dry_run,
                      lock_timeout=lock_timeout)
    if format is Format.json:
        with st:
            base = load_snapshot(st, name)
        _emit({"store": st.display(), "feature": r.feature, "fields": fields,
               "dry_run": dry_run,
               "from_version": base.project_version if base is not None else None,
               "to_version": versions_of(graph).project_version(name),
               **_operations([r])})
        return
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
