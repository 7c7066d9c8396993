"""The public store contract (issue 12), on every backend: ``lock``, ``using_graph``,
``append_storage_rows``, ``require_open``, ``refresh_tables``, ``sql_connection``.

Migrations, the CLI and integration plugins use a store only through these and the user API;
these tests pin what each method guarantees (docs/architecture.md, "The public store contract").
"""

from __future__ import annotations

import threading
import uuid

import polars as pl
import pytest
import sqlalchemy as sa

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
from metaxy.testing.graphs import SuiteFeatures, bump, clone_graph, define_suite_features
from metaxy.testing.pytest_plugin import StoreFactory
from metaxy.versions import versions_of


@pytest.fixture
def feats(isolated_graph: mx.FeatureGraph) -> SuiteFeatures:
    return define_suite_features()


def _roots(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"sid": ids, "value": list(range(len(ids))), "label": ["l"] * len(ids),
                         C.INPUT_BY_FIELD: [{"a": f"a-{i}", "b": f"b-{i}"} for i in ids]})


def _write_roots(store: MetadataStore, feats: SuiteFeatures, ids: list[str]) -> None:
    store.write(feats.root, store.resolve_update(feats.root, samples=_roots(ids)).new)


def _storage_rows(store: MetadataStore, feats: SuiteFeatures, ids: list[str]) -> pl.DataFrame:
    """The storage form a write of these root samples would append."""
    cls = feats.root
    versions = versions_of(store.graph)
    api_rows = store.resolve_update(cls, samples=_roots(ids)).new
    return prepare_write(cls, api_rows, is_root=True, settings=store.hash_settings,
                         feature_version=versions.feature_version(cls),
                         project_version=versions.project_version(store.project),
                         now=write_timestamp())


def _shares_database(a: MetadataStore, b: MetadataStore, feats: SuiteFeatures) -> bool:
    """Whether two store objects open the same database (``:memory:`` and ``memory://``
    are private to their store object)."""
    with a.open("w"):
        _write_roots(a, feats, ["s0"])
    with b:
        return b.has_feature(feats.root)


# ---------------------------------------------------------------------------- using_graph
def test_using_graph_resolves_in_the_given_graph_and_restores(
        store_url: str, store_factory: StoreFactory, isolated_graph: mx.FeatureGraph,
        feats: SuiteFeatures) -> None:
    store = store_factory(store_url, graph=isolated_graph)
    bumped = clone_graph(isolated_graph, lambda s: bump(s, "conf/root", "a", "2"))
    with store.open("w"):
        _write_roots(store, feats, ["s1", "s2"])
        assert store.status("conf/root", samples=_roots(["s1", "s2"])).stale == 0
        with store.using_graph(bumped) as same:
            assert same is store and store.graph is bumped
            assert store.feature("conf/root") is bumped.get("conf/root")
            inc = store.resolve_update("conf/root", samples=_roots(["s1", "s2"]))
            assert sorted(inc.stale["sid"]) == ["s1", "s2"]  # field a's code version changed
            with store.using_graph(isolated_graph):  # overrides nest
                assert store.status("conf/root", samples=_roots(["s1", "s2"])).stale == 0
            assert store.graph is bumped
        assert store.graph is isolated_graph
        with pytest.raises(RuntimeError, match="boom"), store.using_graph(bumped):
            raise RuntimeError("boom")
        assert store.graph is isolated_graph  # restored after an error too
        with pytest.raises(StoreError, match="needs a FeatureGraph"), \
                store.using_graph("conf/root"):  # type: ignore[arg-type]
            pass


