"""Fixtures of the PostgreSQL backend tests: a fresh database per test on the local server.

The server is ``postgresql://postgres@127.0.0.1:5432/test`` (override with ``METAXY_TEST_PG_URL``).
Tests skip only when it is unreachable and ``CI`` is not ``"true"``; in CI they fail.

Each test gets its own database ``mx_test_<random>``, created with a *locale* collation (ICU
``en-US``) when the server has ICU, so that text order differs from byte order and a missing
``COLLATE "C"`` would show up as a hash difference.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy.config import redact_url

if TYPE_CHECKING:
    import psycopg

# The suite runs with --import-mode=importlib: put this folder on sys.path so the test modules
# (and the spawned workers of the concurrency test, which inherit sys.path) import mxpg_helpers.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

ADMIN_URL = os.environ.get("METAXY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_connect() -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        message = f"PostgreSQL unreachable at {redact_url(ADMIN_URL)}: {str(e).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    from psycopg import sql

    admin = _admin_connect()
    name = f"mx_test_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    row = admin.execute(  # CREATE DATABASE ... LOCALE_PROVIDER needs PostgreSQL 15
        "SELECT current_setting('server_version_num')::int >= 150000 AND EXISTS "
        "(SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu')").fetchone()
    has_icu = bool(row and row[0])
    if has_icu:
        admin.execute(sql.SQL(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").format(ident))
    else:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        admin.close()


@pytest.fixture(scope="session")
def teams() -> mx.FeatureGraph:
    """The example teams' features, loaded into the default graph (as /tmp/smoke.py does)."""
    return mx.load_features()
