"""``resolve_update`` / ``status`` against the narrow-join limit, same store, same process,
alternating (issue 14, "compare, don't re-hash").

    .venv/bin/python -m benchmarks.resolve_ab --backend duckdb --n 1000000 --depths 1,10 --reps 5

Per history depth, one store of the scenario is filled as ``benchmarks.run`` fills it (roots
and leaf written ``depth`` times, the limit's state tables built as the worker builds them,
then 10% of the roots changed). Then ``resolve_update`` of the leaf, the hand-written narrow
join (``limit_resolve``) and ``status`` run ``--reps`` times in turn, rotating which goes first.
Printed: medians of wall time and of this process's CPU time (user + system; DuckDB runs in
the process, so on a loaded machine the CPU ratio is the steadier one; PostgreSQL's work is in
the server, so only wall times mean something there) and the ratios of the medians. The
increment is checked against the expected stale samples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks import limits as L
from benchmarks.scenarios import build
from benchmarks.worker import STATE_DOWN, STATE_UP, driver, fresh_store, keys_equal, leaf_rows


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), sum(os.times()[:2])
    out = fn()
    return time.perf_counter() - w0, sum(os.times()[:2]) - c0, out


def fill(backend: str, sc: Any, n: int, depth: int, store: Any) -> tuple[Any, Any, list[str]]:
    """Fill an open store as ``benchmarks.run`` does (roots and leaf written ``depth`` times,
    the limit's state tables built, then 10% of the roots changed); returns the driver
    connection, the leaf's plan and the limit's upstream state tables."""
    for root in sc.roots:
        rows = root.make(sc.root_rows, "v1")
        for _ in range(depth):
            store.write(root.feature, rows)
    leaf = leaf_rows(sc, store.resolve_update(sc.leaf).new)
    for _ in range(depth):
        store.write(sc.leaf, leaf)
    plan = store.plan(sc.leaf)
    ups = [STATE_UP.format(i) for i in range(len(plan.deps))]
    raw = driver(store)
    L.build_state(raw, backend, plan, ups, STATE_DOWN)
    roots = {str(r.feature.spec().key): r.feature for r in sc.roots}
    for key, df in sc.mutate(n).items():
        store.write(roots[key], df)
    L.build_state(raw, backend, plan, ups, None)
    return raw, plan, ups


def measure(backend: str, scenario: str, n: int, depth: int, reps: int) -> dict[str, Any]:
    sc = build(scenario, n)
    with fresh_store(backend, sc.graph) as store, store.open("w"):
        raw, plan, ups = fill(backend, sc, n, depth, store)
        run = L.run_narrow_duckdb if backend == "duckdb" else L.run_narrow_postgres

        def limit() -> Any:
            df = run(raw, plan, ups, STATE_DOWN)
            raw.commit()
            return df

        steps: dict[str, Callable[[], Any]] = {
            "resolve": lambda: store.resolve_update(sc.leaf),
            "limit": limit,
            "status": lambda: store.status(sc.leaf),
        }
        wall: dict[str, list[float]] = {k: [] for k in steps}
        cpu: dict[str, list[float]] = {k: [] for k in steps}
        names = list(steps)
        for rep in range(reps):
            for name in names[rep % 3:] + names[:rep % 3]:
                w, c, out = _timed(steps[name])
                wall[name].append(w)
                cpu[name].append(c)
                if name == "resolve" and not keys_equal(out.stale, sc.expected_stale(n),
                                                         sc.key_columns):
                    raise AssertionError("the increment is not the mutated samples")
    return {f"{k}_{m}": statistics.median(v[k]) for m, v in (("wall", wall), ("cpu", cpu))
            for k in steps}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="duckdb", choices=("duckdb", "postgresql"))
    ap.add_argument("--scenario", default="simple")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--depths", default="1,10")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"{'backend':<10} {'scenario':<8} {'n':>10} {'depth':>5} | wall s: {'resolve':>8} "
          f"{'limit':>7} {'ratio':>6} {'status':>7} | cpu s: {'resolve':>8} {'limit':>7} "
          f"{'ratio':>6} {'status':>7}")
    for depth in [int(d) for d in args.depths.split(",") if d]:
        m = measure(args.backend, args.scenario, args.n, depth, args.reps)
        print(f"{args.backend:<10} {args.scenario:<8} {args.n:>10,} {depth:>5} | "
              f"{m['resolve_wall']:>16.3f} {m['limit_wall']:>7.3f} "
              f"{m['resolve_wall'] / m['limit_wall']:>5.2f}x {m['status_wall']:>7.3f} | "
              f"{m['resolve_cpu']:>15.3f} {m['limit_cpu']:>7.3f} "
              f"{m['resolve_cpu'] / max(m['limit_cpu'], 1e-9):>5.2f}x {m['status_cpu']:>7.3f}",
              flush=True)


if __name__ == "__main__":
    main()
