"""The read statements of :class:`~metaxy.store.sql.SQLStore` (latest rows or history, filtered)
and the transaction around a read; kept apart so ``sql.py`` stays within the module limit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy.engine import filters as F
from metaxy.engine import sql as Q
from metaxy.store.types import table_schema

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.sql import SQLStore


def read_statement(store: SQLStore, feature: type[Feature], where: Any, with_history: bool,
                   include_deleted: bool) -> tuple[sa.Select[Any] | None, dict[str, pl.DataType]]:
    """The statement of a read (None: the table does not exist) and its frame schema: every
    physical row with ``with_history`` (tombstones included), else the latest row per sample
    (through the latest state when it is ready)."""
    table = store._table(feature)
    schema = table_schema(table)
    if not store._exists(table.name):
        return None, schema
    rel: Any = table if with_history else Q.latest(
        table, feature.spec().id_columns, include_deleted=include_deleted,
        state=store._states([feature]).get(str(feature.spec().key)))
    stmt = sa.select(rel)
    if where is not None:
        stmt = stmt.where(F.retarget(where, rel.c, what=f"feature '{feature.spec().key}'"))
    return stmt, schema


@contextlib.contextmanager
def read_tx(conn: sa.Connection) -> Iterator[sa.Connection]:
    """``conn`` for the statements of a read: committed after them, rolled back on an error
    (also when a streaming reader is closed early)."""
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
