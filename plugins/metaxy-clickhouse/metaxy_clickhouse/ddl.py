"""The ClickHouse tables metaxy creates: column types, engine, sort key, ``ON CLUSTER``, settings.

A feature table is an append-only history: ``MergeTree`` ordered by the sample's id columns and
``metaxy_updated_at`` (no unique key is enforced, as on the other backends: every row is a new
version). With ``cluster=`` the table is created ``ON CLUSTER`` with ``ReplicatedMergeTree``
(the replication path comes from the server's ``default_replica_path`` / ``{replica}`` macros).
``settings=`` become the table's ``SETTINGS`` clause. Identifiers are quoted by
clickhouse-connect's quoting, setting values rendered as ClickHouse literals; setting names must
be plain identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.cc_sqlalchemy.sql.ddlcompiler import render_setting_value
from clickhouse_connect.driver.binding import quote_identifier
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable

from metaxy_clickhouse.compile import DIALECT
from metaxy_clickhouse.errors import ClickHouseOptionError

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def column_type(column: sa.Column[Any], key: bool = False) -> str:
    """The ClickHouse type of a model column: ``Nullable(...)`` when the column is nullable,
    except in the sort key (``key``), which ClickHouse keeps non-Nullable (metaxy always sets
    the id columns and ``metaxy_updated_at``)."""
    t: Any = column.type
    if isinstance(t, sa.TypeDecorator):
        t = t.impl_instance
    if isinstance(t, sa.Boolean):
        base = "Bool"
    elif isinstance(t, sa.Integer):
        base = "Int64"  # every metaxy integer is read as Int64 (store.types.polars_dtype)
    elif isinstance(t, sa.Float | sa.Numeric):
        base = "Float64"
    elif isinstance(t, sa.DateTime):
        base = "DateTime64(6, 'UTC')" if t.timezone else "DateTime64(6)"
    elif isinstance(t, sa.Date):
        base = "Date32"
    else:  # String, AutoString, Text, JSON as text, binary as bytes
        base = "String"
    nullable = column.nullable and not column.primary_key and not key
    return f"Nullable({base})" if nullable else base


def check_settings(settings: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """The table settings, checked: plain identifier names, scalar values."""
    result: dict[str, Any] = {}
    for name, value in (settings or {}).items():
        if not isinstance(name, str) or not _SETTING_NAME.match(name):
            raise ClickHouseOptionError(f"{where}: setting name {name!r} is not a ClickHouse "
                                        "setting name (letters, digits, underscores)")
        if not isinstance(value, bool | int | float | str):
            raise ClickHouseOptionError(f"{where}: setting {name} = {value!r} must be a number, "
                                        "a boolean or a string")
        result[name] = value
    return result


def check_cluster(cluster: Any, where: str) -> str | None:
    if cluster is None:
        return None
    if not isinstance(cluster, str) or not cluster.strip():
        raise ClickHouseOptionError(f"{where}: option cluster = {cluster!r} must be the name of "
                                    "a cluster of the server's remote_servers")
    return cluster


def on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {quote_identifier(cluster)}" if cluster else ""


def create_table_sql(table: sa.Table, order_by: Sequence[str], *, cluster: str | None = None,
                     settings: Mapping[str, Any] | None = None, temporary: bool = False,
                     if_not_exists: bool = True) -> str:
    """``CREATE TABLE`` for ClickHouse; a temporary table lives in memory (``Memory``)."""
    name = quote_identifier(table.name)
    if table.schema and not temporary:
        name = f"{quote_identifier(table.schema)}.{name}"
    cols = ", ".join(f"{quote_identifier(c.name)} {column_type(c, c.name in order_by)}"
                     for c in table.columns)
    exists = " IF NOT EXISTS" if if_not_exists else ""
    if temporary:
        return f"CREATE TEMPORARY TABLE{exists} {name} ({cols}) ENGINE = Memory"
    engine = "ReplicatedMergeTree" if cluster else "MergeTree"
    key = f"({', '.join(quote_identifier(c) for c in order_by)})" if order_by else "tuple()"
    text = (f"CREATE TABLE{exists} {name}{on_cluster(cluster)} ({cols}) ENGINE = {engine} "
            f"ORDER BY {key}")
    if settings:
        text += " SETTINGS " + ", ".join(f"{k} = {render_setting_value(v)}"
                                         for k, v in settings.items())
    return text


def primary_order(table: sa.Table) -> list[str]:
    """The sort key of a table metaxy did not declare one for: its primary key columns."""
    return [c.name for c in table.primary_key.columns]


@compiles(CreateTable, DIALECT)
def _create_table(element: CreateTable, compiler: Any, **kw: Any) -> str:
    """Every ``table.create()`` on ClickHouse (staging tables, migrations' new tables): a
    ``Memory`` temporary table or a ``MergeTree`` ordered by the primary key."""
    table = element.element
    temporary = any("TEMPORARY" in str(p).upper() for p in table._prefixes)
    return create_table_sql(table, primary_order(table), temporary=temporary,
                            if_not_exists=bool(getattr(element, "if_not_exists", False)))
