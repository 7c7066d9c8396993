"""Statistics after a bulk load: ANALYZE covers the columns plans use, not the hash columns."""

from __future__ import annotations

import sqlalchemy as sa
from mxpg_helpers import item_graph, item_samples

import metaxy as mx
from metaxy.store.latest_state import state_name

ROWS = 1500  # above ANALYZE_MIN_ROWS: the write analyzes its tables


def analyzed_columns(conn: sa.Connection, table: str) -> set[str]:
    rows = conn.execute(sa.text("SELECT attname FROM pg_stats WHERE tablename = :t"),
                        {"t": table})
    return {r[0] for r in rows}


def test_bulk_load_analyzes_plan_columns_but_not_hash_columns(pg_url: str) -> None:
    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    with store.open("w"):
        store.write(item, item_samples([("g", f"{i:05d}") for i in range(ROWS)]))
        conn = store.conn
        table = item.spec().key.table_name
        history = analyzed_columns(conn, table)
        state = analyzed_columns(conn, state_name(table))
        conn.commit()
    assert {"grp", "item", "note", "n", "x", "metaxy_row_id", "metaxy_updated_at",
            "metaxy_deleted_at", "metaxy_feature_version"} <= history
    assert not history & {"metaxy_provenance", "metaxy_data_version", "metaxy_pv__value",
                          "metaxy_dv__value"}
    # the latest state likewise: its ids and system columns, not its per-field hashes
    assert {"grp", "item", "metaxy_row_id", "metaxy_updated_at", "metaxy_deleted_at"} <= state
    assert not state & {"metaxy_pv__value", "metaxy_dv__value"}
