"""A Delta store write against a raw ``write_delta`` of the same rows, with each of the store's
two Parquet writers (issue 16: writes <= 1.3x a raw ``write_delta``).

    .venv/bin/python -m benchmarks.delta_write_ab --n 300000 --reps 5

Two fresh ``delta:///`` stores in one process, one per value of the store option
``polars_parquet``; each round, in turn: Polars' ``DataFrame.write_delta`` of the storage-form
rows (hashes precomputed outside the timing) into a new table (the limit), a store ``write`` of
the scenario's root rows through delta-rs's writer (``polars_parquet=false``, with the store's
settings of :func:`metaxy_delta.store.writer_properties`), the same through the default
(``polars_parquet=true``: a file written by Polars, committed by delta-rs), and
``write_deltalake`` of the precomputed rows with the store's settings. Medians of wall and
process CPU time (every thread's, delta-rs's and Polars' included: steadier than wall time on a
shared machine).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid
from collections.abc import Callable

from deltalake import write_deltalake
from metaxy_delta.store import writer_properties

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, storage_of


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="simple")
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    sc = build(args.scenario, args.n)
    root = sc.roots[0]
    rows = root.make(sc.root_rows, "v1")
    times: dict[str, list[tuple[float, float]]] = {}

    def timed(label: str, run: Callable[[], object]) -> None:
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        times.setdefault(label, []).append((time.perf_counter() - t0, time.process_time() - c0))

    with fresh_store("delta", sc.graph, polars_parquet=False) as rs, rs.open("w"), \
            fresh_store("delta", sc.graph) as pq, pq.open("w"):
        storage = storage_of(rs, root.feature, rows)

        def fresh() -> str:
            return str(rs.table_uri(f"raw_{uuid.uuid4().hex[:10]}"))

        for _ in range(args.reps):
            timed("raw write_delta (limit)", lambda: storage.write_delta(fresh()))
            timed("store write, delta-rs writer", lambda: rs.write(root.feature, rows))
            timed("store write, Polars file (default)", lambda: pq.write(root.feature, rows))
            timed("raw write_deltalake, store's Parquet", lambda: write_deltalake(
                fresh(), storage, writer_properties=writer_properties(storage.columns)))
    wall = statistics.median(w for w, _ in times["raw write_delta (limit)"])
    cpu = statistics.median(c for _, c in times["raw write_delta (limit)"])
    print(f"delta {args.scenario} n={args.n:,}, {args.reps} rounds, medians\n"
          "| write | wall s | x limit | CPU s | x limit |\n|---|---|---|---|---|")
    for label, runs in times.items():
        w = statistics.median(x[0] for x in runs)
        c = statistics.median(x[1] for x in runs)
        print(f"| {label} | {w:.2f} | {w / wall:.2f} | {c:.2f} | {c / cpu:.2f} |")


if __name__ == "__main__":
    main()
