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
    with pytest.raises(StoreError, match="option threads = 0 is invalid"):
        mx.get_store(f"duckdb:///{tmp_path}/x.duckdb", threads=0)


@pytest.mark.parametrize("global_limit", [None, "500MB"])
def test_query_memory_limit_applies_only_while_resolving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, global_limit: str | None) -> None:
    """``query_memory_limit`` caps DuckDB during resolve/status only; the session setting
    (DuckDB's default, or the store's ``memory_limit``) is restored afterwards."""
    from metaxy.store.duckdb import DuckDBStore

    def setting(store: DuckDBStore) -> str:
        return str(store._duck(store.conn).sql(
            "SELECT current_setting('memory_limit')").fetchall()[0][0])

    seen: list[str] = []
    original = DuckDBStore._fetch

    def spy(self: DuckDBStore, conn: object, stmt: object) -> object:
        seen.append(setting(self))
        return original(self, conn, stmt)  # type: ignore[arg-type]

    monkeypatch.setattr(DuckDBStore, "_fetch", spy)
    with mx.FeatureGraph().use() as graph:
        class Root(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="q/root", id_columns=["sid"], fields=["a"])):
            sid: str

        options = {"memory_limit": global_limit} if global_limit else {}
        store = mx.get_store(f"duckdb:///{tmp_path}/q.duckdb", graph=graph,
                             query_memory_limit="64MB", **options)
        samples = {"sid": ["x", "y"], "metaxy_input_by_field": [{"a": "1"}, {"a": "2"}]}
        with store.open("w"):
            before = setting(store)  # type: ignore[arg-type]
            store.write(Root, store.resolve_update(Root, samples=samples).new)
            assert store.status(Root, samples=samples).up_to_date == 2
            after = setting(store)  # type: ignore[arg-type]
    assert seen and all(s.startswith("61") for s in seen[-2:])  # 64 MB = 61.0 MiB while resolving
    assert after == before and not before.startswith("61")
