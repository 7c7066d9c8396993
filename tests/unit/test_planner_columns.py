"""metaxy.store.planner_columns: the columns worth a planner's statistics."""

from __future__ import annotations

import sqlalchemy as sa

from metaxy.store import planner_columns


def _table(*names: str) -> sa.Table:
    return sa.Table("t", sa.MetaData(), *[sa.Column(n, sa.String) for n in names])


def test_hash_columns_are_left_out_in_table_order() -> None:
    table = _table("metaxy_row_id", "metaxy_provenance", "metaxy_data_version", "sample_id",
                   "metaxy_pv__a", "metaxy_dv__a", "metaxy_updated_at", "path")
    assert planner_columns(table) == ["metaxy_row_id", "sample_id", "metaxy_updated_at", "path"]


def test_a_table_without_hash_columns_is_analyzed_whole() -> None:
    assert planner_columns(_table("sample_id", "metaxy_row_id", "metaxy_updated_at")) is None
