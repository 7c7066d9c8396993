"""The ClickHouse store: clickhouse-connect's SQLAlchemy dialect over a server (HTTP) or chDB.

* **URLs**: ``clickhouse://user:password@host:8123/database`` (``clickhouses://``: TLS, port
  8443 by default) reaches a server or ClickHouse Cloud; ``chdb:///path/to/dir`` (relative;
  ``chdb:////abs/dir`` absolute, as for DuckDB) runs the ClickHouse engine in this process
  (chDB) on a directory (``?database=name``: another database than ``default``), ``chdb://``
  on a temporary in-memory database of its own (dropped when the store object is garbage
  collected). chDB hosts one engine location per process: a second ``chdb:///other`` store
  cannot open while one is open.
* **Every session** gets ``join_use_nulls = 1`` (without it ClickHouse fills the missing side of
  the increment's FULL OUTER JOIN with ``''``/``0``: new and orphaned samples would come back
  with empty ids, misclassified, with no error) and ``session_timezone = 'UTC'``.
* **Writes**: the staged rows go to ClickHouse as one Arrow table (``insert_arrow``) into a
  ``Memory`` temporary table of the session; one ``INSERT ... SELECT`` from it computes the
  hashes inside ClickHouse, as DuckDB does. Reads come back as Arrow
  (``query_arrow``, ``query_arrow_stream``).
* **No transactions**: an ``INSERT`` is atomic per block, nothing more. The write time is
  ``max(client clock, the table's latest metaxy_updated_at + 1 µs)``, read in the write (there
  is no ``UPDATE ... RETURNING`` to keep a clock row); concurrent writers of one feature are not
  serialised.
* **Deletes** (hard delete, cleanup) are mutations: ``ALTER TABLE ... DELETE WHERE ...`` with
  ``mutations_sync = 2``, which rewrites the affected data parts on every replica before it
  returns; the rows are counted first (a mutation reports no row count).
"""

from __future__ import annotations

import contextlib
import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from metaxy.errors import StoreConnectionError, StoreError
from metaxy.store import AccessMode, SQLStore, database_lock, duckdb_hasher
from metaxy_clickhouse import chdb_pool, ddl
from metaxy_clickhouse.compile import DIALECT
from metaxy_clickhouse.errors import ClickHouseOptionError
from metaxy_clickhouse.types import frame_of

if TYPE_CHECKING:
    from metaxy.store import Hasher, StagedRows

UPDATED_AT = "metaxy_updated_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
#: The settings of every session the store opens.
SESSION_SETTINGS: dict[str, Any] = {"join_use_nulls": 1, "session_timezone": "UTC"}
#: Mutations wait until every replica has applied them; their condition reads the table
#: itself (the latest rows), which a replicated table allows only with the second setting.
MUTATION_SETTINGS = "SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1"
#: The settings of a ``distributed=`` store's sessions, besides :data:`SESSION_SETTINGS`.
DISTRIBUTED_SETTINGS: dict[str, Any] = {"distributed_foreground_insert": 1}
#: The ways to pick the latest row per sample (metaxy.engine.sql.latest) ClickHouse runs.
LATEST_METHODS = ("window", "distinct_on")
#: The default: ``DISTINCT ON`` (run as ``LIMIT 1 BY``) was faster than the window at 1M samples,
#: 0.67x at history depth 10 (docs/performance.md, ``python -m benchmarks.ch_latest``).
LATEST_METHOD = "distinct_on"
SERVER_SCHEMES = ("clickhouse", "clickhouses")
SCHEMES = (*SERVER_SCHEMES, "chdb")


def _us(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - EPOCH) // ONE_US


