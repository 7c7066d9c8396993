"""Prototype of the latest-state table (issue 14 phase 2, docs/design-latest-state.md): what
maintaining it at write time costs, next to the write it would ride on.

    .venv/bin/python -m benchmarks.state_proto --backend duckdb --n 1000000 --reps 2

On a fresh store of the *simple* scenario's root (fields ``a``, ``b``), per repetition:

* ``write``: metaxy writes N rows (the history append, as today);
* ``state_init`` / ``state_init_pk``: the same N rows' narrow state (id, data version per
  field, ``updated_at``, row id, deleted flag) inserted into an empty state table without / with
  a PRIMARY KEY on the id: what the first write would add;
* ``write_10pct``: metaxy appends new inputs for 10% of the samples;
* ``upsert_pk``: those rows upserted into a state table keyed by a PRIMARY KEY on the id
  (``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE`` the incoming row is newer);
* ``upsert_scan``: the same into an unindexed state table (``DELETE`` the batch's ids, then
  ``INSERT``: a hash semi-join over the whole state, no index to maintain).

The batch is staged as the write path would have it (DuckDB: a registered Arrow table;
PostgreSQL: COPY of the narrow columns into a temporary table, timed as part of the upsert).
Each variant's state is checked against a recomputation of the latest rows from the history.
Raw SQL text on purpose, like benchmarks/limits.py: every name is a constant of the scenario.
"""
# ruff: noqa: S608

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from benchmarks import limits as L
from benchmarks.scenarios import build
from benchmarks.worker import driver, fresh_store
from metaxy import columns as C
from metaxy.keys import FieldKey

STATE_COLS = ("sample_id", "dv_a", "dv_b", "updated_at", "row_id", "deleted")
DV_A, DV_B = C.dv_column(FieldKey("a")), C.dv_column(FieldKey("b"))


def _narrow(table: str, where: str = "") -> str:
    return (f"SELECT sample_id, {DV_A} AS dv_a, {DV_B} AS dv_b, "
            f"{C.UPDATED_AT} AS updated_at, "
            f"{C.ROW_ID} AS row_id, {C.DELETED_AT} IS NOT NULL AS deleted "
            f"FROM {table} {where}")


def _create(kind: str, name: str, pk: bool) -> str:
    ts = "TIMESTAMPTZ" if kind == "duckdb" else "TIMESTAMP WITH TIME ZONE"
    key = " PRIMARY KEY" if pk else ""
    return (f"CREATE TABLE {name} (sample_id VARCHAR{key}, dv_a VARCHAR, dv_b VARCHAR, "
            f"updated_at {ts}, row_id VARCHAR, deleted BOOLEAN)")


def _upsert_pk(name: str, batch: str) -> list[str]:
    sets = ", ".join(f"{c} = excluded.{c}" for c in STATE_COLS[1:])
    return [f"INSERT INTO {name} SELECT * FROM {batch} ON CONFLICT (sample_id) DO UPDATE "
            f"SET {sets} WHERE {name}.updated_at < excluded.updated_at "
            f"OR ({name}.updated_at = excluded.updated_at AND {name}.row_id < excluded.row_id)"]


def _upsert_scan(name: str, batch: str) -> list[str]:
    return [f"DELETE FROM {name} WHERE sample_id IN (SELECT sample_id FROM {batch})",
            f"INSERT INTO {name} SELECT * FROM {batch}"]


