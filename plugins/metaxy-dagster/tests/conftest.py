"""Fixtures of the Dagster integration tests: the example teams' graph and a store URL per backend.

PostgreSQL tests use a fresh database on ``postgresql://postgres@127.0.0.1:5432/test`` (override
with ``METAXY_TEST_PG_URL``); they skip when the server is unreachable or metaxy-postgres is not
installed, except with ``CI=true`` where both are failures.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import metaxy as mx

ADMIN_URL = os.environ.get("METAXY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def teams() -> mx.FeatureGraph:
    """The example teams' features, loaded into the default graph."""
    return mx.load_features()


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{(tmp_path / 'dagster.duckdb').as_posix()}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    if importlib.util.find_spec("metaxy_postgres") is None:
        _unavailable("metaxy-postgres is not installed (plugins/metaxy-postgres)")
    import psycopg
    from psycopg import sql

    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        _unavailable(f"PostgreSQL unreachable at {ADMIN_URL}: {str(e).splitlines()[0]}")
    name = f"mx_dagster_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
                  .format(sql.Identifier(name)))
    try:
        yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL on each backend (an empty DuckDB file, an empty PostgreSQL database)."""
    fixture = "duckdb_url" if request.param == "duckdb" else "postgres_url"
    return str(request.getfixturevalue(fixture))