class ClickHouseStore(SQLStore):
    """A ClickHouse database: a server (``clickhouse://``) or embedded chDB (``chdb://``)."""

    backend = "clickhouse"
    narrow_integer = False  # every integer column is Int64
    # The latest-state table must change in the history's transaction; ClickHouse has none,
    # so the latest row per sample is picked from the history by the increment itself.
    keeps_latest_state = False
    latest_method = LATEST_METHOD

    def __init__(self, url: str, *, cluster: str | None = None,
                 settings: Mapping[str, Any] | None = None, distributed: bool = False,
                 latest_method: str | None = None, connect_timeout: int = 10,
                 **kwargs: Any) -> None:
        """``cluster``: create tables ``ON CLUSTER`` as ``ReplicatedMergeTree`` and run
        mutations on the whole cluster; ``distributed`` (with ``cluster``): per table a
        ``ReplicatedMergeTree`` ``<table>_local`` on every shard under a ``Distributed`` table
        sharded by the id columns (:class:`metaxy_clickhouse.ddl.Layout`); ``settings``: the
        ``SETTINGS`` of every table the store creates (e.g. ``{"index_granularity": 8192}``);
        ``latest_method``: how the latest row per sample is picked, ``window`` or
        ``distinct_on`` (``LIMIT 1 BY``; default: :data:`LATEST_METHOD`, the faster one
        measured, docs/performance.md); ``connect_timeout``: seconds to wait for a server."""
        super().__init__(url, **kwargs)
        where = f"store {self.display()}"
        self.cluster = ddl.check_cluster(cluster, where)
        self.table_settings = ddl.check_settings(settings, where)
        if not isinstance(distributed, bool):
            raise ClickHouseOptionError(f"{where}: option distributed = {distributed!r} must be "
                                        "true or false")
        if latest_method is not None:
            if latest_method not in LATEST_METHODS:
                raise ClickHouseOptionError(f"{where}: option latest_method = "
                                            f"{latest_method!r} must be one of "
                                            f"{', '.join(LATEST_METHODS)}")
            self.latest_method = latest_method
        if distributed and self.cluster is None:
            raise ClickHouseOptionError(f"{where}: option distributed = true needs cluster= "
                                        "(the cluster the Distributed tables spread over)")
        self.connect_timeout = int(connect_timeout)
        parts = urlsplit(url)
        self.scheme = parts.scheme
        if self.scheme not in SCHEMES:
            raise ClickHouseOptionError(f"{where}: not a ClickHouse URL (expected "
                                        "clickhouse://, clickhouses://, chdb:// or chdb:///dir)")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.scheme == "chdb":
            # as duckdb:// and sqlite://: chdb:///relative/dir, chdb:////absolute/dir
            rest = url.split("?", 1)[0]
            self.path = rest.split(":///", 1)[1] if ":///" in rest else None
            self.path = self.path or None  # None: the temporary in-memory database
            self.database = query.get("database") or (
                "default" if self.path else f"metaxy_tmp_{uuid.uuid4().hex[:12]}")
        else:
            self.database = parts.path.lstrip("/") or query.get("database") or "default"
        #: where the tables live and the DDL that makes and changes them
        self.layout = ddl.Layout(self.cluster, self.table_settings, distributed, self.database)
        self._keeper: Any = None  # the temporary database's finalizer
        #: tables found missing during the running store operation (None: none is running)
        self._absent: set[str] | None = None
        #: Called with the SQL of every statement the store sends (None: not recorded); the
        #: statement snapshot test records a whole workflow with it.
        self.on_statement: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ connection
    def sql_dialect_name(self) -> str:
        return DIALECT

    def _in_memory(self) -> bool:
        """``chdb://``: the temporary database lives as long as the store object."""
        return self.scheme == "chdb" and self.path is None

    @property
    def location(self) -> str:
        """chDB: the engine's directory (absolute), or ``:memory:``."""
        return os.path.realpath(self.path) if self.path else ":memory:"

    def _connect(self) -> Any:
        """A new DB-API connection to the store's database, with the session settings."""
        from clickhouse_connect.dbapi.connection import Connection

        if self.scheme == "chdb":
            if self.path:
                Path(self.path).mkdir(parents=True, exist_ok=True)
            raw = Connection(dsn=f"chdb://{self.location}" if self.path else "chdb://",
                             interface="chdb", **SESSION_SETTINGS)
            try:
                if self.database != "default":
                    raw.client.command(f"CREATE DATABASE IF NOT EXISTS {_q(self.database)}")
                    raw.client.database = self.database
            except Exception:
                raw.close()
                raise
            return raw
        url = sa.make_url(self.url.replace(f"{self.scheme}://", "clickhousedb://", 1))
        secure = self.scheme == "clickhouses"
        return Connection(host=url.host or "localhost", port=url.port or (8443 if secure else 8123),
                          username=url.username or "default", password=url.password or "",
                          database=self.database, secure=secure,
                          interface="https" if secure else "http",
                          connect_timeout=self.connect_timeout,
                          # a write's staging table is a temporary table: it needs a session
                          autogenerate_session_id=True, **self.session_settings())

    def _create_engine(self, mode: AccessMode) -> sa.Engine:
        engine = self._new_engine(mode)
        sa.event.listen(engine, "before_cursor_execute", _microsecond_binds, retval=True)
        store = weakref.ref(self)

        def attach(dbapi_conn: Any, record: Any) -> None:
            # migrations' Alembic implementation finds the store's layout through the
            # connection (metaxy_clickhouse.alembic_impl)
            record.info[STORE_INFO] = store

        sa.event.listen(engine, "connect", attach)

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self.on_statement is not None:
                self.on_statement(statement)

        sa.event.listen(engine, "before_cursor_execute", record)
        return engine

    def _new_engine(self, mode: AccessMode) -> sa.Engine:
        if self.scheme != "chdb":
            return sa.create_engine(f"{DIALECT}://", creator=self._connect,
                                    poolclass=sa.pool.NullPool)
        location, database = self.location, self.database
        if self._in_memory() and self._keeper is None:
            self._keeper = weakref.finalize(self, _drop_database, location, database,
                                            self._connect)

        def creator() -> Any:
            return chdb_pool.session(location, database, self._connect)

        return sa.create_engine(f"{DIALECT}://", creator=creator, poolclass=sa.pool.NullPool)

    def drop_database(self) -> None:
        """Drop the store's database (not ``default``) with everything in it (tests,
        throw-away stores); the store must not be open."""
        if self.database == "default":
            raise ClickHouseOptionError(f"{self.display()}: refusing to drop the default "
                                        "database")
        if self.scheme == "chdb":
            _drop_database(self.location, self.database, self._connect)
            return
        raw = self._connect()
        try:
            raw.client.command(f"DROP DATABASE IF EXISTS {_q(self.database)}"
                               f"{ddl.on_cluster(self.cluster)}")
        finally:
            raw.close()

    def _connect_error(self, error: Exception) -> StoreError:
        text = str(getattr(error, "orig", None) or error).strip().splitlines()
        detail = text[0] if text else type(error).__name__
        password = urlsplit(self.url).password
        if password:
            detail = detail.replace(password, "***")
        if "EmbeddedServer already initialized" in detail:
            detail = ("chDB hosts one engine location per process and another one is open "
                      f"here ({detail}); close that store first")
        return StoreConnectionError(f"cannot open ClickHouse store {self.display()}: {detail}")

    def _lock(self, name: str, timeout: float | None) -> contextlib.AbstractContextManager[None]:
        """chDB: a lock file next to the directory (:func:`metaxy.store.database_lock`); a
        server: a row of a ``KeeperMap`` table in strict mode (:mod:`metaxy_clickhouse.locks`)."""
        if self.scheme == "chdb":
            return database_lock(self.path or ":memory:", name, timeout, self.display())
        from metaxy_clickhouse.locks import keeper_lock

        return keeper_lock(self.engine, self.database, name, timeout, self.display())

    def _client(self, conn: sa.Connection) -> Any:
        """clickhouse-connect's client under the store's connection."""
        raw = conn.connection.driver_connection
        assert raw is not None
        return raw.client

    # ------------------------------------------------------------------ tables
    def _order_by(self, table: sa.Table) -> list[str]:
        """A feature table is sorted by its id columns and write time; another by its key."""
        for key in self.graph.keys:
            spec = self.graph.spec(key)
            if spec.key.table_name == table.name:
                return [*spec.id_columns, UPDATED_AT]
        return ddl.primary_order(table)

    def _shard_by(self, table: sa.Table) -> list[str]:
        """The columns a ``Distributed`` table shards ``table`` by: a feature's id columns,
        else the table's key."""
        order = self._order_by(table)
        return order[:-1] if order and order[-1] == UPDATED_AT else order

    def create_table_statements(self, table: sa.Table) -> list[str]:
        """The ``CREATE TABLE`` statements this store runs for ``table``, in order (with its
        ``cluster=``, ``settings=`` and ``distributed=``)."""
        return self.layout.create(table, self._order_by(table), self._shard_by(table))

    def create_table_sql(self, table: sa.Table) -> str:
        """:meth:`create_table_statements` as one script (``;``-separated)."""
        return ";\n".join(self.create_table_statements(table))

    def _ensure_table(self, conn: sa.Connection, table: sa.Table) -> None:
        if self._absent is not None:
            self._absent.discard(table.name)
        for statement in self.create_table_statements(table):
            conn.exec_driver_sql(statement)

    # ------------------------------------------------------------------ catalog lookups
    def _guard(self, fn: Any, feature: Any = None) -> Any:
        """Every store operation (a resolve, a status, a read, a write) remembers the tables it
        found missing until it returns: planning one increment asks about each upstream
        several times, and each ``EXISTS TABLE`` is a round trip to a server. Nothing is
        remembered between operations (another process may create the table meanwhile, and a
        remembered "missing" would read it as empty); the store's own ``CREATE TABLE`` and
        :meth:`refresh_tables` forget it at once."""
        if self._absent is not None:  # an operation inside another one
            return super()._guard(fn, feature)
        self._absent = set()
        try:
            return super()._guard(fn, feature)
        finally:
            self._absent = None

    def _exists(self, name: str) -> bool:
        if self._absent is not None and name in self._absent:
            return False
        found = super()._exists(name)
        if not found and self._absent is not None:
            self._absent.add(name)
        return found

    def refresh_tables(self) -> None:
        if self._absent is not None:
            self._absent.clear()
        super().refresh_tables()

    def _hasher(self) -> Hasher:
        """DuckDB's md5 on a private connection (as the PostgreSQL store): for rows finished in
        Python (``rows.finish``); a write finishes its hashes inside ClickHouse instead."""
        return duckdb_hasher(self.hash_settings)

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: StagedRows) -> None:
        """The staged rows go as one Arrow insert into a ``Memory`` temporary table of the
        session, then one ``INSERT INTO <table> SELECT ...`` finishes their hashes inside
        ClickHouse (``rows.finish_select``, spelled by :mod:`metaxy_clickhouse.compile`): no hash
        is computed in Python (docs/performance.md). Rows with no hash to finish go straight
        into the table."""
        if rows.height == 0:
            return
        if rows.recipe is None:  # no hash to finish (copied rows, staged samples): load directly
            frame = rows.finish()
            if self.on_statement is not None:
                self.on_statement(f"INSERT INTO {_q(table.name)} "
                                  f"({', '.join(map(_q, frame.columns))}) FORMAT Arrow")
            self._client(conn).insert_arrow(table.name, frame.to_arrow(),
                                            settings={"async_insert": 0})
            self.stats["rows_inserted"] += frame.height
            return
        staging = _staging_table(table, rows.frame)
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {_q(staging.name)}")
        conn.exec_driver_sql(ddl.create_table_sql(staging, [], temporary=True,
                                                  if_not_exists=False))
        try:
            if self.on_statement is not None:
                self.on_statement(f"INSERT INTO {_q(staging.name)} "
                                  f"({', '.join(map(_q, rows.frame.columns))}) FORMAT Arrow")
            self._client(conn).insert_arrow(staging.name, rows.frame.to_arrow(),
                                            settings={"async_insert": 0})
            select = rows.finish_select(staging, {c.name: c.type for c in table.columns})
            conn.execute(sa.insert(table).from_select(rows.columns, select))
        finally:
            conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {_q(staging.name)}")
        self.stats["rows_inserted"] += rows.height

    def _write_time(self, conn: sa.Connection, table: sa.Table, client: datetime) -> datetime:
        """``max(client, latest stored metaxy_updated_at + 1 µs)``: ClickHouse has no
        ``UPDATE ... RETURNING`` for a clock row; reading the sorted column's maximum is one
        cheap scan."""
        last = conn.execute(sa.select(sa.func.max(table.c[UPDATED_AT]))).scalar()
        want = _us(client)
        if last is not None and isinstance(last, datetime) and _us(last) >= want:
            want = _us(last) + 1
        return EPOCH + timedelta(microseconds=want)

    def _delete_rows(self, conn: sa.Connection, table: sa.Table, where: Any) -> int:
        """Count the rows, then ``ALTER TABLE ... DELETE`` them (a mutation, synchronous)."""
        count = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where))
                    .scalar() or 0)
        if count:
            conn.exec_driver_sql(*self.delete_statement(table, where, conn.dialect))
        return count

    def delete_statement(self, table: sa.Table, where: Any,
                         dialect: sa.Dialect) -> tuple[str, dict[str, Any]]:
        """The mutation deleting ``table``'s rows matching ``where``, and its parameters: with
        ``distributed=``, it runs ``ON CLUSTER`` on the local tables (a ``Distributed`` table
        holds no rows), ``where`` reading the local table too."""
        if self.layout.distributed:
            where = _retarget(where, table, self.layout.local_name(table.name))
        cond = where.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        return (f"ALTER TABLE {self.layout.mutation_target(table.name)} DELETE WHERE {cond} "
                f"{MUTATION_SETTINGS}", exact_datetimes(dict(cond.params)))

    # ------------------------------------------------------------------ reads
    def _sql(self, conn: sa.Connection, stmt: sa.Select[Any]) -> tuple[str, dict[str, Any]]:
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        if self.on_statement is not None:
            self.on_statement(str(compiled))
        return str(compiled), exact_datetimes(dict(compiled.params))

    def _fetch(self, conn: sa.Connection, stmt: sa.Select[Any]) -> pl.DataFrame:
        sql, params = self._sql(conn, stmt)
        arrow = self._client(conn).query_arrow(sql, parameters=params)
        self._count(arrow.num_rows)
        return frame_of(arrow, stmt)

    def _stream(self, conn: sa.Connection, stmt: sa.Select[Any],
                n: int) -> Iterator[pl.DataFrame]:
        sql, params = self._sql(conn, stmt)
        total = 0
        try:
            with self._client(conn).query_arrow_stream(
                    sql, parameters=params, settings={"max_block_size": n}) as stream:
                for batch in stream:
                    table = pa.Table.from_batches([batch]) if isinstance(
                        batch, pa.RecordBatch) else batch
                    for start in range(0, table.num_rows, n):
                        part = table.slice(start, n)
                        total += part.num_rows
                        yield frame_of(part, stmt)
        finally:
            self._count(total)

    def drop_sql(self, table: sa.Table) -> str:
        """The ``DROP TABLE`` statements of ``table`` (``;``-separated)."""
        return ";\n".join(self.layout.drop(table.name))

    def session_settings(self) -> dict[str, Any]:
        """The settings every session of the store runs with; with ``distributed=``, an insert
        into a ``Distributed`` table returns once the shards hold its rows (by default it
        queues them, and the next increment would not see them)."""
        if self.layout.distributed:
            return {**SESSION_SETTINGS, **DISTRIBUTED_SETTINGS}
        return dict(SESSION_SETTINGS)


