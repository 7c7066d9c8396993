"""The embedded default backend: DuckDB through duckdb-engine (``duckdb:///path``, ``:memory:``).

Writes go through DuckDB's Arrow scan (``INSERT ... SELECT`` from a registered Arrow table) and
reads come back as Arrow, so no row is converted in Python. DuckDB allows one writing process per
file; a conflicting open raises :class:`~metaxy.errors.StoreLockedError` naming the file and,
where DuckDB reports it, the holder's PID.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from metaxy.engine.staged import StagedRows
from metaxy.errors import StoreError, StoreLockedError
from metaxy.hookspecs import BackendSpec, hookimpl
from metaxy.store import ddl
from metaxy.store.base import AccessMode
from metaxy.store.locks import database_lock
from metaxy.store.sql import SQLStore
from metaxy.store.types import conform, polars_dtype

_LOCK = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)
_PID = re.compile(r"PID (\d+)")
# DuckDB shares one database instance per file within a process; a second connection with
# another configuration (read-only vs read-write, memory_limit, threads) is refused.
_IN_PROCESS = re.compile(r"same database file with a different configuration", re.IGNORECASE)


@compiles(sa.Float, "duckdb")
def _double(element: sa.Float[Any], compiler: Any, **kw: Any) -> str:
    """Python floats are 64-bit: map SQLAlchemy's generic Float to DOUBLE, not 32-bit FLOAT."""
    precision = element.precision
    return "FLOAT" if precision is not None and precision <= 24 else "DOUBLE"


#: How DuckDB stores a column hinted incompressible (a fixed name, never user input).
INCOMPRESSIBLE_AS = "uncompressed"


@compiles(sa.schema.CreateColumn, "duckdb")
def _create_column(element: sa.schema.CreateColumn, compiler: Any, **kw: Any) -> str | None:
    """A column hinted incompressible (:data:`metaxy.store.ddl.INCOMPRESSIBLE`: the latest
    state's hex digests) is stored ``USING COMPRESSION uncompressed``: DuckDB's string
    compression analysis of random hex was most of the state's write, and saved few bytes
    (docs/performance-history.md, "Writes II")."""
    text: str | None = compiler.visit_create_column(element, **kw)
    if text is not None and element.element.info.get(ddl.STORAGE_HINT) == ddl.INCOMPRESSIBLE:
        text += f" USING COMPRESSION {INCOMPRESSIBLE_AS}"
    return text


