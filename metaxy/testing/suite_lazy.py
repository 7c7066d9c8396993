"""Conformance pack: lazy increments (``resolve_update(..., lazy=True)``).

Part of :class:`metaxy.testing.suite.StoreConformanceTests`. A lazy increment is computed once,
from one snapshot, and spooled to temporary files (:mod:`metaxy.store.spool`): its parts agree
with each other whatever is written meanwhile, the store can be written while they are read, and
the files go away on close, on garbage collection and when the store closes.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import polars as pl
import pytest

from metaxy import columns as C
from metaxy.errors import StoreError
from metaxy.store.base import Increment, LazyIncrement, MetadataStore
from metaxy.store.spool import PREFIX
from metaxy.testing.graphs import SuiteFeatures
from metaxy.testing.suite_helpers import StoreFixtures, ids, materialize, root_samples


def _spooled(directory: Path) -> list[str]:
    """The increment spool directories left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(PREFIX))


class LazyTests(StoreFixtures):
    @pytest.fixture
    def spool_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A private temporary directory for the spooled files (``tempfile.tempdir``)."""
        directory = tmp_path / "spool"
        directory.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(directory))
        return directory

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
            assert isinstance(lazy, LazyIncrement)
            assert lazy.counts == eager.counts == {"new": 1, "stale": 2, "orphaned": 1}
            batches = list(lazy.new.iter_batches(1))
            stale_batches = list(lazy.stale.iter_batches(1))
            collected = lazy.collect()
            orphaned = lazy.orphaned.collect()
        assert [b.height for b in stale_batches] == [1, 1]
        assert [b.height for b in batches] == [1]
        for part in ("new", "stale", "orphaned"):
            got = getattr(collected, part).sort("sid")
            want = getattr(eager, part).sort("sid")
            assert got.schema == want.schema, part
            assert got.to_dicts() == want.to_dicts(), part
        assert ids(orphaned) == ["s02"]
        assert pl.concat(stale_batches).sort("sid").to_dicts() == \
            eager.stale.sort("sid").to_dicts()

    def test_batches_are_rebatched_to_the_requested_size(self, store: MetadataStore,
                                                         feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(
                {f"s{i:02d}": (str(i), "b") for i in range(11)}))
            with store.resolve_update(feats.child, lazy=True) as lazy:
                assert [b.height for b in lazy.new.iter_batches(4)] == [4, 4, 3]
                assert [b.height for b in lazy.new.iter_batches(11)] == [11]
                assert list(lazy.stale.iter_batches(4)) == []
                assert lazy.stale.collect().height == 0
                assert C.STALE_FIELDS in lazy.stale.collect().columns
                with pytest.raises(StoreError, match="batch size"):
                    list(lazy.new.iter_batches(0))

    def test_parts_come_from_one_snapshot(self, store: MetadataStore,
                                          feats: SuiteFeatures) -> None:
        """A writer commits between reading ``new`` and ``stale``: the sample it writes (with a
        provenance that is stale by then) is new in this increment and not also stale."""
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx"),
                                                                 "y": ("ay", "by")}))
            materialize(store, feats.child)
            materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx"),
                                                                 "y": ("ay", "by"),
                                                                 "w": ("aw", "bw")}))
            lazy = store.resolve_update(feats.child, lazy=True)
            new = lazy.new.collect()
            assert ids(new) == ["w"]
            # another writer: w's upstream changes, then w is written with the old provenance
            materialize(store, feats.root, samples=root_samples({"x": ("ax", "bx"),
                                                                 "y": ("ay", "by"),
                                                                 "w": ("aw2", "bw")}))
            store.write(feats.child, new)
            assert ids(store.resolve_update(feats.child).stale) == ["w"]  # the state moved on
            assert lazy.stale.collect().height == 0
            assert lazy.counts == {"new": 1, "stale": 0, "orphaned": 0}
            assert lazy.orphaned.collect().height == 0

    def test_stream_and_write_back(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        """The natural loop for a large increment: stream it, write each batch back."""
        inputs = {f"s{i:02d}": (str(i), "b") for i in range(23)}
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples(inputs))
            materialize(store, feats.child)
            inputs.update({f"s{i:02d}": (f"{i}'", "b") for i in range(0, 23, 3)})  # 8 stale
            inputs.update({f"t{i:02d}": (str(i), "c") for i in range(9)})  # 9 new
            materialize(store, feats.root, samples=root_samples(inputs))
            written = 0
            with store.resolve_update(feats.child, lazy=True) as lazy:
                assert lazy.counts == {"new": 9, "stale": 8, "orphaned": 0}
                for part in (lazy.new, lazy.stale):
                    for batch in part.iter_batches(2):
                        written += store.write(feats.child, batch.drop(C.STALE_FIELDS,
                                                                       strict=False))
            status = store.status(feats.child)
        assert written == 17
        assert (status.new, status.stale, status.orphaned, status.up_to_date) == (0, 0, 0, 32)

    def test_files_are_removed(self, store: MetadataStore, feats: SuiteFeatures,
                               spool_dir: Path) -> None:
        """On close (and leaving ``with``), on garbage collection, when the store closes."""
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2"),
                                                                 "y": ("3", "4")}))
            lazy = store.resolve_update(feats.child, lazy=True)
            assert len(_spooled(spool_dir)) == 1
            batches = lazy.new.iter_batches(1)
            assert next(batches).height == 1  # undrained
            lazy.close()
            assert _spooled(spool_dir) == [] and lazy.closed
            with pytest.raises(StoreError, match="closed"):
                next(batches)
            with pytest.raises(StoreError, match="conf/child"):
                lazy.new.collect()
            lazy.close()  # idempotent

            with store.resolve_update(feats.child, lazy=True) as inc:
                assert inc.counts["new"] == 2
            assert _spooled(spool_dir) == []

            dropped = store.resolve_update(feats.child, lazy=True)
            next(dropped.new.iter_batches(1))
            assert len(_spooled(spool_dir)) == 1
            del dropped
            gc.collect()
            assert _spooled(spool_dir) == []

            kept = store.resolve_update(feats.child, lazy=True)
            assert len(_spooled(spool_dir)) == 1
        assert _spooled(spool_dir) == []  # the store closed
        with pytest.raises(StoreError, match="closed"):
            kept.collect()

    def test_collect_is_an_increment(self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=root_samples({"x": ("1", "2")}))
            with store.resolve_update(feats.child, lazy=True) as lazy:
                inc = lazy.collect()
        assert isinstance(inc, Increment)
        assert inc.counts == {"new": 1, "stale": 0, "orphaned": 0}