# ---------------------------------------------------------------------------- lock
def test_lock_needs_an_open_store_and_a_valid_timeout(store_url: str,
                                                      store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with pytest.raises(StoreModeError, match="not open"), store.lock("x"):
        pass
    with store:
        with pytest.raises(StoreError, match="timeout must be"), store.lock("x", timeout=-1):
            pass
        with pytest.raises(StoreError, match="non-empty name"), store.lock(""):
            pass


def test_lock_is_reentrant_within_one_store_object(store_url: str,
                                                   store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with store, store.lock("migrations:p"), store.lock("migrations:p"):
        with store.lock("other"):
            pass
    with store, store.lock("migrations:p"):  # released: taken again at once
        pass


def test_lock_excludes_other_store_objects_on_the_same_database(
        store_url: str, store_factory: StoreFactory, feats: SuiteFeatures) -> None:
    a, b = store_factory(store_url), store_factory(store_url)
    if not _shares_database(a, b, feats):
        pytest.skip("each store object has a private database: nobody else to exclude")
    with a, b:
        with a.lock("migrations:p"):
            with pytest.raises(StoreLockedError, match=r"'migrations:p'.*could not take it"):
                with b.lock("migrations:p"):
                    pass
            with pytest.raises(StoreLockedError, match=r"gave up after waiting 0.2 s"):
                with b.lock("migrations:p", timeout=0.2):
                    pass
            with b.lock("migrations:q"):  # another name is another lock
                pass
        with b.lock("migrations:p"):  # released
            pass


def test_lock_without_timeout_waits_for_the_holder(store_url: str, store_factory: StoreFactory,
                                                   feats: SuiteFeatures) -> None:
    a, b = store_factory(store_url), store_factory(store_url)
    if not _shares_database(a, b, feats):
        pytest.skip("each store object has a private database: nobody else to exclude")
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


def test_named_memory_databases_share_their_locks(store_factory: StoreFactory) -> None:
    url = f"memory://locks-{uuid.uuid4().hex[:8]}"
    a, b, other = store_factory(url), store_factory(url), store_factory("memory://")
    with a, b, other, a.lock("job"):
        with pytest.raises(StoreLockedError, match="'job'"), b.lock("job"):
            pass
        with other.lock("job"):  # a private database: its own locks
            pass


# ---------------------------------------------------------------------------- append_storage_rows
def test_append_storage_rows_appends_them_as_they_are(store_url: str,
                                                      store_factory: StoreFactory,
                                                      feats: SuiteFeatures) -> None:
    store = store_factory(store_url)
    with store.open("w"):
        rows = _storage_rows(store, feats, ["s1", "s2", "s3"])
        assert store.append_storage_rows("conf/root", rows) == 3
        # the rows' own hashes were stored: the samples are up to date
        status = store.status(feats.root, samples=_roots(["s1", "s2", "s3"]))
        assert (status.new, status.stale, status.up_to_date) == (0, 0, 3)
        got = store.read(feats.root).sort("sid")
        assert got[C.PROVENANCE].to_list() == rows.sort("sid")[C.PROVENANCE].to_list()
        assert store.append_storage_rows(feats.root, rows.head(0)) == 0


def test_append_storage_rows_refuses_incomplete_rows_and_keeps_everything(
        store_url: str, store_factory: StoreFactory, feats: SuiteFeatures) -> None:
    store = store_factory(store_url)
    with store.open("w"):
        _write_roots(store, feats, ["s1"])
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


def test_append_storage_rows_keeps_extra_string_columns(store_url: str,
                                                        store_factory: StoreFactory,
                                                        feats: SuiteFeatures) -> None:
    """Columns beyond the model (a renamed field's old storage columns) are stored as strings
    when the table is created by the append, and appended again once it exists."""
    store = store_factory(store_url)
    with store.open("w"):
        first = _storage_rows(store, feats, ["s1"]).with_columns(old_pv=pl.lit("p1"))
        assert store.append_storage_rows(feats.root, first) == 1
        second = _storage_rows(store, feats, ["s2"]).with_columns(old_pv=pl.lit(None))
        assert store.append_storage_rows(feats.root, second) == 1
        assert sorted(store.read(feats.root)["sid"]) == ["s1", "s2"]  # the model's columns


# ---------------------------------------------------------------------------- SQL access
def test_sql_connection_and_refresh_tables(store_url: str, store_factory: StoreFactory,
                                           feats: SuiteFeatures) -> None:
    store = store_factory(store_url)
    with store.open("w"):
        _write_roots(store, feats, ["s1"])
        if store.backend == "memory":
            with pytest.raises(StoreError, match="no SQL connection"):
                store.sql_connection()
            store.refresh_tables()  # nothing cached: nothing to do
            assert store.has_feature(feats.root)
            return
        conn = store.sql_connection()
        assert isinstance(conn, sa.Connection)
        name = feats.root.spec().key.table_name
        assert name in sa.inspect(conn).get_table_names()
        conn.commit()
        with conn.begin():  # a table dropped behind the store's back (as Alembic DDL would)
            sa.Table(name, sa.MetaData()).drop(conn)
        store.refresh_tables()
        assert not store.has_feature(feats.root)
        assert store.read(feats.root).height == 0
    with pytest.raises(StoreError, match="not open"):
        store.sql_connection()


def test_require_open(store_url: str, store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with pytest.raises(StoreModeError, match="not open"):
        store.require_open()
    with store:
        store.require_open("r")
        with pytest.raises(StoreModeError, match="read-only"):
            store.require_open("w")
    with store.open("w"):
        store.require_open("w")
