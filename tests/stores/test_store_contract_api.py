"""The public store contract (issue 12) beyond the shipped conformance pack.

``lock``, ``using_graph``, ``append_storage_rows`` and ``require_open`` are checked on every
backend by :class:`metaxy.testing.suite_contract.ContractTests` (part of
``StoreConformanceTests``, run here by ``tests/stores/test_conformance.py``). This module adds
what is not backend-generic: the SQL methods (``sql_connection``, ``sql_dialect_name``,
``refresh_tables``) and the memory store's named-database locks.
"""

from __future__ import annotations

import uuid

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import StoreError, StoreLockedError
from metaxy.store import SQLStore
from metaxy.testing.graphs import SuiteFeatures, define_suite_features
from metaxy.testing.pytest_plugin import StoreFactory


@pytest.fixture
def feats(isolated_graph: mx.FeatureGraph) -> SuiteFeatures:
    return define_suite_features()


def _roots(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"sid": ids, "value": list(range(len(ids))), "label": ["l"] * len(ids),
                         C.INPUT_BY_FIELD: [{"a": f"a-{i}", "b": f"b-{i}"} for i in ids]})


def test_sql_connection_and_refresh_tables(store_url: str, store_factory: StoreFactory,
                                           feats: SuiteFeatures) -> None:
    store = store_factory(store_url)
    if isinstance(store, SQLStore):  # known before connecting (offline migrations need it)
        dialect = store.sql_dialect_name()
    with store.open("w"):
        store.write(feats.root, store.resolve_update(feats.root, samples=_roots(["s1"])).new)
        if not isinstance(store, SQLStore):
            with pytest.raises(StoreError, match="no SQL connection"):
                store.sql_connection()
            with pytest.raises(StoreError, match="no SQL dialect"):
                store.sql_dialect_name()
            store.refresh_tables()  # nothing cached: nothing to do
            assert store.has_feature(feats.root)
            return
        conn = store.sql_connection()
        assert isinstance(conn, sa.Connection)
        assert conn.dialect.name == dialect
        name = feats.root.spec().key.table_name
        assert name in sa.inspect(conn).get_table_names()
        conn.commit()
        with conn.begin():  # tables dropped behind the store's back (as Alembic DDL would)
            sa.Table(name, sa.MetaData()).drop(conn)
            sa.Table("metaxy_settings", sa.MetaData()).drop(conn)
        store.refresh_tables()
        assert not store.has_feature(feats.root)
        assert store.read(feats.root).height == 0
        # the next write records the hash setting again (its table is gone too)
        store.write(feats.root, store.resolve_update(feats.root, samples=_roots(["s2"])).new)
        assert "metaxy_settings" in sa.inspect(conn).get_table_names()
        conn.commit()
    with pytest.raises(StoreError, match="not open"):
        store.sql_connection()


def test_named_memory_databases_share_their_locks(store_factory: StoreFactory) -> None:
    url = f"memory://locks-{uuid.uuid4().hex[:8]}"
    a, b, other = store_factory(url), store_factory(url), store_factory("memory://")
    with a, b, other, a.lock("job"):
        with pytest.raises(StoreLockedError, match="'job'"), b.lock("job"):
            pass
        with other.lock("job"):  # a private database: its own locks
            pass
