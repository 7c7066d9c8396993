"""DuckDB store options memory_limit / threads reach DuckDB's settings (benchmarks/ at 10M)."""

from __future__ import annotations

from pathlib import Path

import pytest

import metaxy as mx
from metaxy.errors import StoreError


def test_memory_limit_and_threads_are_applied(tmp_path: Path) -> None:
    store = mx.get_store(f"duckdb:///{tmp_path}/x.duckdb", memory_limit="300MB", threads=1)
    with store.open("w"):
        limit, threads = store.conn.exec_driver_sql(
            "SELECT current_setting('memory_limit'), current_setting('threads')").one()
    assert str(limit).startswith("286") and int(threads) == 1  # 300 MB = 286.1 MiB


def test_defaults_leave_duckdb_settings_alone(tmp_path: Path) -> None:
    store = mx.get_store(f"duckdb:///{tmp_path}/x.duckdb")
    with store.open("w"):
        (threads,) = store.conn.exec_driver_sql("SELECT current_setting('threads')").one()
    assert int(threads) >= 1 and store.memory_limit is None and store.threads is None


def test_threads_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="threads must be >= 1"):
        mx.get_store(f"duckdb:///{tmp_path}/x.duckdb", threads=0)
