"""Issue 13 item 10: no hang behind PostgreSQL locks.

* an undrained lazy iterator holds no transaction: a migration's ``ALTER TABLE`` from another
  session gets its lock at once;
* the store options ``lock_timeout`` (default 60 s) and ``statement_timeout`` (default 0: none)
  are set on every connection; a statement that waits on a lock past ``lock_timeout`` fails with
  ``StoreLockedError`` (past ``statement_timeout``: ``StoreTimeoutError``) naming the store and
  the feature, instead of hanging;
* JIT compilation is off on every connection (a server setting like the timeouts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from metaxy_postgres.store import PostgresStore, lock_key
from mxpg_helpers import item_graph, item_samples

import metaxy as mx
from metaxy.errors import StoreLockedError, StoreOptionError, StoreTimeoutError
from metaxy.store.latest_state import state_name

IDS = [("g", f"i{n:02d}") for n in range(30)]
TABLE = "pgt__item"


@pytest.fixture
def graph() -> tuple[mx.FeatureGraph, Any, Any]:
    return item_graph()


@pytest.fixture
def other(pg_url: str) -> Iterator[sa.Connection]:
    """Another session on the same database (as a migration or a second process would be)."""
    engine = sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg"),
                              poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        yield conn
        conn.rollback()
    engine.dispose()



def _quoted(conn: sa.Connection, name: str = TABLE) -> str:
    """A table name as a quoted identifier (DDL takes no bound parameters)."""
    return conn.dialect.identifier_preparer.quote(name)

def _loaded(pg_url: str, graph: Any, **options: Any) -> PostgresStore:
    g, item, _ = graph
    store = PostgresStore(pg_url, graph=g, **options)
    with store.open("w"):
        store.write(item, store.resolve_update(item, samples=item_samples(IDS)).new)
    return store


def test_undrained_lazy_iterator_holds_no_transaction(pg_url: str, graph: Any,
                                                      other: sa.Connection) -> None:
    _, item, group = graph
    store = _loaded(pg_url, graph)
    with store.open("w"):
        lazy = store.resolve_update(item, samples=item_samples([*IDS, ("h", "new")]),
                                    lazy=True)
        batches = lazy.new.iter_batches(1)
        assert next(batches)["item"].to_list() == ["new"]  # undrained from here on
        groups = store.resolve_update(group, lazy=True).new.iter_batches(1)
        next(groups)
        idle = other.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'metaxy' AND state LIKE 'idle in transaction%'")).scalar()
        assert idle == 0
        other.execute(sa.text("SET lock_timeout = '2s'"))
        other.execute(sa.text(
            f"ALTER TABLE {_quoted(other)} ADD COLUMN added_by_migration integer"))
        other.commit()
        assert store.read(item).height == len(IDS)  # later readers do not queue either
        assert list(batches) == []


@pytest.mark.parametrize("what", ["read", "resolve", "lazy", "status", "write"])
def test_statement_behind_an_alter_fails_after_lock_timeout(pg_url: str, graph: Any,
                                                           other: sa.Connection,
                                                           what: str) -> None:
    _, item, group = graph
    store = _loaded(pg_url, graph, lock_timeout=0.5)
    calls = {
        "read": lambda: store.read(item),
        "resolve": lambda: store.resolve_update(group),
        "lazy": lambda: store.resolve_update(group, lazy=True),
        "status": lambda: store.status(item, samples=item_samples(IDS)),
        "write": lambda: store.write(item, store.read(item).head(1)),
    }
    feature = "pgt/group" if what in ("resolve", "lazy") else "pgt/item"
    with store.open("w"):
        store.read(item)  # caches warm: the table is known, its columns checked
        # what a migration's ALTER TABLE holds until it commits (resolve and status read only
        # the table's latest state, so it is locked too: a state rebuild holds that lock)
        locked = ", ".join(_quoted(other, t) for t in (TABLE, state_name(TABLE)))
        other.execute(sa.text(f"LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE"))
        start = time.monotonic()
        with pytest.raises(StoreLockedError) as info:
            calls[what]()
        waited = time.monotonic() - start
        other.rollback()
        message = str(info.value)
        assert f"feature '{feature}'" in message and store.display() in message
        assert "lock_timeout = 0.5 s" in message
        assert 0.4 < waited < 30
        assert store.read(item).height == len(IDS)  # the connection is usable again
        if what == "write":
            assert store.read(item, with_history=True).height == len(IDS)  # nothing written


def test_table_creation_behind_a_concurrent_creator_fails_after_lock_timeout(
        pg_url: str, graph: Any, other: sa.Connection) -> None:
    """A first write (CREATE TABLE) waits for the creation lock that a concurrent first writer
    holds until its commit; past lock_timeout it fails instead of hanging."""
    g, item, _ = graph
    store = PostgresStore(pg_url, graph=g, lock_timeout=0.5)
    with store.open("w"):
        rows = store.resolve_update(item, samples=item_samples(IDS)).new
        other.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(f".{TABLE}"))))
        with pytest.raises(StoreLockedError, match="feature 'pgt/item'"):
            store.write(item, rows)
        other.rollback()
        assert store.write(item, rows) == len(IDS)


def test_statement_timeout(pg_url: str, graph: Any, other: sa.Connection) -> None:
    _, item, _ = graph
    store = _loaded(pg_url, graph, lock_timeout=0, statement_timeout=0.5)
    with store.open("r"):
        other.execute(sa.text(f"LOCK TABLE {_quoted(other)} IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(StoreTimeoutError, match=r"feature 'pgt/item'.*statement_timeout "
                                                    r"= 0\.5 s"):
            store.read(item)
        other.rollback()
        assert store.read(item).height == len(IDS)


def test_timeouts_are_set_on_every_connection(pg_url: str, graph: Any) -> None:
    g, *_ = graph
    custom = {"lock_timeout": 1.5, "statement_timeout": 2.0001}  # ms rounded up
    for options, want in [({}, ("1min", "0")), (custom, ("1500ms", "2001ms"))]:
        store = PostgresStore(pg_url, graph=g, **options)
        with store.open("r"):
            got = (store.conn.execute(sa.text("SHOW lock_timeout")).scalar(),
                   store.conn.execute(sa.text("SHOW statement_timeout")).scalar())
            store.conn.commit()
        assert got == want, options


def test_jit_is_off_on_every_connection(pg_url: str, graph: Any) -> None:
    """JIT compilation is off for the store's sessions (its cost grew with the history's depth:
    docs/performance-history.md, "PostgreSQL depth and small updates"), also under custom
    timeouts."""
    g, *_ = graph
    for options in ({}, {"lock_timeout": 2.0}):
        store = PostgresStore(pg_url, graph=g, **options)
        with store.open("r"):
            got = store.conn.execute(sa.text("SHOW jit")).scalar()
            store.conn.commit()
        assert got == "off", options


def test_resolve_and_status_run_with_query_work_mem(pg_url: str, graph: Any) -> None:
    """The statements of resolve_update and status run with ``work_mem`` at QUERY_WORK_MEM
    (the latest states' hashes fit in memory), and the setting ends with their transaction."""
    from metaxy_postgres.store import QUERY_WORK_MEM

    _, item, _ = graph
    store = _loaded(pg_url, graph)
    seen: list[str] = []
    state = state_name(TABLE)  # read by both

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and state in statement:
            raw = cursor.connection  # the same session, between two statements
            seen.append(raw.execute("SELECT current_setting('work_mem')").fetchone()[0])

    with store.open("r"):
        default = store.conn.execute(sa.text("SHOW work_mem")).scalar()
        store.conn.commit()
        sa.event.listen(store.engine, "after_cursor_execute", after)
        try:
            store.resolve_update(item, samples=item_samples(IDS))
            store.status(item, samples=item_samples(IDS))
        finally:
            sa.event.remove(store.engine, "after_cursor_execute", after)
        after_both = store.conn.execute(sa.text("SHOW work_mem")).scalar()
        store.conn.commit()
    assert seen and set(seen) == {QUERY_WORK_MEM}, seen
    assert default != QUERY_WORK_MEM and after_both == default


@pytest.mark.parametrize("name", ["lock_timeout", "statement_timeout"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 86_401, True, "30"])
def test_invalid_timeouts_are_refused(pg_url: str, name: str, value: Any) -> None:
    with pytest.raises(StoreOptionError, match=f"option {name} = "):
        PostgresStore(pg_url, **{name: value})
    with pytest.raises(StoreOptionError, match=f"option {name} = "):
        mx.get_store(pg_url, **{name: value})


def test_lazy_parts_stay_one_snapshot_while_another_store_writes(pg_url: str,
                                                                 graph: Any) -> None:
    """Item 9 across sessions: another store object (its own connection) commits between
    reading ``.new`` and ``.stale``; the sample it writes stays only new in this increment."""
    g, item, _ = graph
    store = _loaded(pg_url, graph)
    samples = item_samples([*IDS, ("h", "new")])
    with store.open("r"):
        lazy = store.resolve_update(item, samples=samples, lazy=True)
        assert lazy.new.collect()["item"].to_list() == ["new"]
        writer = PostgresStore(pg_url, graph=g)
        with writer.open("w"):
            other_input = item_samples([("h", "new")]).with_columns(
                metaxy_input_by_field=pl.struct(value=pl.lit("another input")))
            writer.write(item, writer.resolve_update(item, samples=other_input).new)
        assert store.resolve_update(item, samples=samples).stale["item"].to_list() == ["new"]
        assert lazy.stale.collect().height == 0
        assert lazy.counts == {"new": 1, "stale": 0, "orphaned": 0}
