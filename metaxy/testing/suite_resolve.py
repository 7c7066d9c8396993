"""Conformance packs: resolve_update / status, filters (lazy increments: suite_lazy).

Part of :class:`metaxy.testing.suite.StoreConformanceTests`; the fixtures come from
:class:`metaxy.testing.suite_helpers.StoreFixtures`.
"""

from __future__ import annotations

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import (
    FilterError,
    InvalidFrameError,
)
from metaxy.store.base import MetadataStore
from metaxy.testing import reference as R
from metaxy.testing.graphs import SuiteFeatures, bump, clone_graph
from metaxy.testing.suite_helpers import (
    StoreFixtures,
    by_id,
    ids,
    materialize,
    root_samples,
    stale_fields,
)


# ----------------------------------------------------------------------- resolve_update / status
class ResolveTests(StoreFixtures):
    def test_root_new_then_up_to_date(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        s = root_samples({"x": ("ax", "bx"), "y": (None, "by")})
        with store.open("w"):
            st = store.status(feats.root, samples=s)
            assert (st.new, st.stale, st.orphaned, st.up_to_date) == (2, 0, 0, 0)
            inc = materialize(store, feats.root, samples=s)
            st = store.status(feats.root, samples=s)
            again = store.resolve_update(feats.root, samples=s)
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (0, 0, 0, 2)
        assert not st.needs_work
        assert again.counts == {"new": 0, "stale": 0, "orphaned": 0}
        new = by_id(inc.new)
        for sid, (a, b) in {"x": ("ax", "bx"), "y": (None, "by")}.items():
            want = {"a": R.root_provenance(self.settings, "conf/root", "a", "1", a),
                    "b": R.root_provenance(self.settings, "conf/root", "b", "1", b)}
            assert new[sid][C.PROVENANCE_BY_FIELD] == want
            assert new[sid][C.PROVENANCE] == R.total(self.settings, want)
            assert new[sid]["value"] == (0 if sid == "x" else 1)  # user columns carried

    def test_input_change_makes_that_field_stale(self, loaded: MetadataStore,
                                                 feats: SuiteFeatures) -> None:
        store = loaded
        s = root_samples({"x": ("ax", "bx2"), "y": ("ay2", "by"), "z": ("az", "bz")})
        with store:
            inc = store.resolve_update(feats.root, samples=s)
            st = store.status(feats.root, samples=s)
        assert inc.new.height == 0 and inc.orphaned.height == 0
        assert stale_fields(inc) == {"x": ["b"], "y": ["a"]}
        row = by_id(inc.stale)["x"]
        assert row[C.PROVENANCE_BY_FIELD]["b"] == R.root_provenance(
            self.settings, "conf/root", "b", "1", "bx2")
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (0, 2, 0, 1)

    def test_orphaned_root(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        with loaded:
            inc = loaded.resolve_update(feats.root, samples=root_samples(
                {"x": ("ax", "bx"), "w": ("aw", "bw")}))
        assert ids(inc.new) == ["w"]
        assert ids(inc.orphaned) == ["y", "z"]
        orphan = by_id(inc.orphaned)["y"]
        assert orphan["value"] == 1  # stored values travel with orphaned rows
        assert orphan[C.PROVENANCE_BY_FIELD]["a"] == R.root_provenance(
            self.settings, "conf/root", "a", "1", "ay")

    def test_code_version_bump_is_stale_not_new(self, loaded: MetadataStore,
                                                feats: SuiteFeatures,
                                                isolated_graph: mx.FeatureGraph) -> None:
        store = loaded
        s = root_samples({"x": ("ax", "bx"), "y": ("ay", "by"), "z": ("az", "bz")})
        bumped = clone_graph(isolated_graph, lambda spec: bump(spec, "conf/root", "b", "2"))
        with bumped.use(), store.open("w"):
            inc = store.resolve_update("conf/root", samples=s)
            assert inc.new.height == 0 and inc.orphaned.height == 0
            assert stale_fields(inc) == {"x": ["b"], "y": ["b"], "z": ["b"]}
            # downstream stays up to date until the upstream rows are rewritten
            assert not store.status("conf/child").needs_work
            store.write("conf/root", inc.stale)
            child = store.resolve_update("conf/child")
            assert stale_fields(child) == {"x": ["y"], "y": ["y"], "z": ["y"]}
            assert not store.status("conf/parts").needs_work  # parts depend on field a only

    def test_status_matches_increment(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        s = root_samples({"x": ("ax", "bx"), "y": ("ay2", "by"), "w": ("aw", "bw")})
        with store:
            inc = store.resolve_update(feats.root, samples=s)
            st = store.status(feats.root, samples=s)
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (1, 1, 1, 1)
        assert inc.counts == {"new": 1, "stale": 1, "orphaned": 1}
        assert inc.to_process()["sid"].sort().to_list() == ["w", "y"]

    def test_samples_rules(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        with loaded:
            with pytest.raises(InvalidFrameError):
                loaded.resolve_update(feats.root)  # a root needs samples=
            with pytest.raises(InvalidFrameError):
                loaded.resolve_update(feats.child, samples=root_samples({"x": ("a", "b")}))
            with pytest.raises(InvalidFrameError) as info:
                loaded.resolve_update(feats.root, samples=pl.DataFrame(
                    {"sid": ["x", "x"], C.INPUT_BY_FIELD: [{"a": "1", "b": "2"}] * 2}))
            assert info.value.row == 0

    def test_resolve_does_not_write(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        with loaded.open("w"):
            before = loaded.read(feats.child, with_history=True).height
            loaded.resolve_update(feats.root, samples=root_samples({"q": ("1", "2")}))
            inc = loaded.resolve_update(feats.child)
            assert inc.counts == {"new": 0, "stale": 0, "orphaned": 0}
            assert loaded.read(feats.child, with_history=True).height == before
            assert "q" not in loaded.read(feats.root)["sid"].to_list()

    def test_unwritten_downstream_is_all_new(self, store: MetadataStore,
                                             feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2")}))
            inc = store.resolve_update(feats.agg)  # parts never written: no group yet
            assert inc.counts == {"new": 0, "stale": 0, "orphaned": 0}
            inc = store.resolve_update(feats.child)
        assert ids(inc.new) == ["x"]


# -------------------------------------------------------------------------------------- filters
class FilterTests(StoreFixtures):
    def test_resolve_where(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax2", "bx"), "y": ("ay2", "by"), "z": ("az", "bz")}))
            where = feats.child.sid.in_(["y", "z"])  # type: ignore[attr-defined]
            inc = store.resolve_update(feats.child, where=where)
            st = store.status(feats.child, where=where)
            by_value = store.resolve_update(feats.child, where=feats.child.value <= 0)  # type: ignore[attr-defined]
            listed = store.resolve_update(feats.child, where=[  # a list: all of them
                feats.child.sid.in_(["x", "y"]), feats.child.value <= 0])  # type: ignore[attr-defined]
        assert ids(listed.stale) == ["x"]
        assert ids(inc.stale) == ["y"]
        assert (st.stale, st.up_to_date) == (1, 1)
        assert ids(by_value.stale) == ["x"]

    def test_dep_filters(self, isolated_graph: mx.FeatureGraph, store: MetadataStore,
                         feats: SuiteFeatures) -> None:
        from metaxy.testing.graphs import define_feature

        big = define_feature("Big", mx.FeatureSpec(
            key="conf/big", id_columns=["sid"],
            deps=[mx.FeatureDep(feature=feats.root, columns=("value",),
                                filters=[feats.root.value >= 1])],  # type: ignore[attr-defined]
        ), {"sid": str, "value": int | None}, {"value": None})
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("1", "1"), "y": ("2", "2"), "z": ("3", "3")}))
            inc = store.resolve_update(big)
        assert ids(inc.new) == ["y", "z"]

    def test_bad_filters(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        import sqlalchemy as sa

        with loaded:
            with pytest.raises(FilterError):
                loaded.read(feats.root, where="value > 1")
            with pytest.raises(FilterError):
                loaded.read(feats.root, where=sa.text("1 = 1"))
            with pytest.raises(FilterError):
                loaded.resolve_update(feats.child,
                                      where=sa.column("nope") == 1)

    def test_delete_where(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        with loaded.open("w"):
            n = loaded.delete(feats.root, feats.root.value > 0)  # type: ignore[attr-defined]
            assert n == 2
            inc = loaded.resolve_update(feats.child)
        assert ids(inc.orphaned) == ["y", "z"]
