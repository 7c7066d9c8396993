"""How a Polars frame reaches delta-rs (issue 16): ``write_deltalake(df.to_arrow())`` against
``write_deltalake(df)`` (the Arrow C stream, which the Delta store now uses, as Polars'
``write_delta`` does), the same storage-form rows, alternating order in one process.

    .venv/bin/python -m benchmarks.delta_arrow_ab --n 1000000 --reps 4
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import tempfile
import time

import polars as pl
from deltalake import write_deltalake

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, storage_of


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=4)
    args = ap.parse_args(argv)
    sc = build("simple", args.n)
    root = sc.roots[0]
    rows = root.make(sc.root_rows, "v1")
    with fresh_store("delta", sc.graph) as store, store.open("w"):
        df = storage_of(store, root.feature, rows)
    tmp = tempfile.mkdtemp(prefix="mxbench_")
    seconds: dict[str, list[float]] = {"to_arrow": [], "frame": []}
    try:
        for rep in range(args.reps):
            for kind in ("to_arrow", "frame") if rep % 2 == 0 else ("frame", "to_arrow"):
                gc.collect()
                t0 = time.perf_counter()
                write_deltalake(f"{tmp}/{kind}", df.to_arrow() if kind == "to_arrow" else df,
                                mode="append")
                seconds[kind].append(time.perf_counter() - t0)
        a, b = pl.read_delta(f"{tmp}/to_arrow"), pl.read_delta(f"{tmp}/frame")
        if not (a.equals(b) and a.schema == b.schema):
            raise AssertionError("the two tables differ")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"| n={args.n:,}, {args.reps} appends each | median s | every rep |\n|---|---|---|")
    for kind, secs in seconds.items():
        print(f"| write_deltalake({'df.to_arrow()' if kind == 'to_arrow' else 'df'}) | "
              f"{statistics.median(secs):.2f} | {' '.join(f'{s:.2f}' for s in secs)} |")
    print("same rows and schema: yes")


if __name__ == "__main__":
    main()
