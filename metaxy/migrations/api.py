"""The Python API of snapshots, graph diffs and migrations (the CLI is a thin layer over it).

Every function takes the (unopened or open) store, the code's graph and the project name::

    from metaxy.migrations import api as mig
    mig.push(store, graph, "media")
    m = mig.Migrations(store, graph, "media", directory="migrations")
    m.revision("refactor transcript", autogenerate=True)
    m.upgrade("head")
"""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metaxy.errors import (
    MigrationError,
    MigrationWarning,
    MultipleHeadsError,
    StoreError,
    StoreLockedError,
)
from metaxy.graph import FeatureGraph
from metaxy.migrations import reconcile as R
from metaxy.migrations import records
from metaxy.migrations.diff import GraphDiff, diff_snapshots
from metaxy.migrations.revision_text import check_rev_id, docstring_text
from metaxy.migrations.snapshots import (
    PushResult,
    Snapshot,
    connection,
    load_snapshot,
    require_snapshot,
    snapshot_of,
)
from metaxy.migrations.snapshots import push as _push
from metaxy.migrations.state import VERSION_TABLE, MigrationState
from metaxy.migrations.templates import TEMPLATE_FILES, template_dir
from metaxy.versions import versions_of

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from metaxy.store.base import MetadataStore

# ---------------------------------------------------------------------------- the lock
def lock_name(project: str) -> str:
    """The name of a project's migration lock (:meth:`MetadataStore.lock`)."""
    return f"metaxy-migrations:{project}"


@contextlib.contextmanager
def migration_lock(store: MetadataStore, project: str,
                   timeout: float | None = 0.0) -> Iterator[None]:
    """Hold the project's migration lock (the store open): one migration run per project and
    database at a time, across processes -- revisions, ad-hoc reconciles and renames alike.

    Raises:
        StoreLockedError: another run holds it after ``timeout`` seconds.
    """
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store.lock(lock_name(project), timeout))
        except StoreLockedError as e:
            raise StoreLockedError(f"another `metaxy migrations` run of project '{project}' is "
                                   f"under way ({e})") from None
        yield


# ---------------------------------------------------------------------------- snapshots / diff
def push(store: MetadataStore, graph: FeatureGraph, project: str) -> PushResult:
    """Record the code's graph in the store (a no-op if this project version is recorded)."""
    with store.open("w"):
        return _push(store, graph, project)


def graph_diff(store: MetadataStore, graph: FeatureGraph, project: str,
               old_version: str | None = None, new_version: str | None = None) -> GraphDiff:
    """Diff of two snapshots; by default the last pushed snapshot against the code."""
    with store:
        old = load_snapshot(store, project, old_version)
        if old_version is not None and old is None:
            raise MigrationError(f"no snapshot of project '{project}' at version {old_version}")
        new = require_snapshot(store, project, new_version) if new_version else \
            snapshot_of(graph, project)
    return diff_snapshots(old, new)


def reconcile(store: MetadataStore, graph: FeatureGraph, project: str, feature: str, *,
              fields: list[str] | None = None, dry_run: bool = False,
              from_version: str | None = None,
              lock_timeout: float | None = 0.0) -> R.OpResult:
    """Ad-hoc reconcile of one feature from a snapshot (default: the last pushed) to the code.

    Recorded in the store like a data operation of a revision (revision ``adhoc``). Holds the
    project's migration lock (:func:`migration_lock`, waiting up to ``lock_timeout`` seconds).
    """
    with store.open("w"), migration_lock(store, project, lock_timeout):
        old = require_snapshot(store, project, from_version) if from_version else \
            load_snapshot(store, project)
        if old is None:
            raise MigrationError(f"{store.display()} holds no snapshot of project '{project}'; "
                                 "push the graph before changing it (`metaxy push`)")
        result = R.reconcile(store, feature, old_graph=old.graph(), new_graph=graph,
                             fields=fields, dry_run=dry_run,
                             materialization_id="migration:adhoc")
        if not dry_run:
            R.record(store, project, R.ADHOC, 0, result)
        return result


def _adhoc_steps(store: MetadataStore, project: str, from_version: str | None,
                 make: Any, dry_run: bool) -> list[R.OpResult]:
    """Run the steps of an ad-hoc data operation from a snapshot to the code, recording each."""
    old = require_snapshot(store, project, from_version) if from_version else \
        load_snapshot(store, project)
    if old is None:
        raise MigrationError(f"{store.display()} holds no snapshot of project '{project}'; "
                             "push the graph before changing it (`metaxy push`)")
    results = []
    for step in make(old.graph()):
        result = step.run()
        if not dry_run:
            R.record(store, project, R.ADHOC, 0, result)
        results.append(result)
    return results


