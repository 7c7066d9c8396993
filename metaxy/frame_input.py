"""Frames handed to metaxy, converted to Polars at the edge.

``store.write``, ``store.resolve_update(samples=)`` and ``api.ingest`` accept a Polars DataFrame
(or LazyFrame), a pyarrow ``Table`` / ``RecordBatch`` or a pandas ``DataFrame``; everything
inside metaxy, and every result, is Polars. pandas is never imported here: a pandas frame can
only exist if pandas is installed, and Polars converts it (through pyarrow, a dependency).
Anything else goes to ``pl.DataFrame(...)`` as before (a dict of columns, a list of rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import polars as pl

from metaxy.errors import InvalidFrameError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # optional, no stubs
    import pyarrow as pa

FrameLike: TypeAlias = (
    "pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatch | pd.DataFrame"
    " | Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]"
)
"""What ``write``, ``resolve_update(samples=)``, ``status(samples=)`` and ``ingest`` accept as a
table: a Polars frame, a pyarrow Table/RecordBatch, a pandas DataFrame (if pandas is installed),
a dict of columns or a list of row dicts."""


def _is(obj: Any, package: str, *names: str) -> bool:
    cls = type(obj)
    return cls.__module__.split(".")[0] == package and cls.__name__ in names


def to_polars(frame: FrameLike, *, what: str, feature_key: str) -> pl.DataFrame:
    """``frame`` as a Polars DataFrame (no copy for a Polars frame).

    Raises:
        InvalidFrameError: the object cannot be read as a table (``what`` names the argument).
    """
    if isinstance(frame, pl.DataFrame):
        return frame
    try:
        if isinstance(frame, pl.LazyFrame):
            return frame.collect()
        if _is(frame, "pyarrow", "Table", "RecordBatch"):
            out = pl.from_arrow(frame)
            assert isinstance(out, pl.DataFrame)
            return out
        if _is(frame, "pandas", "DataFrame"):
            return pl.from_pandas(frame)
        return pl.DataFrame(frame)
    except InvalidFrameError:
        raise
    except Exception as e:
        raise InvalidFrameError(
            f"{what}: cannot read a {type(frame).__module__}.{type(frame).__name__} as a table "
            f"(expected a Polars DataFrame, a pyarrow Table or a pandas DataFrame): "
            f"{type(e).__name__}: {e}", feature_key=feature_key) from e
