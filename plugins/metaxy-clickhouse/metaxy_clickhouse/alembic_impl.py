"""Alembic on ClickHouse: clickhouse-connect's ``ClickHouseImpl`` (registered for the
``clickhousedb`` dialect when this module is imported, only for migrations)."""

from __future__ import annotations

from clickhouse_connect.cc_sqlalchemy.alembic.impl import ClickHouseImpl


class MetaxyClickHouseImpl(ClickHouseImpl):
    """clickhouse-connect's implementation; ClickHouse has no transactional DDL
    (``transactional_ddl = False``): a failed migration is finished by rerunning it."""

    __dialect__ = "clickhousedb"
