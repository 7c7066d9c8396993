"""Appends whose Parquet file Polars writes (metaxy_delta.parquet_append) give the table, the
rows and the log statistics delta-rs's own writer gives; anything else keeps delta-rs's writer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from metaxy_delta.parquet_append import append_file, fits
from mxdelta_helpers import item_graph, item_samples

import metaxy as mx
from metaxy import columns as C

T0 = datetime(2026, 12, 4, 23, 59, 58, 123789, tzinfo=UTC)


def flat_rows(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "id": [f"s{i}" for i in range(n)],
        "n": pl.Series(list(range(n)), dtype=pl.Int64),
        "small": pl.Series([i % 7 for i in range(n)], dtype=pl.Int32),
        "x": [None if i % 3 == 0 else i / 4 for i in range(n)],
        "ok": [i % 2 == 0 for i in range(n)],
        "day": [date(2026, 1, 1 + i % 28) for i in range(n)],
        "at": pl.Series([T0] * n, dtype=pl.Datetime("us", "UTC")),
        "gone": pl.Series([None] * n, dtype=pl.Datetime("us", "UTC")),
    })


def empty_table(path: Path, rows: pl.DataFrame) -> DeltaTable:
    DeltaTable.create(str(path), rows.head(0).to_arrow().schema)
    return DeltaTable(str(path))


def test_polars_file_reads_back_as_delta_rs_writes_it(tmp_path: Path) -> None:
    rows = flat_rows(1000)
    ours, theirs = empty_table(tmp_path / "ours", rows), empty_table(tmp_path / "theirs", rows)
    assert fits(rows, ours)
    append_file(ours, str(tmp_path / "ours"), rows)
    write_deltalake(theirs, rows, mode="append")
    a, b = pl.read_delta(str(tmp_path / "ours")), pl.read_delta(str(tmp_path / "theirs"))
    assert a.schema == b.schema == rows.schema
    assert a.equals(rows) and b.equals(rows)
    # the statistics metaxy reads (the write clock) and Polars prunes with, as delta-rs has them
    stats_a = pl.DataFrame(DeltaTable(str(tmp_path / "ours")).get_add_actions(flatten=True))
    stats_b = pl.DataFrame(DeltaTable(str(tmp_path / "theirs")).get_add_actions(flatten=True))
    for c in ["num_records", *[f"null_count.{c}" for c in rows.columns],
              *[f"{m}.{c}" for m in ("min", "max") for c in ("n", "small", "day", "at")]]:
        assert stats_a[c].to_list() == stats_b[c].to_list(), c
    assert stats_a["max.at"][0] == T0.replace(microsecond=123000)  # milliseconds, as delta-rs
    # a filter on a column without min/max in the log still finds its rows
    assert pl.scan_delta(str(tmp_path / "ours")).filter(pl.col("id") == "s7").collect().height == 1


def test_only_rows_matching_the_table_exactly_take_the_polars_file(tmp_path: Path) -> None:
    rows = flat_rows(10)
    table = empty_table(tmp_path / "t", rows)
    assert fits(rows, table)
    assert not fits(rows.head(0), table)  # nothing to write
    assert not fits(rows.drop("ok"), table)  # the table has a column the rows lack
    assert not fits(rows.with_columns(pl.lit(1).alias("extra")), table)
    assert not fits(rows.with_columns(pl.col("small").cast(pl.Int64)), table)  # other type
    nested = rows.with_columns(pl.struct("n", "ok").alias("s"))
    assert not fits(nested, empty_table(tmp_path / "nested", nested))
    table.alter.add_constraint({"positive": "n >= 0"})  # delta-rs's writer checks it
    assert not fits(rows, DeltaTable(str(tmp_path / "t")))


def test_store_rows_equal_either_writer(tmp_path: Path) -> None:
    graph, item = item_graph()
    kept = ["grp", "item", "n", C.PROVENANCE, C.DATA_VERSION, C.PROVENANCE_BY_FIELD]
    found = []
    for polars_parquet in (True, False):
        url = f"delta:///{tmp_path}/{polars_parquet}"
        store = mx.get_store(url, graph=graph, config=mx.MetaxyConfig(),
                             polars_parquet=polars_parquet)
        with store.open("w"):
            store.write(item, item_samples(0, 0, 50))
            store.write(item, item_samples(0, 0, 50).with_columns(pl.lit(7).alias("n")))
            assert store.read(item, with_history=True).height == 100
            found.append(store.read(item).sort("item").select(kept))
            writers = {pq.read_metadata(f).created_by.split()[0]
                       for f in (tmp_path / str(polars_parquet)).glob("dlt__item/*.parquet")}
            assert writers == ({"Polars"} if polars_parquet else {"parquet-rs"}), writers
    assert found[0].height == 50 and found[0]["n"].to_list() == [7] * 50
    assert found[0].equals(found[1])


def test_store_rejects_a_non_boolean_option(delta_url: str) -> None:
    graph, _ = item_graph()
    with pytest.raises(mx.errors.StoreOptionError, match="polars_parquet"):
        mx.get_store(delta_url, graph=graph, config=mx.MetaxyConfig(), polars_parquet="yes")
