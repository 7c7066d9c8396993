"""DuckDB latest state: hash columns stored uncompressed (as built) vs DuckDB's own choice.

    .venv/bin/python -m benchmarks.duck_state_storage --n 1000000 --reps 4

Two stores of the *simple* scenario, one per variant (``uncompressed``: the state's per-field
hash columns ``USING COMPRESSION uncompressed``, the store as built; ``auto``: no hint, DuckDB
analyses and compresses them): each gets a first write of the root, the leaf's write, and the
10% mutation of the root; the time of the latest-state upkeep in each write is recorded, and
the states' size after a CHECKPOINT. Then ``resolve_update`` and ``status`` of the leaf
alternate between the stores, ``--reps`` times (medians printed); they must return the same
increment. On a shared machine only the ratios within one run mean something.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, leaf_rows
from metaxy.store import ddl, latest_state

VARIANTS = ("uncompressed", "auto")


def _hinting(variant: str) -> Callable[[str], bool]:
    return ddl.incompressible if variant == "uncompressed" else (lambda name: False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=4)
    args = ap.parse_args(argv)
    sc = build("simple", args.n)
    (root,) = sc.roots
    v1 = root.make(sc.root_rows, "v1")
    keep, hint = latest_state.keep, ddl.incompressible
    spent = [0.0]

    def timed(*a: Any, **k: Any) -> None:
        t0 = time.perf_counter()
        keep(*a, **k)
        spent[0] += time.perf_counter() - t0

    filled: dict[str, list[float]] = {}
    times: dict[tuple[str, str], list[float]] = {(v, k): [] for v in VARIANTS
                                                 for k in ("resolve", "status")}
    stale: dict[str, list[Any]] = {}
    latest_state.keep = timed  # type: ignore[assignment]
    try:
        with contextlib.ExitStack() as stack:
            stores = {}
            for variant in VARIANTS:
                latest_state._TABLES.clear()  # state tables are cached with their columns
                ddl.incompressible = _hinting(variant)  # type: ignore[assignment]
                store = stack.enter_context(fresh_store("duckdb", sc.graph))
                stack.enter_context(store.open("w"))
                upkeep = []
                steps: list[tuple[Any, Callable[[], Any]]] = [
                    (root.feature, lambda: v1),
                    (sc.leaf, lambda s=store: leaf_rows(sc, s.resolve_update(sc.leaf).new)),
                    *[(root.feature, lambda df=df: df) for df in sc.mutate(args.n).values()]]
                for feature, rows in steps:
                    frame = rows()
                    gc.collect()
                    spent[0] = 0.0
                    store.write(feature, frame)
                    upkeep.append(spent[0])
                duck = store.conn.connection.driver_connection
                store.conn.commit()
                duck.execute("CHECKPOINT")
                blocks = sum(duck.execute(  # the state tables' storage blocks (256 KiB each)
                    "SELECT count(DISTINCT block_id) FROM pragma_storage_info(?)",
                    [latest_state.of(store, f).name]).fetchone()[0]
                    for f in (root.feature, sc.leaf))
                filled[variant] = [*upkeep, blocks * 0.25]
                stores[variant] = store
            latest_state._TABLES.clear()
            ddl.incompressible = hint  # type: ignore[assignment]
            for rep in range(args.reps):
                for variant in VARIANTS if rep % 2 == 0 else VARIANTS[::-1]:
                    store = stores[variant]
                    t0 = time.perf_counter()
                    inc = store.resolve_update(sc.leaf)
                    times[(variant, "resolve")].append(time.perf_counter() - t0)
                    stale[variant] = sorted(inc.stale["sample_id"].to_list())
                    t0 = time.perf_counter()
                    store.status(sc.leaf)
                    times[(variant, "status")].append(time.perf_counter() - t0)
    finally:
        latest_state.keep, ddl.incompressible = keep, hint  # type: ignore[assignment]
        latest_state._TABLES.clear()
    if stale["uncompressed"] != stale["auto"]:
        raise AssertionError("the two stores' increments differ")
    print(f"DuckDB simple n={args.n:,}, {args.reps} reps (reads: medians)")
    print("| state hash columns | upkeep: root write s | leaf write s | 10% mutation s | "
          "states MiB | resolve s | status s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v in VARIANTS:
        root_s, leaf_s, mut_s, mib = filled[v]
        print(f"| {v} | {root_s:.3f} | {leaf_s:.3f} | {mut_s:.3f} | {mib:.0f} | "
              f"{statistics.median(times[(v, 'resolve')]):.3f} | "
              f"{statistics.median(times[(v, 'status')]):.3f} |")


if __name__ == "__main__":
    main()
