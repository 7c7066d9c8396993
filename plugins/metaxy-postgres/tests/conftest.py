"""Fixtures of the PostgreSQL backend tests: a fresh database per test on the local server.

The server is ``postgresql://postgres@127.0.0.1:5432/test`` (override with ``METAXY_TEST_PG_URL``).
Tests skip only when it is unreachable and ``CI`` is not ``"true"``; in CI they fail.

Each test gets its own database ``mx_test_<random>``, created with a *locale* collation (ICU
``en-US``) when the server has ICU, so that text order differs from byte order and a missing
``COLLATE "C"`` would show up as a hash difference.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy.testing import backend_database

# The suite runs with --import-mode=importlib: put this folder on sys.path so the test modules
# (and the spawned workers of the concurrency test, which inherit sys.path) import mxpg_helpers.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test (this plugin's test backend
    ``postgresql``, :func:`metaxy_postgres.testing.fresh_store_url`)."""
    yield from backend_database("postgresql", tmp_path)



@pytest.fixture(scope="session")
def teams() -> mx.FeatureGraph:
    """The example teams' features, loaded into the default graph (as /tmp/smoke.py does)."""
    return mx.load_features()
