"""metaxy's PostgreSQL store backend (``postgresql://user@host:port/db``).

This module holds only the pluggy hook implementations; the store lives in
:mod:`metaxy_postgres.store` and is imported when a PostgreSQL store is made, so loading the
plugin never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from metaxy.hookspecs import BackendSpec, BackendUnderTest, hookimpl

if TYPE_CHECKING:
    from metaxy_postgres.store import PostgresStore

SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")  # postgres:// as libpq accepts it


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("postgresql", SCHEMES,
                        "PostgreSQL server (COPY writes, resolve computed in the database)",
                        ("md5", "sha256"))]


@hookimpl
def metaxy_test_backends() -> list[BackendUnderTest]:
    """The test backend ``postgresql``: a fresh database per test on the local server
    (:func:`metaxy_postgres.testing.fresh_store_url`)."""
    from metaxy_postgres.testing import fresh_store_url

    return [BackendUnderTest("postgresql", fresh_store_url, in_database=True)]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> PostgresStore | None:
    if url.split("://", 1)[0] not in SCHEMES:
        return None
    from metaxy_postgres.store import PostgresStore

    return PostgresStore(url, **options)  # type: ignore[arg-type]