def rename_feature(store: MetadataStore, graph: FeatureGraph, project: str, old_key: str,
                   new_key: str, *, dry_run: bool = False, from_version: str | None = None,
                   lock_timeout: float | None = 0.0) -> list[R.OpResult]:
    """Ad-hoc rename of a feature from a snapshot (default: the last pushed) to the code.

    Carries the old key's current rows to the new key (the old rows stay as history) and
    reconciles the dependents; one result per step (the carry first). Recorded as ``adhoc``;
    holds the project's migration lock like :func:`reconcile`.
    """
    from metaxy.migrations.rename import rename_feature_steps

    with store.open("w"), migration_lock(store, project, lock_timeout):
        return _adhoc_steps(store, project, from_version, lambda old: rename_feature_steps(
            store, old_key, new_key, old_graph=old, new_graph=graph, dry_run=dry_run,
            materialization_id="migration:adhoc"), dry_run)


def rename_field(store: MetadataStore, graph: FeatureGraph, project: str, feature: str,
                 old: str, new: str, *, dry_run: bool = False, from_version: str | None = None,
                 lock_timeout: float | None = 0.0) -> list[R.OpResult]:
    """Ad-hoc rename of a field of ``feature`` from a snapshot (default: the last pushed) to the
    code: adds the new field's storage columns, carries the rows, reconciles the dependents.
    Holds the project's migration lock like :func:`reconcile`."""
    from metaxy.migrations.rename import rename_field_steps

    with store.open("w"), migration_lock(store, project, lock_timeout):
        return _adhoc_steps(store, project, from_version, lambda old_graph: rename_field_steps(
            store, feature, old, new, old_graph=old_graph, new_graph=graph, dry_run=dry_run,
            materialization_id="migration:adhoc"), dry_run)


# ---------------------------------------------------------------------------- migrations
@dataclass
class UpgradeReport:
    applied: list[str] = field(default_factory=list)
    operations: list[R.OpResult] = field(default_factory=list)
    snapshot: PushResult | None = None
    sql: str | None = None

    @property
    def rows_appended(self) -> int:
        return sum(r.rows for r in self.operations if not r.dry_run)


def _dialect(store: MetadataStore) -> str:
    """The store's SQL dialect, known without connecting (``--sql`` prints its DDL); a store
    without SQL runs Alembic on an in-memory SQLite connection
    (:mod:`metaxy.migrations.records_alembic`)."""
    try:
        return store.sql_dialect_name()
    except StoreError:
        return "sqlite"


def _no_offline(store: MetadataStore, command: str) -> None:
    if not records.uses_sql(store):
        raise MigrationError(f"{store.display()}: `metaxy migrations {command} --sql` prints the "
                             f"DDL of a SQL store; the {store.backend} store has no SQL to print "
                             "(run the revisions online: add_column becomes a schema merge)")


