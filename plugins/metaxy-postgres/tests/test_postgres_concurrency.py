"""Concurrent first writers: table creation is serialised with an advisory lock."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from mxpg_helpers import concurrent_writer, item_graph

import metaxy as mx
from metaxy.store.sql import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE
from metaxy.testing.processes import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 8
ROWS = 1_000


def test_eight_processes_create_and_fill_a_new_table(pg_url: str) -> None:
    run_concurrently(concurrent_writer, [(pg_url, w, ROWS) for w in range(WORKERS)])

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
