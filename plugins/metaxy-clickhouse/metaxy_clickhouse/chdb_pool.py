"""chDB sessions kept between store opens, per engine location and database.

chDB runs one ClickHouse engine per process, on one location (a directory, or memory). Booting
it and a client's handshake cost a few hundred milliseconds, and a store opens and closes often
(every ``with store:``). A closed store's session therefore goes back to this cache instead of
being closed; the next open of the same location and database takes it. Opening another
location closes the idle sessions of the previous one first (chDB refuses a second location
while a session on the first is open); sessions in use by an open store stay, and the open
fails with chDB's error, which the store reports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_IDLE: dict[tuple[str, str], list[Any]] = {}


class PooledSession:
    """A DB-API connection whose ``close`` returns it to the cache (idle, reusable)."""

    def __init__(self, raw: Any, key: tuple[str, str]) -> None:
        self._raw = raw
        self._key = key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def close(self) -> None:
        with _LOCK:
            _IDLE.setdefault(self._key, []).append(self._raw)


def session(location: str, database: str, connect: Callable[[], Any]) -> PooledSession:
    """An idle session of ``location``/``database``, else a new one (``connect()``), after
    closing the idle sessions of other locations."""
    key = (location, database)
    with _LOCK:
        idle = _IDLE.get(key)
        if idle:
            return PooledSession(idle.pop(), key)
        for other in [k for k in _IDLE if k[0] != location]:
            for raw in _IDLE.pop(other):
                raw.close()
    return PooledSession(connect(), key)


def close_idle(location: str | None = None, database: str | None = None) -> None:
    """Close the idle sessions (of ``location`` and ``database``; None: all)."""
    with _LOCK:
        for key in [k for k in _IDLE if location in (None, k[0]) and database in (None, k[1])]:
            for raw in _IDLE.pop(key):
                raw.close()
