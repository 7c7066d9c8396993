"""Conformance pack: the public store contract (:class:`metaxy.store.contract.StoreContract`).

What migrations and integrations rely on beyond the user API, checked on the backend under
test: ``lock`` (exclusive across store objects of one database, re-entrant within one),
``using_graph``, ``append_storage_rows`` and ``require_open``. A backend that forgets its
``_lock`` fails here, not in a user's migration. The SQL-only methods (``sql_connection``,
``sql_dialect_name``, ``refresh_tables``) are checked by metaxy's own tests.
"""

from __future__ import annotations

import threading

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import (
    SchemaMismatchError,
    StoreError,
    StoreLockedError,
    StoreModeError,
    TableSchemaMismatchError,
)
from metaxy.store.base import MetadataStore
from metaxy.store.frames import prepare_write, write_timestamp
from metaxy.testing.graphs import SuiteFeatures, bump, clone_graph
from metaxy.testing.suite_helpers import MakeStore, StoreFixtures, materialize, root_samples
from metaxy.versions import versions_of


def _samples(ids: list[str]) -> pl.DataFrame:
    return root_samples({i: (f"a-{i}", f"b-{i}") for i in ids})


def _storage_rows(store: MetadataStore, feats: SuiteFeatures, ids: list[str]) -> pl.DataFrame:
    """The storage form a write of these root samples would append."""
    cls = store.feature(feats.root)
    versions = versions_of(store.graph)
    api_rows = store.resolve_update(cls, samples=_samples(ids)).new
    return prepare_write(cls, api_rows, is_root=True, settings=store.hash_settings,
                         feature_version=versions.feature_version(cls),
                         project_version=versions.project_version(store.project),
                         now=write_timestamp())


def _second_store_on_the_same_database(make_store: MakeStore, feats: SuiteFeatures
                                       ) -> tuple[MetadataStore, MetadataStore]:
    """Two store objects; skips when they do not share a database (``:memory:``,
    ``memory://``: each object's own, so there is nobody to exclude)."""
    a, b = make_store(), make_store()
    with a.open("w"):
        materialize(a, feats.root, samples=_samples(["s0"]))
    with b:
        if not b.has_feature(feats.root):
            pytest.skip("each store object has a private database: nobody else to exclude")
    return a, b