class Migrations:
    """Alembic migrations of one project's store, with metaxy's state wired in."""

    def __init__(self, store: MetadataStore, graph: FeatureGraph, project: str,
                 directory: str | Path = "migrations", *,
                 lock_timeout: float | None = 0.0) -> None:
        """``lock_timeout``: seconds ``upgrade``, ``downgrade`` and ``stamp`` wait for the
        project's migration lock while another run holds it (0: fail at once; None: wait)."""
        self.store = store
        self.graph = graph
        self.project = project
        self.directory = Path(directory)
        self.lock_timeout = lock_timeout
        #: what the last autogenerated revision asks the author to review
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ alembic plumbing
    def _state(self, **kw: Any) -> MigrationState:
        return MigrationState(self.store, self.graph, self.project, _dialect(self.store),
                              sql=records.uses_sql(self.store), **kw)

    def config(self, state: MigrationState | None = None,
               output: io.StringIO | None = None) -> Config:
        from alembic.config import Config

        if not (self.directory / "env.py").is_file():
            raise MigrationError(f"{self.directory} is not a metaxy migrations folder (no env.py); "
                                 "run `metaxy migrations init` first")
        cfg = Config(output_buffer=output)
        cfg.set_main_option("script_location", str(self.directory))
        cfg.set_main_option("revision_environment", "true")
        cfg.set_main_option("version_table", VERSION_TABLE)
        cfg.attributes["metaxy"] = state if state is not None else self._state()
        return cfg

    def script(self) -> ScriptDirectory:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config())

    def _offline_buffer(self, command: str, target: str) -> io.StringIO:
        """The output of ``--sql``, opened with a header naming the store -- its URL redacted
        (offline output is pasted into tickets and CI logs; it never carries a password)."""
        from metaxy.config import redact_url

        out = io.StringIO()
        out.write(f"-- metaxy migrations {command} {target} --sql: project {self.project}, "
                  f"store {redact_url(self.store.url)} (dialect {_dialect(self.store)}); "
                  "generated offline, nothing was connected to\n")
        return out

    def _single_head(self, target: str) -> None:
        if target not in ("head", "heads") and "@head" not in target:
            return
        if target == "heads":
            return
        heads = self.script().get_heads()
        if len(heads) > 1:
            raise MultipleHeadsError(
                f"the revisions in {self.directory} have {len(heads)} heads: "
                f"{', '.join(sorted(heads))}; merge them (`alembic merge`-style revision with "
                "both as down_revision) or name a target revision")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store open for writing and the project's migration lock."""
        with self.store.open("w"), migration_lock(self.store, self.project, self.lock_timeout):
            yield

    # ------------------------------------------------------------------ commands
    def init(self) -> Path:
        """Install metaxy's Alembic environment (env.py, script.py.mako, versions/)."""
        if (self.directory / "env.py").exists():
            raise MigrationError(f"{self.directory} already holds an env.py")
        (self.directory / "versions").mkdir(parents=True, exist_ok=True)
        for name in TEMPLATE_FILES:
            shutil.copyfile(template_dir() / name, self.directory / name)
        return self.directory

    def revision(self, message: str, *, autogenerate: bool = False, rev_id: str | None = None,
                 head: str = "head", splice: bool = False, allow_drop: bool = False) -> Path:
        """Write a new revision; with ``autogenerate``, from the last snapshot vs the code.

        ``rev_id`` must be letters, digits and underscores; ``message`` may be any text (it is
        escaped for the file's docstring, see :mod:`metaxy.migrations.revision_text`).
        Autogenerate proposes a dropped + added column of one type as a rename and comments out
        the drop of a column holding data unless ``allow_drop``; each such decision is issued as
        a :class:`~metaxy.errors.MigrationWarning` and kept in ``self.warnings``."""
        from alembic import command

        check_rev_id(rev_id)
        if not splice:
            self._single_head(head)
        with self.store.open("w"):
            base = load_snapshot(self.store, self.project)
            to_version = versions_of(self.graph).project_version(self.project)
            heads = self.script().get_heads()
            from_version = base.project_version if base is not None else None
            if heads and not splice:
                module = self.script().get_revision(heads[0]).module  # type: ignore[union-attr]
                from_version = getattr(module, "metaxy_to_version", None) or from_version
            if autogenerate and base is None:
                raise MigrationError(f"{self.store.display()} holds no snapshot of project "
                                     f"'{self.project}': push the graph (`metaxy push`) before "
                                     "changing the code, so autogenerate has a base to compare")
            if autogenerate and from_version and base is not None \
                    and base.project_version != from_version:
                base = require_snapshot(self.store, self.project, from_version)
            state = self._state(from_version=from_version, to_version=to_version,
                                base_snapshot=base, allow_drop=allow_drop)
            scripts = command.revision(self.config(state), docstring_text(message),
                                       autogenerate=autogenerate,
                                       rev_id=rev_id, head=head, splice=splice)
        self.warnings = list(state.warnings)
        for text in self.warnings:
            warnings.warn(text, MigrationWarning, stacklevel=2)
        script = scripts[0] if isinstance(scripts, list) else scripts
        if script is None:
            raise MigrationError("alembic wrote no revision")
        return Path(script.path)

    def upgrade(self, target: str = "head", *, sql: bool = False, dry_run: bool = False,
                progress: Callable[[str], None] | None = None) -> UpgradeReport:
        """Apply revisions up to ``target``; ``sql`` prints the DDL offline (no connection).

        ``progress`` is called with each revision id once it is applied (see :meth:`pending`).
        """
        from alembic import command

        self._single_head(target)
        if sql:
            _no_offline(self.store, "upgrade")
            out = self._offline_buffer("upgrade", target)
            command.upgrade(self.config(output=out), target, sql=True)
            return UpgradeReport(sql=out.getvalue())
        state = self._state(dry_run=dry_run)
        state.progress = progress
        report = UpgradeReport()
        with self._locked():
            if dry_run:
                self._dry_run(state, target)
            else:
                command.upgrade(self.config(state), target)
                self._refresh()
                heads = set(self.script().get_heads())
                if heads and set(self._current()) == heads and self._code_is_head():
                    report.snapshot = _push(self.store, self.graph, self.project)
        report.applied = list(state.applied)
        report.operations = list(state.results)
        return report

    def pending(self, target: str = "head") -> list[str]:
        """The revisions an upgrade to ``target`` would apply, in the order it applies them."""
        current = self.current()
        return [r.revision for r in reversed(list(self.script().iterate_revisions(
            target, current[0] if current else "base")))]

    def _dry_run(self, state: MigrationState, target: str) -> None:
        """Count what the pending revisions' data operations would append; change nothing.

        Each pending revision's ``upgrade()`` runs against a recorder standing in for ``op``:
        schema operations are skipped, data operations run in counting mode.
        """
        from alembic import op as op_proxy
        from metaxy.migrations.environment import load_extensions
        from metaxy.migrations.operations import ReconcileOp

        load_extensions(state.dialect)
        script = self.script()
        current = self._current()
        revs = list(script.iterate_revisions(target, current[0] if current else "base"))

        class _Recorder:
            def reconcile(self, feature: str, fields: list[str] | None = None) -> None:
                from metaxy.migrations.operations import _reconcile

                _reconcile(self, ReconcileOp(feature, fields))  # type: ignore[arg-type]

            def rename_feature(self, old_key: str, new_key: str) -> None:
                from metaxy.migrations.operations import RenameFeatureOp, _rename_feature

                _rename_feature(self, RenameFeatureOp(old_key, new_key))  # type: ignore[arg-type]

            def rename_field(self, feature: str, old: str, new: str) -> None:
                from metaxy.migrations.operations import RenameFieldOp, _rename_field

                _rename_field(self, RenameFieldOp(feature, old, new))  # type: ignore[arg-type]

            def backfill(self, feature: str, data: Any) -> None:
                count = data(state.store) if callable(data) else data
                state.results.append(R.OpResult("backfill", feature, len(count), dry_run=True))

            @property
            def migration_context(self) -> Any:
                return _Ctx()

            def __getattr__(self, name: str) -> Any:
                return lambda *a, **k: None

        cfg = self.config(state)

        class _Ctx:
            as_sql = False
            config = cfg

        for rev in reversed(revs):
            state.start_step(rev.revision, rev.module, True)
            previous = getattr(op_proxy, "_proxy", None)
            op_proxy._proxy = _Recorder()  # type: ignore[attr-defined]
            try:
                rev.module.upgrade()
            finally:
                op_proxy._proxy = previous  # type: ignore[attr-defined]

    def downgrade(self, target: str, *, sql: bool = False) -> UpgradeReport:
        from alembic import command

        if sql:
            _no_offline(self.store, "downgrade")
            out = self._offline_buffer("downgrade", target)
            command.downgrade(self.config(output=out), target, sql=True)
            return UpgradeReport(sql=out.getvalue())
        state = self._state()
        with self._locked():
            command.downgrade(self.config(state), target)
            self._refresh()
        return UpgradeReport(applied=list(state.applied), operations=list(state.results))

    def stamp(self, target: str) -> None:
        from alembic import command

        with self._locked():
            command.stamp(self.config(self._state()), target)

    def _refresh(self) -> None:
        self.store.refresh_tables()

    def _current(self) -> list[str]:
        from alembic.runtime.migration import MigrationContext

        from metaxy.migrations.environment import load_extensions

        if not records.uses_sql(self.store):
            return records.versions(self.store)
        load_extensions(_dialect(self.store))
        conn = connection(self.store)
        ctx = MigrationContext.configure(connection=conn, opts={"version_table": VERSION_TABLE})
        heads = list(ctx.get_current_heads())
        conn.commit()
        return heads

    def current(self) -> list[str]:
        """The revisions the store is at (empty: none applied)."""
        with self.store.open("w"):
            return self._current()

    def heads(self) -> list[str]:
        return list(self.script().get_heads())

    def history(self) -> list[dict[str, Any]]:
        """Every revision, newest first, with the project versions it goes from and to."""
        out = []
        for rev in self.script().walk_revisions():
            out.append({
                "revision": rev.revision,
                "down_revision": rev.down_revision,
                "message": rev.doc,
                "is_head": rev.is_head,
                "from_version": getattr(rev.module, "metaxy_from_version", None),
                "to_version": getattr(rev.module, "metaxy_to_version", None),
            })
        return out

    def head_to_version(self) -> str | None:
        heads = self.heads()
        if not heads:
            return None
        if len(heads) > 1:
            self._single_head("head")
        module = self.script().get_revision(heads[0]).module  # type: ignore[union-attr]
        return getattr(module, "metaxy_to_version", None)

    def _code_is_head(self) -> bool:
        return self.head_to_version() == versions_of(self.graph).project_version(self.project)

    def check(self) -> tuple[bool, str]:
        """Whether the code's project version is the ``to`` of the head revision (for CI)."""
        code = versions_of(self.graph).project_version(self.project)
        head = self.head_to_version()
        if head == code:
            return True, f"project version {code} is the head revision's target"
        return False, (f"the code's project version {code} is not the target of the head "
                       f"revision ({head or 'no revision'}); write a revision with "
                       "`metaxy migrations revision --autogenerate -m ...`")


def snapshot(graph: FeatureGraph, project: str) -> Snapshot:
    return snapshot_of(graph, project)
