"""Concurrent appends from real processes: Delta's optimistic commits let them all succeed."""

from __future__ import annotations

import polars as pl
import pytest
from mxdelta_helpers import concurrent_writer, item_graph, item_samples

import metaxy as mx
from metaxy.testing.processes import run_concurrently

pytestmark = [pytest.mark.slow]

WORKERS = 4
BATCHES = 2
ROWS = 200


def test_four_processes_append_to_one_feature_at_once(delta_url: str) -> None:
    run_concurrently(concurrent_writer,
                     [(delta_url, w, BATCHES, ROWS) for w in range(WORKERS)])

    graph, item = item_graph()
    store = mx.get_store(delta_url, graph=graph, config=mx.MetaxyConfig())
    total = WORKERS * BATCHES * ROWS
    with store:
        history = store.read(item, with_history=True)
        assert history.height == total  # nothing lost, nothing twice
        assert history.select("grp", "item").n_unique() == total
        latest = store.read(item)
        assert latest.height == total
        assert sorted(latest["grp"].unique()) == [f"w{w}" for w in range(WORKERS)]
        samples = pl.concat([item_samples(w, b, ROWS)
                             for w in range(WORKERS) for b in range(BATCHES)])
        assert store.status(item, samples=samples).up_to_date == total
