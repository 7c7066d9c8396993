"""The PostgreSQL store: SQLAlchemy's ``postgresql+psycopg`` dialect plus three PostgreSQL paths.

* **Writes** go through ``COPY ... FROM STDIN (FORMAT csv)``: Polars encodes each chunk of the
  frame as CSV in one vectorised call and psycopg streams it. Every non-numeric value is quoted
  and NULL is the *unquoted* marker ``\\N``, so NULL, the empty string and the string ``\\N``
  stay distinct (PostgreSQL only matches the NULL marker on unquoted fields in CSV mode).
  The statement is composed with :mod:`psycopg.sql` (identifiers quoted by the driver).
* **Byte order**: N:1 aggregation concatenates members ordered by their ids in *byte* order, as
  DuckDB and Polars do; PostgreSQL orders text by the database collation (e.g. ``en_US``), so
  string order columns get ``COLLATE "C"``.
* **Table creation** is serialised across processes with a transaction-level advisory lock:
  ``CREATE TABLE IF NOT EXISTS`` alone is not safe under concurrency in PostgreSQL (two creators
  collide on the catalog's unique index), and the lock also serialises the first write's bookkeeping
  rows (settings, feature versions).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.compiler import compiles

from metaxy.errors import (
    StoreConnectionError,
    StoreError,
    StoreLockedError,
    StoreOptionError,
    StoreTimeoutError,
)
from metaxy.store import AccessMode, SampleHash, SQLStore, planner_columns
from metaxy_postgres import recent

ANALYZE_MIN_ROWS = 1000  # below this a stale plan costs less than ANALYZE
DAY = 86_400.0
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait past lock_timeout
QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled (e.g. by statement_timeout)

if TYPE_CHECKING:
    from metaxy import Feature
    from metaxy.store import Hasher, StagedRows

DRIVER = "postgresql+psycopg"
NULL_MARKER = r"\N"
#: The temporary table a write's latest-state rows are staged in (one per session).
STATE_STAGE = "metaxy_state_stage"
#: The latest state's autovacuum setting (a per-table storage parameter): its upkeep leaves one
#: dead row per sample written (delete + insert), so it is vacuumed after 5% of its rows died
#: instead of PostgreSQL's default 20%. A backstop: a write leaving more dead rows than live ones
#: vacuums the state itself, after its commit (:meth:`PostgresStore._after_commit`).
STATE_RELOPTION = "autovacuum_vacuum_scale_factor=0.05"
#: ``work_mem`` of a write's transaction while it replaces state rows: the ``DELETE ... USING``
#: hash-joins the state with the write's ids; at PostgreSQL's default (4MB) a 1M-row join spills
#: into batches, and the delete then visits the state's pages once per batch. A session limit,
#: not an allocation: a hash needing less takes less.
STATE_WORK_MEM = "64MB"
#: ``work_mem`` of the transaction of a ``resolve_update`` or ``status``: at the default (4MB)
#: the hash of a 1M-row latest state runs in batches written to and read back from temporary
#: files, once per resolve (docs/performance-history.md, "PostgreSQL depth and small updates").
#: Transaction-local (``set_config(..., true)``) like the write's, and a limit per hash, not an
#: allocation.
QUERY_WORK_MEM = "64MB"
#: Server settings of every connection of the store besides the timeouts. ``jit=off``: the JIT
#: compiler optimises and inlines a statement whose estimated cost passes a threshold, and
#: metaxy's reads contain branches that are planned over the whole history but rarely run (an
#: orphan's stored row is joined from the history): their estimate grows with the history's
#: depth, so a deep table's resolve paid JIT's compilation (most of a second at ten writes per
#: sample at 1M samples) for hash joins and scans compiled code barely speeds up
#: (docs/performance-history.md, "PostgreSQL depth and small updates").
SESSION_SETTINGS = (("jit", "off"),)
#: Execution options of an ``INSERT ... SELECT`` whose row count is read (SQLAlchemy reports
#: -1 for an INSERT's count unless asked to keep the driver's)
COUNTED = {"preserve_rowcount": True}
#: Rows encoded per CSV chunk: bounds the encoder's memory on very large writes. Only the first
#: chunk's hashing and encoding is not overlapped with the server's parsing (see _bulk_insert):
#: small chunks keep that fixed part small (a 100k-row write is two chunks, not one).
COPY_CHUNK_ROWS = 50_000


@compiles(SampleHash, "postgresql")
def _hash_postgresql(element: SampleHash, compiler: Any, **kw: Any) -> str:
    """md5 is native text -> hex; sha256 works on bytea, so encode the UTF-8 bytes and hex it."""
    (arg,) = element.clauses
    expr: sa.ColumnElement[Any]
    if element.algorithm == "sha256":
        raw = sa.func.sha256(sa.func.convert_to(arg, sa.literal_column("'UTF8'")))
        expr = sa.func.encode(raw, sa.literal_column("'hex'"))
    else:
        expr = sa.func.md5(arg)
    if element.truncated:
        expr = sa.func.substr(expr, 1, element.length)
    return str(compiler.process(expr, **kw))


def byte_order(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Order a text column by its bytes (UTF-8 byte order equals code-point order)."""
    return sa.collate(column, "C")


