"""A Python ``int`` column is 64-bit on every backend; an existing 32-bit column refuses a value
that does not fit before anything is written, and says how to widen it (issue 13 item 14)."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlmodel import Field

import metaxy as mx
from metaxy.errors import InvalidFrameError
from metaxy.store import duckdb_alembic  # noqa: F401  (registers the DuckDB Alembic impl)
from metaxy.testing.pytest_plugin import make_store
from metaxy.versions import versions_of
from tests.stores.conftest import is_sql

BIG = [2**31, -(2**31) - 1, 2**63 - 1, -(2**63)]


def _big_feature() -> type[mx.Feature]:
    class Big(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/big", id_columns=["sid"])):
        sid: int
        n: int | None = None

    return Big


def test_int_is_64_bit_on_every_backend(store_url: str) -> None:
    with mx.FeatureGraph.isolated():
        big = _big_feature()
        store = make_store(store_url)
        with store.open("w"):
            store.write(big, pl.DataFrame({"sid": BIG, "n": BIG}))
            back = store.read(big).sort("sid")
        assert back["sid"].to_list() == sorted(BIG)
        assert back["n"].to_list() == sorted(BIG)


def test_widening_keeps_the_definition_version() -> None:
    """Column types are versioned by affinity: BIGINT is still 'Integer', so no project version
    (and no migration check) changes with the wider default."""
    with mx.FeatureGraph.isolated() as wide_graph:
        _big_feature()
        wide = versions_of(wide_graph).definition_version("val/big")
    with mx.FeatureGraph.isolated() as narrow_graph:
        class Big(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/big",
                                                               id_columns=["sid"])):
            sid: int = Field(sa_type=sa.Integer)
            n: int | None = Field(default=None, sa_type=sa.Integer)

        assert isinstance(Big.__table__.c["n"].type, sa.Integer)  # type: ignore[attr-defined]
        assert versions_of(narrow_graph).definition_version("val/big") == wide


def test_existing_32_bit_column_refuses_big_values_and_widens(store_url: str) -> None:
    if not is_sql(store_url) or not getattr(make_store(store_url), "narrow_integer", False):
        pytest.skip("INTEGER is 64-bit on SQLite, ClickHouse (Int64) and the frame stores")
    store = make_store(store_url)
    with mx.FeatureGraph.isolated(), store.open("w"):
        class Old(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/big",
                                                               id_columns=["sid"])):
            sid: int
            n: int | None = Field(default=None, sa_type=sa.Integer)  # a table made before

        store.write(Old, pl.DataFrame({"sid": [1], "n": [2**31 - 1]}))
    with mx.FeatureGraph.isolated(), store.open("w"):
        big = _big_feature()  # the current code: BIGINT, but the table keeps INTEGER
        with pytest.raises(InvalidFrameError) as info:
            store.write(big, pl.DataFrame({"sid": [2, 3], "n": [5, 2**40]}))
        err = info.value
        assert (err.feature_key, err.column, err.row) == ("val/big", "n", 1)
        assert str(2**40) in str(err)
        assert "op.alter_column('val__big', 'n', type_=sa.BigInteger())" in str(err)
        assert store.read(big)["sid"].to_list() == [1]  # nothing written
        # the advised migration operation widens the column; the write then succeeds
        conn = store.conn  # type: ignore[attr-defined]
        with conn.begin():
            Operations(MigrationContext.configure(conn)).alter_column(
                "val__big", "n", type_=sa.BigInteger())
        store.write(big, pl.DataFrame({"sid": [2, 3], "n": [5, 2**40]}))
        assert store.read(big).sort("sid")["n"].to_list() == [2**31 - 1, 5, 2**40]


def test_declared_32_bit_column_refuses_big_values_on_the_first_write(store_url: str) -> None:
    if not is_sql(store_url) or not getattr(make_store(store_url), "narrow_integer", False):
        pytest.skip("INTEGER is 64-bit on SQLite, ClickHouse (Int64) and the frame stores")
    store = make_store(store_url)
    with mx.FeatureGraph.isolated(), store.open("w"):
        class Narrow(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/narrow",
                                                                  id_columns=["sid"])):
            sid: int
            n: int | None = Field(default=None, sa_type=sa.Integer)

        with pytest.raises(InvalidFrameError, match="32-bit") as info:
            store.write(Narrow, pl.DataFrame({"sid": [1], "n": [-(2**31) - 1]}))
        assert (info.value.column, info.value.row) == ("n", 0)
        assert not store.has_feature(Narrow)  # the table's creation was rolled back too
        store.write(Narrow, pl.DataFrame({"sid": [1], "n": [-(2**31)]}))
        assert store.read(Narrow)["n"].to_list() == [-(2**31)]
