"""Write vs raw bulk load, in alternating order: a closer look at the write ratio.

    .venv/bin/python -m benchmarks.write_pairs --backend duckdb --scenario wide --n 1000000 --reps 4
    .venv/bin/python -m benchmarks.write_pairs --backend duckdb --scenario simple --feature leaf

The main harness times ``write`` before ``limit_write`` in every round, so whichever runs first
pays the process's first-touch costs. Here each repetition uses a fresh store and alternates the
order (even reps: raw load first; odd reps: metaxy first), for the first root table of the
scenario: an empty-table write and an append, each against the raw load of identical rows into a
copy of the same table (DuckDB: INSERT from Arrow; PostgreSQL: COPY). Checks that both tables
hold the same ids and hashes; prints one line per repetition and the median ratios, of wall
time and of this process's CPU time (DuckDB runs in it; steadier than wall time on a loaded
machine). ``--feature leaf`` writes the scenario's leaf instead (roots written first, untimed;
a 1:1 leaf's state upkeep also verifies its inputs: :mod:`metaxy.store.state_inputs`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

import sqlalchemy as sa

from benchmarks import limits as L
from benchmarks.scenarios import build
from benchmarks.worker import driver, fresh_store, storage_of
from benchmarks.write_profile import written_feature
from metaxy import columns as C


def same_hashes(conn: sa.Connection, table: sa.Table, copy: sa.Table) -> bool:
    """Whether metaxy's table and the raw load's copy hold the same ids and hashes (row ids and
    timestamps differ by construction)."""
    cols = [c.name for c in table.columns
            if c.name in (C.PROVENANCE, C.DATA_VERSION) or c.name.startswith(("metaxy_pv__",
                                                                             "metaxy_dv__"))
            or not c.name.startswith("metaxy_")]

    def rows(t: sa.Table) -> list[Any]:
        return list(conn.execute(sa.select(*[t.c[c] for c in cols]).order_by(
            *[t.c[c] for c in cols])).all())

    same = rows(table) == rows(copy)
    conn.commit()
    return same


Times = tuple[float, float, float, float, float, float, float, float]


def one_rep(backend: str, sc: Any, rows: Any, rep: int,
            primary_key: bool = False, feature: str = "root") -> Times:
    """(write, raw load, append, raw append) seconds of one repetition on a fresh store, then
    the same four as process CPU seconds.

    With ``primary_key``, the feature table is created beforehand with ``metaxy_row_id`` as a
    PRIMARY KEY (as metaxy created it before issue 14; the store keeps writing into such a
    table) and the raw load's copy has the key too: the "before" of issue 14 item 1, measured in
    the same process as the "after".
    """
    load = L.raw_load_duckdb if backend == "duckdb" else L.raw_load_postgres
    with fresh_store(backend, sc.graph) as store, store.open("w"):
        target = sc.roots[0].feature
        if feature == "leaf":
            target, rows = written_feature(store, sc, feature)
        table: sa.Table = target.__table__
        if primary_key:
            table.create(store.conn)
            store.conn.commit()
        if feature == "root":
            store.write(sc.roots[-1].feature, sc.roots[-1].make(10, "v1"))  # system tables
        if feature == "root" and len(sc.roots) == 1:  # the seed rows are in the measured table
            store.conn.execute(table.delete())
        copy = L.copy_table(table, primary_key=primary_key)
        copy.create(store.conn)
        store.conn.commit()
        raw = driver(store)

        def limit() -> tuple[float, float]:
            storage = storage_of(store, target, rows)
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            load(raw, copy.name, storage)
            raw.commit()
            return time.perf_counter() - t0, time.process_time() - c0

        def write() -> tuple[float, float]:
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            store.write(target, rows)
            return time.perf_counter() - t0, time.process_time() - c0

        if rep % 2 == 0:
            (lw, lwc), (mw, mwc), (ma, mac), (la, lac) = limit(), write(), write(), limit()
        else:
            (mw, mwc), (lw, lwc), (la, lac), (ma, mac) = write(), limit(), limit(), write()
        if not same_hashes(store.conn, table, copy):
            raise AssertionError("metaxy's rows differ from the raw load's (ids or hashes)")
    kind = "pk   " if primary_key else "no pk"
    print(f"rep {rep} {kind}: write {mw:.2f} s / raw {lw:.2f} s = {mw / lw:.2f}x "
          f"(CPU {mwc / lwc:.2f}x) | append {ma:.2f} s / raw {la:.2f} s = {ma / la:.2f}x "
          f"(CPU {mac / lac:.2f}x)", flush=True)
    return mw, lw, ma, la, mwc, lwc, mac, lac


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("duckdb", "postgresql"), default="duckdb")
    ap.add_argument("--scenario", default="wide")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--feature", choices=("root", "leaf"), default="root",
                    help="write the scenario's first root (default) or its leaf")
    ap.add_argument("--with-pk", action="store_true",
                    help="also measure writes into tables with a metaxy_row_id PRIMARY KEY (the "
                         "storage before issue 14), alternating with the unindexed ones")
    args = ap.parse_args(argv)
    if args.with_pk and args.feature == "leaf":
        ap.error("--with-pk measures root writes only")
    sc = build(args.scenario, args.n)
    rows = sc.roots[0].make(sc.root_rows, "v1")
    runs: dict[bool, list[Times]] = {False: [], True: []}
    for rep in range(args.reps):
        kinds = [False, True] if args.with_pk else [False]
        for pk in kinds if rep % 2 == 0 else kinds[::-1]:
            runs[pk].append(one_rep(args.backend, sc, rows, rep, primary_key=pk,
                                    feature=args.feature))

    def med(pk: bool, i: int) -> float:
        return statistics.median(r[i] for r in runs[pk])

    def ratio(pk: bool, i: int, j: int) -> float:
        return statistics.median(r[i] / r[j] for r in runs[pk])

    print(f"{args.backend} {args.scenario} {args.feature} n={args.n:,}: median write "
          f"{ratio(False, 0, 1):.2f}x, append {ratio(False, 2, 3):.2f}x (raw load, no index); "
          f"process CPU: write {ratio(False, 4, 5):.2f}x, append {ratio(False, 6, 7):.2f}x")
    if args.with_pk:
        print(f"  seconds, no pk / pk: write {med(False, 0):.3f} / {med(True, 0):.3f} "
              f"({med(True, 0) / med(False, 0):.2f}x faster), append {med(False, 2):.3f} / "
              f"{med(True, 2):.3f} ({med(True, 2) / med(False, 2):.2f}x faster); raw load "
              f"{med(False, 1):.3f} / {med(True, 1):.3f}, raw append {med(False, 3):.3f} / "
              f"{med(True, 3):.3f}; with pk vs raw with pk: write {ratio(True, 0, 1):.2f}x, "
              f"append {ratio(True, 2, 3):.2f}x")


if __name__ == "__main__":
    main()
