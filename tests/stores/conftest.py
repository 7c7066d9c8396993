"""Backends under test: every store URL available here, as a parametrised ``store_url`` fixture.

* ``duckdb-file``, ``duckdb-memory``, ``sqlite-file``: always;
* ``memory``: when :mod:`metaxy.store.memory` imports (skipped with the reason otherwise);
* ``postgresql``: when the ``metaxy-postgres`` plugin is installed, on a fresh database of the
  local server (``postgresql://postgres@127.0.0.1:5432/test``, or ``METAXY_TEST_PG_URL``). An
  unreachable server skips the test, except with ``CI=true``, where it fails.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

BACKENDS = ("duckdb-file", "duckdb-memory", "sqlite-file", "memory", "postgresql")
PG_ADMIN_URL = os.environ.get("METAXY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot run here (None: it can)."""
    module = {"memory": "metaxy.store.memory", "postgresql": "metaxy_postgres"}.get(backend)
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except ImportError as e:
        return f"{module} is not importable ({e})"
    return None


def _pg_admin() -> object:
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(e).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _pg_database() -> Iterator[str]:
    """A new database (locale collation where ICU exists, so byte order matters); dropped after."""
    from psycopg import sql

    admin: object = _pg_admin()
    name = f"mx_test_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    has_icu = admin.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_collation WHERE collname = 'en-US-x-icu'").fetchone()[0]
    if has_icu:
        admin.execute(sql.SQL(  # type: ignore[attr-defined]
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").format(ident))
    else:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")  # type: ignore[attr-defined]
                      .format(ident))
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL of an empty store of ``backend`` (skipping when it is unavailable)."""
    reason = _unavailable(backend)
    if reason is not None:
        if backend == "postgresql" and os.environ.get("CI") == "true":
            pytest.fail(f"postgresql backend unavailable in CI: {reason}")
        pytest.skip(reason)
    if backend == "duckdb-file":
        yield f"duckdb:///{tmp_path / f'store-{uuid.uuid4().hex[:6]}.duckdb'}"
    elif backend == "duckdb-memory":
        yield "duckdb:///:memory:"
    elif backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / f'store-{uuid.uuid4().hex[:6]}.sqlite'}"
    elif backend == "memory":
        yield "memory://"
    else:
        yield from _pg_database()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


@pytest.fixture
def all_store_urls(tmp_path: Path) -> Iterator[dict[str, str]]:
    """One URL per available backend (PostgreSQL included when reachable; in CI it must be)."""
    urls: dict[str, str] = {}
    gens: list[Iterator[str]] = []
    for backend in BACKENDS:
        if _unavailable(backend) is not None:
            if backend == "postgresql" and os.environ.get("CI") == "true":
                pytest.fail(f"postgresql backend unavailable in CI: {_unavailable(backend)}")
            continue
        gen = backend_url(backend, tmp_path)
        try:
            urls[backend] = next(gen)
        except pytest.skip.Exception:
            continue
        gens.append(gen)
    try:
        yield urls
    finally:
        for gen in gens:
            gen.close()


@pytest.fixture(params=("duckdb-file", "postgresql"))
def sql_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The in-database SQL backends of the in-database proof (DuckDB and PostgreSQL)."""
    yield from backend_url(request.param, tmp_path)
