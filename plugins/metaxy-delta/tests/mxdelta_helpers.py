"""Feature graphs and workers shared by the Delta tests (importable by spawned workers)."""

from __future__ import annotations

from typing import Any

import polars as pl

import metaxy as mx
from metaxy import columns as C


def item_graph() -> tuple[mx.FeatureGraph, Any]:
    """A fresh graph with ``dlt/item`` (root, string ids grp+item)."""
    with mx.FeatureGraph().use() as graph:

        class Item(
            mx.Feature,
            table=True,
            spec=mx.FeatureSpec(key="dlt/item", id_columns=["grp", "item"],
                                fields=[mx.FieldSpec(key="value", code_version="1")]),
        ):
            grp: str
            item: str
            n: int | None = None

    return graph, Item


def item_samples(worker: int, batch: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "grp": [f"w{worker}"] * n,
        "item": [f"{batch:03d}-{i:05d}" for i in range(n)],
        "n": list(range(n)),
        C.INPUT_BY_FIELD: [{"value": f"in:{worker}/{batch}/{i}"} for i in range(n)],
    })


def concurrent_writer(url: str, worker: int, batches: int, n: int, barrier: Any) -> None:
    """Run by the concurrency test in its own process: wait for the others, then append
    ``batches`` writes of ``n`` new samples each (the first write of all of them creates the
    table)."""
    graph, item = item_graph()
    store = mx.get_store(url, graph=graph, config=mx.MetaxyConfig())
    with store.open("w"):
        barrier.wait(timeout=60)  # every worker opened the store before the table existed
        for batch in range(batches):
            assert store.write(item, item_samples(worker, batch, n)) == n


def locked_section(url: str, worker: int, log: str, barrier: Any) -> None:
    """Run by the lock test in its own process: take the store's named lock and append
    ``enter``/``exit`` lines around a pause (interleaved lines mean two holders at once)."""
    import time

    store = mx.get_store(url, graph=mx.FeatureGraph(), config=mx.MetaxyConfig())
    with store.open("r"):
        barrier.wait(timeout=60)
        for _ in range(3):
            with store.lock("metaxy-test", timeout=60):
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"enter {worker}\n")
                time.sleep(0.05)
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"exit {worker}\n")


def write_until_killed(url: str, n: int) -> None:
    """Run by the crash test as a child process: append batches of ``n`` new samples, printing
    ``committed <batch>`` after each, until the test kills it."""
    graph, item = item_graph()
    store = mx.get_store(url, graph=graph, config=mx.MetaxyConfig())
    with store.open("w"):
        for batch in range(1000):
            store.write(item, item_samples(0, batch, n))
            print(f"committed {batch}", flush=True)
