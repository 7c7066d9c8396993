"""Issue 13 item 9: a SQL store spools a lazy increment batch by batch as the driver hands the
rows over, so Python never holds more than one fetch batch of it (the rest of the behaviour, on
every backend, is the conformance pack metaxy/testing/suite_lazy.py)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.store import sql as sql_store
from metaxy.store.spool import Spool
from metaxy.testing.graphs import define_suite_features
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize, root_samples
from tests.stores.conftest import is_sql


def test_sql_increment_is_spooled_one_fetch_batch_at_a_time(
        store_url: str, isolated_graph: mx.FeatureGraph,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not is_sql(store_url):
        pytest.skip("a frame store computes the increment in this process (nothing to fetch)")
    feats = define_suite_features()
    monkeypatch.setattr(sql_store, "FETCH_BATCH_ROWS", 4)
    appended: list[int] = []
    original = Spool.append

    def spy(self: Spool, part: str, frame: pl.DataFrame) -> None:
        appended.append(frame.height)
        original(self, part, frame)

    monkeypatch.setattr(Spool, "append", spy)
    store: Any = make_store(store_url)
    with store.open("w"):
        materialize(store, feats.root, samples=root_samples(
            {f"s{i:02d}": (str(i), "b") for i in range(11)}))
        appended.clear()  # materialize's eager resolves spool nothing
        with store.resolve_update(feats.child, lazy=True) as lazy:
            assert lazy.counts["new"] == 11
            assert [b.height for b in lazy.new.iter_batches(5)] == [5, 5, 1]
    assert sum(appended) == 11
    assert max(appended) <= 4 and len(appended) >= 3, appended