#: PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes); longer names are truncated
MAX_IDENTIFIER_BYTES = 63


def legacy_index_name(state_name: str) -> str:
    """The unique index on the ids metaxy gave a latest state before it stopped indexing it."""
    return f"{state_name[:MAX_IDENTIFIER_BYTES - 3]}_ux"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for an object name."""
    digest = hashlib.blake2b(f"metaxy:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _csv_encodable(dtype: pl.DataType) -> bool:
    """Dtypes whose Polars CSV text PostgreSQL parses back to the same value."""
    if dtype.is_numeric() or dtype in (pl.Utf8, pl.Boolean, pl.Date, pl.Time, pl.Categorical):
        return True
    return isinstance(dtype, pl.Datetime | pl.Enum)


class PostgresStore(SQLStore):
    """A PostgreSQL database (``postgresql://user[:password]@host:port/db``)."""

    backend = "postgresql"

    # PostgreSQL estimates `row_number() = 1` at a fraction of a percent of the rows and joins
    # two such relations with a nested loop; DISTINCT ON is estimated as the number of
    # distinct ids and hash-joined (docs/performance.md).
    latest_method = "distinct_on"
    # No index on the latest state (uniqueness holds by construction, see _upsert_state): an
    # index cost every state insert and no plan used it (docs/performance-history.md, "PostgreSQL
    # writes and wide resolve"). A state an earlier metaxy made with one loses it on its next
    # upsert (_tune_state).
    state_unique_key = False

    def __init__(self, url: str, *, connect_timeout: int = 10,
                 copy_chunk_rows: int = COPY_CHUNK_ROWS, lock_timeout: float = 60.0,
                 statement_timeout: float = 0.0, **kwargs: Any) -> None:
        """``lock_timeout``: seconds any statement waits for a lock (a table another session
        alters, a concurrent first write creating the table) before it fails with
        :class:`~metaxy.errors.StoreLockedError`; ``statement_timeout``: seconds any statement
        may run before it fails with :class:`~metaxy.errors.StoreTimeoutError`. 0 means no
        limit (PostgreSQL's meaning). Both apply to every connection of the store, migrations
        included."""
        super().__init__(url, **kwargs)
        self.connect_timeout = int(connect_timeout)
        self.copy_chunk_rows = int(copy_chunk_rows)
        self.lock_timeout = self._seconds("lock_timeout", lock_timeout)
        self.statement_timeout = self._seconds("statement_timeout", statement_timeout)
        #: (schema, name) of the states to vacuum once the write commits
        self._vacuum_due: set[tuple[str | None, str]] = set()
        #: (schema, name) -> rows this store's writes replaced in the state since it last
        #: vacuumed it (the server's count lags: a backend reports it at most once a second)
        self._dead_rows: dict[tuple[str | None, str], int] = {}
        #: the current write's history table, the last page it had before the write and the
        #: rows loaded into it (:mod:`metaxy_postgres.recent`)
        self._recent: tuple[sa.Table, int, int] | None = None

    def _seconds(self, name: str, value: Any) -> float:
        """A timeout in seconds: a finite number from 0 to one day (the store option check's
        rule, repeated for a store built directly)."""
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or not 0 <= value <= DAY:
            raise StoreOptionError(f"store {self.display()}: option {name} = {value!r} is "
                                   f"invalid: it must be a finite number of seconds from 0 to "
                                   f"{DAY:g} (0: no limit)")
        return float(value)

    def _session_options(self) -> str:
        """libpq ``options``: the timeouts as server settings of every connection, in whole
        milliseconds (rounded up: a positive timeout never becomes 0, "no limit"), and
        :data:`SESSION_SETTINGS`."""
        def ms(seconds: float) -> int:
            return math.ceil(seconds * 1000)

        fixed = "".join(f" -c {name}={value}" for name, value in SESSION_SETTINGS)
        return (f"-c lock_timeout={ms(self.lock_timeout)} "
                f"-c statement_timeout={ms(self.statement_timeout)}{fixed}")

    # ------------------------------------------------------------------ connection
    def sa_url(self) -> sa.URL:
        """The URL with the psycopg 3 driver (``postgresql://`` would pick psycopg2)."""
        try:
            return sa.make_url(self.url).set(drivername=DRIVER)
        except sa.exc.ArgumentError:
            raise StoreError(f"invalid PostgreSQL URL '{self.display()}' (expected "
                             "postgresql://user[:password]@host:port/database)") from None

    def sql_dialect_name(self) -> str:
        """``postgresql``, also for a ``postgres://`` URL (libpq's spelling)."""
        return self.sa_url().get_backend_name()

    def _refresh_statistics(self, conn: sa.Connection, table: sa.Table, rows: int) -> None:
        """ANALYZE a table after a bulk load.

        PostgreSQL plans joins from table statistics, which autovacuum refreshes only later (and
        never for temporary tables). Without them it estimates a few rows per relation and joins
        the latest-row relations with nested loops, orders of magnitude slower
        (docs/performance.md). Like autovacuum, re-analyze once a load adds >= 10% of the
        table's rows (reltuples is -1 for a table never analyzed).

        Only the columns a plan depends on are analyzed (:func:`metaxy.store.planner_columns`:
        not the hash columns, most of a feature table's columns and the dearest to sample): the
        same plans for a third of the time (docs/performance-history.md, "Writes (issue 14)").
        """
        if rows < ANALYZE_MIN_ROWS:
            return
        quote = conn.dialect.identifier_preparer
        name = quote.format_table(table)
        known = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                     "to_regclass(:name)"), {"name": name}).scalar()
        if known is None or known < 0 or rows >= 0.1 * known:
            columns = planner_columns(table)
            # identifiers quoted by the dialect, as CREATE TABLE quotes them; "%" doubled: the
            # DDL text is a format string
            listed = "" if columns is None else \
                " (" + ", ".join(quote.quote(c) for c in columns).replace("%", "%%") + ")"
            conn.execute(sa.DDL(f"ANALYZE %(fullname)s{listed}").against(table))  # type: ignore[no-untyped-call]

    def _create_engine(self, mode: AccessMode) -> sa.Engine:
        return sa.create_engine(
            self.sa_url(),
            poolclass=sa.pool.NullPool,  # the store holds one connection while it is open
            connect_args={"connect_timeout": self.connect_timeout,
                          "application_name": "metaxy", "client_encoding": "utf8",
                          "options": self._session_options()},
        )

    def _open(self, mode: AccessMode) -> None:
        try:
            super()._open(mode)
        except StoreConnectionError as e:
            # The driver's exception (and its traceback) adds nothing for the user: the message
            # already says what failed; drop the chain so no connection string is ever printed.
            raise StoreConnectionError(str(e)) from None

    @contextlib.contextmanager
    def _lock(self, name: str, timeout: float | None) -> Iterator[None]:
        """A session advisory lock (``pg_try_advisory_lock``, polled until ``timeout``).

        It is taken on a connection of its own, so the store's transactions (commits,
        rollbacks) never touch it; the server releases it when that connection ends, also when
        the process dies.
        """
        key = lock_key(f"lock:{name}")
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as e:
            raise self._connect_error(e) from None
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            delay = 0.02
            while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar():
                conn.commit()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    waited = f"gave up after waiting {timeout:g} s" if timeout else \
                        "could not take it at once"
                    raise StoreLockedError(
                        f"{self.display()}: the lock '{name}' is held by another session "
                        f"(advisory lock {key}); {waited}")
                time.sleep(delay if left is None else min(delay, left))
                delay = min(delay * 2, 0.5)
            conn.commit()
            try:
                yield
            finally:
                # closing the session below releases the lock too: an unlock that fails (a
                # broken connection) must not hide the error of the block
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    conn.commit()
        finally:
            conn.close()

    def _connect_error(self, error: Exception) -> StoreError:
        orig = getattr(error, "orig", None) or error
        lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
        detail = "; ".join(lines) or type(orig).__name__
        password = self.sa_url().password
        if password:
            detail = detail.replace(str(password), "***")
        return StoreConnectionError(f"cannot connect to PostgreSQL store {self.display()}: "
                                    f"{detail}")

    @contextlib.contextmanager
    def _query_scope(self, conn: sa.Connection) -> Iterator[None]:
        """``work_mem`` raised to :data:`QUERY_WORK_MEM` for the statements of a resolve or
        status, until their transaction ends."""
        conn.execute(sa.select(sa.func.set_config("work_mem", QUERY_WORK_MEM, True)))
        yield

    def _stream_rows(self, conn: sa.Connection, stmt: sa.Select[Any],
                     n: int) -> Iterator[Sequence[Any]]:
        """Fetch through a server-side cursor, ``n`` rows at a time.

        psycopg's ordinary cursor receives the whole result into client memory before the
        first row is read; a named (server-side) cursor keeps it on the server. The planner
        plans a cursor for its first 10% of rows by default (``cursor_tuple_fraction``), which
        picks nested loops for these joins; this transaction plans for the whole result.
        """
        conn.execute(sa.select(sa.func.set_config("cursor_tuple_fraction", "1", True)))
        result = conn.execute(stmt, execution_options={"stream_results": True,
                                                       "max_row_buffer": n})
        try:
            while rows := result.fetchmany(n):
                yield rows  # Row objects are sequences: Polars reads them as rows
        finally:
            result.close()

    def _driver_error(self, error: Exception, feature: type[Feature] | None) -> StoreError:
        """A lock wait past ``lock_timeout`` (SQLSTATE 55P03) is a StoreLockedError, a statement
        cancelled by ``statement_timeout`` (57014) a StoreTimeoutError, each naming the store
        and the feature."""
        orig = getattr(error, "orig", None) or error
        state = getattr(orig, "sqlstate", None)
        subject = f"{self.display()}, feature '{feature.spec().key}'" if feature is not None \
            else self.display()
        if state == LOCK_NOT_AVAILABLE:
            return StoreLockedError(
                f"{subject}: a lock was not granted within lock_timeout = {self.lock_timeout:g} "
                "s: another session holds a conflicting lock on the table (a migration's ALTER "
                "TABLE, a concurrent first write, a long transaction); retry later or raise the "
                "store option lock_timeout")
        if state == QUERY_CANCELED and "statement timeout" in str(orig):
            return StoreTimeoutError(
                f"{subject}: the statement ran longer than statement_timeout = "
                f"{self.statement_timeout:g} s and was cancelled; raise the store option "
                "statement_timeout (0: no limit)")
        return super()._driver_error(error, feature)

    # ------------------------------------------------------------------ writes
    def _byte_order(self) -> Callable[[sa.ColumnElement[Any]], sa.ColumnElement[Any]]:
        return byte_order

    def _ensure_table(self, conn: sa.Connection, table: sa.Table) -> None:
        """Create the table if missing, holding an advisory lock until the transaction ends.

        A concurrent first writer waits for the lock, then (READ COMMITTED: a fresh snapshot per
        statement) sees the committed table and skips the creation.
        """
        qualified = f"{table.schema or ''}.{table.name}"
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(qualified))))
        super()._ensure_table(conn, table)

    def _write_time(self, conn: sa.Connection, table: sa.Table, client: Any) -> Any:
        """The write clock's time; also notes the history's last page before the write's rows
        go in (:mod:`metaxy_postgres.recent`)."""
        self._recent = (table, recent.last_page(conn, table), 0)
        return super()._write_time(conn, table, client)

    def _load_written(self, conn: sa.Connection, into: sa.Table, names: list[str],
                      source: sa.Select[Any]) -> None:
        """``INSERT INTO into SELECT source`` (the write's narrow rows): from the history pages
        the write added, and from the older ones only when the former lack some of the write's
        rows (:mod:`metaxy_postgres.recent`)."""
        noted, self._recent = self._recent, None
        parts = None if noted is None else recent.split(source, noted[0], noted[1])
        if noted is None or parts is None:
            conn.execute(sa.insert(into).from_select(names, source))
            return
        new, old = parts
        got = conn.execute(sa.insert(into).from_select(names, new),
                           execution_options=COUNTED).rowcount
        if got != noted[2]:
            self.stats["state_full_scans"] += 1  # rows on reused pages: read the rest
            conn.execute(sa.insert(into).from_select(names, old))

    def _upsert_state(self, conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                      source: sa.Select[Any], keys: sa.Select[Any]) -> None:
        """Into an empty state (a first load), insert the write's narrow rows; otherwise stage
        them in a temporary table (one scan of the history; the delete takes the ids from it,
        not from ``keys``), then delete their samples' state rows and insert them: cheaper
        than ``INSERT ... ON CONFLICT DO UPDATE``, whose speculative insertion probes a unique
        index row by row (docs/performance.md).

        The state has no unique index: one row per sample holds by construction. Writers of
        one table serialise on its write-clock row, held by this transaction, and the clock
        makes this write's time the table's greatest: no other transaction races on an id, the
        write's rows are their samples' latest, and staging rejected a write with a duplicate
        id before anything was inserted."""
        names = [c.name for c in state.c]
        self._tune_state(conn, state)
        conn.execute(sa.select(sa.func.set_config("work_mem", STATE_WORK_MEM, True)))
        if not conn.execute(sa.select(sa.exists(sa.select(sa.literal(1)).select_from(state)))
                            ).scalar():  # a first load: nothing to replace
            self._load_written(conn, state, names, source)
            return
        # dropped at the commit, and with the transaction on a rollback (created in it)
        stage = sa.Table(STATE_STAGE, sa.MetaData(),
                         *[sa.Column(c.name, c.type) for c in state.c],
                         schema="pg_temp", prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
        stage.create(conn)
        self._load_written(conn, stage, names, source)
        replaced = conn.execute(sa.delete(state).where(
            *[state.c[i] == stage.c[i] for i in ids])).rowcount or 0
        inserted = conn.execute(sa.insert(state).from_select(names, sa.select(*stage.c)),
                                execution_options=COUNTED).rowcount or 0
        stage.drop(conn)
        self._note_dead_rows(conn, state, replaced, inserted)

    def _tune_state(self, conn: sa.Connection, state: sa.Table) -> None:
        """Give the state :data:`STATE_RELOPTION` if it lacks it and drop the unique index an
        earlier metaxy gave it (a state made by an earlier metaxy, or just created: checked at
        every upsert, one catalog row). Dropping the index locks the state until this write
        commits, once."""
        name = conn.dialect.identifier_preparer.format_table(state)
        legacy = legacy_index_name(state.name)
        options, has_legacy = conn.execute(sa.text(
            "SELECT c.reloptions, EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON "
            "x.oid = i.indexrelid WHERE i.indrelid = c.oid AND x.relname = :legacy) "
            "FROM pg_class c WHERE c.oid = to_regclass(:name)"),
            {"name": name, "legacy": legacy}).one()
        if STATE_RELOPTION not in (options or []):
            conn.execute(sa.DDL(f"ALTER TABLE %(fullname)s SET ({STATE_RELOPTION})")  # type: ignore[no-untyped-call]
                         .against(state))
        if has_legacy:
            # on a detached copy of the state: an Index on the state's own columns would join
            # its (cached) Table, and a later create would make the index again
            copy = sa.Table(state.name, sa.MetaData(), *[sa.Column(c.name, c.type)
                                                         for c in state.c], schema=state.schema)
            conn.execute(sa.schema.DropIndex(sa.Index(legacy, *copy.c), if_exists=True))

    def _note_dead_rows(self, conn: sa.Connection, state: sa.Table, replaced: int,
                        inserted: int) -> None:
        """Mark the state for a ``VACUUM`` after the commit once its dead rows exceed its live
        ones. Dead: the server's count plus this write's ``replaced`` rows, or the rows this
        store replaced since it last vacuumed the state, whichever is more (the server's count
        lags by up to a second per backend, so quick writes alone would never reach it);
        live: the row estimate, at least the ``inserted`` rows. Until vacuumed, every scan of
        the state (each resolve and status) reads the dead rows too: 100k samples written 10
        times left 910k dead rows next to 100k live ones (docs/performance.md)."""
        if not replaced:
            return
        key = (state.schema, state.name)
        mine = self._dead_rows[key] = self._dead_rows.get(key, 0) + replaced
        name = conn.dialect.identifier_preparer.format_table(state)
        dead, live = conn.execute(sa.text(
            "SELECT pg_stat_get_dead_tuples(c.oid), c.reltuples FROM pg_class c "
            "WHERE c.oid = to_regclass(:name)"), {"name": name}).one()
        if max(int(dead or 0) + replaced, mine) > max(float(live or 0), inserted):
            self._vacuum_due.add(key)

    def _after_commit(self, conn: sa.Connection, committed: bool) -> None:
        """``VACUUM`` the states this write marked (:meth:`_note_dead_rows`), outside any
        transaction (VACUUM cannot run in one), skipping a state another session is vacuuming
        (``SKIP_LOCKED``: autovacuum, a concurrent writer). The write is committed: a failed
        VACUUM is counted in ``stats`` and left to autovacuum, never raised."""
        due, self._vacuum_due = self._vacuum_due, set()
        self._recent = None
        if not committed or not due:
            return
        from psycopg import Error, sql

        raw = conn.connection.driver_connection
        assert raw is not None
        raw.autocommit = True
        try:
            for schema, name in sorted(due, key=lambda t: (t[0] or "", t[1])):
                target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
                try:
                    raw.execute(sql.SQL("VACUUM (SKIP_LOCKED) {}").format(target))
                    self._dead_rows.pop((schema, name), None)
                    self.stats["state_vacuums"] += 1
                except Error:
                    self.stats["state_vacuums_failed"] += 1
        finally:
            raw.autocommit = False

    def _insert_missing(self, conn: sa.Connection, table: sa.Table,
                        values: dict[str, Any]) -> None:
        """``ON CONFLICT DO NOTHING``: a concurrent writer may insert the same row (e.g. the
        seed of a table's write clock); it then waits for that writer's commit."""
        conn.execute(pg_insert(table).values(**values).on_conflict_do_nothing())

    def _hasher(self) -> Hasher:
        """Writes hash with DuckDB (a private in-memory connection): half polars-hash's CPU.

        PostgreSQL cannot hash inside ``COPY``; hashing client-side is the part of a write the raw
        load does not do, so :meth:`_bulk_insert` overlaps it with the server's work."""
        from metaxy.store import duckdb_hasher

        return duckdb_hasher(self.hash_settings)

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: StagedRows) -> None:
        """``COPY table (columns) FROM STDIN`` with the rows encoded as CSV by Polars.

        Chunk by chunk, the hashes are finished and the CSV encoded here while a writer thread
        sends the previous chunk and the server parses it: the server's work (the raw load's)
        hides most of ours (docs/performance.md).
        """
        if rows.height == 0:
            return
        if not all(_csv_encodable(t) for t in rows.frame.schema.values()) or not all(
                _csv_encodable(c.dtype) for c in rows.constants):
            # nested/binary values: the driver adapts them
            conn.execute(sa.insert(table), rows.finish(self._hasher()).to_dicts())
            self._note_loaded(table, rows.height)
            return
        from psycopg import sql
        from psycopg.copy import QueuedLibpqWriter

        target = sql.Identifier(table.schema, table.name) if table.schema \
            else sql.Identifier(table.name)
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL {})").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c in rows.columns),
            sql.Literal(NULL_MARKER))
        raw = conn.connection.driver_connection
        assert raw is not None
        hasher = self._hasher()
        with raw.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
            for chunk in rows.slices(self.copy_chunk_rows):
                buffer = io.BytesIO()
                chunk.finish(hasher).write_csv(buffer, include_header=False,
                                               null_value=NULL_MARKER, quote_style="non_numeric")
                copy.write(buffer.getbuffer())
        self.stats["rows_copied"] += rows.height
        self._note_loaded(table, rows.height)

    def _note_loaded(self, table: sa.Table, rows: int) -> None:
        """Count rows loaded into the current write's history table (:meth:`_write_time`)."""
        if self._recent is not None and self._recent[0] is table:
            self._recent = (table, self._recent[1], self._recent[2] + rows)
