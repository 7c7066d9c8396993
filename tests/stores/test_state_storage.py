"""How the latest state is laid out in the database (issue 14, write cost): DuckDB stores the
state's per-field hashes and its string keys (row id, a single string id column) uncompressed
(their compression analysis was most of the state's write); the values read back are the
history's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.store import ddl, latest_state


def _item(graph: mx.FeatureGraph) -> Any:
    with graph.use():
        class Item(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="state/item", id_columns=["sample_id"], fields=["a", "b"])):
            sample_id: str
            value: int | None = None
    return Item


def _rows(n: int, tag: str) -> pl.DataFrame:
    ids = [f"s{i:06d}" for i in range(n)]
    return pl.DataFrame({"sample_id": ids, "value": list(range(n)),
                         "metaxy_input_by_field": [{"a": f"a{tag}{i}", "b": f"b{tag}"}
                                                   for i in range(n)]})


def _hinted(state: sa.Table) -> set[str]:
    return {c.name for c in state.c if c.info.get(ddl.STORAGE_HINT) == ddl.INCOMPRESSIBLE}


def test_incompressible_hint_marks_hash_and_key_columns() -> None:
    item = _item(mx.FeatureGraph())
    state = latest_state.state_table(item.__table__, ("sample_id",), False,
                                     latest_state.columns_of(item))
    hashes = {"metaxy_dv__a", "metaxy_pv__a", "metaxy_dv__b", "metaxy_pv__b"}
    # one distinct value per state row: the row id and a single string id column
    assert _hinted(state) == {*hashes, "sample_id", "metaxy_row_id"}
    # a derived feature's stored inputs are upstream data versions; its signatures repeat
    assert ddl.incompressible("metaxy_in__0_a")
    assert not ddl.incompressible("metaxy_code__a")


def test_only_single_string_ids_are_hinted() -> None:
    graph = mx.FeatureGraph()
    with graph.use():
        class Pair(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="state/pair", id_columns=["parent", "child"], fields=["a"])):
            parent: str
            child: str

        class Num(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="state/num", id_columns=["n"], fields=["a"])):
            n: int

    for feature, ids in ((Pair, ("parent", "child")), (Num, ("n",))):
        state = latest_state.state_table(feature.__table__, ids, False,  # type: ignore[attr-defined]
                                         latest_state.columns_of(feature))
        # a column of a compound key repeats; an integer compresses cheaply
        assert _hinted(state) == {"metaxy_dv__a", "metaxy_pv__a", "metaxy_row_id"}


def test_duckdb_state_hashes_are_stored_uncompressed(tmp_path: Path) -> None:
    item = _item(graph := mx.FeatureGraph())
    store = mx.get_store(f"duckdb:///{tmp_path}/s.duckdb", graph=graph)
    with store.open("w"):
        store.write(item, _rows(5000, "1"))
        store.write(item, _rows(2000, "2"))
        state = latest_state.of(store, item)
        conn: sa.Connection = store.conn
        conn.exec_driver_sql("CHECKPOINT")
        stored = conn.exec_driver_sql(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info(?) "
            "WHERE segment_type = 'VARCHAR' GROUP BY column_name", (state.name,)).all()
        conn.commit()
        by_column = {name: set(kinds) for name, kinds in stored}
        for name in ("metaxy_dv__a", "metaxy_pv__a", "metaxy_dv__b", "metaxy_pv__b"):
            assert by_column[name] == {"Uncompressed"}, name
        assert by_column["sample_id"] == {"Uncompressed"}
        assert by_column["metaxy_row_id"] == {"Uncompressed"}
        rows = store._latest_state_rows(item)
        assert rows is not None
        latest = store.read(item).sort("sample_id")
        rows = rows.sort("sample_id")
        assert rows["metaxy_row_id"].to_list() == latest[C.ROW_ID].to_list()
        assert rows["metaxy_pv__a"].to_list() == \
            latest[C.PROVENANCE_BY_FIELD].struct.field("a").to_list()
        assert rows["metaxy_dv__b"].to_list() == \
            latest[C.DATA_VERSION_BY_FIELD].struct.field("b").to_list()
