"""Backends under test: every store backend available here, as a parametrised ``store_url``.

The built-in backends (``duckdb-file``, ``duckdb-memory``, ``sqlite-file``, ``memory``) and every
backend an installed plugin declares through :func:`metaxy.hookspecs.metaxy_test_backends` (the
metaxy-postgres plugin declares ``postgresql``: a fresh database on the local server). A backend
that cannot run here skips the test, except with ``CI=true``, where it fails. This module imports
no plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from metaxy.testing.backends import backend_database, backends_under_test

BACKENDS = tuple(backends_under_test())
IN_DATABASE = tuple(name for name, b in backends_under_test().items() if b.in_database)


def is_sql(url: str) -> bool:
    """Whether ``url`` is a SQL store (:class:`~metaxy.store.SQLStore`); the frame stores
    (memory, a plugin's Delta Lake) have no SQL connection, dialect or column widths."""
    from metaxy.store import SQLStore
    from metaxy.testing.pytest_plugin import make_store

    return isinstance(make_store(url), SQLStore)


def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL of an empty store of ``backend`` (skipping when it is unavailable)."""
    yield from backend_database(backend, tmp_path, prefix="store_")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


@pytest.fixture
def all_store_urls(tmp_path: Path) -> Iterator[dict[str, str]]:
    """One URL per backend under test; one that cannot run here is left out (in CI: fails)."""
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for backend in BACKENDS:
            gen = backend_url(backend, tmp_path)
            try:
                urls[backend] = next(gen)
            except pytest.skip.Exception:
                continue
            stack.callback(gen.close)
        yield urls


@pytest.fixture(params=IN_DATABASE)
def sql_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The backends resolving in the database, for the in-database proof (DuckDB, plugins')."""
    yield from backend_url(request.param, tmp_path)
