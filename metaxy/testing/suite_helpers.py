"""Fixtures and helpers shared by the packs of the store conformance suite.

See :mod:`metaxy.testing.suite` for how a backend runs the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.hashing import HashSettings
from metaxy.store.base import Increment, MetadataStore
from metaxy.testing.graphs import SuiteFeatures, define_suite_features
from metaxy.testing.pytest_plugin import make_store as _make_store

MakeStore = Callable[..., MetadataStore]
INPUT_DTYPE = pl.Struct({"a": pl.Utf8, "b": pl.Utf8})


# ---------------------------------------------------------------------------------------- helpers
def root_samples(inputs: Mapping[str, tuple[str | None, str | None]],
                 values: dict[str, int] | None = None,
                 labels: dict[str, str] | None = None) -> pl.DataFrame:
    """``samples=`` for ``conf/root``: sid -> (input of field a, input of field b)."""
    ids = sorted(inputs)
    return pl.DataFrame({
        "sid": ids,
        "value": [(values or {}).get(i, n) for n, i in enumerate(ids)],
        "label": [(labels or {}).get(i, "l") for i in ids],
        C.INPUT_BY_FIELD: [{"a": inputs[i][0], "b": inputs[i][1]} for i in ids],
    }, schema_overrides={C.INPUT_BY_FIELD: INPUT_DTYPE, "value": pl.Int64})


def materialize(store: MetadataStore, feature: Any, *, samples: Any = None,
                children: tuple[int, ...] = (0, 1)) -> Increment:
    """Resolve ``feature`` and write its new and stale samples back (children for 1:N)."""
    inc = store.resolve_update(feature, samples=samples)
    assert isinstance(inc, Increment)
    rows = inc.to_process()
    plan = store.plan(store.feature(feature))
    if plan.expansion and rows.height:
        child = next(c for c in plan.id_columns if c not in plan.key_columns)
        rows = rows.join(pl.DataFrame({child: list(children)}), how="cross")
    if rows.height:
        store.write(feature, rows)
    return inc


def by_id(df: pl.DataFrame, *keys: str) -> dict[Any, dict[str, Any]]:
    """Rows of a frame keyed by their id (a tuple when several id columns are given)."""
    keys = keys or ("sid",)
    out: dict[Any, dict[str, Any]] = {}
    for row in df.to_dicts():
        k = tuple(row[c] for c in keys)
        out[k if len(keys) > 1 else k[0]] = row
    return out


def ids(df: pl.DataFrame, col: str = "sid") -> list[Any]:
    return sorted(df[col].to_list())


def stale_fields(inc: Increment, col: str = "sid") -> dict[Any, list[str]]:
    return {r[col]: sorted(r[C.STALE_FIELDS]) for r in inc.stale.to_dicts()}


def _is_shared(url: str) -> bool:
    """Whether two stores opened on ``url`` see the same data."""
    return ":memory:" not in url and not url.startswith("memory://")


class StoreFixtures:
    """Fixtures of the suite; a backend provides ``store_url`` (or overrides ``make_store``)."""

    settings = HashSettings()

    @pytest.fixture
    def make_store(self, store_url: str, isolated_graph: mx.FeatureGraph) -> MakeStore:
        def make(**options: Any) -> MetadataStore:
            return _make_store(store_url, None, **options)
        return make

    @pytest.fixture
    def store(self, make_store: MakeStore) -> Iterator[MetadataStore]:
        yield make_store()

    @pytest.fixture
    def feats(self, isolated_graph: mx.FeatureGraph) -> SuiteFeatures:
        return define_suite_features()

    @pytest.fixture
    def loaded(self, store: MetadataStore, feats: SuiteFeatures) -> MetadataStore:
        """Three root samples x, y, z and every downstream feature up to date."""
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
            for f in (feats.child, feats.parts, feats.agg, feats.bylabel):
                materialize(store, f)
        return store