#: The key of the store (a weak reference) in the info of each of its connections.
STORE_INFO = "metaxy_clickhouse_store"
#: The session's staging table of a write (writes on one connection are sequential).
STAGING = "mx_staged_rows"


def _staging_table(table: sa.Table, frame: pl.DataFrame) -> sa.Table:
    """The staging table of ``frame``'s columns, typed as ``table``'s; a column is Nullable
    when the target's is or when the frame holds a null there (a root field's input)."""
    cols = []
    for name in frame.columns:
        target = table.c[name]
        nullable = bool(target.nullable) or frame.get_column(name).null_count() > 0
        cols.append(sa.Column(name, target.type, nullable=nullable))
    return sa.Table(STAGING, sa.MetaData(), *cols)


def _retarget(where: Any, table: sa.Table, name: str) -> Any:
    """``where`` with every column of ``table`` (also in its subqueries) read from the table
    ``name`` instead: a mutation of a ``Distributed`` table's rows runs on each shard's local
    table, and its condition sees that shard's rows (every row of a sample is on one shard)."""
    from sqlalchemy.sql.visitors import replacement_traverse

    local = sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in table.columns))

    def swap(element: Any, **kw: Any) -> Any:
        if isinstance(element, sa.Column) and element.table is table:
            return local.c[element.name]
        if element is table:
            return local
        return None

    return replacement_traverse(where, {}, swap)


