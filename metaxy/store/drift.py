"""Schema drift: a feature's stored table lacks columns its code defines.

When the code is ahead of the store (a column or field added or renamed in the model, a system
column added by a newer metaxy) and the migration has not run yet, every statement on the table
would fail with a raw driver error (``Binder Error: Table "audio__loudness" does not have a column
named ...``). A store compares the table's columns with the model's once per table and open,
before it runs a statement on the table, and raises :class:`TableSchemaMismatchError` naming the
feature, the table, the missing columns, and what to run.

Extra columns in the table are allowed: ``rename_field`` keeps a renamed field's storage columns
for the old rows, and a column dropped from the model stays readable history until a migration
drops it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from metaxy.errors import TableSchemaMismatchError

MIGRATE_HINT = ("the code is ahead of the store: generate a migration with `metaxy migrations "
                "revision --autogenerate -m \"...\"` and apply it with `metaxy migrations upgrade "
                "head`")


def stored_columns(conn: sa.Connection, table: sa.Table) -> list[str]:
    """The names of the columns ``table`` has in the database (one empty ``SELECT``; not the
    inspector: duckdb-engine's column reflection fails on DuckDB). Leaves no transaction open
    that it began."""
    began = not conn.in_transaction()
    try:
        stmt: sa.Select[Any] = (sa.select(sa.literal_column("*"))
                .select_from(sa.table(table.name, schema=table.schema)).limit(0))
        names = list(conn.execute(stmt).keys())
    except Exception:
        if began:
            conn.rollback()
        raise
    if began:
        conn.commit()
    return names


def check_columns(feature_key: str, table: sa.Table, present: Iterable[str]) -> None:
    """Raise :class:`TableSchemaMismatchError` if the model's columns are not all ``present``."""
    have = list(present)
    missing = [c.name for c in table.columns if c.name not in have]
    if not missing:
        return
    model = {c.name for c in table.columns}
    extra = [c for c in have if c not in model]
    hint = f"; the table has columns the code does not define: {extra}" if extra else ""
    raise TableSchemaMismatchError(
        f"table '{table.name}' has no column(s) {missing} that the code defines{hint}; "
        f"{MIGRATE_HINT}", feature_key=feature_key, table=table.name, missing=missing,
        extra=extra)
