"""Feature graphs and flows shared by the PostgreSQL tests (importable by spawned workers)."""

from __future__ import annotations

from typing import Any

import polars as pl

import metaxy as mx
from metaxy import columns as C


def item_graph() -> tuple[mx.FeatureGraph, Any, Any]:
    """A fresh graph: ``pgt/item`` (root, string ids grp+item) and ``pgt/group`` (N:1 on grp)."""
    with mx.FeatureGraph().use() as graph:

        class Item(
            mx.Feature,
            table=True,
            spec=mx.FeatureSpec(key="pgt/item", id_columns=["grp", "item"],
                                fields=[mx.FieldSpec(key="value", code_version="1")]),
        ):
            grp: str
            item: str
            note: str | None = None
            n: int | None = None
            x: float | None = None

        class Group(
            mx.Feature,
            table=True,
            spec=mx.FeatureSpec(
                key="pgt/group", id_columns=["grp"],
                deps=[mx.FeatureDep(feature=Item, columns=(),
                                    lineage=mx.Lineage.aggregation(on=["grp"]))],
                fields=[mx.FieldSpec(key="agg", code_version="1")]),
        ):
            grp: str

    return graph, Item, Group


def item_samples(ids: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({
        "grp": [g for g, _ in ids],
        "item": [i for _, i in ids],
        C.INPUT_BY_FIELD: [{"value": f"in:{g}/{i}"} for g, i in ids],
    })


def hash_columns(df: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    """Ids plus every provenance / data-version / stale-field column, sorted by the ids."""
    keep = [c for c in df.columns if c.startswith(("metaxy_provenance", "metaxy_data_version",
                                                   "metaxy_stale_fields"))]
    return df.select(*ids, *sorted(keep)).sort(ids)


def concurrent_writer(url: str, worker: int, n: int, barrier: Any) -> None:
    """Run by the concurrency test in its own process: open the store, wait for the others,
    write ``n`` ids."""
    graph, item, _ = item_graph()
    store = mx.get_store(url, graph=graph)
    frame = item_samples([(f"w{worker}", f"{i:05d}") for i in range(n)])
    with store.open("w"):
        barrier.wait(timeout=60)  # every worker opened the store before the table existed
        store.write(item, frame)
