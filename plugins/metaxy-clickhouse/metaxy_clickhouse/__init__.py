"""metaxy's ClickHouse store backend: ``clickhouse://`` / ``clickhouses://`` (a server or
ClickHouse Cloud, over HTTP) and ``chdb:///dir`` / ``chdb://`` (the ClickHouse engine embedded in
this process through chDB).

This module holds only the pluggy hook implementations; the store lives in
:mod:`metaxy_clickhouse.store` and is imported when a ClickHouse store is made, so loading the
plugin never imports clickhouse-connect or chDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from metaxy.hookspecs import BackendSpec, BackendUnderTest, hookimpl

if TYPE_CHECKING:
    from metaxy_clickhouse.store import ClickHouseStore

SCHEMES = ("clickhouse", "clickhouses", "chdb")


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("clickhouse", SCHEMES,
                        "ClickHouse server or embedded chDB (Arrow writes, resolve computed in "
                        "the database)", ("md5", "sha256"))]


@hookimpl
def metaxy_test_backends() -> list[BackendUnderTest]:
    """The test backend ``chdb``: a fresh chDB directory per test
    (:func:`metaxy_clickhouse.testing.fresh_store_url`)."""
    from metaxy_clickhouse.testing import fresh_store_url

    return [BackendUnderTest("chdb", fresh_store_url, in_database=True)]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> ClickHouseStore | None:
    if url.split("://", 1)[0] not in SCHEMES:
        return None
    from metaxy_clickhouse.store import ClickHouseStore

    return ClickHouseStore(url, **options)  # type: ignore[arg-type]


@hookimpl
def metaxy_alembic_impl(dialect_name: str) -> type | None:
    """clickhouse-connect's own Alembic implementation, for the ``clickhousedb`` dialect."""
    if dialect_name != "clickhousedb":
        return None
    from metaxy_clickhouse.alembic_impl import MetaxyClickHouseImpl

    return MetaxyClickHouseImpl
