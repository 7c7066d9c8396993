"""ClickHouse-specific behaviour: join_use_nulls, URLs and options, the DDL of server stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
