"""Where a write's time goes beyond the raw load, step by step (issue 14, writes).

    .venv/bin/python -m benchmarks.write_profile --backend duckdb --scenario simple --n 100000
    .venv/bin/python -m benchmarks.write_profile --backend duckdb --n 1000000 --feature leaf

On a fresh store: a first write of the scenario's first root (N rows into an empty table), the
raw load of the same storage-form rows into a same-shaped copy with no index (``limit_write``),
then an append of every sample and the raw load of those rows into the copy holding N rows
(``limit_append``). Each metaxy write is broken down by timing the store's write hooks in place
(validation and staging in Python, bookkeeping rows, the clock, the bulk insert with its
hashing, statistics, the latest state's upkeep, the commit); nested steps are indented and
counted in their parent. One line per step; ``--reps`` repeats the whole sequence on a fresh
store and reports medians. Only ratios within one run mean something on a shared machine.

``--feature leaf`` writes the scenario's leaf instead (its roots written first, untimed, and
the leaf's rows taken from ``resolve_update``): a 1:1 leaf's state also stores the upstream
data versions its rows were computed from, verified by a join with the upstream states and a
hash of the written rows (:mod:`metaxy.store.state_inputs`), which a root write does not pay.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from benchmarks import limits as L
from benchmarks.scenarios import build
from benchmarks.worker import driver, fresh_store, leaf_rows, storage_of
from metaxy.store import base as store_base
from metaxy.store import latest_state
from metaxy.store import sql as store_sql


class Profile:
    """Seconds per nested step (``a/b``: step ``b`` inside ``a``) of the current write."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # process CPU (DuckDB's threads too)
        self.order: list[str] = []
        self._stack: list[str] = []
        self.raw_cpu = 0.0  # process CPU of the raw load this write is compared with

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        path = "/".join([*self._stack, name])
        if path not in self.order:
            self.order.append(path)
        self._stack.append(name)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[path] += time.perf_counter() - t0
            self.cpu[path] += time.process_time() - c0
            self._stack.pop()

    def wrap(self, owner: Any, attr: str, label: str | None = None,
             name_of: Callable[..., str] | None = None) -> Callable[[], None]:
        """Time every call of ``owner.attr``; ``name_of(*args)`` may refine the label per call.
        Returns the function that restores the original."""
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(name_of(*args) if name_of else (label or attr)):
                return original(*args, **kwargs)

        setattr(owner, attr, timed)
        return lambda: setattr(owner, attr, original)


def _table_kind(conn: Any, table: sa.Table, *rest: Any) -> str:
    return "statistics(state)" if table.name.endswith(latest_state.SUFFIX) else \
        "statistics(history)"


@contextlib.contextmanager
def instrumented(store: Any, prof: Profile) -> Iterator[None]:
    """The store's write path timed step by step (module functions and instance hooks)."""
    undo = [
        prof.wrap(store_base, "stage_write", "validate+stage (Python)"),
        prof.wrap(store, "_append", "store write (transaction)"),
        prof.wrap(store, "_record_settings", "settings row"),
        prof.wrap(store, "_ensure_table", "create table"),
        prof.wrap(store_sql, "check_int_ranges", "int ranges"),
        prof.wrap(store, "_hold_clock", "hold clock row"),
        prof.wrap(store, "_write_time", "claim write clock"),
        prof.wrap(store, "_bulk_insert", "bulk insert (+hashes)"),
        prof.wrap(store, "_refresh_statistics", name_of=_table_kind),
        prof.wrap(latest_state, "keep", "latest state upkeep"),
        prof.wrap(latest_state, "recorded", "state recorded?"),
        prof.wrap(latest_state, "history_was_empty", "history empty?"),
        prof.wrap(latest_state, "rebuild", "state rebuild"),
        prof.wrap(latest_state, "mark", "mark state"),
        prof.wrap(store, "_upsert_state", "state upsert"),
        prof.wrap(store, "_record_feature_version", "feature version row"),
    ]
    conn = store.conn
    execute = conn.execute

    def timed_execute(stmt: Any, *args: Any, **kwargs: Any) -> Any:
        """Inside the state upkeep, each statement is a step of its own (DELETE, INSERT)."""
        if "latest state upkeep" not in prof._stack:
            return execute(stmt, *args, **kwargs)
        with prof.step(f"SQL {type(stmt).__name__}"):
            return execute(stmt, *args, **kwargs)

    conn.execute = timed_execute  # type: ignore[method-assign]
    commit = conn._commit_impl  # the COMMIT issued when the write's `with conn.begin()` ends

    def timed_commit() -> None:
        with prof.step("commit"):
            commit()

    conn._commit_impl = timed_commit
    try:
        yield
    finally:
        del conn._commit_impl
        del conn.execute
        for restore in reversed(undo):
            restore()


