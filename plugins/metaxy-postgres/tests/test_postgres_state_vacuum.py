"""The latest state's dead rows (issue 14): its delete + insert upkeep leaves one dead row per
sample written. The state gets a per-table autovacuum scale factor, also when an earlier metaxy
made it, and a write that leaves more dead rows than live ones vacuums it after its commit."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa
from metaxy_postgres.store import STATE_RELOPTION
from mxpg_helpers import item_graph

import metaxy as mx
from metaxy import columns as C
from metaxy.store.latest_state import state_name

ROWS = 2000


def _samples(tag: str) -> pl.DataFrame:
    """Every sample of the table, with inputs of its own per ``tag``."""
    grp = [f"g{i % 7}" for i in range(ROWS)]
    item = [f"{i:05d}" for i in range(ROWS)]
    return pl.DataFrame({"grp": grp, "item": item,
                         C.INPUT_BY_FIELD: [{"value": f"{tag}:{g}/{i}"}
                                            for g, i in zip(grp, item, strict=True)]})


def _catalog(conn: sa.Connection, sql: str, table: str) -> object:
    got = conn.execute(sa.text(sql), {"t": table}).scalar()
    conn.commit()
    return got


def _options(conn: sa.Connection, table: str) -> list[str]:
    got = _catalog(conn, "SELECT reloptions FROM pg_class WHERE relname = :t", table)
    return list(got or [])  # type: ignore[call-overload]


def _vacuums(conn: sa.Connection, table: str) -> int:
    got = _catalog(conn, "SELECT pg_stat_get_vacuum_count(oid) FROM pg_class "
                         "WHERE relname = :t", table)
    return int(got or 0)  # type: ignore[call-overload]


def test_state_gets_the_autovacuum_setting_also_when_made_without_it(pg_url: str) -> None:
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    state = state_name(item.spec().key.table_name)
    with store.open("w"):
        store.write(item, _samples("a"))
        assert STATE_RELOPTION in _options(store.conn, state)
        # as a state made by an earlier metaxy: no storage parameter
        table = sa.Table(state, sa.MetaData())
        store.conn.execute(sa.DDL(  # type: ignore[no-untyped-call]
            "ALTER TABLE %(fullname)s RESET (autovacuum_vacuum_scale_factor)").against(table))
        store.conn.commit()
        assert STATE_RELOPTION not in _options(store.conn, state)
        store.write(item, _samples("b"))
        assert STATE_RELOPTION in _options(store.conn, state)


def test_write_leaving_more_dead_than_live_rows_vacuums_the_state(pg_url: str) -> None:
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    state = state_name(item.spec().key.table_name)
    with store.open("w"):
        store.write(item, _samples("v1"))
        store.write(item, _samples("v2"))  # as many dead rows as live ones: not more
        assert store.stats["state_vacuums"] == 0
        before = _vacuums(store.conn, state)
        store.write(item, _samples("v3"))  # twice as many: vacuumed after the commit
        assert store.stats["state_vacuums"] == 1
        assert _vacuums(store.conn, state) == before + 1
        # the connection is back to transactions: the next write and reads work on it
        store.write(item, _samples("v4"))
        history = store.read(item, with_history=True)
        last = history.filter(pl.col(C.UPDATED_AT) == pl.col(C.UPDATED_AT).max())
        latest = store.read(item)
        assert latest.height == last.height == ROWS
        assert sorted(latest[C.ROW_ID].to_list()) == sorted(last[C.ROW_ID].to_list())
        state_rows = store._latest_state_rows(item)
        assert state_rows is not None
        assert sorted(state_rows[C.ROW_ID].to_list()) == sorted(last[C.ROW_ID].to_list())


def test_rolled_back_write_vacuums_nothing(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write failing after its state upkeep marked the state (then rolled back): no VACUUM."""
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    with store.open("w"):
        for tag in ("v1", "v2"):
            store.write(item, _samples(tag))

        def fail(*args: object) -> None:
            raise RuntimeError("injected after the state upkeep")

        monkeypatch.setattr(store, "_record_feature_version", fail)
        with pytest.raises(mx.MetaxyError, match="injected"):
            store.write(item, _samples("v3"))
        monkeypatch.undo()
        assert store.stats["state_vacuums"] == 0
        assert store.read(item).height == ROWS
        assert store.read(item, with_history=True).height == 2 * ROWS


def _indexes(conn: sa.Connection, table: str) -> list[str]:
    got = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t "
                               "ORDER BY 1"), {"t": table}).scalars().all()
    conn.commit()
    return list(got)


def test_state_has_no_index_and_loses_the_unique_index_of_an_earlier_metaxy(
        pg_url: str) -> None:
    """The state is not indexed (one row per sample by construction); a state an earlier
    metaxy made with a unique index on the ids loses it on the next write, whose rows then
    replace their samples' as before."""
    from metaxy_postgres.store import legacy_index_name

    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    state = state_name(item.spec().key.table_name)
    with store.open("w"):
        store.write(item, _samples("a"))
        assert _indexes(store.conn, state) == []
        # as a state made by an earlier metaxy: a unique index on the ids
        legacy = legacy_index_name(state)
        t = sa.Table(state, sa.MetaData(), sa.Column("grp"), sa.Column("item"))
        sa.Index(legacy, t.c.grp, t.c.item, unique=True).create(store.conn)
        store.conn.commit()
        assert _indexes(store.conn, state) == [legacy]
        store.write(item, _samples("b").head(ROWS // 2))
        assert _indexes(store.conn, state) == []
        latest = store.read(item)
        assert latest.height == ROWS
        newest = latest[C.UPDATED_AT].max()
        assert latest.filter(pl.col(C.UPDATED_AT) == newest).height == ROWS // 2
        # one state row per sample, each naming its sample's latest history row
        t = sa.table(state, sa.column("grp"), sa.column("item"))
        rows, samples = store.conn.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(sa.tuple_(t.c.grp, t.c.item))))).one()
        store.conn.commit()
        assert rows == samples == ROWS
