"""The 1:1 leaf's state upkeep on DuckDB, statement by statement, variants alternating.

    .venv/bin/python -m benchmarks.duck_leaf_state --n 1000000 --reps 3

Builds one store (the simple scenario: roots written, the leaf written twice through the store),
then per repetition and variant (order alternating) copies its file and replays the upkeep of
the leaf's last write on the copy, in one transaction: the ``DELETE`` of the written samples'
state rows, the ``INSERT`` of the verified rows (the store's own statements:
:func:`metaxy.store.latest_state.written`, :func:`metaxy.store.state_inputs.complete`), and the
commit. The state then holds the same rows as after the store's write (checked). Variants:

* ``delete by source``: the ids read from the verified rows (the join with the upstream states
  evaluated for them), as before; ``delete by keys``: from the write's narrow rows;
* ``ordered`` / ``unordered``: the insert with DuckDB's ``preserve_insertion_order`` on / off
  (off, the join's probe and the verifying hashes run on every thread);
* ``join only``: the input columns joined, every signature NULL (no verifying hash);
  ``unverified``: the write's rows with NULL input and signature columns (no join either).
  These two leave another state (fewer verified rows): they split the insert's cost.

Prints wall and process CPU seconds per step (medians) and the load average per repetition.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import metaxy as mx
from benchmarks.scenarios import build
from benchmarks.worker import fresh_store
from benchmarks.write_profile import written_feature
from metaxy import columns as C
from metaxy.engine import compare
from metaxy.store import latest_state, state_inputs

VARIANTS = {
    "delete by source, ordered": (False, True, "verified"),
    "delete by keys, ordered": (True, True, "verified"),
    "delete by keys, unordered": (True, False, "verified"),
    "join only": (True, True, "join only"),
    "unverified": (True, True, "unverified"),
}


def inserted(keys: sa.Select[Any], source: sa.Select[Any], kind: str) -> sa.Select[Any]:
    """What the variant inserts: ``source`` (verified), or it with NULL signatures, or the
    write's rows with NULL input and signature columns."""
    if kind == "verified":
        return source
    src = (source if kind == "join only" else keys).subquery("v")
    names = [c.name for c in source.selected_columns]
    return sa.select(*[src.c[n] if n in src.c and not n.startswith(compare.CODE_PREFIX)
                       else sa.cast(sa.null(), sa.String).label(n) for n in names])


def replay(store: Any, leaf: Any, by_keys: bool, ordered: bool,
           kind: str) -> dict[str, tuple[float, float]]:
    """The upkeep of the leaf's last write, timed per statement (wall s, process CPU s)."""
    conn = store.conn
    table: sa.Table = leaf.__table__
    state = latest_state.of(store, leaf)
    ids = leaf.spec().id_columns
    at = conn.execute(sa.select(sa.func.max(table.c[C.UPDATED_AT]))).scalar()
    conn.commit()
    keys = latest_state.written(table, state, at)
    source = state_inputs.complete(store, leaf, keys)
    assert source is not keys, "the leaf's state has no verified input columns"
    duck = conn.connection.driver_connection
    out: dict[str, tuple[float, float]] = {}

    def step(name: str, fn: Any) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out[name] = (time.perf_counter() - t0, time.process_time() - c0)

    with conn.begin():
        step("DELETE", lambda: latest_state.delete_samples(conn, state, ids,
                                                           keys if by_keys else source))
        duck.execute("SET preserve_insertion_order = ?", [ordered])
        step("INSERT", lambda: conn.execute(sa.insert(state).from_select(
            [c.name for c in state.c], inserted(keys, source, kind))))
        duck.execute("RESET preserve_insertion_order")
        commit = conn._commit_impl

        def timed() -> None:
            step("commit", commit)
        conn._commit_impl = timed
    del conn._commit_impl
    counts = conn.execute(sa.select(sa.func.count(), sa.func.count(state.c[C.ROW_ID]).filter(
        state.c[C.UPDATED_AT] == at))).one()
    conn.commit()
    if counts[0] != counts[1]:
        raise AssertionError(f"the state holds {counts[0]} rows, {counts[1]} of the last write")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    sc = build("simple", args.n)
    got: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="mx_leaf_state_") as tmp:
        base = Path(tmp) / "base.duckdb"
        with fresh_store("duckdb", sc.graph) as store:
            with store.open("w"):
                leaf, rows = written_feature(store, sc, "leaf")
                store.write(leaf, rows)
                store.write(leaf, rows)
            shutil.copy(store.path, base)
        copy = Path(tmp) / "copy.duckdb"
        for rep in range(args.reps):
            names = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
            for name in names:
                shutil.copy(base, copy)
                store = mx.get_store(f"duckdb:///{copy}", graph=sc.graph)
                with store.open("w"):
                    times = replay(store, sc.leaf, *VARIANTS[name])
                copy.unlink()
                for k, v in times.items():
                    got[name][k].append(v)
                steps = " | ".join(f"{k} {w:.2f} s (CPU {c:.2f})" for k, (w, c) in times.items())
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"rep {rep} {name:<26} (load {load}): {steps}", flush=True)
    print(f"medians, simple leaf n={args.n:,}, {args.reps} rep(s): wall s (process CPU s)")
    for name, steps in got.items():
        parts = [f"{k} {statistics.median(w for w, _ in v):.2f} "
                 f"({statistics.median(c for _, c in v):.2f})" for k, v in steps.items()]
        total_w = statistics.median(sum(v[i][0] for v in steps.values()) for i in range(args.reps))
        total_c = statistics.median(sum(v[i][1] for v in steps.values()) for i in range(args.reps))
        print(f"  {name:<26}: {' | '.join(parts)} | total {total_w:.2f} ({total_c:.2f})")


if __name__ == "__main__":
    main()
