"""Named locks behind :meth:`metaxy.store.contract.StoreContract.lock`, for the built-in backends.

* :class:`NamedLocks`: in-process locks (the ``memory://`` store, and DuckDB or SQLite
  ``:memory:`` databases, which no other process can see);
* :func:`file_lock`: a cross-process lock on a file next to a DuckDB or SQLite database file,
  through the ``filelock`` package (``flock`` on POSIX, ``LockFileEx`` on Windows). The operating
  system releases it when the holding process dies, so a crash never leaves a stale lock.

Both raise :class:`~metaxy.errors.StoreLockedError` when the lock is still held by someone else
once ``timeout`` seconds have passed (``0``: try once; ``None``: wait as long as it takes).

A lock file stays (empty) after its lock is released: deleting it while another process waits
on it would let a third one lock a new file of the same name. It may be removed when no metaxy
process runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from metaxy.errors import StoreError, StoreLockedError


def check_timeout(timeout: float | None, what: str) -> float | None:
    """``timeout`` as a float, refusing negative and NaN values (``None``: no limit)."""
    if timeout is None:
        return None
    value = float(timeout)
    if not value >= 0:  # also NaN
        raise StoreError(f"{what}: lock timeout must be a number >= 0 or None, got {timeout!r}")
    return None if math.isinf(value) else value  # threading refuses an infinite timeout


def locked_error(what: str, name: str, timeout: float | None, holder: str) -> StoreLockedError:
    """The error of a lock that could not be taken in time."""
    waited = "could not take it at once" if not timeout else f"gave up after waiting {timeout:g} s"
    return StoreLockedError(f"{what}: the lock '{name}' is held by {holder}; {waited}")


class NamedLocks:
    """Exclusive in-process locks by name (thread-safe)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, name: str, timeout: float | None, what: str) -> Iterator[None]:
        """Hold the lock ``name`` for the ``with`` block (``what`` names the store in errors)."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        got = lock.acquire() if timeout is None else \
            lock.acquire(timeout=timeout) if timeout > 0 else lock.acquire(blocking=False)
        if not got:
            raise locked_error(what, name, timeout, "another store object of this process")
        try:
            yield
        finally:
            lock.release()


def lock_file_name(name: str) -> str:
    """A file (or object) name for the lock ``name``: ``<name>.<digest>.lock``.

    The name is kept readable where it is a plain word; the digest keeps two names that clean
    up to the same text apart.
    """
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:64]
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"{clean}.{digest}.lock"


def lock_file_path(database: str | Path, name: str) -> Path:
    """The lock file of ``name`` next to a database file: ``<file>.<name>.<digest>.lock``."""
    path = Path(database)
    return path.with_name(f"{path.name}.{lock_file_name(name)}")


@contextlib.contextmanager
def file_lock(database: str | Path, name: str, timeout: float | None,
              what: str) -> Iterator[None]:
    """Hold the cross-process lock ``name`` of a database file for the ``with`` block."""
    import filelock

    path = lock_file_path(database, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=-1 if timeout is None else timeout)
    except filelock.Timeout:
        raise locked_error(what, name, timeout, f"another process (lock file {path})") from None
    try:
        yield
    finally:
        lock.release()


def database_lock(path: str, name: str, timeout: float | None,
                  what: str) -> contextlib.AbstractContextManager[None]:
    """The lock of an embedded database (DuckDB, SQLite): a lock file next to its file; none
    for ``:memory:``, which only the store object holding it can see (the store's own
    re-entrancy bookkeeping is all the exclusion there is to have)."""
    if path in ("", ":memory:"):
        return contextlib.nullcontext()
    return file_lock(path, name, timeout, what)
