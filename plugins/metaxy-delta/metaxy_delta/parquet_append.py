"""Appends whose Parquet file Polars writes, committed to the Delta log by delta-rs.

``write_deltalake`` runs the rows through delta-rs's own writer (a DataFusion plan, a cast to the
table's Arrow schema, a single-threaded Parquet encoder, statistics gathered back from the file).
For a plain append of flat columns into a local table, Polars' multi-threaded Parquet writer
produces an equivalent file with less CPU and about half the wall time (docs/performance-history.md,
"Delta writes II"); delta-rs then only commits it (``create_write_transaction``: the same
optimistic commit, conflict checks and retries as its own writes). Every other write (object
stores, nested or unusual column types, a table whose schema is not exactly the rows' one, a
``target_file_size``) keeps ``write_deltalake``.

The commit's ``add`` action carries the statistics delta-rs would write for the columns whose
encoding is unambiguous (record count, null counts, min/max of integer, date and UTC timestamp
columns; timestamps truncated to milliseconds, as delta-rs does); min/max of strings and floats
are left out, which only means no file skipping on them (metaxy's row ids and hashes are
random, so a file's range would span nearly all values anyway).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from deltalake import DeltaTable

FLAT = (pl.Utf8, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Float32, pl.Float64, pl.Boolean,
        pl.Date)


def _flat(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Datetime):
        return dtype.time_unit == "us" and dtype.time_zone in (None, "UTC")
    return any(dtype == t for t in FLAT)


def _ranged(dtype: pl.DataType) -> bool:
    """Columns whose min/max go into the statistics (their JSON form is unambiguous)."""
    if isinstance(dtype, pl.Datetime):
        return dtype.time_zone == "UTC"
    return dtype.is_integer() or dtype == pl.Date


def fits(rows: pl.DataFrame, table: DeltaTable) -> bool:
    """Whether ``rows`` can be appended as a file Polars writes: flat column types only, the
    rows' Delta schema is the table's (same names, same types), so the commit changes no
    metadata and every reader sees the file as delta-rs would have written it, and the table
    asks nothing of a writer beyond writing the file: writer protocol <= 2 (no CHECK
    constraints, generated or identity columns, column mapping, change data feed, or writer
    features, which delta-rs's writer enforces) and no column invariants."""
    from deltalake import Schema

    if rows.height == 0 or not all(_flat(t) for t in rows.schema.values()):
        return False
    if table.protocol().min_writer_version > 2 or any(f.metadata for f in table.schema().fields):
        return False
    ours = {f.name: f.type for f in Schema.from_arrow(rows.head(0).to_arrow().schema).fields}
    theirs = {f.name: f.type for f in table.schema().fields}
    return ours.keys() == theirs.keys() and all(ours[n] == theirs[n] for n in ours)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):  # UTC, truncated to milliseconds as delta-rs writes them
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def file_stats(rows: pl.DataFrame) -> str:
    """The ``stats`` JSON of an ``add`` action for a file holding exactly ``rows``."""
    ranged = [c for c, t in rows.schema.items() if _ranged(t)]
    bounds = rows.select([pl.col(c).min().alias(f"min:{c}") for c in ranged]
                         + [pl.col(c).max().alias(f"max:{c}") for c in ranged]).row(0, named=True) \
        if ranged else {}
    stats: dict[str, Any] = {"numRecords": rows.height, "minValues": {}, "maxValues": {},
                             "nullCount": {c: rows[c].null_count() for c in rows.columns}}
    for c in ranged:
        if bounds[f"min:{c}"] is not None:
            stats["minValues"][c] = _json_value(bounds[f"min:{c}"])
            stats["maxValues"][c] = _json_value(bounds[f"max:{c}"])
    return json.dumps(stats)


def append_file(table: DeltaTable, directory: str, rows: pl.DataFrame) -> None:
    """Write ``rows`` as one ZSTD Parquet file in the table's ``directory`` and commit it.

    A refused commit leaves the file unreferenced (``vacuum`` deletes it), as a refused
    ``write_deltalake`` does; :func:`~metaxy_delta.store.retry_commit` writes a new one.
    """
    from deltalake.transaction import AddAction

    name = f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    path = os.path.join(directory, name)
    rows.write_parquet(path, compression="zstd", compression_level=1)
    add = AddAction(path=name, size=os.path.getsize(path), partition_values={},
                    modification_time=int(time.time() * 1000), data_change=True,
                    stats=file_stats(rows))
    table.create_write_transaction([add], "append", table.schema())
