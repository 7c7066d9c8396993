"""Concurrent first writers: table creation is serialised with an advisory lock."""

from __future__ import annotations

import multiprocessing as mp
import queue

import pytest
import sqlalchemy as sa
from mxpg_helpers import concurrent_writer, item_graph

import metaxy as mx
from metaxy.store.sql import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 8
ROWS = 1_000


def test_eight_processes_create_and_fill_a_new_table(pg_url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    errors = ctx.Queue()
    procs = [ctx.Process(target=concurrent_writer, args=(pg_url, w, ROWS, barrier, errors))
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

    graph, item, _ = item_graph()
    store = mx.get_store(pg_url, graph=graph)
    with store:
        rows = store.read(item)
        assert rows.height == WORKERS * ROWS
        assert rows.select("grp", "item").n_unique() == WORKERS * ROWS
        assert sorted(rows["grp"].unique()) == [f"w{w}" for w in range(WORKERS)]
        history = store.read(item, with_history=True)
        assert history.height == WORKERS * ROWS
        conn = store.conn  # type: ignore[attr-defined]
        versions = conn.execute(sa.select(sa.func.count()).select_from(FEATURE_VERSIONS_TABLE))
        assert versions.scalar() == 1
        settings = conn.execute(sa.select(sa.func.count()).select_from(SETTINGS_TABLE))
        assert settings.scalar() == 1
        conn.rollback()
