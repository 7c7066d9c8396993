"""The public store contract: what code outside ``metaxy/store/`` may use of a store.

Migrations, the CLI, the Python API and integration plugins (Dagster, Ray) use a store through
the user API of :class:`~metaxy.store.base.MetadataStore` (``open``, ``write``, ``read``,
``resolve_update``, ``status``, ...) and through the methods of :class:`StoreContract` below;
they never touch an underscore attribute of a store (``tests/unit/test_layers.py`` checks it by
parsing the sources). The methods here are what used to be reached around the store:

* :meth:`StoreContract.lock`: a named lock across processes (migrations hold one per project);
* :meth:`StoreContract.using_graph`: resolve features in another graph for a block (reconcile
  classifies samples under the graph of an old snapshot);
* :meth:`StoreContract.append_storage_rows`: append rows already in the storage form (renames
  carry rows whose hashes they computed themselves);
* :meth:`StoreContract.optimize`: compaction of a store's files (Delta Lake);
* :meth:`StoreContract.system_rows`, :meth:`StoreContract.append_system_rows` and
  :meth:`StoreContract.replace_system_rows`: metaxy's own records (graph snapshots, migration
  progress, the applied revisions) on a store without SQL, kept in the store's own medium;
* :meth:`StoreContract.evolve_schema`: add a feature's new nullable columns to its stored table
  on a store without SQL DDL (Delta's schema merge);
* :meth:`StoreContract.require_open`, :meth:`StoreContract.refresh_tables`,
  :meth:`StoreContract.sql_connection` and :meth:`StoreContract.sql_dialect_name`: what a
  migration needs around Alembic.

A backend implements :meth:`StoreContract._lock` (the lock's mechanism: a PostgreSQL advisory
lock, a lock file next to a DuckDB or SQLite file, an in-process lock for memory), and SQL
backends the SQL methods (:class:`~metaxy.store.sql.SQLStore` does, for any SQLAlchemy URL);
the rest is implemented here once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import polars as pl
import sqlalchemy as sa

from metaxy.errors import StoreError
from metaxy.graph import FeatureGraph
from metaxy.store.locks import check_timeout

if TYPE_CHECKING:
    from metaxy.engine.staged import StagedRows
    from metaxy.feature import Feature

AccessMode = Literal["r", "w"]

#: The store lock held while metaxy's system records are written (see
#: :meth:`StoreContract.append_system_rows`).
SYSTEM_RECORDS_LOCK = "metaxy-system-records"
SYSTEM_RECORDS_LOCK_WAIT_S = 60.0


class StoreContract:
    """The public methods every store offers to code outside ``metaxy/store/``.

    :class:`~metaxy.store.base.MetadataStore` inherits it; the attributes and methods declared
    under ``TYPE_CHECKING`` below are the base class's.
    """

    _graph: FeatureGraph | None
    _locks_held: dict[str, int]

    if TYPE_CHECKING:
        def display(self) -> str: ...

        def feature(self, ref: type[Feature] | str) -> type[Feature]: ...

        def _require(self, mode: AccessMode) -> None: ...

        def _guard(self, fn: Any, feature: type[Feature] | None = None) -> Any: ...

        def _append(self, feature: type[Feature], rows: StagedRows) -> int: ...

    # ------------------------------------------------------------------ open state
    def require_open(self, mode: AccessMode = "r") -> None:
        """Raise unless the store is open for ``mode`` (``"w"``: open for writing).

        Raises:
            StoreModeError: the store is closed, or open read-only while ``mode`` is ``"w"``.
        """
        self._require(mode)

    def refresh_tables(self) -> None:
        """Forget what the store cached about its tables during this open scope.

        Call it after changing the database's tables behind the store's back (Alembic DDL: a
        table created, dropped or altered); the next statement sees the catalog as it is.
        The default does nothing (a backend without such a cache).
        """

    def sql_connection(self) -> sa.Connection:
        """The open store's SQLAlchemy connection (SQL backends), e.g. for Alembic.

        The connection is the store's own: statements on it share the store's transactions.
        Commit or roll back what you begin, and do not close it.

        Raises:
            StoreError: the backend is not a SQL database (``memory://``), or the store is
                not open.
        """
        raise self._not_sql("SQL connection")

    def sql_dialect_name(self) -> str:
        """The name of the store's SQLAlchemy dialect (``duckdb``, ``sqlite``, ``postgresql``),
        known without connecting (offline migrations print the DDL of that dialect).

        Raises:
            StoreError: the backend is not a SQL database (``memory://``).
        """
        raise self._not_sql("SQL dialect")

    def _not_sql(self, what: str) -> StoreError:
        return StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend has no "
                          f"{what} (a SQL store is needed: DuckDB, SQLite, PostgreSQL)")

    # ------------------------------------------------------------------ maintenance
    def optimize(self, feature: type[Feature] | str) -> dict[str, int]:
        """Compact the feature's stored files (``metaxy optimize``): a store of many small
        appended files (Delta Lake) rewrites them into few large ones, so reads and increments
        stay fast; the rows do not change. The store must be open for writing.

        Returns:
            Counts of what was done, e.g. ``{"files_removed": 12, "files_added": 1}``.

        Raises:
            StoreError: the backend has no files to compact (a SQL database manages its own
                storage).
        """
        raise StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend has "
                         "nothing to optimize (it manages its own storage)")

    # ------------------------------------------------------------------ system records
    def system_rows(self, name: str) -> pl.DataFrame | None:
        """Every row of metaxy's system table ``name`` (graph snapshots, migration progress,
        the applied revisions), or ``None`` when nothing was ever written to it.

        Stores without SQL (``memory://``, ``delta:///``) keep these records in their own medium;
        SQL stores keep them in SQL tables of the database (:meth:`sql_connection`), as before,
        and do not implement this.

        Raises:
            StoreError: the backend keeps its system records in SQL tables, or the store is not
                open.
        """
        raise self._records_in_sql()

    def append_system_rows(self, name: str, rows: pl.DataFrame) -> None:
        """Append ``rows`` to metaxy's system table ``name`` (created by the first append with
        the rows' schema), under the store lock :data:`SYSTEM_RECORDS_LOCK`; all rows or none.

        Raises:
            StoreModeError: the store is not open for writing.
            StoreError: the backend keeps its system records in SQL tables; a bad table name.
        """
        raise self._records_in_sql()

    def replace_system_rows(self, name: str, rows: pl.DataFrame) -> None:
        """Replace every row of metaxy's system table ``name`` by ``rows`` (e.g. the applied
        revisions after a migration step), under the store lock; all rows or none.

        Raises:
            StoreModeError: the store is not open for writing.
            StoreError: the backend keeps its system records in SQL tables; a bad table name.
        """
        raise self._records_in_sql()

    def _records_in_sql(self) -> StoreError:
        return StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend has "
                          "no system records of its own (a SQL store keeps metaxy's records in "
                          "SQL tables: sql_connection)")

    def evolve_schema(self, feature: type[Feature] | str) -> list[str]:
        """Add the model's nullable columns the feature's stored table lacks, on a store without
        SQL DDL (a SQL store adds them with a migration's ``ALTER TABLE``); return their names.

        Raises:
            StoreError: the backend has SQL DDL (use a migration) or cannot change a schema.
            TableSchemaMismatchError: a missing column is not nullable.
        """
        raise StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend does "
                         "not evolve table schemas itself (a SQL store changes them with a "
                         "migration's ALTER TABLE)")

    # ------------------------------------------------------------------ graph override
    @contextlib.contextmanager
    def using_graph(self, graph: FeatureGraph) -> Iterator[Self]:
        """Resolve feature keys in ``graph`` inside the ``with`` block, instead of the store's.

        Everything keyed by feature (``write``, ``read``, ``resolve_update``, ``status``,
        ``has_feature``, ...) then uses ``graph``'s definitions, e.g. the graph rebuilt from an
        old snapshot; the store's own graph is restored on exit, also after an error. Overrides
        nest. Example::

            with store.using_graph(old_graph):
                stale_before = store.resolve_update("speech/transcript").stale
        """
        if not isinstance(graph, FeatureGraph):
            raise StoreError(f"{self.display()}: using_graph needs a FeatureGraph, got "
                             f"{type(graph).__name__}")
        previous = self._graph
        self._graph = graph
        try:
            yield self
        finally:
            self._graph = previous

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def lock(self, name: str, timeout: float | None = 0.0) -> Iterator[None]:
        """Hold the named lock ``name`` of this store's database for the ``with`` block.

        The lock is exclusive across processes and store objects that open the same database
        (PostgreSQL: a session advisory lock; DuckDB and SQLite files: a lock file next to the
        database; ``memory://`` and ``:memory:`` databases, which no other process sees: an
        in-process lock; a backend may bring its own, e.g. a lock object on an object store).
        The holder's death releases it (on an object store: once a waiter on the holder's host
        sees the process gone, or the lock is broken by hand). Within one store object it is
        re-entrant (a nested ``lock`` of the same name returns at once). A store object is not
        meant to be shared between threads.

        Args:
            name: what is locked, e.g. ``"migrations:media"``; any text.
            timeout: seconds to wait while someone else holds it; ``0`` (default) tries once,
                ``None`` waits as long as it takes.

        Raises:
            StoreLockedError: still held by someone else after ``timeout`` seconds (the message
                names the store and the lock).
            StoreModeError: the store is not open.
        """
        self._require("r")
        wait = check_timeout(timeout, self.display())
        if not isinstance(name, str) or not name:
            raise StoreError(f"{self.display()}: a lock needs a non-empty name, got {name!r}")
        if self._locks_held.get(name):
            self._locks_held[name] += 1
            try:
                yield
            finally:
                self._locks_held[name] -= 1
            return
        with self._lock(name, wait):
            self._locks_held[name] = 1
            try:
                yield
            finally:
                del self._locks_held[name]

    def break_lock(self, name: str) -> dict[str, Any] | None:
        """Remove the named lock ``name`` whoever holds it; returns what the lock said about its
        holder (``None``: nobody held it). ``metaxy break-lock`` runs it.

        Only for a lock whose holder is known to be dead and cannot release it itself (a lock
        object on an object store, left by a crashed process on another machine): a live
        holder would lose its exclusion.

        Raises:
            StoreError: the backend's locks die with their holder (an advisory lock, a lock
                file): there is nothing to break.
        """
        raise StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend's "
                         "locks are released when their holder ends: there is nothing to break")

    def _lock(self, name: str, timeout: float | None) -> AbstractContextManager[None]:
        """Backend hook of :meth:`lock`: take the lock ``name`` (``timeout`` checked: ``None``
        or a number >= 0), or raise :class:`~metaxy.errors.StoreLockedError`."""
        raise StoreError(f"{self.display()}: the {getattr(self, 'backend', '?')} backend does "
                         "not implement named locks")

    # ------------------------------------------------------------------ storage-form rows
    def append_storage_rows(self, feature: type[Feature] | str, rows: pl.DataFrame, *,
                            keep_times: bool = False) -> int:
        """Append rows already in the storage form, in one transaction; return how many.

        Unlike :meth:`write`, nothing is derived: the frame carries every column of the
        feature's table (system columns, per-field storage columns, final hashes), as
        :func:`metaxy.store.frames.prepare_write` makes them. Columns beyond the model's are
        stored too, as nullable strings (e.g. the storage columns a renamed field leaves
        behind for history); they must exist in the stored table (a migration adds them), or
        the table must not exist yet. The store must be open for writing.

        The store stamps the write's time from its write clock, as for :meth:`write`
        (``metaxy_updated_at``, and a ``created_at`` / ``deleted_at`` equal to the first row's
        time). With ``keep_times`` every row keeps its own timestamps, bit-identical (rows
        copied from another store, :func:`metaxy.api.copying.copy`): which row of a sample is
        the latest is then decided by those times, and the table's clock advances past the
        latest of them, so later writes still come after. A backend honours it in its
        ``_append`` (:attr:`metaxy.engine.staged.StagedRows.keep_times`).

        Raises:
            StoreModeError: the store is not open for writing.
            SchemaMismatchError: a column of the table is missing from ``rows``, or an extra
                column is not a string column.
            TableSchemaMismatchError: the stored table lacks a column of ``rows``.
            StoreError: the database refused the rows (nothing is written).
        """
        from metaxy.engine.staged import StagedRows
        from metaxy.errors import SchemaMismatchError

        self._require("w")
        cls = self.feature(feature)
        key = str(cls.spec().key)
        table: sa.Table = cls.__table__  # type: ignore[attr-defined]
        model = [c.name for c in table.columns]
        missing = [c for c in model if c not in rows.columns]
        if missing:
            raise SchemaMismatchError(f"append_storage_rows of feature '{key}': the rows lack "
                                      f"the table's column(s) {missing}")
        extra = [c for c in rows.columns if c not in model]
        wrong = [c for c in extra if rows.schema[c] not in (pl.Utf8, pl.Null)]
        if wrong:
            raise SchemaMismatchError(
                f"append_storage_rows of feature '{key}': the column(s) {wrong} are not in the "
                "model and not strings (only a field's storage columns may be added)")
        if rows.height == 0:
            return 0
        target = _widened(cls, extra) if extra else cls
        ordered = rows.select([*model, *[pl.col(c).cast(pl.Utf8) for c in extra]])
        staged = StagedRows.ready(ordered, keep_times=keep_times)
        return int(self._guard(lambda: self._append(target, staged), target))


def _widened(cls: type[Feature], extra: list[str]) -> type[Feature]:
    """A stand-in for ``cls`` whose table also has the nullable string columns ``extra``
    (what the backends' append path reads of a feature: ``__table__`` and ``spec()``)."""
    base: sa.Table = cls.__table__  # type: ignore[attr-defined]
    table = sa.Table(base.name, sa.MetaData(), *[c._copy() for c in base.columns],
                     *[sa.Column(c, sa.String, nullable=True) for c in extra], schema=base.schema)
    spec = cls.spec()
    stand_in = type(cls.__name__, (), {"__table__": table,
                                       "spec": classmethod(lambda _cls: spec)})
    return cast("type[Feature]", stand_in)
