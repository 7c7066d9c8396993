"""resolve_update runs in the database: a fixed number of statements whatever N, and only the
increment's rows cross the DB-API cursor (``store.stats``, counted in ``_fetch``)."""

from __future__ import annotations

from typing import Any

import polars as pl

import metaxy as mx
from metaxy import columns as C
from metaxy.store.base import Increment
from metaxy.store.sql import SQLStore
from metaxy.testing.graphs import define_feature
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize


def _graph() -> tuple[Any, Any, Any]:
    src = define_feature("Src", mx.FeatureSpec(key="big/src", id_columns=["sid"]),
                         {"sid": str, "grp": str | None}, {"grp": None})
    dst = define_feature("Dst", mx.FeatureSpec(key="big/dst", id_columns=["sid"],
                                               deps=[mx.FeatureDep(feature=src, columns=())]),
                         {"sid": str})
    per_group = define_feature("PerGroup", mx.FeatureSpec(
        key="big/group", id_columns=["grp"],
        deps=[mx.FeatureDep(feature=src, columns=(),
                            lineage=mx.Lineage.aggregation(on=["grp"]))]), {"grp": str})
    return src, dst, per_group


def _rows(n: int, changed: int = 0) -> pl.DataFrame:
    sid = pl.int_range(n, eager=True).cast(pl.Utf8).str.zfill(6)
    version = pl.when(pl.int_range(n) < changed).then(pl.lit("v2")).otherwise(pl.lit("v1"))
    return pl.DataFrame({"sid": sid}).with_columns(
        grp=(pl.int_range(n) % 97).cast(pl.Utf8),
        **{C.INPUT_BY_FIELD: pl.struct(pl.concat_str([pl.lit("in-"), pl.col("sid"),
                                                      version]).alias("default"))},
    )


def _measure(url: str, n: int) -> dict[str, int]:
    with mx.FeatureGraph.isolated():
        src, dst, per_group = _graph()
        store = make_store(url)
        assert isinstance(store, SQLStore)
        with store.open("w"):
            store.write(src, _rows(n))
            materialize(store, dst)
            materialize(store, per_group)
            changed = n // 100
            store.write(src, _rows(n, changed).head(changed))  # 1% of the inputs change
            out: dict[str, int] = {}
            for name, feature in (("dst", dst), ("group", per_group)):
                store.stats.clear()
                inc = store.resolve_update(feature)
                assert isinstance(inc, Increment)
                rows = inc.new.height + inc.stale.height + inc.orphaned.height
                assert store.stats["rows_fetched"] == rows, (name, n, dict(store.stats))
                out[f"{name}_rows"] = rows
                out[f"{name}_statements"] = store.stats["statements"]
                store.stats.clear()
                status = store.status(feature)
                assert status.stale == rows
                assert store.stats["rows_fetched"] == 1  # the counts row only
                out[f"{name}_status_statements"] = store.stats["statements"]
            return out


def test_fixed_statements_and_only_increment_rows(sql_store_url: str) -> None:
    small = _measure(sql_store_url, 1_000)
    large = _measure(sql_store_url, 50_000)
    assert small["dst_rows"] == 10 and large["dst_rows"] == 500
    assert 0 < small["group_rows"] <= 97 and large["group_rows"] == 97
    for key in ("dst_statements", "group_statements", "dst_status_statements",
                "group_status_statements"):
        assert small[key] == large[key], key
    assert large["dst_statements"] == 1 and large["dst_status_statements"] == 1
