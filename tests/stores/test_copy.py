"""``mx.copy`` between backends (issue 18, item 3): bit-identical rows, idempotent reruns, an
interrupted copy finished by a rerun, latest-only and filtered copies, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import ApiError, FilterError, HashConfigMismatchError
from metaxy.store.base import MetadataStore
from metaxy.testing.graphs import SuiteFeatures, define_suite_features
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize, root_samples
from tests.stores.conftest import backend_url

# every backend (the plugins' ClickHouse and Delta too) is a source and a target at least once
PAIRS = [("memory", "duckdb-file"), ("duckdb-file", "sqlite-file"),
         ("sqlite-file", "postgresql"), ("postgresql", "memory"),
         ("postgresql", "chdb"), ("chdb", "delta"), ("delta", "sqlite-file")]


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path,
           isolated_graph: mx.FeatureGraph) -> Iterator[tuple[MetadataStore, MetadataStore]]:
    source, target = request.param
    src_gen, dst_gen = backend_url(source, tmp_path), backend_url(target, tmp_path / "t")
    (tmp_path / "t").mkdir()
    try:
        yield make_store(next(src_gen), None), make_store(next(dst_gen), None)
    finally:
        src_gen.close()
        dst_gen.close()


@pytest.fixture
def feats(isolated_graph: mx.FeatureGraph) -> SuiteFeatures:
    return define_suite_features()


def _fill(store: MetadataStore, feats: SuiteFeatures) -> None:
    """Every feature written, then history: a re-ingested root sample and a soft delete."""
    with store.open("w"):
        materialize(store, feats.root, samples=root_samples(
            {s: (f"a{s}", f"b{s}") for s in ("p", "q", "r", "s", "t")}))
        for f in (feats.child, feats.parts, feats.agg, feats.bylabel):
            materialize(store, f)
        materialize(store, feats.root, samples=root_samples(
            {s: ("new" if s == "p" else f"a{s}", f"b{s}") for s in ("p", "q", "r", "s", "t")}))
        store.delete(feats.root, feats.root.sid == "t")  # type: ignore[attr-defined]


FEATURES = ("root", "child", "parts", "agg", "bylabel")


def _state(store: MetadataStore, feats: SuiteFeatures, history: bool = True
           ) -> dict[str, list[dict[str, Any]]]:
    """Every stored row (or the latest per sample) of every feature, in row-id order."""
    with store:
        return {name: store.read(getattr(feats, name), with_history=history,
                                 include_deleted=True).sort(C.ROW_ID).to_dicts()
                for name in FEATURES}


def _statuses(store: MetadataStore, feats: SuiteFeatures) -> list[tuple[int | None, ...]]:
    with store:
        return [(s.new, s.stale, s.orphaned, s.up_to_date) for s in
                (store.status(getattr(feats, n)) for n in FEATURES[1:])]


@pytest.mark.parametrize("stores", PAIRS, indirect=True, ids=["->".join(p) for p in PAIRS])
def test_history_copy_is_bit_identical_and_idempotent(
        stores: tuple[MetadataStore, MetadataStore], feats: SuiteFeatures) -> None:
    src, dst = stores
    _fill(src, feats)
    report = mx.copy(src, dst, history=True, batch_rows=3)
    assert report.copied == sum(len(rows) for rows in _state(src, feats).values()) > 0
    assert _state(dst, feats) == _state(src, feats)  # row ids, hashes, timestamps: identical
    assert _statuses(dst, feats) == _statuses(src, feats)  # the same increments
    assert mx.copy(src, dst, history=True, batch_rows=3).copied == 0  # a rerun copies nothing
    with src.open("w"):  # new rows in the source: only they travel
        materialize(src, feats.root, samples=root_samples({"u": ("au", "bu")}))
    again = mx.copy(src, dst, [feats.root], history=True)
    assert (again.copied, [f.feature for f in again.features]) == (1, ["conf/root"])
    with dst.open("w"):  # the target's own later write still becomes the latest row
        materialize(dst, feats.child)
        latest = dst.read(feats.child)
    assert (latest[C.UPDATED_AT].max() > pl.Series([r[C.UPDATED_AT] for r in
                                                     _state(src, feats)["child"]]).max())


@pytest.mark.parametrize("stores", [("duckdb-file", "postgresql"), ("memory", "sqlite-file")],
                         indirect=True, ids=["duckdb-file->postgresql", "memory->sqlite-file"])
@pytest.mark.parametrize("stop_after", [1, 4])
def test_interrupted_copy_is_finished_by_a_rerun(
        stores: tuple[MetadataStore, MetadataStore], feats: SuiteFeatures,
        stop_after: int) -> None:
    src, dst = stores
    _fill(src, feats)
    batches = []

    def interrupt(feature: str, read: int, copied: int) -> None:
        batches.append(feature)
        if len(batches) == stop_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mx.copy(src, dst, history=True, batch_rows=2, progress=interrupt)
    partial = _state(dst, feats)
    assert 0 < sum(map(len, partial.values())) < sum(map(len, _state(src, feats).values()))

    # A batch that fails inside the target's append is rolled back whole.
    real, calls = dst.append_storage_rows, []

    def failing(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    dst.append_storage_rows = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        mx.copy(src, dst, history=True, batch_rows=2)
    del dst.append_storage_rows
    report = mx.copy(src, dst, history=True, batch_rows=2)
    assert report.copied > 0
    assert _state(dst, feats) == _state(src, feats)
    assert mx.copy(src, dst, history=True).copied == 0


@pytest.mark.parametrize("stores", [("duckdb-file", "memory")], indirect=True)
def test_latest_only_where_and_refusals(stores: tuple[MetadataStore, MetadataStore],
                                        feats: SuiteFeatures, tmp_path: Path) -> None:
    src, dst = stores
    _fill(src, feats)
    report = mx.copy(src, dst, [feats.root.spec().key, feats.child], where="sid != 's'")
    assert [f.feature for f in report.features] == ["conf/root", "conf/child"]
    with src, dst:  # latest rows only, the tombstone of `t` included: `t` is deleted here too
        want = src.read(feats.root, feats.root.sid != "s", include_deleted=True)  # type: ignore[attr-defined]
        assert dst.read(feats.root, with_history=True, include_deleted=True).sort(
            C.ROW_ID).equals(want.sort(C.ROW_ID))
        assert sorted(dst.read(feats.root)["sid"]) == ["p", "q", "r"]
        assert sorted(dst.read(feats.child)["sid"]) == ["p", "q", "r", "t"]
    # a history copy afterwards adds just the older rows
    # the older rows of p and t, and s (left out by the filter before)
    assert mx.copy(src, dst, [feats.root], history=True).copied == 3
    with pytest.raises(ApiError, match="same store"):
        mx.copy(src, src)
    with pytest.raises(ApiError, match="conf/side"):
        mx.copy(src, dst, [feats.side])
    with pytest.raises(ApiError, match="batch_rows"):
        mx.copy(src, dst, batch_rows=0)
    with pytest.raises(FilterError):
        mx.copy(src, dst, [feats.root], where={"conf/root": sa.text("1 = 1")})
    other = make_store(f"sqlite:///{tmp_path / 'sha.db'}", None, hash_algorithm="sha256")
    with pytest.raises(HashConfigMismatchError, match="sha256"):
        mx.copy(src, other)