class DuckDBStore(SQLStore):
    """A DuckDB file (or ``:memory:``) store."""

    backend = "duckdb"

    def __init__(self, url: str, *, lock_timeout: float = 0.0, memory_limit: str | None = None,
                 threads: int | None = None, query_memory_limit: str | None = None,
                 **kwargs: Any) -> None:
        """``lock_timeout``: seconds to keep retrying while another process holds the file
        (store option ``lock_timeout``; default 0: fail at once with StoreLockedError).

        ``memory_limit`` (e.g. ``"500MB"``) and ``threads``: DuckDB's settings of the same names
        (default: DuckDB's own, 80% of RAM and one thread per core). DuckDB runs inside this
        process, so its hash tables and buffer pool count in the process's memory; above the
        limit it spills to a temporary directory next to the file instead.

        ``query_memory_limit``: DuckDB's ``memory_limit`` applied only while ``resolve_update``
        and ``status`` run (restored afterwards). A global limit that low would make large
        writes fail (the primary-key index of an insert must fit in memory); the joins and
        windows of the increment spill to disk instead, trading time for memory
        (docs/performance.md).
        """
        super().__init__(url, **kwargs)
        if not (math.isfinite(lock_timeout) and lock_timeout >= 0):  # nan: retry forever
            raise StoreError(f"{self.display()}: lock_timeout must be a finite number >= 0, "
                             f"got {lock_timeout}")
        self.lock_timeout = float(lock_timeout)
        if threads is not None and int(threads) < 1:
            raise StoreError(f"{self.display()}: threads must be >= 1, got {threads}")
        self.memory_limit = None if memory_limit is None else str(memory_limit)
        self.threads = None if threads is None else int(threads)
        self.query_memory_limit = None if query_memory_limit is None else str(query_memory_limit)

    @contextlib.contextmanager
    def _query_scope(self, conn: sa.Connection) -> Iterator[None]:
        if self.query_memory_limit is None:
            yield
            return
        duck = self._duck(conn)
        duck.execute("SET memory_limit = ?", [self.query_memory_limit])  # a bound value
        try:
            yield
        finally:
            if self.memory_limit is not None:
                duck.execute("SET memory_limit = ?", [self.memory_limit])
            else:
                duck.execute("RESET memory_limit")

    def _open(self, mode: AccessMode) -> None:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                super()._open(mode)
                return
            except StoreLockedError as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    if self.lock_timeout:
                        raise StoreLockedError(f"{e} (gave up after waiting "
                                               f"{self.lock_timeout:g} s)") from e
                    raise
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)

    @property
    def path(self) -> str:
        path = self.url.split(":///", 1)[1] if ":///" in self.url else ":memory:"
        return path or ":memory:"

    def _in_memory(self) -> bool:
        return self.path == ":memory:"

    def _lock(self, name: str, timeout: float | None) -> contextlib.AbstractContextManager[None]:
        """A lock file next to the database file (:func:`metaxy.store.locks.database_lock`)."""
        return database_lock(self.path, name, timeout, self.display())

    def _create_engine(self, mode: AccessMode) -> sa.Engine:
        path = self.path
        read_only = mode == "r" and path != ":memory:"  # DuckDB refuses a read-only :memory:
        if path != ":memory:":
            if read_only and not Path(path).exists():
                path = ":memory:"  # reading a store that was never written: it is empty
                read_only = False
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if self.memory_limit is not None:
            config["memory_limit"] = self.memory_limit
        if self.threads is not None:
            config["threads"] = self.threads
        return sa.create_engine(
            f"duckdb:///{path}",
            connect_args={"read_only": read_only, **({"config": config} if config else {})},
            poolclass=sa.pool.StaticPool,
        )

    def _connect_error(self, error: Exception) -> StoreError:
        text = str(error)
        if _LOCK.search(text):
            pid = _PID.search(text)
            holder = f" (held by PID {pid.group(1)})" if pid else ""
            return StoreLockedError(f"DuckDB file {self.path} is locked by another process"
                                    f"{holder}; DuckDB allows one writer per file")
        if _IN_PROCESS.search(text):
            return StoreLockedError(
                f"DuckDB file {self.path} is open in this process by another store object "
                "with another configuration (read-only vs writable, or other memory_limit / "
                "threads); DuckDB shares a file within a process only with one configuration: "
                "close the other store, or open this one in the same mode")
        return super()._connect_error(error)

    def _duck(self, conn: sa.Connection) -> Any:
        return conn.connection.driver_connection

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: StagedRows) -> None:
        """``INSERT ... SELECT`` from the staged frame registered as an Arrow table; the hashes
        are computed inside that statement (``rows.finish_select``), in parallel, so no hash is
        ever materialised in Python (docs/performance.md)."""
        # One name per store connection (writes on it are sequential): the statement's shape
        # repeats, so SQLAlchemy's compiled cache hits (small writes: docs/performance.md).
        name = "mx_staged_rows"
        duck = self._duck(conn)
        duck.register(name, rows.frame.to_arrow())
        source = sa.table(name, *[sa.column(c) for c in rows.frame.columns])
        select = rows.finish_select(source, {c.name: c.type for c in table.columns})
        conn.execute(sa.insert(table).from_select(rows.columns, select))
        # Not in a `finally`: after a failed INSERT the transaction is aborted, unregistering
        # would raise and hide the real error, and the rollback drops the view anyway.
        duck.unregister(name)

    def _upsert_state(self, conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                      source: sa.Select[Any], keys: sa.Select[Any]) -> None:
        """Into an empty state (a first write, or a state just recreated), only the insert:
        the default's ``DELETE ... WHERE ids IN (keys)`` would scan the write's rows to delete
        nothing. Otherwise the default delete + insert."""
        empty = sa.select(sa.exists(sa.select(sa.literal(1)).select_from(state)))
        if conn.execute(empty).scalar():
            super()._upsert_state(conn, state, ids, source, keys)
        else:
            conn.execute(sa.insert(state).from_select([c.name for c in state.c], source))

    def _query(self, conn: sa.Connection, stmt: sa.Select[Any]) -> Any:
        """The statement as a DuckDB relation on the store's connection (its transaction)."""
        # render_postcompile expands IN-lists (expanding bind parameters) into numbered
        # parameters; without it the SQL keeps a POSTCOMPILE placeholder DuckDB cannot bind.
        compiled = stmt.compile(dialect=conn.dialect,
                                compile_kwargs={"render_postcompile": True})
        params = [compiled.params[k] for k in (compiled.positiontup or [])]
        return self._duck(conn).sql(str(compiled), params=params or None)

    @staticmethod
    def _frame(arrow: Any, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        # Name the columns after the select's own columns, by position: the result labels are
        # SQLAlchemy's, shortened (``<name>_1``) for long names, and would rename the column.
        df = pl.from_arrow(arrow.rename_columns(list(schema)))
        assert isinstance(df, pl.DataFrame)
        if df.height == 0:
            return pl.DataFrame(schema=schema)
        return conform(df, schema)

    def _fetch(self, conn: sa.Connection, stmt: sa.Select[Any]) -> pl.DataFrame:
        arrow = self._query(conn, stmt).to_arrow_table()
        self._count(arrow.num_rows)
        return self._frame(arrow, {c.name: polars_dtype(c.type) for c in stmt.selected_columns})

    def _stream(self, conn: sa.Connection, stmt: sa.Select[Any],
                n: int) -> Iterator[pl.DataFrame]:
        """Arrow record batches of at most ``n`` rows, pulled from DuckDB one at a time."""
        schema = {c.name: polars_dtype(c.type) for c in stmt.selected_columns}
        relation = self._query(conn, stmt)
        # to_arrow_reader: DuckDB >= 1.4 (fetch_arrow_reader, deprecated there, before)
        reader = getattr(relation, "to_arrow_reader", relation.fetch_arrow_reader)(n)
        total = 0
        try:
            for batch in reader:
                total += batch.num_rows
                if batch.num_rows:
                    yield self._frame(pa.Table.from_batches([batch]), schema)
        finally:
            reader.close()
            self._count(total)


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("duckdb", ("duckdb",), "embedded DuckDB file or :memory: (default)",
                        ("md5", "sha256"))]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> DuckDBStore | None:
    if url.split("://", 1)[0] != "duckdb":
        return None
    return DuckDBStore(url, **options)  # type: ignore[arg-type]


@hookimpl
def metaxy_alembic_impl(dialect_name: str) -> type | None:
    """duckdb-engine's ``duckdb`` dialect has no Alembic implementation of its own: DuckDB's
    (:mod:`metaxy.store.duckdb_alembic`) is imported, which registers it, only for migrations."""
    if dialect_name != "duckdb":
        return None
    from metaxy.store.duckdb_alembic import DuckDBImpl

    return DuckDBImpl