def one_rep(backend: str, n: int) -> dict[str, float]:
    sc = build("simple", n)
    root = sc.roots[0]
    table = root.feature.__table__.name  # type: ignore[attr-defined]
    times: dict[str, float] = {}
    with fresh_store(backend, sc.graph) as store, store.open("w"):
        raw = driver(store)

        def run(stmts: list[str]) -> None:
            for stmt in stmts:
                if backend == "duckdb":
                    raw.execute(stmt)
                else:
                    with raw.cursor() as cur:
                        cur.execute(stmt.encode())
            raw.commit()

        def timed(name: str, fn: Callable[[], Any]) -> None:
            t0 = time.perf_counter()
            fn()
            times[name] = time.perf_counter() - t0

        timed("write", lambda: store.write(root.feature, root.make(n, "v1")))
        run([_create(backend, "st_pk", True), _create(backend, "st_scan", False)])
        timed("state_init", lambda: run([f"INSERT INTO st_scan {_narrow(table)}"]))
        timed("state_init_pk", lambda: run([f"INSERT INTO st_pk {_narrow(table)}"]))
        timed("write_10pct", lambda: store.write(root.feature, sc.mutate(n)[str(
            root.feature.spec().key)]))
        # the batch as the write path holds it: the rows of this write
        batch = _fetch(raw, backend, _narrow(table, f"WHERE {C.UPDATED_AT} = (SELECT max("
                                                    f"{C.UPDATED_AT}) FROM {table})"))
        assert batch.height == n // 10, batch.height
        for name, upsert in (("upsert_pk", _upsert_pk), ("upsert_scan", _upsert_scan)):
            target = "st_pk" if name == "upsert_pk" else "st_scan"
            timed(name, lambda target=target, upsert=upsert: _apply(  # type: ignore[misc]
                raw, backend, batch, target, upsert, run))
        want = store.read(root.feature).select(
            "sample_id", pl.col(C.DATA_VERSION_BY_FIELD).struct.field("b").alias("dv_b")) \
            .sort("sample_id")
        for target in ("st_pk", "st_scan"):
            got = _fetch(raw, backend, f"SELECT sample_id, dv_b FROM {target} "
                                       "WHERE NOT deleted ORDER BY sample_id")
            if not got.equals(want):
                raise AssertionError(f"{target} differs from the latest rows of the history")
        store.conn.commit()
    return times


def _apply(raw: Any, backend: str, batch: pl.DataFrame, target: str,
           upsert: Callable[[str, str], list[str]], run: Callable[[list[str]], None]) -> None:
    if backend == "duckdb":
        raw.register("st_batch", batch.to_arrow())
        try:
            run(upsert(target, "st_batch"))
        finally:
            raw.unregister("st_batch")
        return
    run(["DROP TABLE IF EXISTS st_batch", f"CREATE TEMPORARY TABLE st_batch (LIKE {target})"])
    L.raw_load_postgres(raw, "st_batch", batch)
    run(upsert(target, "st_batch"))


def _fetch(raw: Any, backend: str, sql: str) -> pl.DataFrame:
    if backend == "duckdb":
        df = pl.from_arrow(raw.sql(sql).to_arrow_table())
        assert isinstance(df, pl.DataFrame)
        return df
    with raw.cursor() as cur:
        cur.execute(sql.encode())
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    raw.commit()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("duckdb", "postgresql"), default="duckdb")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    reps = []
    for rep in range(args.reps):
        reps.append(one_rep(args.backend, args.n))
        print(f"rep {rep}: " + ", ".join(f"{k} {v:.3f} s" for k, v in reps[-1].items()),
              flush=True)

    def med(k: str) -> float:
        return statistics.median(r[k] for r in reps)

    def ratio(a: str, b: str) -> float:
        return statistics.median(r[a] / r[b] for r in reps)

    print(f"{args.backend} n={args.n:,} (medians): write {med('write'):.3f} s, write_10pct "
          f"{med('write_10pct'):.3f} s; state_init {med('state_init'):.3f} s = "
          f"{ratio('state_init', 'write'):.2f}x of the write (with PRIMARY KEY "
          f"{med('state_init_pk'):.3f} s = {ratio('state_init_pk', 'write'):.2f}x); "
          f"upsert of 10%: PRIMARY KEY "
          f"{med('upsert_pk'):.3f} s = {ratio('upsert_pk', 'write_10pct'):.2f}x of the "
          f"write_10pct, unindexed {med('upsert_scan'):.3f} s = "
          f"{ratio('upsert_scan', 'write_10pct'):.2f}x")


if __name__ == "__main__":
    main()
