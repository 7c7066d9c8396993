"""Integer values that do not fit an existing table's narrow integer column are refused up front.

metaxy maps a Python ``int`` to BIGINT (:func:`metaxy.feature._widen_int_columns`), but tables
created by earlier versions (or columns declared ``sa_type=sa.Integer``) hold 32-bit INTEGER
columns on DuckDB and PostgreSQL. A value outside their range used to fail inside the driver with
a raw conversion error; it is now refused before the insert, naming the feature, the column, the
value and the migration that widens the column. Nothing is reflected unless a value exceeds the
32-bit range, so an ordinary write costs one min/max per integer column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import sqlalchemy as sa

from metaxy.engine.plan import user_columns
from metaxy.store.values import fail, first_true

if TYPE_CHECKING:
    from metaxy.feature import Feature

INT32 = (-(2**31), 2**31 - 1)
INT16 = (-(2**15), 2**15 - 1)


_COLUMNS = sa.table("columns", sa.column("table_schema"), sa.column("table_name"),
                    sa.column("column_name"), sa.column("data_type"),
                    schema="information_schema")
_BOUNDS = {"smallint": INT16, "int2": INT16, "integer": INT32, "int4": INT32, "int": INT32}


def _column_types(conn: sa.Connection, table: str) -> dict[str, str]:
    """The database's type name of each column of ``table`` (information_schema: DuckDB's
    SQLAlchemy reflection queries PostgreSQL catalogs it does not have)."""
    c = _COLUMNS.c
    stmt = sa.select(c.column_name, c.data_type).where(
        c.table_name == table, c.table_schema == sa.func.current_schema())
    return {str(name): str(dtype) for name, dtype in conn.execute(stmt)}


def _outside(s: pl.Series, low: int, high: int) -> pl.Series:
    return (s < low) | (s > high)


def check_int_ranges(conn: sa.Connection, feature: type[Feature], table: sa.Table,
                     frame: pl.DataFrame) -> None:
    """Refuse a value that does not fit the *database's* type of its integer column."""
    wide = [c for c in user_columns(feature) if c in frame.columns
            and frame.schema[c].is_integer() and _outside(frame[c], *INT32).any()]
    if not wide:
        return
    reflected = _column_types(conn, table.name)
    for name in wide:
        bounds = _BOUNDS.get(reflected.get(name, "").lower())
        if bounds is None:
            continue
        row = first_true(_outside(frame[name], *bounds))
        if row is None:
            continue
        bits = 16 if bounds == INT16 else 32
        fail(feature, name, row,
             f"value {frame[name][row]} does not fit the {bits}-bit column "
             f"'{table.name}.{name}' ({reflected[name]}, created before metaxy mapped int to "
             f"BIGINT, or declared so); widen it in a migration: "
             f"op.alter_column('{table.name}', '{name}', type_=sa.BigInteger())")