def one_rep(backend: str, scenario: str, n: int,
            feature: str = "root") -> tuple[Profile, Profile, float, float]:
    """(first write's profile, append's profile, raw load s, raw append s); ``feature``: the
    scenario's first root, or its leaf (roots written first, untimed)."""
    sc = build(scenario, n)
    load = L.raw_load_duckdb if backend == "duckdb" else L.raw_load_postgres
    with fresh_store(backend, sc.graph) as store, store.open("w"):
        target, rows = written_feature(store, sc, feature)
        first, again = Profile(), Profile()
        copy = L.copy_table(target.__table__)  # type: ignore[attr-defined]
        copy.create(store.conn)
        store.conn.commit()
        raw = driver(store)

        def limit(prof: Profile) -> float:
            storage = storage_of(store, target, rows)
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            load(raw, copy.name, storage)
            raw.commit()
            prof.raw_cpu = time.process_time() - c0
            return time.perf_counter() - t0

        for prof in (first, again):
            gc.collect()
            with instrumented(store, prof), prof.step("write"):
                store.write(target, rows)
            if prof is first:
                lw = limit(first)
        la = limit(again)
    return first, again, lw, la


def written_feature(store: Any, sc: Any, feature: str) -> tuple[Any, Any]:
    """(feature, rows) a benchmark writes: the scenario's first root and its rows, or, for
    ``feature == "leaf"``, the leaf and the rows of its all-new increment after every root
    (and middle feature) was written (untimed)."""
    if feature == "root":
        return sc.roots[0].feature, sc.roots[0].make(sc.root_rows, "v1")
    for root in sc.roots:
        store.write(root.feature, root.make(sc.root_rows, "v1"))
    for mid in sc.middle:
        store.write(mid, leaf_rows(sc, store.resolve_update(mid).new))
    return sc.leaf, leaf_rows(sc, store.resolve_update(sc.leaf).new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("duckdb", "postgresql"), default="duckdb")
    ap.add_argument("--scenario", default="simple")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--feature", choices=("root", "leaf"), default="root",
                    help="write the scenario's first root (default) or its leaf")
    ap.add_argument("--leaf", dest="feature", action="store_const", const="leaf",
                    help="the same as --feature leaf")
    args = ap.parse_args(argv)
    reps = [one_rep(args.backend, args.scenario, args.n, args.feature)
            for _ in range(args.reps)]
    print_report(reps, f"{args.backend} {args.scenario} {args.feature} n={args.n:,}",
                 "the raw load")

def print_report(reps: list[tuple[Profile, Profile, float, float]], title: str,
                 limit_name: str) -> None:
    """Print the medians of ``reps`` (:func:`one_rep`'s tuples) as two tables, first write and
    append, each step as seconds and as a multiple of the raw load (``limit_name``)."""
    limits = {0: statistics.median(r[2] for r in reps), 1: statistics.median(r[3] for r in reps)}
    print(f"{title}, {len(reps)} rep(s), medians")
    for i, heading in ((0, "first write (empty table)"), (1, "append (every sample again)")):
        profs = [r[i] for r in reps]
        total = statistics.median(p.seconds["write"] for p in profs)
        cpu = statistics.median(p.cpu["write"] for p in profs)
        raw_cpu = statistics.median(p.raw_cpu for p in profs)  # 0: not measured
        against = f" = {cpu / raw_cpu:.2f}x its {raw_cpu:.3f} s" if raw_cpu else ""
        print(f"\n{heading}: {total:.3f} s = {total / limits[i]:.2f}x {limit_name} "
              f"({limits[i]:.3f} s); process CPU {cpu:.3f} s{against}")
        print(f"| {'step':<44} | {'s':>7} | {'x raw':>6} | {'CPU s':>7} |")
        print(f"|{'-' * 46}|{'-' * 9}|{'-' * 8}|{'-' * 9}|")
        for path in profs[0].order:
            if path == "write":
                continue
            sec = statistics.median(p.seconds.get(path, 0.0) for p in profs)
            cpu = statistics.median(p.cpu.get(path, 0.0) for p in profs)
            depth = path.count("/") - 1
            label = "  " * depth + path.rsplit("/", 1)[-1]
            print(f"| {label:<44} | {sec:7.3f} | {sec / limits[i]:6.2f} | {cpu:7.3f} |")
        inner = statistics.median(
            p.seconds["write"] - sum(s for k, s in p.seconds.items() if k.count("/") == 1)
            for p in profs)
        print(f"| {'(rest: versions, write API)':<44} | {inner:7.3f} | "
              f"{inner / limits[i]:6.2f} | {'':>7} |")

if __name__ == "__main__":
    main()
