"""Stateful property: the store is append-only and its latest view is a dict (item 12; B6 17).

Random interleavings of write / soft delete / hard delete / resolve run against a fresh store per
example, next to a plain ``{sample_id: value}`` model. After every step:

* every physical row seen before is still there, unchanged (``read(with_history=True)``), except
  the rows of hard-deleted samples, which are all gone;
* ``read()`` equals the model;
* ``resolve_update`` classifies samples exactly as the model predicts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import polars as pl
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import metaxy as mx
from tests.reliability.faultlib import backend_url, item_features, make_store

POOL = [f"s{i}" for i in range(6)] + ["it's", "a;b"]
ids_st = st.lists(st.sampled_from(POOL), unique=True, min_size=1, max_size=4)
SETTINGS = settings(max_examples=int(os.environ.get("METAXY_HYPOTHESIS_EXAMPLES", "10")),
                    stateful_step_count=10, deadline=None,
                    derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow])


class AppendOnlyMachine(RuleBasedStateMachine):
    backend = "duckdb"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="mx-prop-")
        self.graph = mx.FeatureGraph.isolated()
        self.graph.__enter__()
        self.item, _ = item_features()
        from pathlib import Path

        self.urls = backend_url(self.backend, Path(self.tmp))
        self.store = make_store(next(self.urls))
        self.ctx = self.store.open("w")
        self.ctx.__enter__()
        self.model: dict[str, int] = {}
        self.physical: dict[str, tuple[Any, ...]] = {}

    def teardown(self) -> None:
        self.ctx.__exit__(None, None, None)
        self.urls.close()
        self.graph.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _where(self, ids: list[str]) -> Any:
        return self.item.sample_id.in_(ids)  # type: ignore[attr-defined]

    @rule(ids=ids_st, value=st.integers(0, 2))
    def write(self, ids: list[str], value: int) -> None:
        frame = pl.DataFrame({"sample_id": ids, "value": [value] * len(ids)})
        n = self.store.write(self.item, frame)
        assert n == len(ids)
        self.model.update(dict.fromkeys(ids, value))

    @rule(ids=ids_st)
    def soft_delete(self, ids: list[str]) -> None:
        n = self.store.delete(self.item, self._where(ids))
        assert n == len([i for i in ids if i in self.model])
        for i in ids:
            self.model.pop(i, None)

    @rule(ids=ids_st)
    def hard_delete(self, ids: list[str]) -> None:
        n = self.store.delete(self.item, self._where(ids), soft=False)
        doomed = [k for k, row in self.physical.items() if row[0] in ids]
        assert n == len(doomed)
        for k in doomed:
            del self.physical[k]
        for i in ids:
            self.model.pop(i, None)

    @rule(ids=ids_st, value=st.integers(0, 2))
    def resolve(self, ids: list[str], value: int) -> None:
        samples = pl.DataFrame({"sample_id": ids, "value": [value] * len(ids)})
        inc = self.store.resolve_update(self.item, samples=samples)
        assert set(inc.new["sample_id"]) == {i for i in ids if i not in self.model}
        assert set(inc.stale["sample_id"]) == {i for i in ids
                                              if i in self.model and self.model[i] != value}
        assert set(inc.orphaned["sample_id"]) == set(self.model) - set(ids)

    @invariant()
    def append_only_and_latest_equals_model(self) -> None:
        history = self.store.read(self.item, with_history=True)
        cols = ["sample_id", *[c for c in history.columns if c != "sample_id"]]
        rows = {r[cols.index("metaxy_row_id")]: r for r in history.select(cols).rows()}
        for row_id, row in self.physical.items():
            assert rows.get(row_id) == row, f"row {row_id} changed or vanished"
        self.physical = rows
        latest = self.store.read(self.item)
        assert dict(zip(latest["sample_id"], latest["value"], strict=True)) == self.model
        assert latest["sample_id"].n_unique() == latest.height


def _case(backend: str) -> Any:
    machine: type[RuleBasedStateMachine] = type(f"AppendOnly_{backend}", (AppendOnlyMachine,),
                                                {"backend": backend})
    return SETTINGS(machine).TestCase


TestDuckDB = _case("duckdb")
TestSQLite = _case("sqlite")
TestMemory = _case("memory")

