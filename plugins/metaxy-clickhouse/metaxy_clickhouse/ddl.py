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
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.cc_sqlalchemy.sql.ddlcompiler import render_setting_value
from clickhouse_connect.driver.binding import format_str, quote_identifier
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


#: The suffix of the shard-local table under a ``Distributed`` table (``distributed=True``).
LOCAL_SUFFIX = "_local"


def _columns_sql(table: sa.Table, order_by: Sequence[str]) -> str:
    return ", ".join(f"{quote_identifier(c.name)} {column_type(c, c.name in order_by)}"
                     for c in table.columns)


def _settings_sql(settings: Mapping[str, Any] | None) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {render_setting_value(v)}"
                                    for k, v in settings.items())


def create_table_sql(table: sa.Table, order_by: Sequence[str], *, cluster: str | None = None,
                     settings: Mapping[str, Any] | None = None, temporary: bool = False,
                     if_not_exists: bool = True, name: str | None = None) -> str:
    """``CREATE TABLE`` for ClickHouse; a temporary table lives in memory (``Memory``).
    ``name``: create the table under another name (a ``Distributed`` table's local table)."""
    quoted = quote_identifier(name or table.name)
    if table.schema and not temporary:
        quoted = f"{quote_identifier(table.schema)}.{quoted}"
    cols = _columns_sql(table, order_by)
    exists = " IF NOT EXISTS" if if_not_exists else ""
    if temporary:
        return f"CREATE TEMPORARY TABLE{exists} {quoted} ({cols}) ENGINE = Memory"
    engine = "ReplicatedMergeTree" if cluster else "MergeTree"
    key = f"({', '.join(quote_identifier(c) for c in order_by)})" if order_by else "tuple()"
    return (f"CREATE TABLE{exists} {quoted}{on_cluster(cluster)} ({cols}) ENGINE = {engine} "
            f"ORDER BY {key}{_settings_sql(settings)}")


@dataclass(frozen=True)
class Layout:
    """Where a store's tables live, and the DDL that makes and changes them.

    * no ``cluster``: one ``MergeTree`` table per table;
    * ``cluster``: one ``ReplicatedMergeTree`` per table, created ``ON CLUSTER`` (every replica
      of a shard holds the whole table);
    * ``cluster`` and ``distributed``: per table a ``ReplicatedMergeTree`` ``<name>_local`` on
      every shard and, under the table's own name, a ``Distributed`` table over them, sharded by
      ``cityHash64`` of the ``shard_by`` columns (a feature's id columns: every row of a sample
      lands on one shard, so the latest row per sample is found shard-locally). Reads and
      inserts go through the ``Distributed`` table; DDL changes both; mutations
      (``ALTER TABLE ... DELETE``) run ``ON CLUSTER`` on the local tables (a ``Distributed``
      table holds no rows to mutate).
    """

    cluster: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    distributed: bool = False
    database: str = "default"

    def local_name(self, name: str) -> str:
        """The table holding the rows of ``name`` (``<name>_local`` when distributed)."""
        return f"{name}{LOCAL_SUFFIX}" if self.distributed else name

    def create(self, table: sa.Table, order_by: Sequence[str], shard_by: Sequence[str], *,
               if_not_exists: bool = True) -> list[str]:
        """The statements that create ``table``: one, or the local and ``Distributed`` ones."""
        local = create_table_sql(table, order_by, cluster=self.cluster, settings=self.settings,
                                 if_not_exists=if_not_exists,
                                 name=self.local_name(table.name))
        if not self.distributed:
            return [local]
        assert self.cluster is not None
        key = (f"cityHash64({', '.join(quote_identifier(c) for c in shard_by)})"
               if shard_by else "rand()")
        exists = " IF NOT EXISTS" if if_not_exists else ""
        engine = (f"Distributed({format_str(self.cluster)}, {format_str(self.database)}, "
                  f"{format_str(self.local_name(table.name))}, {key})")
        dist = (f"CREATE TABLE{exists} {quote_identifier(table.name)}{on_cluster(self.cluster)}"
                f" ({_columns_sql(table, order_by)}) ENGINE = {engine}")
        return [local, dist]

    def alter(self, table_name: str, action: str, *, schema: str | None = None) -> list[str]:
        """``ALTER TABLE <table> [ON CLUSTER c] <action>``: on the local table, then on the
        ``Distributed`` one (whose columns must follow the local table's)."""
        names = [self.local_name(table_name), table_name] if self.distributed else [table_name]
        return [f"ALTER TABLE {_qualified(n, schema)}{on_cluster(self.cluster)} {action}"
                for n in names]

    def drop(self, table_name: str, *, if_exists: bool = True,
             schema: str | None = None) -> list[str]:
        """Drop the ``Distributed`` table first, then the table holding the rows."""
        exists = " IF EXISTS" if if_exists else ""
        names = [table_name, self.local_name(table_name)] if self.distributed else [table_name]
        return [f"DROP TABLE{exists} {_qualified(n, schema)}{on_cluster(self.cluster)}"
                for n in names]

    def mutation_target(self, table_name: str) -> str:
        """The ``ALTER TABLE`` target of a mutation of ``table_name``'s rows."""
        return f"{quote_identifier(self.local_name(table_name))}{on_cluster(self.cluster)}"


_PLACED = "metaxy_clickhouse_layout"


def place(table: sa.Table, layout: Layout, order_by: Sequence[str]) -> sa.Table:
    """Have ``table.create()`` use ``layout`` (one statement: not ``distributed``), sorted by
    ``order_by``; for tables created by code that is not the store's (Alembic's version
    table)."""
    if layout.distributed:
        raise ValueError("a placed table is created by one statement: not distributed")
    table.info[_PLACED] = (layout, list(order_by))
    return table


def _qualified(name: str, schema: str | None) -> str:
    quoted = quote_identifier(name)
    return f"{quote_identifier(schema)}.{quoted}" if schema else quoted


def primary_order(table: sa.Table) -> list[str]:
    """The sort key of a table metaxy did not declare one for: its primary key columns."""
    return [c.name for c in table.primary_key.columns]


@compiles(CreateTable, DIALECT)
def _create_table(element: CreateTable, compiler: Any, **kw: Any) -> str:
    """Every ``table.create()`` on ClickHouse (staging tables, migrations' new tables): a
    ``Memory`` temporary table or a ``MergeTree`` ordered by the primary key."""
    table = element.element
    temporary = any("TEMPORARY" in str(p).upper() for p in table._prefixes)
    if_not_exists = bool(getattr(element, "if_not_exists", False))
    placed: tuple[Layout, list[str]] | None = table.info.get(_PLACED)
    if placed is not None and not temporary:
        (statement,) = placed[0].create(table, placed[1], [], if_not_exists=if_not_exists)
        return statement
    return create_table_sql(table, primary_order(table), temporary=temporary,
                            if_not_exists=if_not_exists)