class ContractTests(StoreFixtures):
    """``lock``, ``using_graph``, ``append_storage_rows``, ``require_open``."""

    # ------------------------------------------------------------------------ lock
    def test_lock_needs_an_open_store_and_valid_arguments(self, store: MetadataStore) -> None:
        with pytest.raises(StoreModeError, match="not open"), store.lock("x"):
            pass
        with store:
            with pytest.raises(StoreError, match="timeout must be"), store.lock("x", -1):
                pass
            with pytest.raises(StoreError, match="timeout must be"), \
                    store.lock("x", float("nan")):
                pass
            with pytest.raises(StoreError, match="non-empty name"), store.lock(""):
                pass
            with store.lock("x", timeout=float("inf")):  # waits like None
                pass

    def test_lock_is_reentrant_within_one_store_object(self, store: MetadataStore) -> None:
        with store, store.lock("migrations:p"), store.lock("migrations:p"):
            with store.lock("other"):
                pass
        with store, store.lock("migrations:p"):  # released: taken again at once
            pass

    def test_lock_excludes_other_store_objects(self, make_store: MakeStore,
                                               feats: SuiteFeatures) -> None:
        a, b = _second_store_on_the_same_database(make_store, feats)
        with a, b:
            with a.lock("migrations:p"):
                with pytest.raises(StoreLockedError, match=r"'migrations:p'.*at once"):
                    with b.lock("migrations:p"):
                        pass
                with pytest.raises(StoreLockedError, match=r"gave up after waiting 0.2 s"):
                    with b.lock("migrations:p", timeout=0.2):
                        pass
                with b.lock("migrations:q"):  # another name is another lock
                    pass
            with b.lock("migrations:p"):  # released
                pass

    def test_lock_without_timeout_waits_for_the_holder(self, make_store: MakeStore,
                                                       feats: SuiteFeatures) -> None:
        a, b = _second_store_on_the_same_database(make_store, feats)
        held, released = threading.Event(), threading.Event()

        def hold() -> None:
            with a.lock("job"):
                held.set()
                released.wait(0.3)  # the main thread is (meant to be) waiting meanwhile
                released.set()

        with a, b:
            worker = threading.Thread(target=hold)
            worker.start()
            assert held.wait(30)
            with b.lock("job", timeout=None):
                assert released.is_set(), "the lock was taken while its holder still had it"
            worker.join(30)

    # ------------------------------------------------------------------------ using_graph
    def test_using_graph_resolves_in_the_given_graph_and_restores(
            self, store: MetadataStore, feats: SuiteFeatures,
            isolated_graph: mx.FeatureGraph) -> None:
        bumped = clone_graph(isolated_graph, lambda s: bump(s, "conf/root", "a", "2"))
        samples = _samples(["s1", "s2"])
        with store.open("w"):
            materialize(store, feats.root, samples=samples)
            assert store.status("conf/root", samples=samples).stale == 0
            with store.using_graph(bumped) as same:
                assert same is store and store.graph is bumped
                assert store.feature("conf/root") is bumped.get("conf/root")
                inc = store.resolve_update("conf/root", samples=samples)
                assert sorted(inc.stale["sid"]) == ["s1", "s2"]  # field a's code changed
                with store.using_graph(isolated_graph):  # overrides nest
                    assert store.status("conf/root", samples=samples).stale == 0
                assert store.graph is bumped
            assert store.graph is isolated_graph
            with pytest.raises(RuntimeError, match="boom"), store.using_graph(bumped):
                raise RuntimeError("boom")
            assert store.graph is isolated_graph  # restored after an error too
            with pytest.raises(StoreError, match="needs a FeatureGraph"), \
                    store.using_graph("conf/root"):  # type: ignore[arg-type]
                pass

    # ------------------------------------------------------------------------ storage rows
    def test_append_storage_rows_appends_them_as_they_are(self, store: MetadataStore,
                                                          feats: SuiteFeatures) -> None:
        with store.open("w"):
            rows = _storage_rows(store, feats, ["s1", "s2", "s3"])
            assert store.append_storage_rows("conf/root", rows) == 3
            # the rows' own hashes were stored: the samples are up to date
            status = store.status(feats.root, samples=_samples(["s1", "s2", "s3"]))
            assert (status.new, status.stale, status.up_to_date) == (0, 0, 3)
            got = store.read(feats.root).sort("sid")
            assert got[C.PROVENANCE].to_list() == rows.sort("sid")[C.PROVENANCE].to_list()
            assert store.append_storage_rows(feats.root, rows.head(0)) == 0

    def test_append_storage_rows_refuses_incomplete_rows_and_keeps_everything(
            self, store: MetadataStore, feats: SuiteFeatures) -> None:
        with store.open("w"):
            materialize(store, feats.root, samples=_samples(["s1"]))
            rows = _storage_rows(store, feats, ["s2"])
            with pytest.raises(SchemaMismatchError, match=rf"conf/root.*{C.PROVENANCE}"):
                store.append_storage_rows(feats.root, rows.drop(C.PROVENANCE))
            with pytest.raises(SchemaMismatchError, match=r"\['extra_int'\].*not strings"):
                store.append_storage_rows(feats.root, rows.with_columns(extra_int=pl.lit(1)))
            # an extra column the stored table lacks: named, and nothing is written
            with pytest.raises(TableSchemaMismatchError, match=r"conf__root.*\['old_col'\]"):
                store.append_storage_rows(feats.root, rows.with_columns(old_col=pl.lit("x")))
            assert store.read(feats.root, with_history=True)["sid"].to_list() == ["s1"]
        with store, pytest.raises(StoreModeError, match="read-only"):
            store.append_storage_rows(feats.root, rows)

    def test_append_storage_rows_keeps_extra_string_columns(self, store: MetadataStore,
                                                            feats: SuiteFeatures) -> None:
        """Columns beyond the model (a renamed field's old storage columns) are stored as
        strings when the append creates the table, and appended again once it exists."""
        with store.open("w"):
            first = _storage_rows(store, feats, ["s1"]).with_columns(old_pv=pl.lit("p1"))
            assert store.append_storage_rows(feats.root, first) == 1
            second = _storage_rows(store, feats, ["s2"]).with_columns(old_pv=pl.lit(None))
            assert store.append_storage_rows(feats.root, second) == 1
            assert sorted(store.read(feats.root)["sid"]) == ["s1", "s2"]

    # ------------------------------------------------------------------------ open state
    def test_require_open(self, store: MetadataStore) -> None:
        with pytest.raises(StoreModeError, match="not open"):
            store.require_open()
        with store:
            store.require_open("r")
            with pytest.raises(StoreModeError, match="read-only"):
                store.require_open("w")
        with store.open("w"):
            store.require_open("w")
