"""The latest state through migrations and upgrades (issue 14).

After a revision with schema operations (add_column of the renamed field's columns),
rename_field and reconcile, every feature's state equals its history's latest rows and reads and
status through the state equal those through the window. A store whose writes did not keep the
state (an earlier metaxy) is read by the window when opened read-only and gets its state built,
once, by a writable open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.engine.protocol import to_storage
from metaxy.store.latest_state import STATE_VERSIONS_TABLE, columns_of
from tests.reliability.faultlib import define
from tests.reliability.inputs_check import assert_inputs_hold, history_columns

from .conftest import populate, setup_migration
from .test_renames import _uncomment, rename_text

FEATURES = ("media/video", "speech/transcript", "speech/keywords")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """DuckDB only (CI time): PostgreSQL's upkeep of the state, rebuild on a writable open
    included, is in tests/reliability/test_latest_state_property.py."""
    return f"duckdb:///{tmp_path / 'store.duckdb'}"


def _us(at: Any) -> Any:
    if isinstance(at, datetime):
        return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1_000_000)
    return at


def _set(frame: pl.DataFrame) -> set[tuple[Any, ...]]:
    return {tuple(_us(v) for v in row) for row in frame.rows()}


def assert_state_consistent(store: Any, key: str) -> None:
    feature = store.feature(key)
    ids = list(feature.spec().id_columns)
    state = store._latest_state_rows(feature)
    assert state is not None, f"{key}: no ready state"
    history = store.read(key, with_history=True)
    latest = to_storage(feature, history.sort([C.UPDATED_AT, C.ROW_ID]).group_by(ids).last())
    latest = latest.select(*columns_of(feature))
    assert_inputs_hold(store, feature, state)
    state = history_columns(feature, state)
    assert state.columns == latest.columns, key
    assert _set(state) == _set(latest), key
    by_state = _observe(store, key)
    store.keeps_latest_state = False
    try:
        assert _observe(store, key) == by_state, key
    finally:
        del store.keeps_latest_state


def _observe(store: Any, key: str) -> Any:
    rows = store.read(key).sort(list(store.feature(key).spec().id_columns)).rows()
    if not store.feature(key).spec().deps:  # a root's status needs samples=
        return rows
    return rows, store.status(key)


def test_state_follows_a_rename_field_revision(store_url: str,
                                                   code_graph: mx.FeatureGraph,
                                                   tmp_path: Path) -> None:
    if not getattr(mx.get_store(store_url), "keeps_latest_state", False):
        pytest.skip("the backend keeps no latest state (ClickHouse: no transactions)")
    _store, _new, new_store, m = setup_migration(store_url, code_graph, tmp_path, rename_text)
    path = m.revision("rename field text", autogenerate=True)
    _uncomment(path, "op.rename_field('speech/transcript', 'text', 'transcript')")
    m.upgrade("head")
    with new_store.open("w"):
        for key in FEATURES:
            assert_state_consistent(new_store, key)


def _recorded(store: Any) -> dict[str, int]:
    t = STATE_VERSIONS_TABLE
    conn = store.sql_connection()
    rows = dict(conn.execute(sa.select(t.c.table_name, t.c.clock_us)).all())
    conn.commit()
    return rows


def test_store_written_without_state_is_upgraded_on_writable_open(
        store_url: str, code_graph: mx.FeatureGraph) -> None:
    if not getattr(mx.get_store(store_url), "keeps_latest_state", False):
        pytest.skip("the backend keeps no latest state (ClickHouse: no transactions)")
    store = mx.get_store(store_url, graph=code_graph)
    store.keeps_latest_state = False  # writes as an earlier metaxy did: no state kept
    populate(store, code_graph)
    del store.keeps_latest_state
    with store.open("r"):  # read-only: the window, and the same answers
        assert all(store._latest_state_rows(store.feature(k)) is None for k in FEATURES)
        observed = {k: _observe(store, k) for k in FEATURES}
    with store.open("w"):  # the writable open builds every state
        built = _recorded(store)
        for key in FEATURES:
            assert_state_consistent(store, key)
            assert _observe(store, key) == observed[key]
    with store.open("w"):  # idempotent: ready states are not built again
        assert _recorded(store) == built


def _two_fields(second: str) -> tuple[type[mx.Feature], type[mx.Feature]]:
    """``drift/root`` (fields ``a`` and ``second``) and ``drift/leaf`` (1:1, field ``out``
    on both)."""
    root = define("drift/root", fields=["a", second],
                  columns={"sample_id": str, "value": int | None}, name="DriftRoot")
    leaf = define("drift/leaf", fields=["out"], columns={"sample_id": str},
                  deps=[mx.FeatureDep(feature=root)], name="DriftLeaf")
    return root, leaf


def test_state_of_another_column_set_is_not_used(store_url: str) -> None:
    """A schema operation outside the store (here: the field ``b`` of the root renamed to
    ``c`` by ALTER TABLE, as an Alembic column op would, without moving the write clock)
    leaves a state whose columns are the old field's: a read-only open does not use it (reads
    and status by the window, the same answers as after the rebuild), and the next writable
    open rebuilds it with the feature's columns."""
    with mx.FeatureGraph.isolated():
        root, leaf = _two_fields("b")
        store = mx.get_store(store_url)
        with store.open("w"):
            store.write(root, pl.DataFrame({"sample_id": ["x", "y"], "value": [1, 2]}))
            store.write(leaf, store.resolve_update(leaf).new)
            assert store._latest_state_rows(root) is not None
            conn = store.sql_connection()
            q = conn.dialect.identifier_preparer.quote  # DDL takes no bound parameters
            for old, new in (("metaxy_pv__b", "metaxy_pv__c"), ("metaxy_dv__b", "metaxy_dv__c")):
                conn.execute(sa.text(f"ALTER TABLE {q('drift__root')} RENAME COLUMN {q(old)} "
                                     f"TO {q(new)}"))
            conn.commit()
    with mx.FeatureGraph.isolated():
        root, leaf = _two_fields("c")
        store = mx.get_store(store_url)
        with store.open("r"):
            assert store._latest_state_rows(root) is None  # another column set: the window
            read_only = (store.read(root).sort("sample_id").rows(), store.status(leaf))
        assert read_only[1].stale == 2  # the leaf was computed from field b, now c
        with store.open("w"):
            state = store._latest_state_rows(root)
            assert state is not None and tuple(state.columns) == columns_of(root)
            assert (store.read(root).sort("sample_id").rows(), store.status(leaf)) == read_only
            assert_state_consistent(store, "drift/root")
