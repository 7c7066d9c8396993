"""PostgreSQL latest state after deep histories: with and without the post-commit VACUUM.

    .venv/bin/python -m benchmarks.pg_state_vacuum --n 100000 --depth 10 --reps 3

Two stores of the *simple* scenario are filled as ``benchmarks.state_ab`` fills one (root and
leaf written ``depth`` times, every sample each time, then 10% of the root changed): one as the
store is (a write leaving more dead state rows than live ones vacuums the state after its
commit), one with that VACUUM switched off (autovacuum still runs in both). Printed: the states'
sizes and dead rows right after the writes, the time of the writes, and the medians of
``resolve_update`` and ``status`` of the leaf, alternating between the stores. Both must return
the same increment. On a shared machine only the ratios within one run mean something.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Any

import sqlalchemy as sa

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, leaf_rows
from metaxy.store import latest_state


def _fill(store: Any, sc: Any, n: int, depth: int) -> float:
    (root,) = sc.roots
    v1 = root.make(sc.root_rows, "v1")
    t0 = time.perf_counter()
    for _ in range(depth):
        store.write(root.feature, v1)
    rows = leaf_rows(sc, store.resolve_update(sc.leaf).new)
    for _ in range(depth):
        store.write(sc.leaf, rows)
    for df in sc.mutate(n).values():
        store.write(root.feature, df)
    return time.perf_counter() - t0


def _states(store: Any, sc: Any) -> tuple[int, int]:
    """(bytes, dead rows) of the root's and the leaf's states together."""
    names = [latest_state.of(store, f).name for f in (sc.roots[0].feature, sc.leaf)]
    got = store.conn.execute(sa.text(
        "SELECT sum(pg_total_relation_size(relid)), sum(n_dead_tup) FROM pg_stat_user_tables "
        "WHERE relname IN (:a, :b)"), {"a": names[0], "b": names[1]}).one()
    store.conn.commit()
    return int(got[0] or 0), int(got[1] or 0)


def main(argv: list[str] | None = None) -> None:
    from metaxy_postgres.store import PostgresStore

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    sc = build("simple", args.n)
    variants = ("vacuum", "no_vacuum")
    filled: dict[str, tuple[float, int, int]] = {}
    times: dict[tuple[str, str], list[float]] = {(v, k): [] for v in variants
                                                 for k in ("resolve", "status")}
    stale: dict[str, list[Any]] = {}
    with contextlib.ExitStack() as stack:
        stores = {}
        for variant in variants:
            store = stack.enter_context(fresh_store("postgresql", sc.graph))
            stack.enter_context(store.open("w"))
            if variant == "no_vacuum":
                store._after_commit = lambda conn, committed: None  # the VACUUM switched off
            seconds = _fill(store, sc, args.n, args.depth)
            filled[variant] = (seconds, *_states(store, sc))
            stores[variant] = store
        for rep in range(args.reps):
            for variant in variants if rep % 2 == 0 else variants[::-1]:
                store = stores[variant]
                t0 = time.perf_counter()
                inc = store.resolve_update(sc.leaf)
                times[(variant, "resolve")].append(time.perf_counter() - t0)
                stale[variant] = sorted(inc.stale["sample_id"].to_list())
                t0 = time.perf_counter()
                store.status(sc.leaf)
                times[(variant, "status")].append(time.perf_counter() - t0)
    if stale["vacuum"] != stale["no_vacuum"]:
        raise AssertionError("the two stores' increments differ")
    assert PostgresStore  # the plugin is installed (the VACUUM is its)
    print(f"PostgreSQL simple n={args.n:,} depth {args.depth}, {args.reps} reps, medians")
    print("| variant | writes s | states MiB | dead state rows | resolve s | status s |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        sec, size, dead = filled[v]
        print(f"| {v} | {sec:.2f} | {size / 2**20:.1f} | {dead:,} | "
              f"{statistics.median(times[(v, 'resolve')]):.3f} | "
              f"{statistics.median(times[(v, 'status')]):.3f} |")


if __name__ == "__main__":
    main()
