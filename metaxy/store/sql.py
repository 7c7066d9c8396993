"""Shared SQLAlchemy-Core implementation of the SQL backends (DuckDB, SQLite, PostgreSQL).

Backends subclass :class:`SQLStore` and provide the engine, the bulk insert path and, where the
dialect needs it, the fetch path. Every statement is built with SQLAlchemy Core; identifiers come
only from validated feature keys and model columns, values are bound parameters.
"""

from __future__ import annotations

import contextlib
import uuid
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine import filters as F
from metaxy.engine import sql as Q
from metaxy.engine.plan import ResolvePlan
from metaxy.engine.protocol import split_increment
from metaxy.engine.staged import StagedRows
from metaxy.errors import MetaxyError, StoreError
from metaxy.store import ddl, drift, hash_inference, latest_state, write_clock
from metaxy.store.base import AccessMode, MetadataStore
from metaxy.store.int_range import check_int_ranges
from metaxy.store.spool import Spool
from metaxy.store.sql_reads import read_statement, read_tx
from metaxy.store.types import conform, cursor_batches, polars_dtype, sql_type
from metaxy.store.write_clock import WRITE_CLOCK_TABLE

if TYPE_CHECKING:
    from metaxy.feature import Feature

SYSTEM_METADATA = sa.MetaData()
SETTINGS_TABLE = sa.Table(
    "metaxy_settings", SYSTEM_METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
FEATURE_VERSIONS_TABLE = sa.Table(
    "metaxy_feature_versions", SYSTEM_METADATA,
    sa.Column("feature_key", sa.String, primary_key=True),
    sa.Column("feature_version", sa.String, primary_key=True),
    sa.Column("project", sa.String, nullable=False),
    sa.Column("project_version", sa.String, nullable=False),
    sa.Column("table_name", sa.String, nullable=False),
    sa.Column("first_written_at", sa.DateTime(timezone=True), nullable=False),
)
HASH_SETTING = "sample_hash"
FETCH_BATCH_ROWS = 100_000  # rows converted to Python tuples at a time (see _fetch)


class SQLStore(MetadataStore):
    """A store over a SQLAlchemy engine; the whole ``resolve_update`` runs in the database.

    A backend for another SQLAlchemy dialect subclasses it, sets the class attributes below where
    its SQL differs, compiles :class:`~metaxy.engine.sql.SampleHash` for its dialect if the hash
    functions are named differently, and overrides the backend hooks listed here. This class
    calls them; no other module does. ``plugins/metaxy-postgres`` is the example, and
    ``tests/unit/test_layers.py`` checks that a plugin overrides or calls no other underscore
    method or attribute of the store classes.

    Backend hooks:
        _create_engine(mode): Required. The SQLAlchemy engine for an open in ``mode``.
        _bulk_insert(conn, table, rows): Required. Load the staged rows
            (:class:`~metaxy.engine.staged.StagedRows`, columns in table order) through the
            driver's bulk path, finishing their hashes on the way: ``rows.finish(self._hasher())``
            or ``rows.finish_select(...)`` in SQL.
        _hasher(): The :data:`~metaxy.engine.hashers.Hasher` finishing staged rows in Python
            (None: polars-hash).
        _fetch(conn, stmt): Run a query and return its rows as a Polars frame.
        _open(mode): Open the connection (extend it: call ``super()._open(mode)``).
        _close(): Close it (extend it: call ``super()._close()``).
        _connect_error(error): The :class:`~metaxy.errors.StoreError` for a failed connection.
        _in_memory(): Whether the database lives in this process only (the engine is kept).
        _byte_order(): A function wrapping a text column so it sorts by bytes, or None when the
            dialect already does.
        _ensure_table(conn, table): Create a table this store has not seen yet (serialise
            concurrent creators where the database needs it).
        _insert_missing(conn, table, values): Insert a bookkeeping row, ignoring a concurrent
            writer's identical row.
        _refresh_statistics(conn, table, rows): Called after a bulk load of ``rows`` rows.
        _query_scope(conn): A context manager around the statements of a resolve or status.
        _stream_rows(conn, stmt, n): The rows, at most ``n`` at a time (a server-side cursor).
        _stream(conn, stmt, n): Frames of at most ``n`` rows (Arrow-batch drivers override it).
        _count(rows): Count a statement and its rows in ``store.stats`` (from ``_fetch``).
        _driver_error(error, feature): The :class:`~metaxy.errors.StoreError` for a driver
            error the backend recognises (a lock or statement timeout); call ``super()`` for
            the rest.
        _lock(name, timeout): The mechanism of :meth:`~metaxy.store.StoreContract.lock` (a
            context manager; the base class handles re-entrancy and checks the arguments).
        _write_time(conn, table, client): A write's ``metaxy_updated_at`` (the write clock).
        _delete_rows(conn, table, where): Delete the matching rows and return their number.
        _upsert_state(conn, state, ids, source, keys): Replace the latest-state rows of the
            samples in ``source`` (the rows of one write; ``keys``: the same samples, cheaper
            to read) by those rows; default: delete, then insert (:mod:`.latest_state`).
        _after_commit(conn, committed): After a write's transaction ended (PostgreSQL: VACUUM).
        _guard(fn, feature): Run one public store operation (a read, resolve, status, write,
            delete) translating driver errors; extend it (call ``super()``) to scope state to
            one operation, e.g. a cache of catalog lookups.
        _exists(name): Whether a table exists (positive answers are cached by the store).

    The latest state (:mod:`metaxy.store.latest_state`) is one switch, ``keeps_latest_state``:
    True (default), every write, hard delete and writable open keeps a narrow ``<table>__state``
    equal to the history's latest rows in the same transaction, and latest reads, resolves and
    statuses join it instead of windowing over the history. A backend that cannot update it in
    the history's transaction (no transactions) sets it False and gets the window.
    ``state_unique_key``: the state table gets a unique index on the id columns (an
    ``ON CONFLICT`` upsert needs one).
    """

    ordered_aggregate: bool = True  # False: string aggregation in id order via a window
    latest_method: str = "window"  # how the latest row per sample is picked (engine.sql.latest)
    full_outer_join: bool = True  # False: LEFT JOIN + anti-joined orphans instead
    narrow_integer: bool = True  # INTEGER is 32-bit: values are checked against existing tables
    keeps_latest_state: bool = True  # False: no latest-state tables; latest rows by the window
    state_unique_key: bool = False  # the state table has a unique index on the id columns

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None
        self._existing: set[str] = set()
        self._columns_ok: set[tuple[str, tuple[str, ...]]] = set()  # tables checked (drift)
        self._hash_recorded = False  # the store's hash setting is known to be recorded
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _create_engine(self, mode: AccessMode) -> sa.Engine: ...

    @abstractmethod
    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: StagedRows) -> None:
        """Insert staged rows (columns in table order) through the driver's bulk path, their
        hashes finished on the way (``rows.finish(self._hasher())`` or in SQL)."""

    def _byte_order(self) -> Any:
        return None

    def _upsert_state(self, conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                      source: sa.Select[Any], keys: sa.Select[Any]) -> None:
        """Replace the state rows of the samples in ``source`` (rows of one write, in the
        state's column order; ``keys``: the same samples) by them, in the write's transaction."""
        latest_state.replace_rows(conn, state, ids, source, keys)

    def _after_commit(self, conn: sa.Connection, committed: bool) -> None:
        """After a write's transaction ended (``committed`` or rolled back); default: none."""

    def _refresh_statistics(self, conn: sa.Connection, table: sa.Table, rows: int) -> None:
        """Called after a bulk load of ``rows`` rows into ``table`` (same transaction).

        A backend whose query planner needs fresh statistics to plan the increment's joins
        (PostgreSQL) overrides it; the default does nothing.
        """

    def _ensure_table(self, conn: sa.Connection, table: sa.Table) -> None:
        """Create the table if missing (backends with concurrent writers serialise this), with the
        constraints :mod:`metaxy.store.ddl` decides (a feature table: no primary key)."""
        ddl.create_table(conn, table)

    def _fetch(self, conn: sa.Connection, stmt: sa.Select[Any]) -> pl.DataFrame:
        """Run a query and return its rows as a frame (rows counted at the DB-API cursor).

        Rows become Python tuples only ``FETCH_BATCH_ROWS`` at a time: a whole large increment
        as tuples takes many times the memory of its frame (docs/performance.md).
        """
        frames = list(self._frames(stmt, cursor_batches(conn, stmt, FETCH_BATCH_ROWS)))
        if not frames:
            return pl.DataFrame(schema={c.name: polars_dtype(c.type)
                                        for c in stmt.selected_columns})
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")

    def _frames(self, stmt: sa.Select[Any],
                batches: Iterator[Sequence[Any]]) -> Iterator[pl.DataFrame]:
        """The row batches of ``stmt`` as frames of its result schema (rows counted)."""
        schema = {c.name: polars_dtype(c.type) for c in stmt.selected_columns}
        total = 0
        try:
            for rows in batches:
                total += len(rows)
                yield conform(pl.DataFrame(rows, schema=list(schema), orient="row",
                                           infer_schema_length=None), schema)
                del rows
        finally:
            self._count(total)

    def _count(self, rows: int) -> None:
        self.stats["statements"] += 1
        self.stats["rows_fetched"] += rows

    # ------------------------------------------------------------------ open / close
    def _in_memory(self) -> bool:
        """Whether the database lives in this process only (``:memory:``).

        Such a store keeps its engine (one connection, StaticPool) from one ``open`` to the
        next: disposing it would drop the data, and read-only opens reuse the writable database.
        """
        return False

    def _open(self, mode: AccessMode) -> None:
        if self._engine is None or not self._in_memory():
            self._engine = self._create_engine(mode)
        try:
            self._conn = self._engine.connect()
        except Exception as e:
            self._engine.dispose()
            self._engine = None
            raise self._connect_error(e) from e
        try:
            self._existing = set(sa.inspect(self._conn).get_table_names())
            self._columns_ok.clear()
            self._conn.commit()
            self._check_hash_settings()
            if mode == "w" and self.keeps_latest_state:
                latest_state.build_missing(self)
        except Exception as e:
            # A failed open must not keep the connection (a DuckDB file lock) alive, and a
            # corrupt file must surface as a metaxy error, not a raw driver error.
            self._close()
            if isinstance(e, MetaxyError):
                raise
            raise self._connect_error(e) from e

    def _connect_error(self, error: Exception) -> StoreError:
        from metaxy.errors import StoreConnectionError

        return StoreConnectionError(f"cannot open {self.display()}: {type(error).__name__}: "
                                    f"{str(error).splitlines()[0] if str(error) else ''}")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._in_memory():
            self._conn = None
            return
        if self._engine is not None:
            self._engine.dispose()
        self._conn, self._engine = None, None

    @property
    def engine(self) -> sa.Engine:
        """The open store's SQLAlchemy engine, e.g. for a SQLModel ``Session`` (see metaxy.orm)."""
        if self._engine is None:
            raise StoreError(f"{self.display()} is not open")
        return self._engine

    @property
    def conn(self) -> sa.Connection:
        """The open store's connection (the same as :meth:`sql_connection`)."""
        if self._conn is None:
            raise StoreError(f"{self.display()} is not open")
        return self._conn

    def sql_connection(self) -> sa.Connection:
        return self.conn

    def sql_dialect_name(self) -> str:
        """The backend name of the store's SQLAlchemy URL (a backend whose URL scheme is not
        a SQLAlchemy one overrides it)."""
        return sa.make_url(self.url).get_backend_name()

    def refresh_tables(self) -> None:
        """Re-read the table names, forget the tables' checked columns and check the recorded
        hash setting again at the next write (see
        :meth:`metaxy.store.contract.StoreContract.refresh_tables`)."""
        conn = self.conn
        idle = not conn.in_transaction()
        self._existing = set(sa.inspect(conn).get_table_names())
        self._columns_ok.clear()
        self._hash_recorded = False
        if idle:
            conn.commit()

    def _exists(self, name: str) -> bool:
        """Whether the table ``name`` exists, through the per-open cache of table names.

        A hit is trusted (metaxy never drops a table it writes to). A miss asks the catalog about
        that one name: another process (or store object) may have created the table since this
        store opened, and a cached "no" would read it as empty (every downstream sample new).
        """
        if name in self._existing:
            return True
        conn = self.conn
        idle = not conn.in_transaction()
        found = bool(sa.inspect(conn).has_table(name))
        if idle:  # leave no transaction open that the catalog query began
            conn.commit()
        if found:
            self._existing.add(name)
        return found

    def _check_hash_settings(self) -> None:
        """Refuse another hash setting than the recorded one; with none recorded but feature
        tables present, than the one the stored hashes were made with
        (:mod:`metaxy.store.hash_inference`)."""
        stored = None
        if self._exists(SETTINGS_TABLE.name):
            stmt = sa.select(SETTINGS_TABLE.c.value).where(SETTINGS_TABLE.c.name == HASH_SETTING)
            stored = self.conn.execute(stmt).scalar()
            self.conn.commit()
        self._hash_recorded = stored is not None
        if stored is None:
            hash_inference.check_unrecorded(self.conn, self._existing, self.graph,
                                            self.hash_settings, self.display())
        self._verify_hash_setting(stored)

    def has_feature(self, feature: type[Feature] | str) -> bool:
        return self._exists(self.feature(feature).spec().key.table_name)

    # ------------------------------------------------------------------ writes
    def _append(self, feature: type[Feature], rows: StagedRows) -> int:
        table = self._table(feature)
        conn = self.conn
        try:
            with conn.begin():
                self._record_settings(conn)
                if table.name not in self._existing:  # a known table is trusted (see _exists)
                    self._ensure_table(conn, table)
                if self.narrow_integer:
                    check_int_ranges(conn, feature, table, rows.frame)
                held = self._hold_clock(conn, table) if self.keeps_latest_state else None
                client = rows.clock_time()  # writes are ordered by the store's clock
                rows = rows.restamped(client, self._write_time(conn, table, client))
                self._bulk_insert(conn, table, rows)
                self._refresh_statistics(conn, table, rows.height)
                if self.keeps_latest_state and not rows.keep_times:
                    latest_state.keep(self, conn, feature, table, held, rows.first(
                        C.UPDATED_AT), rows.height, rows.uniform(C.UPDATED_AT))
                # rows keeping their own times (a copy) need not be the latest of their samples:
                # the state stays behind the moved clock, so it is ignored (reads use the
                # window) until the next write or writable open rebuilds it, once
                self._record_feature_version(conn, feature, rows)
        except Exception:
            # Roll back first: a failed statement aborted the transaction; a query would mask it
            conn.rollback()
            self._hash_recorded = False  # the row may have been rolled back with the write
            self._existing = set(sa.inspect(conn).get_table_names())
            conn.commit()
            self._after_commit(conn, committed=False)
            raise
        self._existing.add(table.name)
        self._after_commit(conn, committed=True)
        return rows.height

    def _write_time(self, conn: sa.Connection, table: sa.Table, client: datetime) -> datetime:
        self._ensure_system_table(conn, WRITE_CLOCK_TABLE)
        return write_clock.claim(conn, table, client, self._insert_missing)

    def _delete_rows(self, conn: sa.Connection, table: sa.Table, where: Any) -> int:
        return int(conn.execute(sa.delete(table).where(where)).rowcount or 0)

    def _hold_clock(self, conn: sa.Connection, table: sa.Table) -> int | None:
        """Lock the table's write-clock row for the transaction; its value (None: no row)."""
        self._ensure_system_table(conn, WRITE_CLOCK_TABLE)
        return latest_state.hold_clock(conn, table)

    def _states(self, features: Sequence[type[Feature]]) -> dict[str, sa.Table]:
        """Feature key -> state table, for those of ``features`` whose state is ready."""
        return latest_state.ready_states(self, features)

    def _latest_state_rows(self, feature: type[Feature]) -> pl.DataFrame | None:
        state = self._states([feature]).get(str(feature.spec().key))
        if state is None:
            return None
        with read_tx(self.conn) as conn:
            return self._fetch(conn, sa.select(state))

    def _insert_missing(self, conn: sa.Connection, table: sa.Table,
                        values: dict[str, Any]) -> None:
        """Insert a bookkeeping row (backends with concurrent writers ignore a conflict)."""
        conn.execute(table.insert().values(**values))

    def _record_settings(self, conn: sa.Connection) -> None:
        """Record the hash setting with the write unless it was found recorded on open (also
        when the table exists but its row is gone)."""
        if self._hash_recorded:
            return
        self._ensure_system_table(conn, SETTINGS_TABLE)
        exists = conn.execute(sa.select(SETTINGS_TABLE.c.value)
                              .where(SETTINGS_TABLE.c.name == HASH_SETTING)).scalar()
        if exists is None:
            self._insert_missing(conn, SETTINGS_TABLE, {"name": HASH_SETTING,
                                                        "value": self.hash_settings.as_text()})
        else:  # recorded by a concurrent writer since this store opened
            self._verify_hash_setting(exists)
        self._hash_recorded = True

    def _ensure_system_table(self, conn: sa.Connection, table: sa.Table) -> None:
        """Create a system table (once per open scope) before its first write."""
        if table.name not in self._existing:
            self._ensure_table(conn, table)
            self._existing.add(table.name)

    def _record_feature_version(self, conn: sa.Connection, feature: type[Feature],
                                rows: StagedRows) -> None:
        t = FEATURE_VERSIONS_TABLE
        self._ensure_system_table(conn, t)
        key = str(feature.spec().key)
        version = rows.first(C.FEATURE_VERSION)
        found = conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.feature_key == key, t.c.feature_version == version)).scalar()
        if not found:
            self._insert_missing(conn, t, {
                "feature_key": key, "feature_version": version, "project": self.project,
                "project_version": rows.first(C.PROJECT_VERSION),
                "table_name": feature.spec().key.table_name,
                "first_written_at": rows.first(C.UPDATED_AT),
            })

    def _hard_delete(self, feature: type[Feature], where: Any) -> int:
        table = self._table(feature)
        if not self._exists(table.name):
            return 0
        ids, conn = feature.spec().id_columns, self.conn
        with conn.begin():
            if self.keeps_latest_state:  # writers of this table wait (the state stays equal)
                self._hold_clock(conn, table)
            state = self._states([feature]).get(str(feature.spec().key))
            rel = Q.latest(table, ids, include_deleted=True, state=state)
            cond = F.retarget(where, rel.c, what=f"feature '{feature.spec().key}'")
            chosen = sa.select(*[rel.c[i] for i in ids]).where(cond)
            deleted = self._delete_rows(conn, table,
                                        sa.tuple_(*[table.c[i] for i in ids]).in_(chosen))
            if state is not None:
                latest_state.drop_vanished(conn, table, state)
        return deleted

    def _cleanup(self, feature: type[Feature], bound: datetime, dry_run: bool) -> int:
        table = self._table(feature)
        if not self._exists(table.name):
            return 0
        state = self._states([feature]).get(str(feature.spec().key))
        rel = state if state is not None else Q.latest(
            table, feature.spec().id_columns, include_deleted=True, method=self.latest_method)
        cond = sa.and_(table.c[C.UPDATED_AT] < bound,  # the state names exactly the latest rows
                       table.c[C.ROW_ID].not_in(sa.select(rel.c[C.ROW_ID])))
        if dry_run:
            with read_tx(self.conn) as conn:
                stmt = sa.select(sa.func.count()).select_from(table).where(cond)
                return int(conn.execute(stmt).scalar() or 0)
        with self.conn.begin():
            return self._delete_rows(self.conn, table, cond)

    # ------------------------------------------------------------------ reads
    def _table(self, feature: type[Feature]) -> sa.Table:
        """The feature's table; an existing one is first checked against the model (once per
        table and open, :mod:`metaxy.store.drift`), so no statement meets a missing column."""
        table: sa.Table = feature.__table__  # type: ignore[attr-defined]
        if self._exists(table.name):
            self._check_drift(str(feature.spec().key), table)
        return table

    def _check_drift(self, feature_key: str, table: sa.Table) -> None:
        key = (table.name, tuple(c.name for c in table.columns))
        if key in self._columns_ok:
            return
        drift.check_columns(feature_key, table, drift.stored_columns(self.conn, table))
        self._columns_ok.add(key)

    def _relation(self, table: sa.Table) -> sa.Table | sa.Subquery:
        """The table, or an empty relation of its shape when it does not exist yet."""
        if self._exists(table.name):
            return table
        cols = [sa.cast(sa.null(), c.type).label(c.name) for c in table.c]
        return sa.select(*cols).where(sa.false()).subquery(table.name)

    def _read(self, feature: type[Feature], where: Any, with_history: bool,
              include_deleted: bool) -> pl.DataFrame:
        stmt, schema = read_statement(self, feature, where, with_history, include_deleted)
        if stmt is None:
            return pl.DataFrame(schema=schema)
        with read_tx(self.conn) as conn:
            return conform(self._fetch(conn, stmt), schema)

    def _read_batches(self, feature: type[Feature], where: Any, with_history: bool,
                      include_deleted: bool, n: int) -> Iterator[pl.DataFrame]:
        stmt, schema = read_statement(self, feature, where, with_history, include_deleted)
        if stmt is not None:
            with read_tx(self.conn) as conn:
                for frame in self._stream(conn, stmt, n):
                    yield conform(frame, schema)

    # ------------------------------------------------------------------ increments
    def _context(self, plan: ResolvePlan, temps: list[sa.Table]) -> Q.SqlContext:
        """Upstream relations: own tables, else a fallback store's rows staged into ``temps``."""
        tables: dict[str, Any] = {}
        own = [d.feature for d in plan.deps if self._exists(self._table(d.feature).name)]
        states = self._states([*own, plan.feature])
        for dep in plan.deps:
            table = self._table(dep.feature)
            borrowed = None if self._exists(table.name) else self._fallback_rows(dep.feature)
            if borrowed is not None:
                staged = self._stage(self.conn, borrowed)
                assert staged is not None
                temps.append(staged)
                tables[str(dep.feature.spec().key)] = staged
            else:
                tables[str(dep.feature.spec().key)] = self._relation(table)
        return Q.SqlContext(self.hash_settings, tables, self.ordered_aggregate,
                            self._byte_order(), self.latest_method,
                            self.full_outer_join, states)

    def _stage(self, conn: sa.Connection, samples: pl.DataFrame | None) -> sa.Table | None:
        """Stage a Python-side frame into a temporary table of this database."""
        if samples is None:
            return None
        meta = sa.MetaData()
        cols = [sa.Column(n, sql_type(samples.schema[n])) for n in samples.columns]
        table = sa.Table(f"mx_samples_{uuid.uuid4().hex[:12]}", meta, *cols,
                         prefixes=["TEMPORARY"])
        table.create(conn)
        if samples.height:
            self._bulk_insert(conn, table, StagedRows.ready(samples))
            self._refresh_statistics(conn, table, samples.height)
        return table

    @contextlib.contextmanager
    def _query_scope(self, conn: sa.Connection) -> Iterator[None]:
        """Session settings around the increment/status statements (default: none)."""
        yield

    def _run_classified(self, feature: type[Feature], samples: pl.DataFrame | None,
                        build: Any) -> Any:
        plan = self.plan(feature)
        target = self._relation(self._table(feature))
        conn = self.conn
        temps: list[sa.Table] = []
        try:
            ctx = self._context(plan, temps)
            staged = self._stage(conn, samples)
            with self._query_scope(conn):
                result = build(plan, ctx, target, staged, conn)
            for temp in [*temps, *([staged] if staged is not None else [])]:
                temp.drop(conn)
            conn.commit()
            return result
        except Exception:
            conn.rollback()
            raise

    def _resolve(self, feature: type[Feature], samples: pl.DataFrame | None,
                 where: Any, stale_if: Any = None) -> dict[str, pl.DataFrame]:
        def build(plan: ResolvePlan, ctx: Q.SqlContext, target: Any, staged: Any,
                  conn: sa.Connection) -> dict[str, pl.DataFrame]:
            stmt = Q.increment_statement(plan, ctx, target, staged, where, stale_if=stale_if)
            return split_increment(plan, self._fetch(conn, stmt))

        return self._run_classified(feature, samples, build)  # type: ignore[no-any-return]

    def _status(self, feature: type[Feature], samples: pl.DataFrame | None,
                where: Any, stale_if: Any = None) -> dict[str, int]:
        def build(plan: ResolvePlan, ctx: Q.SqlContext, target: Any, staged: Any,
                  conn: sa.Connection) -> dict[str, int]:
            stmt = Q.status_statement(plan, ctx, target, staged, where, stale_if)
            row = self._fetch(conn, stmt)
            return {k: int(row[k][0] or 0) for k in ("new", "stale", "orphaned", "up_to_date")}

        return self._run_classified(feature, samples, build)  # type: ignore[no-any-return]

    def _spool_increment(self, feature: type[Feature], samples: pl.DataFrame | None,
                         where: Any, stale_if: Any = None) -> Spool:
        """Run the increment statement once and spool its rows, batch by batch, as the driver
        hands them over (one statement: one snapshot; bounded memory). The transaction ends
        (temporary tables dropped) before this returns, so nothing stays open."""
        def build(plan: ResolvePlan, ctx: Q.SqlContext, target: Any, staged: Any,
                  conn: sa.Connection) -> Spool:
            stmt = Q.increment_statement(plan, ctx, target, staged, where, stale_if=stale_if)
            schema = {c.name: polars_dtype(c.type) for c in stmt.selected_columns}
            empty = split_increment(plan, pl.DataFrame(schema=schema))
            spool = Spool({p: f.schema for p, f in empty.items()},
                          self._increment_name(feature))
            try:
                for raw in self._stream(conn, stmt, FETCH_BATCH_ROWS):
                    for part, frame in split_increment(plan, raw).items():
                        spool.append(part, frame)
                spool.seal()
            except BaseException:
                spool.close()
                raise
            return spool

        return self._run_classified(feature, samples, build)  # type: ignore[no-any-return]

    def _stream(self, conn: sa.Connection, stmt: sa.Select[Any],
                n: int) -> Iterator[pl.DataFrame]:
        """Run a query and yield its rows in frames of at most ``n`` rows, fetched from the
        driver ``n`` at a time (rows counted as in :meth:`_fetch`)."""
        return self._frames(stmt, self._stream_rows(conn, stmt, n))

    def _stream_rows(self, conn: sa.Connection, stmt: sa.Select[Any],
                     n: int) -> Iterator[Sequence[Any]]:
        """The query's rows as lists of at most ``n`` tuples, fetched ``n`` at a time (a
        driver that buffers whole results client-side overrides this with a server-side
        cursor)."""
        return cursor_batches(conn, stmt, n)
