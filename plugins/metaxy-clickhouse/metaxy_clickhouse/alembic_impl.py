"""Alembic on ClickHouse: clickhouse-connect's ``ClickHouseImpl`` (registered for the
``clickhousedb`` dialect when this module is imported, only for migrations), with metaxy's column
types and the store's table layout.

Every schema operation produces exactly the DDL the store itself runs, online and offline
(``metaxy migrations upgrade --sql``): ``ON CLUSTER`` and ``ReplicatedMergeTree`` with
``cluster=``, the table ``SETTINGS``, and with ``distributed=`` both the shard-local table and
the ``Distributed`` table over it (:class:`metaxy_clickhouse.ddl.Layout`). The store is found
through the migration's metaxy state (offline) or the connection it opened (online).

ClickHouse has no transactional DDL (``transactional_ddl = False``): each operation of a
migration is applied on its own, and a failed migration is finished by running ``upgrade``
again (metaxy's data operations, ``reconcile`` and ``backfill``, write only what is still
missing, so a rerun completes them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from clickhouse_connect.cc_sqlalchemy.alembic.impl import ClickHouseImpl
from clickhouse_connect.cc_sqlalchemy.sql import full_table
from clickhouse_connect.driver.binding import quote_identifier

from metaxy_clickhouse.ddl import Layout, column_type, place
from metaxy_clickhouse.errors import ClickHouseMigrationError

if TYPE_CHECKING:
    from metaxy_clickhouse.store import ClickHouseStore


class MetaxyClickHouseImpl(ClickHouseImpl):
    """The store's DDL for ``create_table``, ``drop_table`` and every ``ALTER TABLE``;
    ``add_column`` spells the type as the store creates it: a nullable model column is
    ``Nullable(T)`` (clickhouse-connect would add a plain ``String``, whose missing values read
    back as ``''`` instead of NULL)."""

    __dialect__ = "clickhousedb"

    def _store(self) -> ClickHouseStore | None:
        from metaxy_clickhouse.store import STORE_INFO, ClickHouseStore

        state = self.context_opts.get("metaxy_state")
        store = getattr(state, "store", None)
        if store is None and self.connection is not None:
            ref = self.connection.info.get(STORE_INFO)
            store = ref() if ref is not None else None
        return store if isinstance(store, ClickHouseStore) else None

    def _layout(self) -> Layout:
        store = self._store()
        return store.layout if store is not None else Layout()

    def _run(self, statements: list[str]) -> None:
        for statement in statements:
            self._exec(_text(statement))

    # ------------------------------------------------------------------ tables
    def version_table_impl(self, **kw: Any) -> sa.Table:
        """Alembic's version table, created with the store's ``cluster=`` and ``settings=``
        (Alembic runs its ``CREATE TABLE`` itself: :func:`metaxy_clickhouse.ddl.place`). It is
        replicated but never ``Distributed``: clickhouse-connect updates it with a mutation,
        which a ``Distributed`` table refuses."""
        table = super().version_table_impl(**kw)
        layout = dataclasses.replace(self._layout(), distributed=False)
        return place(table, layout, [c.name for c in table.c][:1])

    def create_table(self, table: sa.Table, **kw: Any) -> None:
        """The store's ``CREATE TABLE`` statements (a feature table: sorted by its id columns
        and write time)."""
        store = self._store()
        if store is None:
            super().create_table(table, **kw)
            return
        self._run(store.create_table_statements(table))

    def drop_table(self, table: sa.Table, **kw: Any) -> None:
        self._run(self._layout().drop(table.name, if_exists=False, schema=table.schema))

    def rename_table(self, old_table_name: str, new_table_name: Any,
                     schema: Any = None) -> None:
        layout = self._layout()
        if layout.distributed:
            raise ClickHouseMigrationError(
                f"rename_table {old_table_name} -> {new_table_name}: a Distributed table names "
                "its local table in its engine, so renaming needs both recreated; metaxy renames "
                "features with op.rename_feature (it copies the rows), or rename "
                f"{layout.local_name(old_table_name)} by hand and recreate the Distributed "
                "table")
        self._run([f"RENAME TABLE {full_table(old_table_name, schema)} TO "
                   f"{full_table(str(new_table_name), schema)}{_cluster(layout)}"])

    # ------------------------------------------------------------------ columns
    def add_column(self, table_name: str, column: sa.Column[Any], *,
                   schema: str | None = None, if_not_exists: bool | None = None,
                   **kw: Any) -> None:
        exists = " IF NOT EXISTS" if if_not_exists else ""
        self._run(self._layout().alter(table_name, f"ADD COLUMN{exists} "
                                       f"{quote_identifier(column.name)} {column_type(column)}",
                                       schema=schema))

    def drop_column(self, table_name: str, column: sa.Column[Any], *,
                    schema: str | None = None, **kw: Any) -> None:
        with self._altering(table_name, schema):
            super().drop_column(table_name, column, schema=schema, **kw)

    def alter_column(self, table_name: str, column_name: str, **kw: Any) -> None:
        with self._altering(table_name, kw.get("schema")):
            super().alter_column(table_name, column_name, **kw)

    @contextmanager
    def _altering(self, table_name: str, schema: str | None) -> Iterator[None]:
        """Run clickhouse-connect's ``ALTER TABLE <table> <action>`` statements through the
        layout: each action is applied ``ON CLUSTER`` (with ``cluster=``) to the local and the
        ``Distributed`` table (with ``distributed=``)."""
        prefix = f"ALTER TABLE {full_table(table_name, schema)} "
        layout = self._layout()
        original: Callable[..., Any] = self._exec

        def exec_(construct: Any, *args: Any, **kw: Any) -> Any:
            text = str(construct.text) if isinstance(construct, sa.TextClause) else None
            if text is None or not text.startswith(prefix):
                raise ClickHouseMigrationError(f"unexpected DDL for table {table_name}: "
                                               f"{construct}")
            for statement in layout.alter(table_name, text[len(prefix):], schema=schema):
                original(sa.text(statement), *args, **kw)  # escaped by clickhouse-connect
            return None

        self._exec = exec_  # type: ignore[method-assign]
        try:
            yield
        finally:
            del self._exec


def _text(statement: str) -> sa.TextClause:
    """A statement as text, its colons escaped (``sa.text`` reads ``:name`` as a parameter)."""
    return sa.text(statement.replace(":", "\\:"))


def _cluster(layout: Layout) -> str:
    return f" ON CLUSTER {quote_identifier(layout.cluster)}" if layout.cluster else ""
