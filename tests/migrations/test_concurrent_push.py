"""Concurrent first pushes (issue 12, the store lock at work): six store objects pushing the same
graph at once into a store without system tables all succeed; exactly one snapshot is recorded.

Without the lock the creators of the system tables collide (PostgreSQL's catalog refuses the
second ``CREATE TABLE``; DuckDB reports a write-write conflict) and the losers get a raw
driver error.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

import metaxy as mx
from metaxy.migrations import api
from metaxy.migrations.snapshots import SNAPSHOTS_TABLE, PushResult, connection

WRITERS = 6


def test_concurrent_first_pushes_all_succeed(store_url: str, code_graph: mx.FeatureGraph) -> None:
    results: list[PushResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def push() -> None:
        store = mx.get_store(store_url, graph=code_graph)
        try:
            barrier.wait(30)
            results.append(api.push(store, code_graph, "p"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=push) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(r.created for r in results) == [False] * (WRITERS - 1) + [True]
    store = mx.get_store(store_url, graph=code_graph)
    with store:
        conn = connection(store)
        count = conn.execute(sa.select(sa.func.count()).select_from(SNAPSHOTS_TABLE)).all()[0][0]
        conn.commit()
    assert count == 1