def _q(name: str) -> str:
    from clickhouse_connect.driver.binding import quote_identifier

    return str(quote_identifier(name))


def exact_datetimes(params: dict[str, Any]) -> dict[str, Any]:
    """Bound datetimes with their microseconds, in UTC (a naive one is UTC, as everywhere in
    metaxy): clickhouse-connect renders a plain ``datetime`` parameter to the second, in the
    timezone the engine reported before the session switched to UTC."""
    from clickhouse_connect.driver.binding import DT64Param

    def fix(value: Any) -> Any:
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            return DT64Param(aware.astimezone(UTC), tz=UTC)
        if isinstance(value, list | tuple):
            return type(value)(fix(v) for v in value)
        return value

    return {k: fix(v) for k, v in params.items()}


def _microsecond_binds(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                       executemany: bool) -> tuple[str, Any]:
    """``before_cursor_execute``: :func:`exact_datetimes` on every statement's parameters."""
    if isinstance(parameters, dict):
        return statement, exact_datetimes(parameters)
    if executemany and isinstance(parameters, list | tuple):
        return statement, [exact_datetimes(p) if isinstance(p, dict) else p for p in parameters]
    return statement, parameters


def _drop_database(location: str, database: str, connect: Any) -> None:
    """Drop a temporary store's database and close its sessions (at garbage collection)."""
    with contextlib.suppress(Exception):
        session = chdb_pool.session(location, database, connect)
        session.client.command(f"DROP DATABASE IF EXISTS {_q(database)}")
        session.close()
    chdb_pool.close_idle(location, database)
