"""Concurrent appends from real processes: Delta's optimistic commits let them all succeed."""

from __future__ import annotations

import multiprocessing as mp
import queue

import polars as pl
import pytest
from mxdelta_helpers import concurrent_writer, item_graph, item_samples

import metaxy as mx

pytestmark = [pytest.mark.slow]

WORKERS = 4
BATCHES = 2
ROWS = 200


def test_four_processes_append_to_one_feature_at_once(delta_url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    errors = ctx.Queue()
    procs = [ctx.Process(target=concurrent_writer,
                         args=(delta_url, w, BATCHES, ROWS, barrier, errors))
             for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=10)
    messages = []
    while True:
        try:
            messages.append(errors.get(timeout=1))
        except queue.Empty:
            break
    assert not hung, f"workers still running after 180 s: {hung}"
    assert [p.exitcode for p in procs] == [0] * WORKERS, "\n".join(messages)

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
