"""ClickHouse (chDB): which way of picking the latest row per sample the store should use.

``python -m benchmarks.ch_latest --n 1000000 --depths 1,10`` builds the ``simple`` scenario in
one chDB directory per depth: the root written through the store, ``depth - 1`` older versions
of every root row added inside ClickHouse (``INSERT ... SELECT`` with fresh row ids and earlier
write times, so the store's rows stay the latest), the leaf written, 10% of the roots
changed. Then, alternating, ``reps`` times each:

* ``resolve window`` / ``resolve distinct_on``: the store's 10%-stale ``resolve_update`` of the
  leaf with ``latest_method`` ``window`` (``row_number() OVER (...) = 1``) and ``distinct_on``
  (``DISTINCT ON``, which ClickHouse runs as ``LIMIT 1 BY``); both increments must be equal;
* ``latest <form>``: the latest rows of the root's whole history alone, as ``window``,
  ``limit_by`` and ``argmax`` (``argMax(tuple(...), (updated_at, row_id)) ... GROUP BY``,
  which the store does not implement), checked to pick the same rows (a checksum).

Prints one table of medians and minima (seconds). The machine is shared: compare the ratios of
one run, and report the load average printed with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import polars as pl

import metaxy as mx
from benchmarks.scenarios import build
from benchmarks.worker import leaf_rows
from metaxy import columns as C

METHODS = ("window", "distinct_on")


def _q(name: str) -> str:
    from clickhouse_connect.driver.binding import quote_identifier

    return str(quote_identifier(name))


def _deepen(client: Any, table: Any, depth: int) -> None:
    """Add ``depth - 1`` older versions of every row (fresh row ids, earlier write times)."""
    cols = [c.name for c in table.columns]
    for k in range(1, depth):
        exprs = ", ".join(
            "toString(generateUUIDv4())" if c == C.ROW_ID else
            f"{_q(c)} - toIntervalMicrosecond({k})" if c == C.UPDATED_AT else _q(c)
            for c in cols)
        client.command(f"INSERT INTO {_q(table.name)} ({', '.join(map(_q, cols))}) "  # noqa: S608
                       f"SELECT {exprs} FROM {_q(table.name)} WHERE {_q(C.UPDATED_AT)} = "
                       f"(SELECT max({_q(C.UPDATED_AT)}) FROM {_q(table.name)})")


def latest_forms(table: Any, ids: list[str]) -> dict[str, str]:
    """The latest rows of ``table`` (soft-deleted samples hidden), three ways."""
    names = [c.name for c in table.columns]
    sel = ", ".join(map(_q, names))
    key = ", ".join(map(_q, ids))
    order = f"{_q(C.UPDATED_AT)} DESC, {_q(C.ROW_ID)} DESC"
    alive = f"{_q(C.DELETED_AT)} IS NULL"
    rest = [n for n in names if n not in ids]
    picked = ", ".join(f"tupleElement(x, {i + 1}) AS {_q(n)}" for i, n in enumerate(rest))
    t = _q(table.name)
    return {
        "window": f"SELECT {sel} FROM (SELECT {sel}, row_number() OVER (PARTITION BY {key} "  # noqa: S608
                  f"ORDER BY {order}) AS rn FROM {t}) WHERE rn = 1 AND {alive}",
        "limit_by": f"SELECT * FROM (SELECT {sel} FROM {t} ORDER BY {key}, {order} "  # noqa: S608
                    f"LIMIT 1 BY {key}) WHERE {alive}",
        "argmax": f"SELECT * FROM (SELECT {key}, {picked} FROM (SELECT {key}, "  # noqa: S608
                  f"argMax(({', '.join(map(_q, rest))}), ({_q(C.UPDATED_AT)}, {_q(C.ROW_ID)})) "
                  f"AS x FROM {t} GROUP BY {key})) WHERE {alive}",
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_depth(n: int, depth: int, reps: int) -> dict[str, list[float]]:
    sc = build("simple", n)
    (root,) = sc.roots
    tmp = tempfile.mkdtemp(prefix="mxbench_chlatest_")
    times: dict[str, list[float]] = {}
    try:
        url = f"chdb:///{tmp}/chdb"
        store: Any
        with mx.get_store(url, graph=sc.graph).open("w") as store:
            store.write(root.feature, root.make(sc.root_rows, "v1"))
            client = store.conn.connection.driver_connection.client
            _deepen(client, root.feature.__table__, depth)  # type: ignore[attr-defined]
            store.write(sc.leaf, leaf_rows(sc, store.resolve_update(sc.leaf).new))
            for k, df in sc.mutate(n).items():
                store.write(k, df)
        stores: dict[str, Any] = {m: mx.get_store(url, graph=sc.graph, latest_method=m)
                                  for m in METHODS}
        increments: dict[str, pl.DataFrame] = {}
        for _ in range(reps):
            for m, store in stores.items():
                with store:
                    took, inc = _timed(lambda s=store: s.resolve_update(sc.leaf))  # type: ignore[misc]
                times.setdefault(f"resolve {m}", []).append(took)
                print(f"depth {depth} resolve {m}: {took:.3f} s", flush=True)
                increments[m] = inc.stale.select([*sc.key_columns, C.PROVENANCE]).sort(
                    sc.key_columns)
                assert inc.stale.height == sc.expected_stale(n).height, inc.stale.height
        assert increments["window"].equals(increments["distinct_on"]), "increments differ"
        with stores["window"] as store:
            client = store.conn.connection.driver_connection.client
            table: Any = root.feature.__table__  # type: ignore[attr-defined]
            forms = latest_forms(table, list(root.feature.spec().id_columns))
            cols = ", ".join(map(_q, [c.name for c in table.columns]))
            sums = {}
            for _ in range(reps):
                for name, sql in forms.items():
                    took, res = _timed(lambda s=sql, c=cols: client.query(  # type: ignore[misc]
                        f"SELECT count(), sum(cityHash64(toString(tuple({c})))) "  # noqa: S608
                        f"FROM ({s})").result_rows[0])
                    times.setdefault(f"latest {name}", []).append(took)
                    print(f"depth {depth} latest {name}: {took:.3f} s", flush=True)
                    sums[name] = res
            assert len(set(sums.values())) == 1, sums
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--depths", default="1,10")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = []
    for depth in [int(d) for d in args.depths.split(",")]:
        times = run_depth(args.n, depth, args.reps)
        base = statistics.median(times["resolve window"])
        for step, ts in times.items():
            rows.append((depth, step, statistics.median(ts), min(ts),
                         statistics.median(ts) / base if step.startswith("resolve") else None))
        latest_base = statistics.median(times["latest window"])
        rows[-3:] = [(d, s, med, mn, med / latest_base) for d, s, med, mn, _ in rows[-3:]]
    print(f"\nchDB, simple, n={args.n:,}, {args.reps} reps; load average at end: "
          f"{os.getloadavg()}")
    print(f"{'depth':>5}  {'step':<22} {'median s':>9} {'min s':>8} {'vs window':>9}")
    for depth, step, med, mn, ratio in rows:
        print(f"{depth:>5}  {step:<22} {med:>9.3f} {mn:>8.3f} "
              f"{'' if ratio is None else f'{ratio:.2f}x':>9}")


if __name__ == "__main__":
    main()
