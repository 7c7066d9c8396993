"""Stateful property: the latest state equals the history's latest rows (issue 14).

Random sequences of write / append / soft delete / hard delete / cleanup / reopen, and writes
that do not keep the state (what a store written by an earlier metaxy looks like), on a root
feature and a 1:1 downstream, against a fresh store per example. After every step:

* the latest state (when ready) equals the latest row per sample recomputed from
  ``read(with_history=True)``: ids, row ids, times, tombstones, per-field data versions and
  provenances;
* a state that a write did not keep is not used (reads fall back to the window) and is built
  again by the next write or writable open;
* ``read()``, ``status`` and ``resolve_update`` through the state equal the same calls through
  the window over history (the store's ``keeps_latest_state`` switched off for the comparison),
  hashes included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import metaxy as mx
from metaxy import columns as C
from metaxy.engine.protocol import to_storage
from metaxy.store.latest_state import columns_of
from tests.reliability.faultlib import backend_url, item_features, make_store
from tests.reliability.inputs_check import assert_inputs_hold, history_columns

POOL = [f"s{i}" for i in range(5)] + ["it's"]
ids_st = st.lists(st.sampled_from(POOL), unique=True, min_size=1, max_size=4)
SETTINGS = settings(max_examples=int(os.environ.get("METAXY_HYPOTHESIS_EXAMPLES", "3")),
                    stateful_step_count=6, deadline=None,
                    derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow])


def recomputed(feature: type[mx.Feature], history: pl.DataFrame) -> pl.DataFrame:
    """The latest row per sample by (updated_at, row_id), tombstones included, with the state's
    columns (ids, row id, times, per-field data versions and provenances)."""
    ids = list(feature.spec().id_columns)
    latest = (history.sort([C.UPDATED_AT, C.ROW_ID]).group_by(ids, maintain_order=True).last())
    return to_storage(feature, latest).select(*columns_of(feature))


def _rows(frame: pl.DataFrame) -> set[tuple[Any, ...]]:
    """Rows as comparable tuples (timestamps as UTC microseconds: SQLite returns naive ones)."""
    out = set()
    for row in frame.rows():
        out.add(tuple(_us(v) if isinstance(v, datetime) else v for v in row))
    return out


def _us(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1_000_000)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("sample_id")


class LatestStateMachine(RuleBasedStateMachine):
    backend = "duckdb"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="mx-state-")
        self.graph = mx.FeatureGraph.isolated()
        self.graph.__enter__()
        self.item, self.derived = item_features()
        self.urls = backend_url(self.backend, Path(self.tmp))
        self.store = make_store(next(self.urls))
        self.ctx = self.store.open("w")
        self.ctx.__enter__()
        self.written: set[str] = set()  # features with a table
        self.unkept: set[str] = set()  # features last written without keeping the state

    def teardown(self) -> None:
        self.ctx.__exit__(None, None, None)
        self.urls.close()
        self.graph.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _feature(self, downstream: bool) -> type[mx.Feature]:
        return self.derived if downstream else self.item

    def _wrote(self, feature: type[mx.Feature], kept: bool = True) -> None:
        key = str(feature.spec().key)
        self.written.add(key)
        (self.unkept.discard if kept else self.unkept.add)(key)

    @rule(ids=ids_st, value=st.integers(0, 2), keep=st.booleans())
    def write(self, ids: list[str], value: int, keep: bool) -> None:
        """A root write; without ``keep``, as a store that does not keep the state would."""
        frame = pl.DataFrame({"sample_id": ids, "value": [value] * len(ids)})
        self.store.keeps_latest_state = keep
        try:
            self.store.write(self.item, frame)
        finally:
            del self.store.keeps_latest_state
        self._wrote(self.item, keep)

    @rule()
    def append_derived(self) -> None:
        inc = self.store.resolve_update(self.derived)
        rows = pl.concat([inc.new, inc.stale.select(inc.new.columns)], how="vertical_relaxed")
        if rows.height:
            rows = rows.with_columns(out=pl.col("sample_id") + "!")
            self.store.write(self.derived, rows)
            self._wrote(self.derived)

    @rule(ids=ids_st, downstream=st.booleans())
    def soft_delete(self, ids: list[str], downstream: bool) -> None:
        feature = self._feature(downstream)
        if self.store.delete(feature, feature.sample_id.in_(ids)):  # type: ignore[attr-defined]
            self._wrote(feature)

    @rule(ids=ids_st, downstream=st.booleans())
    def hard_delete(self, ids: list[str], downstream: bool) -> None:
        feature = self._feature(downstream)
        self.store.delete(feature, feature.sample_id.in_(ids), soft=False)  # type: ignore[attr-defined]

    @rule(downstream=st.booleans())
    def cleanup(self, downstream: bool) -> None:
        self.store.cleanup(self._feature(downstream), datetime.now(UTC))

    @rule()
    def reopen(self) -> None:
        """Close and open for writing again: states a write did not keep are built."""
        self.ctx.__exit__(None, None, None)
        self.ctx = self.store.open("w")
        self.ctx.__enter__()
        self.unkept.clear()

    @invariant()
    def state_equals_history(self) -> None:
        for feature in (self.item, self.derived):
            key = str(feature.spec().key)
            state = self.store._latest_state_rows(feature)
            if key not in self.written:
                continue
            if key in self.unkept:
                assert state is None, f"{key}: a state not kept by the last write is in use"
                continue
            assert state is not None, f"{key}: no ready state after a write that kept it"
            history = self.store.read(feature, with_history=True)
            expected = recomputed(feature, history)
            assert_inputs_hold(self.store, feature, state)
            state = history_columns(feature, state)
            assert state.columns == expected.columns, key
            assert _rows(state) == _rows(expected), key

    @invariant()
    def reads_through_state_equal_window(self) -> None:
        through_state = self._observe()
        self.store.keeps_latest_state = False
        try:
            by_window = self._observe()
        finally:
            del self.store.keeps_latest_state
        assert through_state == by_window

    def _observe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for feature in (self.item, self.derived):
            key = str(feature.spec().key)
            out[f"read {key}"] = _sorted(self.store.read(feature)).rows()
            out[f"deleted {key}"] = _sorted(
                self.store.read(feature, include_deleted=True)).rows()
        out["status"] = self.store.status(self.derived)
        inc = self.store.resolve_update(self.derived)
        for part in ("new", "stale", "orphaned"):
            out[part] = _sorted(getattr(inc, part)).rows()
        return out


def _case(backend: str) -> Any:
    machine: type[RuleBasedStateMachine] = type(f"LatestState_{backend}", (LatestStateMachine,),
                                                {"backend": backend})
    return SETTINGS(machine).TestCase


TestDuckDB = _case("duckdb")
TestSQLite = _case("sqlite")
TestMemory = _case("memory")
TestPostgres = pytest.mark.postgres(_case("postgresql"))


@pytest.mark.parametrize("backend", ["duckdb", "memory"])
def test_rows_with_their_own_times_keep_the_state_equal(backend: str, tmp_path: Path) -> None:
    """``append_storage_rows`` of rows carrying times of their own (copied history: the first
    one ahead of the store's clock, so nothing is restamped; the second newer than its
    sample's stored row but not stamped with the write's time; the third older than its
    sample's stored row): the state still names each sample's latest row."""
    from datetime import timedelta

    from metaxy.store.frames import prepare_write
    from metaxy.versions import versions_of

    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        urls = backend_url(backend, tmp_path)
        store = make_store(next(urls))
        with store.open("w"):
            store.write(item, pl.DataFrame({"sample_id": ["a", "b", "c"], "value": [1, 2, 3]}))
            versions = versions_of(store.graph)
            api = store.resolve_update(item, samples=pl.DataFrame(
                {"sample_id": ["a", "b", "c"], "value": [7, 8, 9]})).stale
            now = datetime.now(UTC)
            rows = prepare_write(item, api.drop(c for c in api.columns if c.startswith(
                                     "metaxy_stored_") or c == "metaxy_stale_fields"),
                                 is_root=True, settings=store.hash_settings,
                                 feature_version=versions.feature_version(item),
                                 project_version=versions.project_version(store.project),
                                 now=now).sort("sample_id")
            times = [now + timedelta(hours=1), now, now - timedelta(days=3650)]
            rows = rows.with_columns(pl.Series(C.UPDATED_AT, times,
                                               dtype=rows.schema[C.UPDATED_AT]))
            assert store.append_storage_rows(item, rows) == 3
            state = store._latest_state_rows(item)
            assert state is not None
            expected = recomputed(item, store.read(item, with_history=True))
            assert state.columns == expected.columns
            assert _rows(state) == _rows(expected)
            got = store.read(item).sort("sample_id")
            assert got["value"].to_list() == [7, 8, 3]  # c's copied row is older than its own
        urls.close()
