"""Alembic on ClickHouse: clickhouse-connect's ``ClickHouseImpl`` (registered for the
``clickhousedb`` dialect when this module is imported, only for migrations), with metaxy's column
types.

ClickHouse has no transactional DDL (``transactional_ddl = False``): each operation of a
migration is applied on its own, and a failed migration is finished by running ``upgrade``
again (metaxy's data operations, ``reconcile`` and ``backfill``, write only what is still
missing, so a rerun completes them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from clickhouse_connect.cc_sqlalchemy.alembic.impl import ClickHouseImpl
from clickhouse_connect.driver.binding import quote_identifier

from metaxy_clickhouse.ddl import column_type


class MetaxyClickHouseImpl(ClickHouseImpl):
    """``add_column`` spells the type as the store creates it: a nullable model column is
    ``Nullable(T)`` (clickhouse-connect would add a plain ``String``, whose missing values read
    back as ``''`` instead of NULL)."""

    __dialect__ = "clickhousedb"

    def add_column(self, table_name: str, column: sa.Column[Any], *,
                   schema: str | None = None, if_not_exists: bool | None = None,
                   **kw: Any) -> None:
        table = quote_identifier(table_name)
        if schema:
            table = f"{quote_identifier(schema)}.{table}"
        exists = " IF NOT EXISTS" if if_not_exists else ""
        self._exec(sa.text(f"ALTER TABLE {table} ADD COLUMN{exists} "
                           f"{quote_identifier(column.name)} {column_type(column)}"))
