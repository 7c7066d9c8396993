"""Conformance pack: ``cleanup`` drops old history and keeps every sample's latest row.

Part of :class:`metaxy.testing.suite.StoreConformanceTests`; the fixtures come from
:class:`metaxy.testing.suite_helpers.StoreFixtures`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from metaxy import columns as C
from metaxy.errors import StoreModeError
from metaxy.store.base import MetadataStore
from metaxy.testing.graphs import SuiteFeatures
from metaxy.testing.suite_helpers import StoreFixtures, by_id, ids, materialize, root_samples

FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def _history(store: MetadataStore, feature: type) -> list[tuple[str, datetime]]:
    df = store.read(feature, with_history=True).sort(C.UPDATED_AT, C.ROW_ID)
    return list(zip(df["sid"].to_list(), df[C.UPDATED_AT].to_list(), strict=True))


def _three_versions_of_x(store: MetadataStore, feats: SuiteFeatures) -> list[datetime]:
    """x written three times (values 0, 1, 2), y once; returns x's three write times."""
    materialize(store, feats.root, samples=root_samples({"x": ("1", "b"), "y": ("y", "y")}))
    materialize(store, feats.root, samples=root_samples({"x": ("2", "b"), "y": ("y", "y")},
                                                        values={"x": 1}))
    materialize(store, feats.root, samples=root_samples({"x": ("3", "b"), "y": ("y", "y")},
                                                        values={"x": 2}))
    hist = store.read(feats.root, with_history=True).filter(pl.col("sid") == "x")
    return sorted(hist[C.UPDATED_AT].to_list())


class CleanupTests(StoreFixtures):
    def test_cleanup_drops_superseded_rows_only(self, store: MetadataStore,
                                                feats: SuiteFeatures) -> None:
        with store.open("w"):
            _three_versions_of_x(store, feats)
            before = by_id(store.read(feats.root))
            assert store.cleanup(feats.root, FUTURE) == 2  # x's first two versions
            after = by_id(store.read(feats.root))
            history = _history(store, feats.root)
            assert store.cleanup(feats.root, FUTURE) == 0  # nothing left to drop
        assert after == before  # the latest rows are untouched, bit for bit
        assert sorted(s for s, _ in history) == ["x", "y"]
        assert after["x"]["value"] == 2

    def test_cleanup_keeps_rows_written_since_the_bound(self, store: MetadataStore,
                                                        feats: SuiteFeatures) -> None:
        with store.open("w"):
            _t1, t2, t3 = _three_versions_of_x(store, feats)
            assert store.cleanup(feats.root, t2) == 1  # strictly older than t2: x's first row
            kept = [t for s, t in _history(store, feats.root) if s == "x"]
        assert kept == [t2, t3]

    def test_cleanup_with_an_age(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            _three_versions_of_x(store, feats)
            assert store.cleanup(feats.root, timedelta(days=1)) == 0  # all written just now
            assert len(_history(store, feats.root)) == 4
            naive_future = FUTURE.replace(tzinfo=None)  # a naive datetime is UTC
            assert store.cleanup(feats.root, naive_future) == 2

    def test_cleanup_keeps_tombstones(self, loaded: MetadataStore,
                                      feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            store.delete(feats.root, feats.root.sid == "y")  # type: ignore[attr-defined]
            status_before = store.status(feats.child)
            inc_before = store.resolve_update(feats.child)
            assert store.cleanup(feats.root, FUTURE) == 1  # y's live row; its tombstone stays
            assert ids(store.read(feats.root)) == ["x", "z"]
            shown = by_id(store.read(feats.root, include_deleted=True))
            status_after = store.status(feats.child)
            inc_after = store.resolve_update(feats.child)
            history = _history(store, feats.root)
        assert shown["y"][C.DELETED_AT] is not None
        assert sorted(s for s, _ in history) == ["x", "y", "z"]
        assert status_after == status_before
        assert ids(inc_after.orphaned) == ids(inc_before.orphaned) == ["y"]

    def test_cleanup_keeps_increments(self, loaded: MetadataStore,
                                      feats: SuiteFeatures) -> None:
        """Dropping superseded upstream rows changes no increment downstream."""
        store = loaded
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax2", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
            before = {f: store.status(f) for f in (feats.child, feats.parts, feats.bylabel)}
            stale_before = ids(store.resolve_update(feats.child).stale)
            assert store.cleanup(feats.root, FUTURE) == 1
            after = {f: store.status(f) for f in (feats.child, feats.parts, feats.bylabel)}
            stale_after = ids(store.resolve_update(feats.child).stale)
        assert after == before
        assert stale_after == stale_before == ["x"]

    def test_dry_run_counts_and_keeps(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            _three_versions_of_x(store, feats)
        with store.open("r"):
            assert store.cleanup(feats.root, FUTURE, dry_run=True) == 2
            assert len(_history(store, feats.root)) == 4
            with pytest.raises(StoreModeError):
                store.cleanup(feats.root, FUTURE)

    def test_cleanup_of_a_feature_never_written(self, store: MetadataStore,
                                                feats: SuiteFeatures) -> None:
        with store.open("w"):
            assert store.cleanup(feats.agg, FUTURE) == 0
            assert not store.has_feature(feats.agg)
