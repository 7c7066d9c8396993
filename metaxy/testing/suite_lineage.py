"""Conformance packs: provenance lineage (1:1, 1:N, N:1, optional deps), hash settings.

Part of :class:`metaxy.testing.suite.StoreConformanceTests`; the fixtures come from
:class:`metaxy.testing.suite_helpers.StoreFixtures`.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from metaxy import columns as C
from metaxy.errors import (
    HashConfigMismatchError,
)
from metaxy.hashing import HashSettings
from metaxy.store.base import MetadataStore
from metaxy.testing import reference as R
from metaxy.testing.graphs import SuiteFeatures
from metaxy.testing.suite_helpers import (
    INPUT_DTYPE,
    MakeStore,
    StoreFixtures,
    _is_shared,
    by_id,
    ids,
    materialize,
    root_samples,
    stale_fields,
)


# -------------------------------------------------------------------------------------- lineage
class LineageTests(StoreFixtures):
    def _dv(self, store: MetadataStore, feature: Any) -> dict[Any, dict[str, str]]:
        return {k: r[C.DATA_VERSION_BY_FIELD] for k, r in by_id(store.read(feature)).items()}

    def test_identity_provenance_and_missing_optional(self, loaded: MetadataStore,
                                                      feats: SuiteFeatures) -> None:
        store = loaded
        with store:
            root = self._dv(store, feats.root)
            child = by_id(store.read(feats.child))
        s = self.settings
        for sid in ("x", "y", "z"):
            want = {
                "a": R.field_provenance(s, "conf/child", "a", "1", [
                    ("conf/root", "a", root[sid]["a"]), ("conf/side", "a", None)]),
                "y": R.field_provenance(s, "conf/child", "y", "1", [
                    ("conf/root", "b", root[sid]["b"])]),
            }
            assert child[sid][C.PROVENANCE_BY_FIELD] == want
            assert child[sid][C.PROVENANCE] == R.total(s, want)
            assert child[sid]["value"] == {"x": 0, "y": 1, "z": 2}[sid]  # carried column

    def test_optional_upstream_appearing_makes_stale(self, loaded: MetadataStore,
                                                     feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            store.write(feats.side, pl.DataFrame({
                "sid": ["y", "q"], C.INPUT_BY_FIELD: [{"a": "sy"}, {"a": "sq"}]}))
            inc = store.resolve_update(feats.child)
            side = self._dv(store, feats.side)
            root = self._dv(store, feats.root)
        assert stale_fields(inc) == {"y": ["a"]}
        assert inc.new.height == 0  # q has no (required) root row
        assert by_id(inc.stale)["y"][C.PROVENANCE_BY_FIELD]["a"] == R.field_provenance(
            self.settings, "conf/child", "a", "1",
            [("conf/root", "a", root["y"]["a"]), ("conf/side", "a", side["y"]["a"])])

    def test_field_level_staleness_travels_through_data(self, loaded: MetadataStore,
                                                        feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax", "bx2"), "y": ("ay2", "by"), "z": ("az", "bz")}))
            child = store.resolve_update(feats.child)
            parts = store.resolve_update(feats.parts)
            agg = store.resolve_update(feats.agg)
        assert stale_fields(child) == {"x": ["y"], "y": ["a"]}
        assert stale_fields(parts) == {"y": ["a"]}
        assert agg.counts == {"new": 0, "stale": 0, "orphaned": 0}  # parts not rewritten yet

    def test_early_cutoff(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        """A rewritten upstream that keeps its data version makes nothing downstream stale."""
        store = loaded
        with store.open("w"):
            old = self._dv(store, feats.root)
            inc = store.resolve_update(feats.root, samples=root_samples(
                {"x": ("ax2", "bx2"), "y": ("ay", "by"), "z": ("az", "bz")}))
            assert ids(inc.stale) == ["x"]
            rows = inc.stale.with_columns(pl.lit(pl.Series(
                C.DATA_VERSION_BY_FIELD, [old["x"]], dtype=INPUT_DTYPE)))
            store.write(feats.root, rows)
            row = by_id(store.read(feats.root))["x"]
            assert row[C.DATA_VERSION_BY_FIELD] == old["x"]
            assert row[C.PROVENANCE_BY_FIELD] != old["x"]
            assert row[C.DATA_VERSION] == R.total(self.settings, old["x"])
            for f in (feats.child, feats.parts, feats.agg, feats.bylabel):
                assert not store.status(f).needs_work, f.spec().key
            # the root itself is up to date with its new provenance
            assert store.resolve_update(feats.root, samples=root_samples(
                {"x": ("ax2", "bx2"), "y": ("ay", "by"), "z": ("az", "bz")})).counts["stale"] == 0

    def test_expansion_one_row_per_parent(self, loaded: MetadataStore,
                                          feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            rows = store.read(feats.parts)
            assert rows.height == 6
            per_parent = rows.group_by("sid").agg(pl.col(C.PROVENANCE).n_unique())
            assert per_parent[C.PROVENANCE].to_list() == [1, 1, 1]  # children share provenance
            root = self._dv(store, feats.root)
            x = by_id(rows, "sid", "part")[("x", 1)]
            assert x[C.PROVENANCE_BY_FIELD]["a"] == R.field_provenance(
                self.settings, "conf/parts", "a", "1", [("conf/root", "a", root["x"]["a"])])
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax2", "bx"), "y": ("ay", "by"), "w": ("aw", "bw")}))
            store.delete(feats.root, feats.root.sid == "z")  # type: ignore[attr-defined]
            inc = store.resolve_update(feats.parts)
            st = store.status(feats.parts)
        assert ids(inc.new) == ["w"] and ids(inc.stale) == ["x"] and ids(inc.orphaned) == ["z"]
        assert "part" not in inc.new.columns and "part" not in inc.stale.columns
        assert stale_fields(inc) == {"x": ["a"]}
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (1, 1, 1, 1)

    def test_expansion_partial_rewrite_stays_stale(self, loaded: MetadataStore,
                                                   feats: SuiteFeatures) -> None:
        """A parent is stale until all its children carry the new provenance."""
        store = loaded
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {"x": ("ax2", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
            inc = store.resolve_update(feats.parts)
            store.write(feats.parts, inc.stale.with_columns(part=pl.lit(0, pl.Int64)))
            assert ids(store.resolve_update(feats.parts).stale) == ["x"]
            store.write(feats.parts, inc.stale.with_columns(part=pl.lit(1, pl.Int64)))
            assert not store.status(feats.parts).needs_work

    def test_aggregation(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        s = self.settings
        with store.open("w"):
            parts = store.read(feats.parts).sort("sid", "part")
            agg = by_id(store.read(feats.agg))
            members = [r[C.DATA_VERSION_BY_FIELD]["a"] for r in parts.to_dicts()
                       if r["sid"] == "y"]
            value = R.aggregate(s, members)
            assert agg["y"][C.PROVENANCE_BY_FIELD]["total"] == R.field_provenance(
                s, "conf/agg", "total", "1", [("conf/parts", "a", value)])
            # add a member (numeric order: 0, 1, 10 -- not the string order "0" < "1" < "10")
            extra = parts.filter(pl.col("sid") == "y").head(1).with_columns(
                part=pl.lit(10, pl.Int64))
            store.write(feats.parts, extra)
            inc = store.resolve_update(feats.agg)
            assert stale_fields(inc) == {"y": ["total"]}
            want = R.aggregate(s, [*members, members[0]])
            assert by_id(inc.stale)["y"][C.PROVENANCE_BY_FIELD]["total"] == R.field_provenance(
                s, "conf/agg", "total", "1", [("conf/parts", "a", want)])
            # remove a member of another group
            store.delete(feats.parts, (feats.parts.sid == "z") & (feats.parts.part == 1))  # type: ignore[attr-defined]
            assert ids(store.resolve_update(feats.agg).stale) == ["y", "z"]
            # remove a whole group: orphaned
            store.delete(feats.parts, feats.parts.sid == "x")  # type: ignore[attr-defined]
            assert ids(store.resolve_update(feats.agg).orphaned) == ["x"]

    def test_aggregation_orders_string_ids_by_bytes(self, store: MetadataStore,
                                                   feats: SuiteFeatures) -> None:
        sids = ["b", "B", "a", "é", "Z", "a b", "aB"]
        s = self.settings
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {sid: (f"in-{sid}", "b") for sid in sids}, labels={sid: "g" for sid in sids}))
            inc = store.resolve_update(feats.bylabel)
            root = self._dv(store, feats.root)
        ordered = sorted(sids, key=lambda v: v.encode("utf-8"))
        assert ordered == ["B", "Z", "a", "a b", "aB", "b", "é"]
        value = R.aggregate(s, [root[sid]["a"] for sid in ordered])
        assert by_id(inc.new, "label")["g"][C.PROVENANCE_BY_FIELD]["a"] == R.field_provenance(
            s, "conf/bylabel", "a", "1", [("conf/root", "a", value)])


# ------------------------------------------------------------------------------- hash settings
class HashSettingsTests(StoreFixtures):
    def test_truncated_hashes(self, make_store: MakeStore, feats: SuiteFeatures) -> None:
        settings = HashSettings("md5", 16)
        store = make_store(hash_length=16)
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx")}))
            materialize(store, feats.child)
            root = by_id(store.read(feats.root))["x"]
            child = by_id(store.read(feats.child))["x"]
        assert root[C.PROVENANCE_BY_FIELD]["a"] == R.root_provenance(
            settings, "conf/root", "a", "1", "ax")
        assert len(root[C.PROVENANCE]) == 16
        assert child[C.PROVENANCE_BY_FIELD]["y"] == R.field_provenance(
            settings, "conf/child", "y", "1", [("conf/root", "b",
                                                root[C.DATA_VERSION_BY_FIELD]["b"])])

    def test_mismatched_reader_refuses(self, make_store: MakeStore, store_url: str,
                                       feats: SuiteFeatures) -> None:
        store = make_store()
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx")}))
        if _is_shared(store_url):
            other = make_store(hash_length=16)
        else:  # the data lives in this store object only: reconfigure it
            other = store
            other.hash_settings = HashSettings("md5", 16)
        with pytest.raises(HashConfigMismatchError) as info:
            with other:
                other.resolve_update(feats.root, samples=root_samples({"x": ("ax", "bx")}))
        assert "md5:32" in str(info.value) and "md5:16" in str(info.value)
