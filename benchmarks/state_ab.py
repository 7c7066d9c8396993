"""Latest state vs window, same store, same process, alternating (issue 14).

    .venv/bin/python -m benchmarks.state_ab --backend duckdb --n 100000 --depths 1,10 --reps 3

Per history depth, one store of the *simple* scenario is filled as ``benchmarks.run`` fills it
(root and leaf written ``depth`` times, then 10% of the root changed). Then ``resolve_update``
and ``status`` of the leaf run with the store's latest state (``keeps_latest_state``, the
default) and with the window over the history (the switch off for the reads), alternating
which goes first, ``--reps`` times; medians are printed. The two must return the same
increment (checked). On a shared machine only the ratios within one row mean something.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store, leaf_rows


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(backend: str, n: int, depth: int, reps: int) -> dict[str, Any]:
    sc = build("simple", n)
    (root,) = sc.roots
    v1 = root.make(sc.root_rows, "v1")
    with fresh_store(backend, sc.graph) as store, store.open("w"):
        for _ in range(depth):
            store.write(root.feature, v1)
        rows = leaf_rows(sc, store.resolve_update(sc.leaf).new)
        for _ in range(depth):
            store.write(sc.leaf, rows)
        for df in sc.mutate(n).values():
            store.write(root.feature, df)
        times: dict[str, list[float]] = {k: [] for k in
                                         ("resolve_state", "resolve_window",
                                          "status_state", "status_window")}
        stale: dict[str, Any] = {}
        for rep in range(reps):
            for mode in (("state", "window") if rep % 2 == 0 else ("window", "state")):
                if mode == "window":
                    store.keeps_latest_state = False
                try:
                    s, inc = _timed(lambda: store.resolve_update(sc.leaf))
                    times[f"resolve_{mode}"].append(s)
                    stale[mode] = sorted(inc.stale["sample_id"].to_list())
                    s, _ = _timed(lambda: store.status(sc.leaf))
                    times[f"status_{mode}"].append(s)
                finally:
                    if mode == "window":
                        del store.keeps_latest_state
        if stale["state"] != stale["window"]:
            raise AssertionError("the increments through the state and the window differ")
    return {k: statistics.median(v) for k, v in times.items()} | {
        "stale": len(stale["state"])}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="duckdb", choices=("duckdb", "postgresql", "sqlite"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--depths", default="1,10")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{'backend':<10} {'n':>10} {'depth':>5} {'resolve state s':>16} "
          f"{'resolve window s':>17} {'ratio':>6} {'status state s':>15} "
          f"{'status window s':>16} {'ratio':>6}")
    for depth in [int(d) for d in args.depths.split(",") if d]:
        m = measure(args.backend, args.n, depth, args.reps)
        print(f"{args.backend:<10} {args.n:>10,} {depth:>5} {m['resolve_state']:>16.3f} "
              f"{m['resolve_window']:>17.3f} "
              f"{m['resolve_state'] / m['resolve_window']:>5.2f}x "
              f"{m['status_state']:>15.3f} {m['status_window']:>16.3f} "
              f"{m['status_state'] / m['status_window']:>5.2f}x", flush=True)


if __name__ == "__main__":
    main()
