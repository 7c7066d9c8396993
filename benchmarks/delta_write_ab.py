"""A Delta store write against a raw ``write_delta`` of the same rows, with and without the
store's Parquet settings (issue 16: writes <= 1.3x a raw ``write_delta``).

    .venv/bin/python -m benchmarks.delta_write_ab --n 300000 --reps 5

One fresh ``delta:///`` store; each round, in turn: Polars' ``DataFrame.write_delta`` of the
storage-form rows (hashes precomputed outside the timing) into a new table (the limit), a
store ``write`` of the scenario's root rows with delta-rs's default Parquet settings, the same
with the store's own (:func:`metaxy_delta.store.writer_properties`: ZSTD, no dictionary for
the hash and row-id columns), and ``write_deltalake`` of the precomputed rows with the store's
settings (what the same settings give the raw write). Medians of wall and process CPU time
(every thread's, delta-rs's included: steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid
from collections.abc import Callable

import metaxy_delta.store as delta_store
from deltalake import write_deltalake

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
    tuned = delta_store.writer_properties
    times: dict[str, list[tuple[float, float]]] = {}

    def timed(label: str, run: Callable[[], object]) -> None:
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        times.setdefault(label, []).append((time.perf_counter() - t0, time.process_time() - c0))

    with fresh_store("delta", sc.graph) as store, store.open("w"):
        storage = storage_of(store, root.feature, rows)

        def fresh() -> str:
            return str(store.table_uri(f"raw_{uuid.uuid4().hex[:10]}"))

        try:
            for _ in range(args.reps):
                timed("raw write_delta (limit)", lambda: storage.write_delta(fresh()))
                delta_store.writer_properties = lambda columns: None  # type: ignore[assignment,return-value]
                timed("store write, default Parquet", lambda: store.write(root.feature, rows))
                delta_store.writer_properties = tuned
                timed("store write, store's Parquet", lambda: store.write(root.feature, rows))
                timed("raw write_deltalake, store's Parquet", lambda: write_deltalake(
                    fresh(), storage, writer_properties=tuned(storage.columns)))
        finally:
            delta_store.writer_properties = tuned
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
