"""Latest rows on Delta sort only the samples with more than one row (``sort_only_repeated``):
the list of those samples and the query using it must read one snapshot of the table."""

from __future__ import annotations

import polars as pl
from metaxy_delta.store import DeltaStore
from mxdelta_helpers import item_graph, item_samples

import metaxy as mx
from metaxy import columns as C
from metaxy.config import MetaxyConfig


def _store(url: str, graph: mx.FeatureGraph) -> DeltaStore:
    store = mx.get_store(url, graph=graph, config=MetaxyConfig())
    assert isinstance(store, DeltaStore) and store.sort_only_repeated
    return store


def test_a_scan_reads_the_version_it_was_opened_at(delta_url: str) -> None:
    """The repeated samples are listed in one pass and used in the next: a write landing
    between the two must not be seen by the second."""
    graph, item = item_graph()
    store = _store(delta_url, graph)
    with store.open("w"):
        store.write(item, item_samples(0, 0, 3))
        rows = store._rows(item)
        store.write(item, item_samples(0, 0, 3))  # the same samples again
        assert store.collect(rows).height == 3
        assert store.collect(store._rows(item)).height == 6


def test_samples_written_again_read_their_latest_row_next_to_the_others(delta_url: str) -> None:
    graph, item = item_graph()
    store = _store(delta_url, graph)
    first = item_samples(0, 0, 20)
    with store.open("w"):
        store.write(item, first)
        store.write(item, first.slice(0, 2).with_columns(n=pl.lit(70)))
        store.write(item, first.slice(1, 1).with_columns(
            n=pl.lit(80), **{C.INPUT_BY_FIELD: pl.lit({"value": "changed"})}))
        store.delete(item, item.item == "000-00005")  # a tombstone: one more row
        rows = store._rows(item)
        repeated = store._repeated_ids(item, rows)
        assert repeated is not None and repeated.len() == 3  # the split path is taken
        latest = store.read(item).sort("item")
        assert latest["n"].to_list() == [70, 80, 2, 3, 4, *range(6, 20)]
        assert store.read(item, include_deleted=True).height == 20
        assert store.read(item, with_history=True).height == 24
        status = store.status(item, samples=first)
    assert (status.new, status.stale, status.up_to_date) == (1, 1, 18)


def test_a_table_of_mostly_repeated_samples_is_sorted_whole(delta_url: str) -> None:
    """Splitting the rows by the repeated samples' hashes does not pay when they hold most
    rows: the plain sort is used (and gives the same latest rows)."""
    graph, item = item_graph()
    store = _store(delta_url, graph)
    first = item_samples(0, 0, 8)
    with store.open("w"):
        store.write(item, first)
        store.write(item, first.with_columns(n=pl.lit(5)))
        assert store._repeated_ids(item, store._rows(item)) is None
        assert store.read(item)["n"].to_list() == [5] * 8
