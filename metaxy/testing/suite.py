"""The store conformance suite (SPEC §3-§6): every backend must pass it unchanged.

Plain pytest classes, split into packs. A backend runs them by subclassing (all of them through
:class:`StoreConformanceTests`, or single packs) and providing a ``store_url`` fixture::

    class TestMyStore(StoreConformanceTests):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mystore:///{tmp_path / 'db'}"

Each test gets a fresh, active, isolated graph holding the suite's own features
(:func:`metaxy.testing.graphs.define_suite_features`) and a store from ``make_store()``; override
``make_store`` for a backend that needs more than a URL. Stores resolve features in the *active*
graph, so a test can switch to a re-declared graph (a bumped code version) on the same store.
Every hash is compared with the plain-Python recipe (:mod:`metaxy.testing.reference`), so two
backends that pass agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import (
    FilterError,
    HashConfigMismatchError,
    InvalidFrameError,
    StoreModeError,
)
from metaxy.hashing import HashSettings
from metaxy.store.base import Increment, MetadataStore
from metaxy.testing import reference as R
from metaxy.testing.graphs import SuiteFeatures, bump, clone_graph, define_suite_features
from metaxy.testing.pytest_plugin import make_store as _make_store
from metaxy.testing.suite_types import TypesTests

MakeStore = Callable[..., MetadataStore]
INPUT_DTYPE = pl.Struct({"a": pl.Utf8, "b": pl.Utf8})


# ---------------------------------------------------------------------------------------- helpers
def root_samples(inputs: dict[str, tuple[str | None, str | None]],
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
        assert ids(got) == ["y", "z"]
        assert sorted(parts["part"].to_list()) == [0, 1]

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


# ------------------------------------------------------------------------------ lazy increments
class LazyTests(StoreFixtures):
    def test_lazy_matches_eager(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            inputs = {f"s{i:02d}": (str(i), "b") for i in range(7)}
            materialize(store, feats.root, samples=root_samples(inputs))
            materialize(store, feats.child)
            inputs.update({"s00": ("new", "b"), "s01": ("new", "b"), "t": ("t", "t")})
            del inputs["s02"]
            materialize(store, feats.root, samples=root_samples(inputs))
            store.delete(feats.root, feats.root.sid == "s02")  # type: ignore[attr-defined]
            eager = store.resolve_update(feats.child)
            lazy = store.resolve_update(feats.child, lazy=True)
            assert not isinstance(lazy, Increment)
            batches = list(lazy.new.iter_batches(1))
            stale_batches = list(lazy.stale.iter_batches(1))
            collected = lazy.collect()
            orphaned = lazy.orphaned.collect()
        assert [b.height for b in stale_batches] == [1, 1]
        assert [b.height for b in batches] == [1]
        for part in ("new", "stale", "orphaned"):
            got = getattr(collected, part).sort("sid")
            want = getattr(eager, part).sort("sid")
            assert got.columns == want.columns, part
            assert got.to_dicts() == want.to_dicts(), part
        assert ids(orphaned) == ["s02"]
        assert pl.concat(stale_batches).sort("sid").to_dicts() == \
            eager.stale.sort("sid").to_dicts()


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


class StoreConformanceTests(CrudTests, ReadDeleteTests, WriteValidationTests, ResolveTests,
                            LineageTests, FilterTests, LazyTests, HashSettingsTests, TypesTests):
    """Every pack of the conformance suite; subclass it and provide ``store_url``."""
