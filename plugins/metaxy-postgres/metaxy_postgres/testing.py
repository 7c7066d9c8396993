"""A fresh, throw-away PostgreSQL database for tests.

``fresh_database()`` creates a database with a random name on a PostgreSQL server reached through
an *admin* URL (a database that already exists, e.g. ``postgresql://postgres@127.0.0.1:5432/test``;
override with ``METAXY_TEST_PG_URL``), yields the URL of the new database and drops it afterwards::

    from metaxy_postgres.testing import fresh_database

    with fresh_database() as url:
        store = mx.get_store(url)

Where the server has ICU (PostgreSQL 15+), the database gets a *locale* collation (``en-US``), so
text order differs from byte order and a query missing ``COLLATE "C"`` shows up as a difference.

The plugin declares :func:`fresh_store_url` as its test backend ``postgresql``
(:func:`metaxy.hookspecs.metaxy_test_backends`), so metaxy's shared fixtures (``store_url``,
``all_store_urls``, ``sql_store_url``, :func:`metaxy.testing.backends.backend_database`) run on a
fresh database each: an unreachable server skips the test, except with ``CI=true``, where it fails.
psycopg is imported only when a database is created.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from metaxy.errors import BackendUnavailableError

#: The admin URL used when none is given (read once, at import: test fixtures that clear the
#: ``METAXY_*`` variables must not change which server the tests use).
DEFAULT_ADMIN_URL = os.environ.get(
    "METAXY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

_HAS_ICU = (
    "SELECT current_setting('server_version_num')::int >= 150000 AND EXISTS "
    "(SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu')"
)


@contextmanager
def fresh_database(admin_url: str | None = None, *, prefix: str = "mx_test_",
                   connect_timeout: int = 5) -> Iterator[str]:
    """Create an empty database named ``<prefix><random>``, yield its URL, drop it afterwards.

    Raises ``psycopg.OperationalError`` when the server at ``admin_url`` is unreachable.
    """
    import psycopg
    import sqlalchemy as sa
    from psycopg import sql

    admin_url = admin_url or DEFAULT_ADMIN_URL
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    conninfo = sa.make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True,
                         connect_timeout=connect_timeout) as admin:
        row = admin.execute(_HAS_ICU).fetchone()
        if row and row[0]:
            admin.execute(sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").format(ident))
        else:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
        try:
            yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def _redacted(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


@contextmanager
def fresh_store_url(workdir: Path, *, prefix: str = "mx_test_") -> Iterator[str]:
    """:func:`fresh_database` on the server of ``METAXY_TEST_PG_URL`` (the test backend
    ``postgresql``); ``workdir`` is unused.

    Raises:
        BackendUnavailableError: psycopg is not installed, or the server is unreachable.
    """
    try:
        import psycopg
    except ImportError as e:
        raise BackendUnavailableError(f"psycopg is not installed ({e})") from e
    with ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(prefix=prefix))
        except psycopg.OperationalError as e:
            raise BackendUnavailableError(
                f"PostgreSQL unreachable at {_redacted(DEFAULT_ADMIN_URL)}: "
                f"{str(e).splitlines()[0]}") from e
        yield url
