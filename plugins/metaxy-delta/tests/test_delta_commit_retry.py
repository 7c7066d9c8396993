"""A commit refused because another commit changed the table's metadata first is retried on the
new version: nothing lost, nothing written twice (the race two first writers hit in CI)."""

from __future__ import annotations

from typing import Any

import deltalake
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from metaxy_delta.store import retry_commit
from mxdelta_helpers import item_graph, item_samples

import metaxy as mx


def test_append_after_a_concurrent_metadata_commit_is_retried(
        delta_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """delta-rs's writer (``polars_parquet`` off): ``write_deltalake`` refused, then retried."""
    graph, item = item_graph()
    store = mx.get_store(delta_url, graph=graph, config=mx.MetaxyConfig(), polars_parquet=False)
    real = deltalake.write_deltalake
    calls: list[int] = []

    def racing(table: Any, data: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1 and isinstance(table, DeltaTable):
            # another process commits metadata after this writer opened the table
            DeltaTable(table.table_uri).alter.set_table_description("changed meanwhile")
        real(table, data, **kwargs)

    with store.open("w"):
        store.write(item, item_samples(0, 0, 10))  # creates the table
        monkeypatch.setattr(deltalake, "write_deltalake", racing)
        assert store.write(item, item_samples(0, 1, 10)) == 10
        monkeypatch.undo()
        history = store.read(item, with_history=True)
    assert len(calls) == 2  # the refused commit, then the retried one
    assert history.height == 20
    assert history.select("grp", "item").n_unique() == 20


def test_polars_file_commit_after_a_concurrent_metadata_commit_is_retried(
        delta_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default local append (a file written by Polars, committed by delta-rs): the refused
    commit is retried with a new file, and the refused one's file is never read."""
    graph, item = item_graph()
    store = mx.get_store(delta_url, graph=graph, config=mx.MetaxyConfig())
    real = DeltaTable.create_write_transaction
    calls: list[int] = []

    def racing(table: DeltaTable, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            DeltaTable(table.table_uri).alter.set_table_description("changed meanwhile")
        real(table, *args, **kwargs)

    with store.open("w"):
        store.write(item, item_samples(0, 0, 10))
        monkeypatch.setattr(DeltaTable, "create_write_transaction", racing)
        assert store.write(item, item_samples(0, 1, 10)) == 10
        monkeypatch.undo()
        history = store.read(item, with_history=True)
    assert len(calls) == 2
    assert history.height == 20
    assert history.select("grp", "item").n_unique() == 20


def test_retry_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    def always_refused() -> None:
        calls.append(1)
        raise CommitFailedError("Metadata changed since last commit.")

    with pytest.raises(CommitFailedError, match="Metadata changed"):
        retry_commit(always_refused, attempts=3)
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("bad rows")

    with pytest.raises(ValueError, match="bad rows"):
        retry_commit(broken)
    assert calls == [1]
