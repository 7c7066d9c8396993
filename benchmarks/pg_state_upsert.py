"""PostgreSQL latest-state upkeep: the store's statement vs ``INSERT ... ON CONFLICT DO UPDATE``.

    .venv/bin/python -m benchmarks.pg_state_upsert --n 100000 --reps 3

Per repetition and variant, a fresh store of the *simple* scenario's root gets a first write of
N rows and an append of new inputs for every sample. ``store`` is the PostgreSQL store as it is
(a plain insert into an empty state; otherwise the write's rows staged in a temporary table,
then ``DELETE ... USING`` + ``INSERT``); ``on_conflict`` swaps in the earlier statement
(``INSERT ... SELECT ... ON CONFLICT (ids) DO UPDATE ... WHERE`` the stored row is older). The
variants alternate which goes first; medians are printed: the whole write and the time spent in
the state upsert (``_upsert_state``) within it. After each append the state must hold exactly
the append's row of every sample (it raises otherwise). On a shared machine only the ratios
within one run mean something.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from benchmarks.scenarios import build
from benchmarks.worker import fresh_store

Upsert = Callable[..., None]


def on_conflict(store: Any, conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                source: sa.Select[Any], keys: sa.Select[Any] | None = None) -> None:
    """The earlier statement: one ``INSERT ... ON CONFLICT DO UPDATE WHERE`` older, on the
    unique index of the ids the state had then (created here: the store no longer makes it)."""
    from metaxy_postgres.store import legacy_index_name

    from metaxy import columns as C

    # on a detached copy: an Index on ``state`` itself would join the cached table's metadata
    # and every later state would be created with it
    ids_only = sa.Table(state.name, sa.MetaData(), *[sa.Column(i) for i in ids],
                        schema=state.schema)
    sa.Index(legacy_index_name(state.name), *ids_only.c, unique=True).create(
        conn, checkfirst=True)
    names = [c.name for c in state.c]
    row_id, updated_at = C.ROW_ID, C.UPDATED_AT
    stmt = pg_insert(state).from_select(names, source)
    newer = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=list(ids), set_={n: newer[n] for n in names[len(ids):]},
        where=sa.tuple_(state.c[updated_at], state.c[row_id])
        < sa.tuple_(newer[updated_at], newer[row_id]))
    conn.execute(stmt)


def _check(store: Any, feature: Any, n: int, variant: str) -> None:
    """After the append of every sample: the state holds one row per sample, each the
    append's (the newest write time, a row id of the history's rows of that time)."""
    from metaxy import columns as C
    from metaxy.store.latest_state import of

    table, state = feature.__table__, of(store, feature)
    newest = sa.select(sa.func.max(table.c[C.UPDATED_AT])).scalar_subquery()
    latest = sa.select(table.c[C.ROW_ID]).where(table.c[C.UPDATED_AT] == newest)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(state)).scalar()
        right = conn.execute(sa.select(sa.func.count()).select_from(state).where(
            state.c[C.ROW_ID].in_(latest), state.c[C.UPDATED_AT] == newest)).scalar()
    if not rows == right == n:
        raise AssertionError(f"{variant}: the state has {rows} rows, {right} of them the "
                             f"append's, for {n} samples")


def main(argv: list[str] | None = None) -> None:
    from metaxy_postgres.store import PostgresStore

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    sc = build("simple", args.n)
    (root,) = sc.roots
    first, second = root.make(sc.root_rows, "v1"), root.make(sc.root_rows, "v2")
    variants: dict[str, Upsert] = {"store": PostgresStore._upsert_state,
                                   "on_conflict": on_conflict}
    steps = ("write", "write_upsert", "append", "append_upsert")
    got: dict[str, dict[str, list[float]]] = {v: {s: [] for s in steps} for v in variants}
    spent = [0.0]

    def timed(fn: Upsert) -> Upsert:
        def run(*a: Any) -> None:
            t0 = time.perf_counter()
            fn(*a)
            spent[0] += time.perf_counter() - t0
        return run

    try:
        for rep in range(args.reps):
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for name in order:
                PostgresStore._upsert_state = timed(variants[name])  # type: ignore[method-assign]
                with fresh_store("postgresql", sc.graph) as store, store.open("w"):
                    for step, frame in (("write", first), ("append", second)):
                        spent[0] = 0.0
                        t0 = time.perf_counter()
                        store.write(root.feature, frame)
                        got[name][step].append(time.perf_counter() - t0)
                        got[name][step + "_upsert"].append(spent[0])
                    _check(store, root.feature, args.n, name)
    finally:
        PostgresStore._upsert_state = variants["store"]  # type: ignore[method-assign]
    print(f"PostgreSQL simple root, N={args.n:,}, {args.reps} reps, medians in s")
    print("| variant | write | its state upsert | append of every sample | its state upsert |")
    print("|---|---:|---:|---:|---:|")
    for name, r in got.items():
        m = [statistics.median(r[s]) for s in steps]
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in m) + " |")


if __name__ == "__main__":
    main()
