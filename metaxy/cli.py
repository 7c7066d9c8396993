"""The ``metaxy`` command line: argument parsing and rendering over :mod:`metaxy.api`.

Every command takes ``--store NAME|URL`` (default: the configured default store) and
``--format text|json``. Errors print one line on stderr and exit with code 1; ``--debug``
(anywhere on the command line) shows the traceback instead.

Migration commands live in their own module: if ``metaxy.migrations.cli`` exists and exposes a
typer app named ``app``, it is registered here as ``metaxy migrations ...`` (see
:func:`_register_plugins`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from metaxy import api  # lazy re-exports: cheap until a command calls into it
from metaxy.cli_options import (
    ExcludeOpt,
    ExitCodeOpt,
    Format,
    FormatOpt,
    SelectOpt,
    StaleIfOpt,
    StoreOpt,
    WhereOpt,
    output_console,
)
from metaxy.errors import MetaxyError

# Startup time: this module imports only typer, rich and metaxy's light modules. SQLAlchemy,
# SQLModel, Polars and the drivers are imported inside the commands (through ``api``), so
# ``metaxy --help`` and ``metaxy config show`` stay fast; tests/cli/test_startup.py guards it.

app = typer.Typer(name="metaxy", help="Metadata layer for multimodal pipelines.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=True)
graph_app = typer.Typer(help="The feature graph.", no_args_is_help=True)
config_app = typer.Typer(help="The configuration.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
app.add_typer(config_app, name="config")

console = output_console()


_state = {"debug": False, "forced": False}  # forced: --debug given after the command (main())


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          version: Annotated[bool, typer.Option(
              "--version", is_eager=True, callback=lambda v: _print_version(v),
              help="Print metaxy's version and exit.")] = False) -> None:
    """Metadata layer for multimodal pipelines."""
    _state["debug"] = debug or _state["forced"]


def _print_version(value: bool) -> None:
    if value:
        import importlib.metadata

        console.print(f"metaxy {importlib.metadata.version('metaxy')}", highlight=False)
        raise typer.Exit()


# ---------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn any error into one line on stderr and exit code 1 (unless --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as e:
        if _state["debug"]:
            raise
        _print_error(e)
        raise typer.Exit(1) from None


def _print_error(e: BaseException) -> None:
    """One line on stderr. The message is printed verbatim: rich markup is escaped, so text in
    brackets (pydantic's ``[type=...]``, a key like ``a/[b]``) is not swallowed as a style."""
    # alembic's CommandError is a user error (unknown revision...), like a MetaxyError
    user_error = isinstance(e, MetaxyError) or (
        type(e).__name__ == "CommandError" and type(e).__module__.startswith("alembic"))
    text = str(e) if user_error else f"{type(e).__name__}: {e}"
    line = " ".join(text.split())
    hint = "" if user_error else " (run with --debug for the traceback)"
    Console(stderr=True).print(f"[red]error:[/red] {escape(line)}{escape(hint)}",
                               highlight=False, soft_wrap=True)


def _note_without_config() -> None:
    """Without a configuration file every default applies silently; say so on stderr, once per
    command (``config show`` prints it as ``path: None`` already)."""
    from metaxy.config import DEFAULT_STORE_URL, find_config_file

    if find_config_file() is None:
        from pathlib import Path

        Console(stderr=True).print(escape(
            f"note: no metaxy.toml (or pyproject.toml with [tool.metaxy]) in {Path.cwd()} or its "
            f"parents: using project 'default' and store {DEFAULT_STORE_URL}; create metaxy.toml "
            "to configure (docs/how-to/team-package.md)"), highlight=False, soft_wrap=True)


def _json(data: Any) -> None:
    from metaxy.render import print_json

    print_json(data)


#: ``--exit-code``'s exit status when a selected feature needs work (errors exit 1)
WORK_PENDING_EXIT = 2


def _gate(needs_work: bool, exit_code: bool) -> None:
    """``--exit-code``: exit 2 (after the output is printed) when something needs work. Errors
    exit 1, so a script tells "work to do" from "could not tell" (as ``terraform plan
    -detailed-exitcode`` does)."""
    if exit_code and needs_work:
        raise typer.Exit(WORK_PENDING_EXIT)


def _selected(project: api.Project, keys: list[str] | None, select: list[str] | None,
              exclude: list[str] | None, store: Any = None) -> list[str] | None:
    """The feature keys of ``--select``/``--exclude`` (positional keys are selectors too);
    ``None`` (every feature, or just ``keys``) when neither option is given. ``store`` holds the
    snapshot ``state:modified`` compares with."""
    if not select and not exclude:
        return keys
    return api.select_features(project, [*(keys or []), *(select or [])], exclude, store)


def _project_and_store(store: str | None) -> tuple[api.Project, Any]:
    project = api.load_project()
    return project, project.store(store)


# ---------------------------------------------------------------------- definitions
@app.command("list")
def list_cmd(store: StoreOpt = None, format: FormatOpt = Format.text, select: SelectOpt = None,
             exclude: ExcludeOpt = None) -> None:
    """List features in topological order with their versions."""
    from rich.table import Table

    with _errors():
        project, st = _project_and_store(store)
        rows = api.list_features(project)
        chosen = _selected(project, None, select, exclude, st)
        if chosen is not None:
            rows = [r for r in rows if r.key in chosen]
        if format is Format.json:
            _json({"project": project.config.project, "project_version": project.version,
                   "features": rows})
            return
        table = Table(title=f"project {project.config.project} @ {project.version}")
        # keys and versions are what one copies from this table: never cut them with "…"
        # (a narrow terminal or a pipe, 80 columns, wraps the upstream and package instead)
        table.add_column("feature", no_wrap=True,
                         min_width=max((len(r.key) for r in rows), default=7))
        table.add_column("version", no_wrap=True, min_width=16)
        table.add_column("fields (version)", no_wrap=True, min_width=16)
        for col in ("upstream", "package"):  # package: a local module's name, dimmed
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.key, r.feature_version,
                          "\n".join(f"{k}\n[dim]{v}[/]" for k, v in r.fields.items()),
                          ", ".join(r.upstream), r.package or f"[dim]{r.module}[/]")
        console.print(table)


