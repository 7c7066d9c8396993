"""The latest-state upkeep reads a write's rows from the history pages the write added (a TID
range scan, :mod:`metaxy_postgres.recent`), and the rest of the history only when some of them
went to reused pages: the state is the history's latest rows either way."""

from __future__ import annotations

import polars as pl
import psycopg
import psycopg.sql
import sqlalchemy as sa
from mxpg_helpers import item_graph

import metaxy as mx
from metaxy import columns as C
from metaxy.store.latest_state import state_name

ROWS = 3000


def _samples(tag: str, grps: range = range(6)) -> pl.DataFrame:
    pairs = [(f"g{g}", f"{i:05d}") for g in grps for i in range(ROWS // 6)]
    return pl.DataFrame({"grp": [g for g, _ in pairs], "item": [i for _, i in pairs],
                         C.INPUT_BY_FIELD: [{"value": f"{tag}:{g}/{i}"} for g, i in pairs]})


def _state_rows(store: mx.MetadataStore, state: str) -> pl.DataFrame:
    conn = store.conn  # type: ignore[attr-defined]
    t = sa.table(state, sa.column("grp"), sa.column("item"), sa.column(C.ROW_ID))
    got = conn.execute(sa.select(t.c.grp, t.c.item, t.c[C.ROW_ID])).all()
    conn.commit()
    return pl.DataFrame([tuple(r) for r in got], schema=["grp", "item", C.ROW_ID], orient="row")


def _expected(store: mx.MetadataStore, item: type[mx.Feature]) -> pl.DataFrame:
    """The latest row of every sample, recomputed from the whole history."""
    history = store.read(item, with_history=True)
    return (history.sort([C.UPDATED_AT, C.ROW_ID]).group_by(["grp", "item"]).last()
            .select("grp", "item", C.ROW_ID))


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.sort("grp", "item").equals(b.sort("grp", "item"))


def test_appends_read_only_the_pages_they_added(pg_url: str) -> None:
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    state = state_name(item.spec().key.table_name)
    with store.open("w"):
        for tag in ("v1", "v2", "v3"):
            store.write(item, _samples(tag))
        store.write(item, _samples("v4", range(2)))  # a third of the samples
        assert store.stats["state_full_scans"] == 0
        assert _same(_state_rows(store, state), _expected(store, item))


def test_rows_on_reused_pages_are_found_by_the_full_scan(pg_url: str) -> None:
    """A hard delete of the first writes' samples, vacuumed, frees pages at the start of the
    history; the next write's COPY fills them (PostgreSQL's free space map), below the pages
    the write added."""
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    table, state = item.spec().key.table_name, state_name(item.spec().key.table_name)
    with store.open("w"):
        store.write(item, _samples("v1", range(3)))
        store.write(item, _samples("v1", range(3, 6)))
        store.delete(item, item.grp.in_(["g0", "g1", "g2"]), soft=False)  # type: ignore[attr-defined]
    with psycopg.connect(store.sa_url().set(drivername="postgresql").render_as_string(  # type: ignore[attr-defined]
            hide_password=False), autocommit=True) as raw:
        raw.execute(psycopg.sql.SQL("VACUUM {}").format(psycopg.sql.Identifier(table)))
    with store.open("w"):
        store.write(item, _samples("v2", range(0, 6)))
        assert store.stats["state_full_scans"] == 1
        expected = _expected(store, item)
        assert expected.height == ROWS
        assert _same(_state_rows(store, state), expected)
        assert store.read(item).height == ROWS
