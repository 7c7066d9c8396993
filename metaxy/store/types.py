"""Mapping between SQLAlchemy column types and Polars dtypes."""

from __future__ import annotations

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
