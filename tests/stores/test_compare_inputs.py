"""Stale flags from the state's stored inputs ("compare, don't re-hash", metaxy.engine.compare),
on every backend: a row whose provenance the write cannot verify is compared by hash (never up
to date by mistake), a code-version bump marks the field stale, an upstream rewritten with
equal data versions leaves the downstream up to date (early cutoff), and a state rebuilt from
the history verifies its rows again. Each case also equals the window over the history (the
store without its latest state: today's hash compare), and the state's verified rows satisfy
the invariant (tests/reliability/inputs_check.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.store.sql import SQLStore
from metaxy.testing.graphs import bump, clone_graph
from metaxy.testing.pytest_plugin import make_store
from tests.reliability.faultlib import item_features, items
from tests.reliability.inputs_check import assert_inputs_hold

IDS = ["s0", "s1", "s2", "s3"]


@pytest.fixture
def graph() -> Iterator[mx.FeatureGraph]:
    with mx.FeatureGraph.isolated() as g:
        item_features()
        yield g


@pytest.fixture
def store(store_url: str, graph: mx.FeatureGraph) -> Iterator[Any]:
    """``rel/item`` written for four samples, ``rel/derived`` computed from it, open for
    writing."""
    store = make_store(store_url)
    with store.open("w"):
        store.write("rel/item", items(range(4)))
        inc = store.resolve_update("rel/derived")
        store.write("rel/derived", inc.new.with_columns(out=pl.col("sample_id") + "!"))
        yield store


def observe(store: Any) -> tuple[Any, ...]:
    """The derived feature's increment (ids, stale fields, hashes) and status."""
    inc = store.resolve_update("rel/derived")
    def rows(df: pl.DataFrame) -> list[Any]:
        return df.sort("sample_id").rows()
    return rows(inc.new), rows(inc.stale), rows(inc.orphaned), store.status("rel/derived")


def checked(store: Any) -> tuple[Any, ...]:
    """:func:`observe` through the latest state, asserted equal to the window's, after
    checking the state's verified rows; returns it."""
    derived = store.feature("rel/derived")
    state = store._latest_state_rows(derived)
    if state is not None:
        assert_inputs_hold(store, derived, state)
    through_state = observe(store)
    store.keeps_latest_state = False
    try:
        assert observe(store) == through_state
    finally:
        del store.keeps_latest_state
    return through_state


def keeps_inputs(store: Any) -> bool:
    """SQL stores keeping the latest state (not ClickHouse; the memory store re-hashes)."""
    return isinstance(store, SQLStore) and store.keeps_latest_state


def verified(store: Any) -> dict[str, bool]:
    """Per derived sample: whether its state row is verified (SQL stores; others: {})."""
    if not keeps_inputs(store):
        return {}
    state = store._latest_state_rows(store.feature("rel/derived"))
    assert state is not None
    return dict(zip(state["sample_id"], state["metaxy_code__default"].is_not_null(),
                    strict=True))


def stale_ids(store: Any) -> list[str]:
    return sorted(store.resolve_update("rel/derived").stale["sample_id"].to_list())


def test_written_rows_are_verified(store: Any) -> None:
    if keeps_inputs(store):
        assert verified(store) == dict.fromkeys(IDS, True)
    new, stale, orphaned, status = checked(store)
    assert (new, stale, orphaned) == ([], [], [])
    assert status.up_to_date == len(IDS)


def test_wrong_provenance_is_compared_by_hash(store: Any) -> None:
    inc = store.resolve_update("rel/derived")
    assert inc.new.height == 0
    rows = store.read("rel/derived").filter(pl.col("sample_id") == "s1")
    wrong = pl.struct(pl.lit("f" * 32).alias("default")).alias(C.PROVENANCE_BY_FIELD)
    store.write("rel/derived", rows.select("sample_id", "out").with_columns(
        wrong, pl.lit("f" * 32).alias(C.PROVENANCE)))
    if keeps_inputs(store):
        assert verified(store) == {"s0": True, "s1": False, "s2": True, "s3": True}
    assert stale_ids(store) == ["s1"]
    checked(store)


def test_rows_from_an_older_increment_are_compared_by_hash(store: Any) -> None:
    store.write("rel/item", items(range(2), offset=10))  # s0, s1 change
    inc = store.resolve_update("rel/derived")
    assert sorted(inc.stale["sample_id"]) == ["s0", "s1"]
    store.write("rel/item", items(range(1), offset=20))  # s0 changes again before the write
    store.write("rel/derived", inc.stale.with_columns(out=pl.lit("late")))
    if keeps_inputs(store):
        assert verified(store) == {"s0": False, "s1": True, "s2": True, "s3": True}
    assert stale_ids(store) == ["s0"]
    checked(store)


