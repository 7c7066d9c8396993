"""Fixtures of the Dagster integration tests: the example teams' graph and a store URL per backend.

PostgreSQL tests use the test backend ``postgresql`` that metaxy-postgres declares
(:func:`metaxy.testing.backends.backend_database`): a fresh database on
``postgresql://postgres@127.0.0.1:5432/test`` (override with ``METAXY_TEST_PG_URL``); they skip
when the server is unreachable or metaxy-postgres is not installed, except with ``CI=true`` where
both are failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy.testing import backend_database


@pytest.fixture(scope="session")
def teams() -> mx.FeatureGraph:
    """The example teams' features, loaded into the default graph."""
    return mx.load_features()


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{(tmp_path / 'dagster.duckdb').as_posix()}"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from backend_database("postgresql", tmp_path, prefix="mx_dagster_")


@pytest.fixture
def delta_url(tmp_path: Path) -> Iterator[str]:
    yield from backend_database("delta", tmp_path, prefix="mx_dagster_")


@pytest.fixture
def chdb_url(tmp_path: Path) -> Iterator[str]:
    yield from backend_database("chdb", tmp_path, prefix="mx_dagster_")


@pytest.fixture(params=["duckdb", "postgres", "delta", "chdb"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL on each backend (an empty DuckDB file, an empty PostgreSQL database, an
    empty Delta root when the metaxy-delta plugin is installed, an empty database of the
    in-process ClickHouse engine when metaxy-clickhouse is)."""
    return str(request.getfixturevalue(f"{request.param}_url"))
