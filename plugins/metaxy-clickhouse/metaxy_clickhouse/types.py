"""Arrow results of ClickHouse as frames of the statement's column types."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from metaxy.store import conform, polars_dtype


def frame_of(table: pa.Table, stmt: sa.Select[Any]) -> pl.DataFrame:
    """The rows as a frame named and typed after ``stmt``'s selected columns (by position:
    the result's labels may be shortened by the compiler)."""
    schema = {c.name: polars_dtype(c.type) for c in stmt.selected_columns}
    if table.num_rows == 0:
        return pl.DataFrame(schema=schema)
    df = pl.from_arrow(table.rename_columns(list(schema)))
    assert isinstance(df, pl.DataFrame)
    return conform(df, schema)
