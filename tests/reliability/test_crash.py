"""A writer SIGKILLed in the middle of a large write (B6 case 1).

The child process defines the same features, opens the store for writing and writes 100k rows; a
patched ``_bulk_insert`` prints ``inserted`` once the rows are in the open transaction and parks,
so the kill lands deterministically between the insert and the commit. A second variant kills the
child right after a committed write (DuckDB: the rows live only in the WAL until checkpoint).
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

import metaxy as mx
from metaxy.store.sql import FEATURE_VERSIONS_TABLE
from tests.reliability.faultlib import Child, checksum, items, make_store

COMMITTED = 1_000
BATCH = 100_000


def _seed(url: str, item: type[mx.Feature]) -> tuple[str, str]:
    store = make_store(url)
    with store.open("w"):
        store.write(item, items(range(COMMITTED)))
    with store:
        return checksum(store.read(item)), checksum(store.read(item, with_history=True))


def _feature_versions(store: object) -> list[tuple[str, str]]:
    conn = store.conn  # type: ignore[attr-defined]
    rows = conn.execute(sa.select(FEATURE_VERSIONS_TABLE.c.feature_key,
                                  FEATURE_VERSIONS_TABLE.c.feature_version)).all()
    conn.commit()
    return sorted((r[0], r[1]) for r in rows)


def test_kill_before_commit_loses_only_the_open_batch(
        server_or_file_url: str, features: tuple[type[mx.Feature], type[mx.Feature]]) -> None:
    item, derived = features
    url = server_or_file_url
    latest_before, history_before = _seed(url, item)
    with make_store(url) as store:
        versions_before = _feature_versions(store)

    child = Child("crash-before-commit", url, str(BATCH))
    child.expect("inserted")
    assert child.kill() != 0

    store = make_store(url)
    with store:  # the store reopens (no stale lock, WAL replay clean)
        latest = store.read(item)
        assert latest.height == COMMITTED
        assert checksum(latest) == latest_before
        assert checksum(store.read(item, with_history=True)) == history_before
        assert store.read(item, where=item.sample_id == "s10000").height == 0  # type: ignore[attr-defined]
        assert _feature_versions(store) == versions_before
        inc = store.resolve_update(derived)
        assert inc.new.height == COMMITTED
        assert set(inc.new["sample_id"]) == {f"s{i}" for i in range(COMMITTED)}
        assert inc.stale.height == inc.orphaned.height == 0
        status = store.status(item, samples=items(range(COMMITTED)))
        assert (status.new, status.stale, status.orphaned) == (0, 0, 0)
    with store.open("w"):  # and accepts writes again
        assert store.write(item, items(["after-crash"], offset=5)) == 1
    with store:
        assert store.read(item).height == COMMITTED + 1


def test_kill_after_commit_keeps_the_whole_batch(
        server_or_file_url: str, features: tuple[type[mx.Feature], type[mx.Feature]]) -> None:
    item, derived = features
    url = server_or_file_url
    latest_before, _ = _seed(url, item)

    child = Child("crash-after-commit", url, str(BATCH))
    child.expect("committed")
    child.kill()

    store = make_store(url)
    with store:
        latest = store.read(item)
        assert latest.height == COMMITTED + BATCH
        old = latest.filter(pl.col("sample_id").is_in([f"s{i}" for i in range(COMMITTED)]))
        assert checksum(old) == latest_before
        assert store.resolve_update(derived).new.height == COMMITTED + BATCH
