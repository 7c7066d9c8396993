"""SQL store sessions: caches, snapshots, open transactions and streaming (issue 13).

* item 8: a store's cache of table names never answers "no such table" for a table another store
  object (or process) created after it opened;
* items 9 and 12 (one snapshot per lazy increment; streaming it and writing each batch back)
  are proved on every backend by the conformance pack ``metaxy/testing/suite_lazy.py``, item 10
  on PostgreSQL by ``plugins/metaxy-postgres/tests/test_postgres_timeouts.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from metaxy.errors import HashConfigMismatchError
from tests.reliability.faultlib import Child, items, make_store


# ------------------------------------------------------------------ item 8: table-name cache
def test_table_created_after_open_is_seen(any_url: str, features: Any) -> None:
    item, derived = features
    early = make_store(any_url)
    with early.open("w"):  # opened on an empty store: caches "no tables"
        assert not early.has_feature(item)
        assert early.read(item).height == 0
        writer = make_store(any_url)
        with writer.open("w"):
            writer.write(item, items(range(1000)))
        assert early.has_feature(item)
        assert early.read(item).height == 1000
        assert early.resolve_update(derived).new.height == 1000
        assert early.status(derived).new == 1000
        assert early.resolve_update(derived, lazy=True).new.collect().height == 1000


def test_hash_settings_recorded_after_open_are_enforced(any_url: str, features: Any) -> None:
    item, _ = features
    early = make_store(any_url)  # md5:32
    with early.open("w"):
        other = make_store(any_url, hash_algorithm="sha256", hash_length=64)
        with other.open("w"):
            other.write(item, items(range(3)))
        with pytest.raises(HashConfigMismatchError, match="sha256:64"):
            early.write(item, items(range(3, 5)))
    with make_store(any_url, hash_algorithm="sha256", hash_length=64) as store:
        assert store.read(item, with_history=True).height == 3


def test_postgres_table_created_by_another_process_is_seen(pg_url: str, features: Any) -> None:
    item, derived = features
    reader = make_store(pg_url)
    with reader:  # a long-lived read-only process, opened before the table exists
        assert reader.read(item).height == 0
        child = Child("crash-after-commit", pg_url, "1000")
        try:
            child.expect("committed")
            assert reader.read(item).height == 1000
            assert reader.resolve_update(derived).new.height == 1000
        finally:
            child.kill()