def test_code_version_bump_marks_the_field_stale(store: Any, graph: mx.FeatureGraph) -> None:
    with clone_graph(graph, lambda s: bump(s, "rel/derived", "default", "2")).use():
        bumped = store  # the same open store, read with the bumped definitions
        inc = bumped.resolve_update("rel/derived")
        assert sorted(inc.stale["sample_id"]) == IDS
        assert inc.stale[C.STALE_FIELDS].to_list() == [["default"]] * len(IDS)
        checked(bumped)
        bumped.write("rel/derived", inc.stale.with_columns(out=pl.lit("v2")))
        assert stale_ids(bumped) == []
        checked(bumped)


def test_upstream_rewritten_with_equal_data_versions(store: Any) -> None:
    store.write("rel/item", items(range(4)))  # the same content: the same data versions
    assert stale_ids(store) == []
    store.write("rel/item", items(range(1), offset=5))
    assert stale_ids(store) == ["s0"]
    store.write("rel/item", items(range(1)))  # back to the content s0 was computed from
    assert stale_ids(store) == []
    checked(store)


def test_rebuilt_state_verifies_its_rows(store: Any) -> None:
    if not keeps_inputs(store):
        pytest.skip("no latest state with input columns (memory: re-hashes; ClickHouse: none)")
    store.keeps_latest_state = False  # a write that does not keep the state: rebuilt later
    try:
        store.write("rel/derived", store.read("rel/derived").select("sample_id", "out",
                                                                   C.PROVENANCE_BY_FIELD,
                                                                   C.PROVENANCE))
    finally:
        del store.keeps_latest_state
    assert store._latest_state_rows(store.feature("rel/derived")) is None
    store.write("rel/item", items(range(1), offset=5))  # s0 changes
    store.write("rel/derived", store.read("rel/derived").filter(pl.col("sample_id") == "s3")
                .select("sample_id", "out", C.PROVENANCE_BY_FIELD, C.PROVENANCE))
    # rebuilt on that write: s0 was computed from the upstream before its change, so it is
    # not verified against the upstream now (compared by hash, stale)
    assert verified(store) == {"s0": False, "s1": True, "s2": True, "s3": True}
    assert stale_ids(store) == ["s0"]
    checked(store)


def test_resolve_compares_the_stored_inputs(store: Any) -> None:
    """With s2's stored input changed behind the store's back (its signature kept), the
    stored provenance still matches the upstream: the hash compare says up to date, the input
    compare says stale, which shows the increment reads the inputs (and that a doubt about
    them never makes a row up to date)."""
    if not keeps_inputs(store):
        pytest.skip("no latest state with input columns (memory: re-hashes; ClickHouse: none)")
    from metaxy.store import latest_state

    state = latest_state.of(store, store.feature("rel/derived"))
    conn = store.sql_connection()
    conn.execute(sa.update(state).where(state.c.sample_id == "s2")
                 .values(metaxy_in__0_default="not the upstream's"))
    conn.commit()
    assert stale_ids(store) == ["s2"]
    store.keeps_latest_state = False
    try:
        assert stale_ids(store) == []
    finally:
        del store.keeps_latest_state


def test_state_delete_reads_only_the_written_rows(store: Any) -> None:
    """The state upkeep deletes the replaced samples' rows by the write's own rows: its DELETE
    does not evaluate the verifying join with the upstream's state (nor its hashes), which
    only the inserted rows need."""
    if not keeps_inputs(store):
        pytest.skip("no latest state with input columns (memory: re-hashes; ClickHouse: none)")
    from metaxy.store import latest_state

    upstream = latest_state.of(store, store.feature("rel/item")).name
    derived = latest_state.of(store, store.feature("rel/derived")).name
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement)

    engine = store.sql_connection().engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        rows = store.read("rel/derived").filter(pl.col("sample_id") == "s1")
        store.write("rel/derived", rows.select("sample_id", "out", C.PROVENANCE_BY_FIELD,
                                               C.PROVENANCE))
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    deletes = [s for s in seen if s.lstrip().upper().startswith("DELETE") and derived in s]
    assert deletes, seen
    assert not any(upstream in s for s in deletes)
    assert any(upstream in s for s in seen)  # the insert verified the row against it
    assert verified(store) == dict.fromkeys(IDS, True)
    checked(store)