@app.command("describe")
def describe_cmd(feature: Annotated[str, typer.Argument(help="Feature key, e.g. media/video.")],
                 store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Show one feature: columns, fields (code and static versions, parents), lineage."""
    from rich.table import Table

    with _errors():
        project, _ = _project_and_store(store)
        d = api.describe(project, feature)
        if format is Format.json:
            _json(d)
            return
        console.print(f"[bold]{d.key}[/]  ({d.class_path}, package {d.package or '?'})")
        if d.description:
            console.print(d.description)
        console.print(f"table {d.table}; id columns {', '.join(d.id_columns)}; feature version "
                      f"{d.feature_version}; definition {d.definition_version}")
        cols = Table(title="columns", title_justify="left")
        for name in ("name", "type", "nullable"):
            cols.add_column(name)
        for col in d.columns:
            cols.add_row(col["name"], col["type"], "yes" if col["nullable"] else "no")
        console.print(cols)
        fields = Table(title="fields", title_justify="left")
        for c in ("field", "code_version", "version", "depends on"):
            fields.add_column(c)
        for f in d.fields:
            fields.add_row(f.key, f.code_version, f.version, "\n".join(f.parents) or "(input)")
        console.print(fields)
        for dep in d.deps:
            on = f" on {', '.join(dep.on)}" if dep.on else ""
            console.print(f"upstream {dep.feature}: {dep.lineage}{on}"
                          + (" (optional)" if dep.optional else ""))
        if d.downstream:
            console.print(f"downstream: {', '.join(d.downstream)}")


@config_app.command("show")
def config_show_cmd(store: StoreOpt = None, format: FormatOpt = Format.text) -> None:
    """Show the resolved configuration (passwords redacted)."""
    with _errors():
        from metaxy.config import load_config, redact_url

        config = load_config()
        data: dict[str, Any] = api.config_show(config)
        if store is not None:
            data["selected_store_url"] = redact_url(config.store_config(store).url)
        if format is Format.json:
            _json(data)
            return
        for k, v in data.items():
            if k == "stores":
                for name, s in v.items():
                    console.print(f"stores.{name}: {s['url']}"
                                  + (f" (fallback: {', '.join(s['fallback'])})"
                                     if s.get("fallback") else ""), highlight=False)
            else:
                console.print(f"{k}: {v}", highlight=False)


# ---------------------------------------------------------------------- store commands
@app.command("status")
def status_cmd(features: Annotated[list[str] | None, typer.Argument(
                   help="Feature keys (default: all).")] = None,
               store: StoreOpt = None, format: FormatOpt = Format.text,
               exit_code: ExitCodeOpt = False, select: SelectOpt = None,
               exclude: ExcludeOpt = None, where: WhereOpt = None,
               stale_if: StaleIfOpt = None) -> None:
    """Per feature: up to date / new / stale / orphaned sample counts (computed in the store)."""
    from metaxy.render import progress_bar, status_table

    with _errors():
        project, st = _project_and_store(store)
        features = _selected(project, features, select, exclude, st)
        with progress_bar(console, len(project.graph) if features is None else len(features),
                          "status",
                          format is Format.text) as tick:
            rows = api.status(project, st, features, progress=tick, where=where, stale_if=stale_if)
        if format is Format.json:
            _json({"store": st.display(), "needs_work": api.needs_work(rows), "features": rows})
        else:
            console.print(status_table(rows, title=f"status of {st.display()}"))
    _gate(api.needs_work(rows), exit_code)


@app.command("plan")
def plan_cmd(store: StoreOpt = None, format: FormatOpt = Format.text,
             exit_code: ExitCodeOpt = False, select: SelectOpt = None,
             exclude: ExcludeOpt = None, stale_if: StaleIfOpt = None) -> None:
    """What would be recomputed, per feature and field, in topological order."""
    from metaxy.render import progress_bar, run_plan_table

    with _errors():
        project, st = _project_and_store(store)
        chosen = _selected(project, None, select, exclude, st)  # the cascade needs all
        with progress_bar(console, len(project.graph), "plan", format is Format.text) as tick:
            rows = api.run_plan(project, st, progress=tick, stale_if=stale_if)
        if chosen is not None:
            rows = [r for r in rows if r.feature in chosen]
        pending = {r.feature for r in rows if r.needs_work}
        changes = [c for c in api.code_changes(project, st) if c.feature in pending]
        if format is Format.json:
            _json({"store": st.display(), "needs_work": api.needs_work(rows), "features": rows,
                   "code_changes": changes})
        else:
            console.print(run_plan_table(rows, title=f"plan for {st.display()}"))
            _refactor_hint(changes)
    _gate(api.needs_work(rows), exit_code)


def _refactor_hint(changes: list[api.CodeChange]) -> None:
    """After a code_version bump: recomputing is the default, a refactor can be reconciled."""
    if not changes:
        return
    bumped = ", ".join(f"{c.feature}:{c.field} ({c.pushed} -> {c.code})" for c in changes)
    console.print(escape(
        f"code_version changed since the last push: {bumped}. If the change was a refactor "
        "(same output), reconcile instead of recomputing: metaxy migrations revision "
        "--autogenerate -m 'refactor', then metaxy migrations upgrade "
        "(docs/how-to/migrate-after-refactor.md)."), highlight=False)


@app.command("explain")
def explain_cmd(
    feature: Annotated[str, typer.Argument(help="Feature key.")],
    ids: Annotated[list[str] | None, typer.Argument(
        help="Sample ids: one value per id column, comma separated (v001 or v001,3), "
             "or col=value,...")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", "-w", help="Also explain the samples matching this filter that are not up "
                              "to date, e.g. \"video_id = 'v1'\".")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, help="At most this many samples from --where.")] = 20,
    store: StoreOpt = None, format: FormatOpt = Format.text, stale_if: StaleIfOpt = None,
) -> None:
    """Why a sample is new, stale or orphaned: which field, which upstream or code version."""
    from metaxy.render import explain_tree

    with _errors():
        project, st = _project_and_store(store)
        out = api.explain(project, st, feature, ids, where=where, limit=limit, stale_if=stale_if)
        if format is Format.json:
            _json(out)
        else:
            for ex in out:
                console.print(explain_tree(ex))
            if not out:
                console.print(f"no sample of {escape(feature)} matching {escape(repr(where))} "
                              "needs work", highlight=False)
        api.raise_for_unknown(out)  # printed first, then one error line and exit code 1


@app.command("resolve")
def resolve_cmd(
    features: Annotated[list[str] | None, typer.Argument(
        help="Feature keys (selectors too); or use --select.")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write the increment to a .parquet or .csv file (one feature "
                               "only).")] = None,
    where: WhereOpt = None, select: SelectOpt = None, exclude: ExcludeOpt = None,
    store: StoreOpt = None, format: FormatOpt = Format.text, stale_if: StaleIfOpt = None,
) -> None:
    """The increment of a feature (new / stale / orphaned samples), printed or written.

    With several features (selectors), root features are skipped: their increment compares
    samples passed from Python.
    """
    with _errors():
        project, st = _project_and_store(store)
        single = not select and not exclude and len(features or []) == 1
        chosen = features if single else _selected(project, features, select, exclude, st)
        if not chosen:
            raise api.ApiError("resolve: give a feature key, or --select (no feature selected)")
        keys = chosen if single else [k for k in chosen if project.graph.spec(k).deps]
        if output is not None and len(keys) != 1:
            raise api.ApiError(f"--output writes one feature's increment; {len(keys)} selected "
                               f"({', '.join(keys)})")
        results = [api.resolve(project, st, k, output, where=where, stale_if=stale_if)
                   for k in keys]
        if format is Format.json:
            docs = [_resolve_doc(r, output) for r in results]
            _json(docs[0] if single else {"store": st.display(), "features": docs})
            return
        for result in results:
            counts = ", ".join(f"{v} {k}" for k, v in result.counts.items())
            console.print(f"[bold]{result.feature}[/]: {counts}")
            if output is not None:
                console.print(f"written to {output}")
            else:
                frame = api.increment_frame(result.increment)
                if frame.height:
                    console.print(str(frame))


def _resolve_doc(result: api.ResolveResult, output: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"feature": result.feature, "counts": result.counts,
                            "output": result.output}
    if output is None:
        data["rows"] = api.increment_frame(result.increment).to_dicts()
    return data


@app.command("ingest")
def ingest_cmd(
    feature: Annotated[str, typer.Argument(help="Root feature key, e.g. media/video.")],
    file: Annotated[str, typer.Argument(
        help="Samples: a .parquet or .csv file with the id columns and user columns.")],
    input: Annotated[list[str] | None, typer.Option(
        "--input", "-i", metavar="COL=FIELD",
        help="Take a field's input from a column (repeatable), e.g. checksum_audio=audio. "
             "Default: the metaxy_input_by_field struct column (Parquet), else the content "
             "hash of the row's user columns.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only count; write nothing.")] = False,
    store: StoreOpt = None, format: FormatOpt = Format.text,
) -> None:
    """Ingest a root feature's samples from a file: write the new and stale ones.

    Re-ingesting an unchanged file writes nothing, a sample whose input changed is written
    again (stale), and samples stored but absent from the file (orphaned) are only reported.
    """
    with _errors():
        mapping = api.parse_input_options(input)
        from metaxy.render import progress_bar

        project, st = _project_and_store(store)
        with progress_bar(console, 3, f"ingest {feature}", format is Format.text) as tick:
            result = api.ingest(project, st, feature, file, inputs=mapping, dry_run=dry_run,
                                progress=tick)
        if format is Format.json:
            _json({**dataclasses.asdict(result), "store": st.display()})
            return
        counts = ", ".join(f"{v} {k}" for k, v in result.counts.items())
        console.print(f"[bold]{escape(result.feature)}[/]: {counts}", highlight=False)
        if result.stale_fields:
            console.print("stale fields: " + ", ".join(
                f"{k} ({v})" for k, v in result.stale_fields.items()), highlight=False)
        verb = "would write" if dry_run else "wrote"
        n = result.new + result.stale if dry_run else result.written
        console.print(escape(f"{verb} {n} row(s) to {st.display()}"), highlight=False)
        if result.orphaned:
            console.print(f"{result.orphaned} stored sample(s) are not in {escape(file)} "
                          "(orphaned; not deleted)", highlight=False)
        if result.ignored_columns:
            console.print("ignored columns (not in the model): "
                          + escape(", ".join(result.ignored_columns)), highlight=False)


# ---------------------------------------------------------------------- main job
@app.command("demo")
def demo_cmd(
    store: StoreOpt = None,
    videos: Annotated[int, typer.Option("--videos", min=10, help="Number of videos.")] = 200,
    format: FormatOpt = Format.text,
) -> None:
    """Run the example pipeline end to end, then show incrementality (the main job).

    Starts from an empty store: the default is .metaxy/demo.duckdb beside metaxy.toml, deleted
    and recreated on every run (an embedded --store file is deleted too).
    """
    from metaxy.demo import run_demo

    with _errors():
        out = Console(quiet=True) if format is Format.json else console
        report = run_demo(store, videos, out)
        if format is Format.json:
            _json({"store": report.store, "videos": report.n_videos,
                   "runs": [{r.feature: dataclasses.asdict(r) for r in run}
                            for run in report.runs],
                   "plan": report.plan})


# ---------------------------------------------------------------------- plugins
def _register_plugins() -> None:
    """Sub-apps owned by other modules, registered only if importable (e.g. migrations)."""
    for module, name in (("metaxy.migrations.cli", "migrations"),):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name):
                continue  # not written / not installed
            raise
        sub = getattr(mod, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` under :func:`_errors` (one-line errors for every command, also those of other
    modules such as ``metaxy migrations``), after the note about a missing configuration."""

    @functools.wraps(fn)
    def command(*args: Any, config_file: str | None = None, **kwargs: Any) -> Any:
        from metaxy.config import use_config_file

        with _errors(), use_config_file(config_file):
            # they report (or write) the configuration anyway
            if fn.__name__ not in ("config_show_cmd", "demo_cmd", "init_cmd"):
                _note_without_config()
            return fn(*args, **kwargs)

    _add_config_option(command, fn)
    return command


def _add_config_option(command: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Give ``command`` (the guarded ``fn``) a ``--config PATH`` option: typer reads the
    signature, so every command, also those of other modules, gets it in one place."""
    import inspect

    option = inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option(
            "--config", metavar="PATH", help="Configuration file to use (default: METAXY_CONFIG, "
            "else the nearest metaxy.toml or pyproject.toml with \\[tool.metaxy]).")])
    signature = inspect.signature(fn, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != option.name]
    command.__signature__ = signature.replace(parameters=[*params, option])  # type: ignore[attr-defined]
    command.__annotations__ = {**{p.name: p.annotation for p in params},
                               option.name: option.annotation}


def _guard_commands(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None:
            info.callback = _guarded(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_commands(group.typer_instance)


_register_plugins()
importlib.import_module("metaxy.migrations.cli").register(app, graph_app)  # push, reconcile
importlib.import_module("metaxy.codeguard.cli").register(app)  # check
importlib.import_module("metaxy.cli_graph").register(graph_app)  # graph render
importlib.import_module("metaxy.cli_init").register(app)  # init
importlib.import_module("metaxy.cli_delete").register(app)  # delete, cleanup
importlib.import_module("metaxy.cli_maintenance").register(app)  # optimize
importlib.import_module("metaxy.cli_copy").register(app)  # copy
_guard_commands(app)


def main() -> None:
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
        _state["forced"] = _state["debug"] = True
    try:
        app()
    except MetaxyError as e:  # raised outside a command (only with --debug inside one)
        if _state["debug"]:
            raise
        _print_error(e)
        raise SystemExit(1) from None


if __name__ == "__main__":
    from metaxy.cli_reference import reference_markdown

    sys.stdout.write(reference_markdown())
