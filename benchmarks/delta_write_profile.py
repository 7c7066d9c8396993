"""Where a Delta store write's time goes beyond a raw ``write_delta``, step by step (issue 16).

    .venv/bin/python -m benchmarks.delta_write_profile --scenario simple --n 1000000

On a fresh ``delta:///`` store: a first write of the scenario's first root (N rows into an
empty table), the raw ``DataFrame.write_delta`` of the same storage-form rows (hashes
precomputed, outside the timing) into a fresh Delta table (``limit_write``), then an append
of every sample and the raw append of those rows into the copy holding N rows
(``limit_append``). Each metaxy write is broken down by timing the store's steps in place
(validation and staging, the hashes, casts, the settings table, the table lookup, the schema
check, the write clock from the log, the Arrow conversion, delta-rs's write and commit, or the
Polars-written file, its statistics and its commit);
nested steps are indented and counted in their parent. Only ratios within one run mean
something on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import time
import uuid

import deltalake
import metaxy_delta.store as delta_store
import polars as pl
from metaxy_delta import parquet_append

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, storage_of
from benchmarks.write_profile import Profile, print_report
from metaxy.engine import staged
from metaxy.store import base as store_base


def one_rep(scenario: str, n: int) -> tuple[Profile, Profile, float, float]:
    """(first write's profile, append's profile, raw write s, raw append s)."""
    sc = build(scenario, n)
    root = sc.roots[0]
    rows = root.make(sc.root_rows, "v1")
    with fresh_store("delta", sc.graph) as store, store.open("w"):
        first, again = Profile(), Profile()
        path = store.table_uri(f"rawload_{uuid.uuid4().hex[:10]}")

        def limit() -> float:
            storage = storage_of(store, root.feature, rows)
            gc.collect()
            t0 = time.perf_counter()
            storage.write_delta(path, mode="append")
            return time.perf_counter() - t0

        lw = 0.0
        for prof in (first, again):
            undo = [
                prof.wrap(store_base, "stage_write", "validate+stage (Python)"),
                prof.wrap(store, "_append", "store _append"),
                prof.wrap(staged.StagedRows, "finish", "finish (hashes, constants)"),
                prof.wrap(staged, "_finish_hashes", "hashes"),
                prof.wrap(store, "_record_setting", "settings table"),
                prof.wrap(store, "_create_if_missing", "table lookup+create"),
                prof.wrap(store, "_check_columns", "schema check"),
                prof.wrap(store, "_last_write", "write clock (log stats)"),
                prof.wrap(store, "stamp_after", "stamp times"),
                prof.wrap(pl.DataFrame, "to_arrow", "to_arrow"),
                prof.wrap(pl.DataFrame, "select", "select (casts)"),
                prof.wrap(deltalake.DeltaTable, "create", "DeltaTable.create"),
                prof.wrap(deltalake, "write_deltalake", "write_deltalake (+commit)"),
                prof.wrap(delta_store, "fits", "Polars file: schema check"),
                prof.wrap(delta_store, "append_file", "Polars file + commit"),
                prof.wrap(pl.DataFrame, "write_parquet", "write_parquet"),
                prof.wrap(parquet_append, "file_stats", "file statistics"),
                prof.wrap(deltalake.DeltaTable, "create_write_transaction", "commit"),
            ]
            gc.collect()
            try:
                with prof.step("write"):
                    store.write(root.feature, rows)
            finally:
                for restore in reversed(undo):
                    restore()
            if prof is first:
                lw = limit()
        la = limit()
    return first, again, lw, la


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="simple")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args(argv)
    reps = [one_rep(args.scenario, args.n) for _ in range(args.reps)]
    print_report(reps, f"delta {args.scenario} n={args.n:,}", "the raw write_delta")

if __name__ == "__main__":
    main()
