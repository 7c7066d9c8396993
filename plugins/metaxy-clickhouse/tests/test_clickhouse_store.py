"""ClickHouse-specific behaviour: join_use_nulls, URLs and options, the DDL of server stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from metaxy_clickhouse.errors import ClickHouseOptionError
from metaxy_clickhouse.store import ClickHouseStore

import metaxy as mx
from metaxy.errors import StoreConnectionError
from metaxy.testing.graphs import SuiteFeatures, define_suite_features
from metaxy.testing.suite import ids, materialize, root_samples


@pytest.fixture
def feats() -> Iterator[SuiteFeatures]:
    with mx.FeatureGraph.isolated():
        yield define_suite_features()


def test_join_use_nulls_is_what_makes_the_increment_right(chdb_url: str,
                                                          feats: SuiteFeatures) -> None:
    """Without ``join_use_nulls = 1`` ClickHouse fills the missing side of the FULL OUTER JOIN
    with '' instead of NULL: a new sample is reported stale (and an orphan too), silently."""
    store = mx.get_store(chdb_url)
    assert isinstance(store, ClickHouseStore)
    with store.open("w"):
        materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx"),
                                                             "y": ("ay", "by")}))
        materialize(store, feats.child)
        store.delete(feats.root, feats.root.sid == "y", soft=False)  # type: ignore[attr-defined]
        grown = root_samples({"x": ("ax", "bx"), "y": ("ay", "by"), "z": ("az", "bz")})
        right = store.resolve_update(feats.root, samples=grown)
        right_child = store.resolve_update(feats.child)
        store.conn.exec_driver_sql("SET join_use_nulls = 0")
        try:
            wrong = store.resolve_update(feats.root, samples=grown)
            wrong_child = store.resolve_update(feats.child)
        finally:
            store.conn.exec_driver_sql("SET join_use_nulls = 1")
    assert (ids(right.new), ids(right.stale)) == (["y", "z"], [])
    assert ids(right_child.orphaned) == ["y"]
    assert ids(wrong.new) == []  # y and z are not new without the setting
    assert sorted(ids(wrong.stale)) == ["y", "z"]
    assert ids(wrong_child.orphaned) != ["y"]


def test_session_settings_are_set_on_every_session(chdb_url: str) -> None:
    store = mx.get_store(chdb_url)
    for _ in range(2):  # a pooled session keeps them
        with store:
            row = store.conn.execute(sa.text(
                "SELECT getSetting('join_use_nulls'), getSetting('session_timezone')")).one()
            assert (bool(row[0]), row[1]) == (True, "UTC")


def test_temporary_stores_are_separate_databases() -> None:
    with mx.FeatureGraph.isolated():
        feats = define_suite_features()
        a, b = mx.get_store("chdb://"), mx.get_store("chdb://")
        with a.open("w"):
            materialize(a, feats.root, samples=root_samples({"x": ("1", "2")}))
        with a, b:
            assert ids(a.read(feats.root)) == ["x"]
            assert not b.has_feature(feats.root)


def test_server_url_parts_and_redaction() -> None:
    store = ClickHouseStore("clickhouses://u:s3cret@127.0.0.1:1/metrics", connect_timeout=1)
    assert (store.scheme, store.database) == ("clickhouses", "metrics")
    assert "s3cret" not in store.display()
    with pytest.raises(StoreConnectionError) as err:
        store.open("r").__enter__()
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize(("options", "match"), [
    ({"cluster": ""}, "cluster"),
    ({"settings": {"bad name": 1}}, "setting name"),
    ({"settings": {"index_granularity": [1]}}, "must be a number"),
])
def test_bad_options_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(ClickHouseOptionError, match=match):
        ClickHouseStore("clickhouse://localhost/db", **options)  # type: ignore[arg-type]


def test_not_a_clickhouse_url() -> None:
    with pytest.raises(ClickHouseOptionError, match="not a ClickHouse URL"):
        ClickHouseStore("postgresql://localhost/db")


def test_a_chdb_directory_keeps_its_data(tmp_path: Path, feats: SuiteFeatures) -> None:
    url = f"chdb:///{tmp_path / 'store'}"
    with mx.get_store(url).open("w") as store:
        materialize(store, feats.root, samples=root_samples({"x": ("1", "2")}))
    with mx.get_store(url) as again:
        assert ids(again.read(feats.root)) == ["x"]
        assert again.status(feats.child).new == 1  # type: ignore[attr-defined]


def test_latest_methods_pick_the_same_rows(chdb_url: str, feats: SuiteFeatures) -> None:
    """``distinct_on`` (ClickHouse's ``LIMIT 1 BY``) and the window pick the same latest row per
    sample: several versions per sample, a soft-deleted sample, a tie on ``metaxy_updated_at``
    (the larger row id wins), in reads, increments (identity and N:1) and status."""
    window = ClickHouseStore(chdb_url, latest_method="window")
    limit_by = ClickHouseStore(chdb_url, latest_method="distinct_on")
    table: sa.Table = feats.root.__table__  # type: ignore[attr-defined]
    with window.open("w"):
        for version in ("1", "2"):
            materialize(window, feats.root, samples=root_samples(
                {s: (f"a{s}{version}", f"b{s}") for s in ("w", "x", "y")}))
            for f in (feats.child, feats.agg):
                materialize(window, f)
        window.delete(feats.root, feats.root.sid == "y")  # type: ignore[attr-defined]
        raw: Any = window.conn.connection.driver_connection
        latest = pl.from_arrow(raw.client.query_arrow(
            "SELECT * FROM {t:Identifier} WHERE sid = {sid:String} "
            "ORDER BY metaxy_updated_at DESC, metaxy_row_id DESC LIMIT 1",
            parameters={"t": table.name, "sid": "w"}))
        assert isinstance(latest, pl.DataFrame)
        tie = latest.with_columns(  # the same write time, a larger row id: this one wins
            pl.lit("ffffffff-ffff-ffff-ffff-ffffffffffff").alias("metaxy_row_id"),
            pl.lit("changed").alias("metaxy_pv__a"), pl.lit("changed").alias("metaxy_dv__a"))
        raw.client.insert_arrow(table.name, tie.to_arrow(), settings={"async_insert": 0})
    results = []
    for store in (window, limit_by):
        with store:
            results.append((
                store.read(feats.root).sort("sid").drop("metaxy_materialization_id"),
                _increment(store.resolve_update(feats.child)),
                _increment(store.resolve_update(feats.agg)),
                store.status(feats.child),
            ))
    (w_read, *w_rest), (l_read, *l_rest) = results
    assert ids(w_read) == ["w", "x"]
    assert w_read.equals(l_read)
    assert w_rest == l_rest
    assert w_rest[0][0] == ([], ["w"], ["y"])  # the tie's new hash makes w's child stale


def _increment(inc: Any) -> tuple[tuple[list[Any], list[Any], list[Any]], list[str]]:
    return ((ids(inc.new), ids(inc.stale), ids(inc.orphaned)),
            sorted(inc.stale["metaxy_provenance"].to_list()))


def test_a_missing_table_is_asked_about_once_per_operation(chdb_url: str,
                                                           feats: SuiteFeatures) -> None:
    """One increment asks the catalog about a never-written upstream once; the next operation
    asks again, and sees a table another store object created meanwhile."""
    store, other = mx.get_store(chdb_url), mx.get_store(chdb_url)
    assert isinstance(store, ClickHouseStore)
    seen: list[str] = []
    with store.open("w"):
        materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx")}))
        store.on_statement = seen.append
        store.resolve_update(feats.child)  # conf/side (optional upstream) is not written
        side = [s for s in seen if s.startswith("EXISTS TABLE") and "conf__side" in s]
        assert len(side) == 1
        with other.open("w"):
            materialize(other, feats.side, samples=pl.DataFrame(
                {"sid": ["x"], "metaxy_input_by_field": [{"a": "sx"}]}))
        assert store.has_feature(feats.side)
