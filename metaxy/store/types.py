"""Mapping between SQLAlchemy column types and Polars dtypes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa

UTC_DATETIME = pl.Datetime("us", "UTC")


def polars_dtype(sa_type: Any) -> pl.DataType:
    """The Polars dtype used for a column of this SQLAlchemy type."""
    t = sa_type if isinstance(sa_type, sa.types.TypeEngine) else sa_type()
    affinity = getattr(t, "_type_affinity", type(t))
    if affinity is not None and issubclass(affinity, sa.Boolean):
        return pl.Boolean()
    if affinity is not None and issubclass(affinity, sa.Integer):
        return pl.Int64()
    if affinity is not None and issubclass(affinity, sa.Float | sa.Numeric):
        return pl.Float64()
    if affinity is not None and issubclass(affinity, sa.DateTime):
        return UTC_DATETIME if getattr(t, "timezone", False) else pl.Datetime("us")
    if affinity is not None and issubclass(affinity, sa.Date):
        return pl.Date()
    if affinity is not None and issubclass(affinity, sa.LargeBinary):
        return pl.Binary()
    return pl.Utf8()


def table_schema(table: sa.Table) -> dict[str, pl.DataType]:
    return {c.name: polars_dtype(c.type) for c in table.columns}


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns a driver returned with a looser type (e.g. naive timestamps) to ``schema``."""
    exprs = []
    for name in df.columns:
        want = schema.get(name)
        have = df.schema[name]
        if want is None or have == want:
            continue
        if isinstance(want, pl.Datetime) and want.time_zone and isinstance(have, pl.Datetime):
            if have.time_zone is None:
                exprs.append(pl.col(name).dt.replace_time_zone("UTC").dt.cast_time_unit("us"))
            else:
                exprs.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        elif isinstance(want, pl.Datetime) and have == pl.Utf8:
            exprs.append(pl.col(name).str.to_datetime(time_unit="us",
                                                      time_zone=want.time_zone))
        elif want == pl.Date and have == pl.Utf8:  # SQLite returns dates as ISO text
            exprs.append(pl.col(name).str.to_date("%Y-%m-%d"))
        else:
            exprs.append(pl.col(name).cast(want, strict=False))
    return df.with_columns(exprs) if exprs else df


def cursor_batches(conn: sa.Connection, stmt: sa.Select[Any],
                    n: int) -> Iterator[Sequence[Any]]:
    """Plain execute + DB-API ``fetchmany``: ``execution_options(stream_results=True)`` on the
    store's connection would switch the connection itself to a buffered strategy whose
    pre-fetched rows ``result.cursor`` never returns (rows lost, here and in every later
    ``_fetch``)."""
    result = conn.execute(stmt)
    try:
        while result.cursor is not None:
            rows = result.cursor.fetchmany(n)  # type: ignore[union-attr]
            if not rows:
                break
            yield rows
    finally:
        result.close()

def sql_type(dtype: pl.DataType) -> sa.types.TypeEngine[Any]:
    if dtype.is_integer():
        return sa.BigInteger()
    if dtype.is_float():
        return sa.Float()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if isinstance(dtype, pl.Datetime):
        return sa.DateTime(timezone=dtype.time_zone is not None)
    if dtype == pl.Date:
        return sa.Date()
    return sa.String()
