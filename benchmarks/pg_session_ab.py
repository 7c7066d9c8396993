"""PostgreSQL server settings of the store's session, A against B, per history depth (issue 14).

    .venv/bin/python -m benchmarks.pg_session_ab --n 1000000 --depths 1,10 --reps 3
    .venv/bin/python -m benchmarks.pg_session_ab --a jit=on --b jit=off   # the defaults
    .venv/bin/python -m benchmarks.pg_session_ab --depths 1 --steps write_10pct --vacuum \
        --a work_mem=4MB --b work_mem=64MB

Per depth, one store of the scenario is filled as ``benchmarks.resolve_ab`` fills it (roots and
leaf written ``depth`` times, then 10% of the roots changed). Then, ``--reps`` times, each step
runs once with the settings of ``--a`` and once with those of ``--b`` (``set_config`` on the
store's connection, for the session), the order of the pairs and within them rotating
(``--steps``): ``resolve_update`` of the leaf, ``status``, the 10% root mutation written again
(each such write replaces the mutated samples' state rows once more) and ``write_all``, every
root row written again (a full rewrite: the state's every row replaced). Printed: per depth
and step the medians of wall time (the work is in the server) and B / A; then, per side, the
growth from the first depth to the last. ``--vacuum``: the whole database is vacuumed before
each timed step (as autovacuum would between writes a minute apart), so no step inherits the
dead rows of the one before it or pays their vacuum.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from benchmarks.resolve_ab import fill
from benchmarks.scenarios import build
from benchmarks.worker import driver, fresh_store, keys_equal


def _settings(text: str) -> list[tuple[str, str]]:
    """``name=value[,name=value]`` -> pairs."""
    return [(k.strip(), v.strip()) for k, v in (p.split("=", 1) for p in text.split(",") if p)]


def measure(scenario: str, n: int, depth: int, reps: int,
            sides: dict[str, list[tuple[str, str]]],
            wanted: list[str], vacuum: bool = False) -> dict[tuple[str, str], float]:
    sc = build(scenario, n)
    with fresh_store("postgresql", sc.graph) as store, store.open("w"):
        fill("postgresql", sc, n, depth, store)
        roots = {str(r.feature.spec().key): r.feature for r in sc.roots}
        mutation = sc.mutate(n)
        everything = {str(r.feature.spec().key): r.make(sc.root_rows, "v1") for r in sc.roots}

        def use(side: str) -> None:
            for name, value in sides[side]:
                store.conn.execute(sa.select(sa.func.set_config(name, value, False)))
            store.conn.commit()

        def resolve() -> None:
            out = store.resolve_update(sc.leaf)
            if not keys_equal(out.stale, sc.expected_stale(n), sc.key_columns):
                raise AssertionError("the increment is not the mutated samples")

        def write(frames: dict[str, Any]) -> None:
            for key, df in frames.items():
                store.write(roots[key], df)

        every: dict[str, Callable[[], Any]] = {
            "resolve": resolve, "status": lambda: store.status(sc.leaf),
            "write_10pct": lambda: write(mutation), "write_all": lambda: write(everything)}
        steps = {k: every[k] for k in wanted}
        times: dict[tuple[str, str], list[float]] = {}
        names = list(steps)
        for rep in range(reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                for side in ("a", "b") if rep % 2 == 0 else ("b", "a"):
                    use(side)
                    if vacuum:
                        raw = driver(store)
                        raw.autocommit = True
                        raw.execute("VACUUM")
                        raw.autocommit = False
                    t0 = time.perf_counter()
                    steps[name]()
                    times.setdefault((name, side), []).append(time.perf_counter() - t0)
        use("b")
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="simple")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--depths", default="1,10")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--a", default="jit=on", help="settings of side A (name=value,...)")
    ap.add_argument("--b", default="jit=off", help="settings of side B (name=value,...)")
    ap.add_argument("--vacuum", action="store_true", help="VACUUM before each timed step")
    ap.add_argument("--steps", default="resolve,status,write_10pct",
                    help="of resolve, status, write_10pct, write_all")
    args = ap.parse_args(argv)
    sides = {"a": _settings(args.a), "b": _settings(args.b)}
    depths = [int(d) for d in args.depths.split(",") if d]
    wanted = [s for s in args.steps.split(",") if s]
    print(f"A: {args.a}  B: {args.b}  ({args.scenario}, n={args.n:,}, {args.reps} reps, "
          "medians of wall s)")
    print(f"{'depth':>5} {'step':<12} {'A s':>8} {'B s':>8} {'B / A':>7}")
    got: dict[int, dict[tuple[str, str], float]] = {}
    for depth in depths:
        got[depth] = m = measure(args.scenario, args.n, depth, args.reps, sides, wanted,
                                   args.vacuum)
        for step in wanted:
            a, b = m[(step, "a")], m[(step, "b")]
            print(f"{depth:>5} {step:<12} {a:>8.3f} {b:>8.3f} {b / a:>6.2f}x", flush=True)
    if len(depths) > 1:
        first, last = depths[0], depths[-1]
        for step in wanted:
            grow = {s: got[last][(step, s)] / got[first][(step, s)] for s in ("a", "b")}
            print(f"depth {first} -> {last}, {step}: A {grow['a']:.2f}x, B {grow['b']:.2f}x")


if __name__ == "__main__":
    main()
