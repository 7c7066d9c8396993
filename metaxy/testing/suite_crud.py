"""Conformance packs: writes and reads (append-only), soft and hard deletes, write
validation.

Part of :class:`metaxy.testing.suite.StoreConformanceTests`; the fixtures come from
:class:`metaxy.testing.suite_helpers.StoreFixtures`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import (
    InvalidFrameError,
    StoreModeError,
)
from metaxy.store.base import MetadataStore
from metaxy.testing.graphs import SuiteFeatures
from metaxy.testing.suite_helpers import (
    StoreFixtures,
    by_id,
    ids,
    materialize,
    root_samples,
    stale_fields,
)


# ---------------------------------------------------------------------------- CRUD / append-only
class CrudTests(StoreFixtures):
    def test_write_then_read(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            assert not store.has_feature(feats.root)
            assert store.read(feats.root).height == 0
            inc = store.resolve_update(feats.root, samples=root_samples({"x": ("1", "2")}))
            assert store.write(feats.root, inc.new) == 1
            assert store.has_feature(feats.root)
            got = store.read(feats.root)
        assert got["sid"].to_list() == ["x"]
        assert got["value"].to_list() == [0]
        assert got.schema[C.PROVENANCE_BY_FIELD] == pl.Struct({"a": pl.Utf8, "b": pl.Utf8})
        row = got.row(0, named=True)
        assert row[C.DATA_VERSION_BY_FIELD] == row[C.PROVENANCE_BY_FIELD]
        assert row[C.DATA_VERSION] == row[C.PROVENANCE]
        assert row[C.DELETED_AT] is None
        assert row[C.CREATED_AT] == row[C.UPDATED_AT]

    def test_append_only_latest_and_history(self, store: MetadataStore,
                                            feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2"), "y": ("3", "4")}))
            first = by_id(store.read(feats.root))
            materialize(store, feats.root, samples=root_samples(
                {"x": ("1b", "2"), "y": ("3", "4")}, values={"x": 7}))
            latest = by_id(store.read(feats.root))
            history = store.read(feats.root, with_history=True)
        assert latest["x"]["value"] == 7
        assert latest["x"][C.PROVENANCE] != first["x"][C.PROVENANCE]
        assert latest["y"] == first["y"]
        assert sorted(history["sid"].to_list()) == ["x", "x", "y"]
        assert history[C.ROW_ID].n_unique() == 3
        # the sample's creation time is kept when the frame carries it (rows of a read)
        assert latest["x"][C.UPDATED_AT] > first["x"][C.UPDATED_AT]

    def test_created_at_kept_from_frame(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2")}))
            before = store.read(feats.root)
            store.write(feats.root, before.with_columns(value=pl.lit(99, pl.Int64)))
            after = store.read(feats.root)
        assert after["value"].to_list() == [99]
        assert after[C.CREATED_AT].to_list() == before[C.CREATED_AT].to_list()
        assert after[C.UPDATED_AT][0] > before[C.UPDATED_AT][0]

    def test_stale_rows_keep_created_at(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        """Writing back a stale increment keeps each sample's first-write time."""
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2")}))
            first = store.read(feats.root)
            inc = materialize(store, feats.root, samples=root_samples({"x": ("1", "changed")}))
            assert inc.stale.height == 1 and C.CREATED_AT in inc.stale.columns
            after = store.read(feats.root)
        assert after[C.CREATED_AT].to_list() == first[C.CREATED_AT].to_list()
        assert after[C.UPDATED_AT][0] > first[C.UPDATED_AT][0]
        assert after[C.PROVENANCE][0] != first[C.PROVENANCE][0]

    def test_one_timestamp_per_write(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {f"s{i}": (str(i), str(i)) for i in range(5)}))
            got = store.read(feats.root)
        assert got[C.UPDATED_AT].n_unique() == 1
        assert got[C.ROW_ID].n_unique() == 5

    def test_write_needs_write_mode(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        frame = pl.DataFrame({"sid": ["x"]})
        with pytest.raises(StoreModeError):
            store.write(feats.root, frame)
        with store.open("r"), pytest.raises(StoreModeError):
            store.write(feats.root, frame)

    def test_empty_write(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            empty = pl.DataFrame(schema={"sid": pl.Utf8})
            assert store.write(feats.root, empty) == 0
            assert store.read(feats.root).height == 0

    def test_root_rows_without_input_hash_their_content(self, store: MetadataStore,
                                                         feats: SuiteFeatures) -> None:
        """A root frame with neither provenance nor input: each field's input = content hash."""
        with store.open("w"):
            store.write(feats.root, pl.DataFrame({"sid": ["x", "y"], "value": [1, 2]}))
            inc = store.resolve_update(feats.root, samples=pl.DataFrame(
                {"sid": ["x", "y"], "value": [1, 3]}))
        assert ids(inc.stale) == ["y"] and inc.new.height == 0
        assert stale_fields(inc) == {"y": ["a", "b"]}


# --------------------------------------------------------------------- reads, soft and hard delete
class ReadDeleteTests(StoreFixtures):
    def test_soft_delete(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            assert store.delete(feats.root, feats.root.sid == "y") == 1  # type: ignore[attr-defined]
            assert ids(store.read(feats.root)) == ["x", "z"]
            shown = store.read(feats.root, include_deleted=True)
            history = store.read(feats.root, with_history=True)
            # deleting again finds nothing to delete
            assert store.delete(feats.root, feats.root.sid == "y") == 0  # type: ignore[attr-defined]
        assert by_id(shown)["y"][C.DELETED_AT] is not None
        assert sorted(history["sid"].to_list()) == ["x", "y", "y", "z"]

    def test_rewrite_after_soft_delete(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            store.delete(feats.root, feats.root.sid == "y")  # type: ignore[attr-defined]
            inc = store.resolve_update(feats.root, samples=root_samples(
                {"x": ("ax", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
            assert ids(inc.new) == ["y"]
            store.write(feats.root, inc.new)
            assert ids(store.read(feats.root)) == ["x", "y", "z"]

    def test_hard_delete(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        with store.open("w"):
            store.delete(feats.root, feats.root.sid == "x")  # type: ignore[attr-defined]
            n = store.delete(feats.root, feats.root.sid.in_(["x", "y"]),  # type: ignore[attr-defined]
                             soft=False)
            history = store.read(feats.root, with_history=True)
        assert n == 3  # x's row and tombstone, y's row
        assert history["sid"].to_list() == ["z"]

    def test_read_where(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        store = loaded
        with store:
            got = store.read(feats.root, where=feats.root.value >= 1)  # type: ignore[attr-defined]
            parts = store.read(feats.parts, where=feats.parts.sid == "z")  # type: ignore[attr-defined]
            both = store.read(feats.root, where=[feats.root.value >= 1,  # type: ignore[attr-defined]
                                                 feats.root.sid != "z"])  # type: ignore[attr-defined]
            one = store.read(feats.root, where=(feats.root.sid == "z",))  # type: ignore[attr-defined]
            every = store.read(feats.root, where=[])
        assert ids(got) == ["y", "z"]
        assert sorted(parts["part"].to_list()) == [0, 1]
        assert ids(both) == ["y"]  # a list of filters means all of them
        assert ids(one) == ["z"]
        assert ids(every) == ["x", "y", "z"]

    def test_read_only_open(self, loaded: MetadataStore, feats: SuiteFeatures) -> None:
        with loaded:
            assert loaded.mode == "r"
            assert loaded.read(feats.root).height == 3
            with pytest.raises(StoreModeError):
                loaded.delete(feats.root, feats.root.sid == "x")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------- write checks
class WriteValidationTests(StoreFixtures):
    """A bad frame is rejected whole (column + first bad row named); nothing is written."""

    def _reject(self, store: MetadataStore, feature: Any, frame: pl.DataFrame, column: str,
                row: int | None) -> InvalidFrameError:
        before = store.read(feature, with_history=True, include_deleted=True)
        with pytest.raises(InvalidFrameError) as info:
            store.write(feature, frame)
        err = info.value
        assert err.column == column, str(err)
        assert err.row == row, str(err)
        assert f"'{column}'" in str(err)
        if row is not None:
            assert f"row {row}" in str(err)
        assert str(feature.spec().key) in str(err)
        after = store.read(feature, with_history=True, include_deleted=True)
        assert sorted(after[C.ROW_ID].to_list()) == sorted(before[C.ROW_ID].to_list())
        return err

    @pytest.fixture
    def ready(self, loaded: MetadataStore) -> Iterator[MetadataStore]:
        with loaded.open("w"):
            yield loaded

    def test_missing_id_column(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        self._reject(ready, feats.root, pl.DataFrame({"value": [1]}), "sid", None)

    def test_null_id(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        self._reject(ready, feats.root, pl.DataFrame({"sid": ["n1", None, "n3"]}), "sid", 1)

    def test_duplicate_id(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        err = self._reject(ready, feats.root, pl.DataFrame({"sid": ["n1", "n2", "n1"]}),
                           "sid", 0)
        assert "n1" in str(err)

    def test_duplicate_composite_id(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        rows = ready.read(feats.parts)
        dup = pl.concat([rows, rows.head(1)])
        self._reject(ready, feats.parts, dup, "sid,part", 0)

    def test_wrong_type(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        frame = pl.DataFrame({"sid": ["n1", "n2", "n3"], "value": ["1", "2", "two"]})
        err = self._reject(ready, feats.root, frame, "value", 2)
        assert "two" in str(err)

    def test_missing_provenance_non_root(self, ready: MetadataStore,
                                         feats: SuiteFeatures) -> None:
        self._reject(ready, feats.child, pl.DataFrame({"sid": ["x"], "out": ["o"]}),
                     C.PROVENANCE_BY_FIELD, 0)

    def test_empty_provenance(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        inc = ready.resolve_update(feats.child, samples=None)
        rows = ready.read(feats.child).select("sid", C.PROVENANCE_BY_FIELD)
        assert inc.new.height == 0 and rows.height == 3
        bad = rows.with_columns(pl.when(pl.col("sid") == "y")
                                .then(pl.struct(a=pl.lit(""), y=pl.lit("f00d")))
                                .otherwise(pl.col(C.PROVENANCE_BY_FIELD))
                                .alias(C.PROVENANCE_BY_FIELD)).sort("sid")
        self._reject(ready, feats.child, bad, C.pv_column(mx.FieldKey("a")), 1)

    def test_null_provenance_field(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        bad = pl.DataFrame({"sid": ["n1", "n2"], C.PROVENANCE_BY_FIELD: [
            {"a": "f00d", "b": "beef"}, {"a": "f00d", "b": None}]})
        self._reject(ready, feats.root, bad, C.pv_column(mx.FieldKey("b")), 1)

    def test_nothing_written_on_first_write(self, store: MetadataStore,
                                            feats: SuiteFeatures) -> None:
        with store.open("w"):
            with pytest.raises(InvalidFrameError):
                store.write(feats.root, pl.DataFrame({"sid": ["a", "a"]}))
            assert store.read(feats.root).height == 0

    def test_unknown_columns_are_dropped(self, ready: MetadataStore,
                                         feats: SuiteFeatures) -> None:
        """Documented policy (metaxy.store.frames): columns not in the model are dropped."""
        inc = ready.resolve_update(feats.root, samples=root_samples({"w": ("aw", "bw")}))
        rows = inc.new.with_columns(upstream_col=pl.lit("carried"), extra=pl.lit(1))
        assert ready.write(feats.root, rows) == 1
        got = ready.read(feats.root)
        assert "upstream_col" not in got.columns and "extra" not in got.columns
        assert "w" in got["sid"].to_list()

    def test_stale_rows_write_back(self, ready: MetadataStore, feats: SuiteFeatures) -> None:
        """An increment's stale part (with metaxy_stale_fields) is written back as is."""
        inc = ready.resolve_update(feats.root, samples=root_samples(
            {"x": ("ax2", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
        assert C.STALE_FIELDS in inc.stale.columns
        assert ready.write(feats.root, inc.stale) == 1
        assert C.STALE_FIELDS not in ready.read(feats.root).columns
