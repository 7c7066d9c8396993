"""A fresh, throw-away chDB store for tests (the test backend ``chdb``).

chDB hosts one ClickHouse engine per process, on one directory, and booting it costs a few
hundred milliseconds. So every test of a process shares one engine directory (a temporary
directory removed at exit) and gets a database of its own in it:
``chdb:///<engine dir>?database=<prefix><random>`` (the directory is absolute), dropped after the
test. chDB is imported only when a store opens.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from metaxy.errors import BackendUnavailableError

_ENGINE_DIR: list[str] = []


def engine_dir() -> str:
    """This process's chDB test directory (made on first use, removed at exit)."""
    if not _ENGINE_DIR:
        path = tempfile.mkdtemp(prefix="metaxy-chdb-")
        _ENGINE_DIR.append(path)
        atexit.register(shutil.rmtree, path, True)
    return _ENGINE_DIR[0]


@contextmanager
def fresh_store_url(workdir: Path, *, prefix: str = "mx_test_") -> Iterator[str]:
    """``chdb:///<engine dir>?database=<prefix><random>``; the database is dropped
    afterwards (``workdir`` is unused: chDB keeps one directory per process).

    Raises:
        BackendUnavailableError: chdb or clickhouse-connect is not installed.
    """
    try:
        import chdb  # noqa: F401
        import clickhouse_connect  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(f"chdb / clickhouse-connect not installed ({e})") from e
    database = f"{prefix}{uuid.uuid4().hex[:12]}"
    url = f"chdb:///{engine_dir()}?database={database}"
    yield url
    with suppress(Exception):
        drop_database(url)


def drop_database(url: str) -> None:
    """Drop the database of a ``chdb:///dir?database=name`` store (its idle sessions
    included)."""
    from metaxy_clickhouse.store import ClickHouseStore

    ClickHouseStore(url).drop_database()
