"""Named locks on a ClickHouse server: one row per held lock in a ``KeeperMap`` table.

ClickHouse has no advisory locks and no transactions. A ``KeeperMap`` table keeps its rows in
ClickHouse Keeper (or ZooKeeper); with ``keeper_map_strict_mode = 1`` inserting a key that
exists fails, which makes the insert a compare-and-set: the writer whose insert succeeds holds
the lock, the others retry until their timeout. Releasing deletes the row. A process that dies
holding a lock leaves its row: ``metaxy`` reports the holder and the time it was taken; delete
the row (``DELETE FROM metaxy_locks WHERE name = '...'``) once the holder is known to be gone.

This needs a server with Keeper configured (every ClickHouse Cloud service and replicated
cluster has one); chDB uses a lock file instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.binding import quote_identifier

from metaxy.errors import StoreLockedError

LOCK_TABLE = "metaxy_locks"  # spelled out in the statements below


def _create_sql(database: str) -> str:
    path = f"/metaxy_locks/{database}"
    return (f"CREATE TABLE IF NOT EXISTS {quote_identifier(LOCK_TABLE)} (name String, "
            "holder String, taken_at DateTime64(6, 'UTC')) ENGINE = KeeperMap("
            f"'{path.replace(chr(92), '').replace(chr(39), '')}') PRIMARY KEY name "
            "SETTINGS keeper_map_strict_mode = 1")


@contextlib.contextmanager
def keeper_lock(engine: sa.Engine, database: str, name: str, timeout: float | None,
                what: str) -> Iterator[None]:
    """Hold the lock ``name`` (poll until ``timeout``; ``None``: wait forever)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        client: Any = conn.connection.driver_connection.client  # type: ignore[union-attr]
        client.command(_create_sql(database))
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                client.command("INSERT INTO metaxy_locks VALUES "
                               "({name:String}, {holder:String}, now64(6))",
                               parameters={"name": name, "holder": holder})
                break
            except Exception as e:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StoreLockedError(f"{what}: the lock '{name}' is held by another "
                                           f"session ({type(e).__name__}); gave up after "
                                           f"{timeout:g} s") from None
                time.sleep(delay if left is None else min(delay, left))
                delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                client.command("DELETE FROM metaxy_locks WHERE name = "
                               "{name:String} AND holder = {holder:String}",
                               parameters={"name": name, "holder": holder})
