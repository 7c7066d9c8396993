"""Backends under test: every store URL available here, as a parametrised ``store_url`` fixture.

* ``duckdb-file``, ``duckdb-memory``, ``sqlite-file``: always;
* ``memory``: when :mod:`metaxy.store.memory` imports (skipped with the reason otherwise);
* ``postgresql``: when the ``metaxy-postgres`` plugin is installed, on a fresh database of the
  local server (:func:`metaxy.testing.pytest_plugin.postgres_database`). An unreachable server
  skips the test, except with ``CI=true``, where it fails.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from metaxy.testing.pytest_plugin import postgres_database, skip_or_fail

BACKENDS = ("duckdb-file", "duckdb-memory", "sqlite-file", "memory", "postgresql")


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


def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL of an empty store of ``backend`` (skipping when it is unavailable)."""
    reason = _unavailable(backend)
    if reason is not None:
        (skip_or_fail if backend == "postgresql" else pytest.skip)(reason)
    if backend == "duckdb-file":
        yield f"duckdb:///{tmp_path / f'store-{uuid.uuid4().hex[:6]}.duckdb'}"
    elif backend == "duckdb-memory":
        yield "duckdb:///:memory:"
    elif backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / f'store-{uuid.uuid4().hex[:6]}.sqlite'}"
    elif backend == "memory":
        yield "memory://"
    else:
        yield from postgres_database()


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
            if backend == "postgresql":
                skip_or_fail(f"postgresql backend unavailable: {_unavailable(backend)}")
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
