"""A write is one transaction across the feature's rows and the system tables (B6 case 2).

``SQLStore._append`` inserts the rows, then records the feature version in
``metaxy_feature_versions``, in one transaction. A failure injected between the two (or after the
bookkeeping insert, just before commit) must roll both back and surface as a ``MetaxyError``
chaining the original exception.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy.errors import MetaxyError
from metaxy.store.sql import FEATURE_VERSIONS_TABLE
from tests.reliability.faultlib import checksum, items, make_store


class Injected(RuntimeError):
    pass


def _bookkeeping(store: Any, key: str) -> int:
    conn = store.conn
    if FEATURE_VERSIONS_TABLE.name not in sa.inspect(conn).get_table_names():
        conn.commit()
        return 0
    t = FEATURE_VERSIONS_TABLE
    n = conn.execute(sa.select(sa.func.count()).select_from(t)
                     .where(t.c.feature_key == key)).scalar()
    conn.commit()
    return int(n or 0)


def _rows(store: Any, feature: type[mx.Feature]) -> int:
    return store.read(feature, with_history=True).height  # type: ignore[no-any-return]


@pytest.mark.parametrize("where", ["before_bookkeeping", "after_bookkeeping"])
def test_failure_rolls_back_rows_and_bookkeeping(
        any_url: str, features: tuple[type[mx.Feature], type[mx.Feature]], where: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    item, derived = features
    store = make_store(any_url)
    backend = type(store)
    original = backend._record_feature_version

    def failing(self: Any, conn: Any, feature: Any, storage: Any) -> None:
        if where == "after_bookkeeping":
            original(self, conn, feature, storage)
        raise Injected("injected between the rows and the bookkeeping")

    # 1. first write of the feature: table creation, rows and bookkeeping all roll back
    monkeypatch.setattr(backend, "_record_feature_version", failing)
    with store.open("w"):
        with pytest.raises(MetaxyError) as info:
            store.write(item, items(range(50)))
        assert isinstance(info.value.__cause__, Injected)
        assert _rows(store, item) == 0
        assert _bookkeeping(store, "rel/item") == 0
    monkeypatch.setattr(backend, "_record_feature_version", original)

    # 2. a committed write, then a failing one: the store shows exactly the committed state
    with store.open("w"):
        store.write(item, items(range(50)))
    with store:
        before = checksum(store.read(item, with_history=True))
        assert _bookkeeping(store, "rel/item") == 1
        assert _bookkeeping(store, "rel/derived") == 0
        inc = store.resolve_update(derived)
    monkeypatch.setattr(backend, "_record_feature_version", failing)
    with store.open("w"):
        with pytest.raises(MetaxyError) as info:
            store.write(derived, inc.new)
        assert isinstance(info.value.__cause__, Injected)
        with pytest.raises(MetaxyError):
            store.write(item, items(range(50, 80)))
    monkeypatch.setattr(backend, "_record_feature_version", original)
    with store:
        assert checksum(store.read(item, with_history=True)) == before
        assert _rows(store, derived) == 0
        assert _bookkeeping(store, "rel/derived") == 0
        assert _bookkeeping(store, "rel/item") == 1
        assert store.resolve_update(derived).new.height == 50
    # the connection is usable after the rollback
    with store.open("w"):
        assert store.write(derived, inc.new) == 50
    with store:
        assert _bookkeeping(store, "rel/derived") == 1
        assert store.status(derived).up_to_date == 50


def test_failing_bulk_insert_midway_writes_nothing(
        any_url: str, features: tuple[type[mx.Feature], type[mx.Feature]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Half of a batch inserted, then the driver fails: no row of the batch is visible."""
    item, _ = features
    store = make_store(any_url)
    backend = type(store)
    original = backend._bulk_insert
    with store.open("w"):
        store.write(item, items(range(10)))

    def half_then_fail(self: Any, conn: Any, table: Any, df: Any) -> None:
        original(self, conn, table, df.head(df.height // 2))
        raise Injected("driver died halfway")

    monkeypatch.setattr(backend, "_bulk_insert", half_then_fail)
    with store.open("w"):
        with pytest.raises(MetaxyError) as info:
            store.write(item, items(range(100, 200)))
        assert isinstance(info.value.__cause__, Injected)
    monkeypatch.setattr(backend, "_bulk_insert", original)
    with store:
        assert sorted(store.read(item, with_history=True)["sample_id"]) == \
            sorted(f"s{i}" for i in range(10))
