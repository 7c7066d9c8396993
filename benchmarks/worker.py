"""One benchmark round (backend x scenario x size) from a fresh store, run in its own process.

``python -m benchmarks.worker --backend duckdb --scenario simple --n 10000`` prints one JSON
object: per step the wall time, the peak RSS growth while the step ran (sampled from
``/proc/self/statm``), and the rows involved; plus the correctness checks of the increments.
Running each round in a fresh process keeps peaks independent of earlier rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

import metaxy as mx
from benchmarks import limits as L
from benchmarks.scenarios import Scenario, build
from metaxy import columns as C
from metaxy.store.frames import prepare_write, write_timestamp
from metaxy.versions import versions_of

PG_ADMIN = os.environ.get("METAXY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:  # not Linux: the high-water mark is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Peak RSS growth over a block, sampled every millisecond by a background thread."""

    def __init__(self) -> None:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.base) / 2**20

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20


@dataclass
class Round:
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str, rows: int) -> Iterator[None]:
        # Progress on stderr: a worker killed mid-round (e.g. by the OOM killer) still shows
        # which step it was in, and what the steps before it measured.
        print(f"step {name} ({rows:,} rows) ...", file=sys.stderr, flush=True)
        with RssSampler() as rss:
            t0 = time.perf_counter()
            yield
            seconds = time.perf_counter() - t0
        self.steps[name] = {"seconds": seconds, "rss_mib": rss.delta_mib,
                            "rss_peak_mib": rss.peak_mib, "rows": rows}
        print(f"step {name}: {seconds:.3f} s, RSS +{rss.delta_mib:.0f} MiB "
              f"(process {rss.peak_mib:.0f} MiB)", file=sys.stderr, flush=True)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise AssertionError(what)
        self.checks.append(what)


# ----------------------------------------------------------------------------- stores
@contextlib.contextmanager
def fresh_store(backend: str, graph: mx.FeatureGraph, **options: Any) -> Iterator[Any]:
    tmp = tempfile.mkdtemp(prefix="mxbench_")
    dbname = None
    try:
        if backend == "duckdb":
            url = f"duckdb:///{tmp}/bench.duckdb"
        elif backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.sqlite"
        elif backend == "memory":
            url = "memory://"
        elif backend == "delta":
            url = f"delta:///{tmp}/lake"
        elif backend == "clickhouse":
            url = f"chdb:///{tmp}/chdb"
        elif backend == "postgresql":
            dbname = f"mxbench_{uuid.uuid4().hex[:10]}"
            _pg_admin("CREATE DATABASE {}", dbname)
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
        else:
            raise ValueError(f"unknown backend {backend!r}")
        yield mx.get_store(url, graph=graph, **options)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if dbname is not None:
            _pg_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", dbname)


def _pg_admin(template: str, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL(template).format(sql.Identifier(dbname)))


def driver(store: Any) -> Any:
    """The DB-API connection under a SQL store (DuckDB / psycopg)."""
    return store.conn.connection.driver_connection


# ----------------------------------------------------------------------------- helpers
def storage_of(store: Any, feature: type[mx.Feature], df: pl.DataFrame) -> pl.DataFrame:
    versions = versions_of(store.graph)
    return prepare_write(feature, df, is_root=not feature.spec().deps,
                         settings=store.hash_settings,
                         feature_version=versions.feature_version(feature),
                         project_version=versions.project_version(store.project),
                         now=write_timestamp())


def history_storage(store: Any, feature: type[mx.Feature]) -> pl.DataFrame:
    """Every stored row of a feature in storage form (read back through the API)."""
    df: pl.DataFrame = store.read(feature, with_history=True, include_deleted=True)
    cols = []
    for f in feature.spec().field_keys:
        cols.append(pl.col(C.PROVENANCE_BY_FIELD).struct.field(str(f)).alias(C.pv_column(f)))
        cols.append(pl.col(C.DATA_VERSION_BY_FIELD).struct.field(str(f)).alias(C.dv_column(f)))
    table = feature.__table__  # type: ignore[attr-defined]
    return df.with_columns(cols).select([c.name for c in table.columns])


def leaf_rows(sc: Scenario, part: pl.DataFrame) -> pl.DataFrame:
    rows = part.with_columns(pl.lit("computed").alias("value"))
    if C.STALE_FIELDS in rows.columns:
        rows = rows.drop(C.STALE_FIELDS)
    if sc.children:
        kids = pl.DataFrame({"child_id": list(range(sc.children))})
        rows = rows.join(kids, how="cross")
    return rows


def keys_equal(got: pl.DataFrame, want: pl.DataFrame, keys: list[str]) -> bool:
    a = got.select(keys).sort(keys)
    b = want.select(keys).sort(keys)
    return a.height == b.height and a.equals(b)


# ----------------------------------------------------------------------------- one round
def run_round(backend: str, scenario: str, n: int, with_limits: bool = True,
              duckdb_memory_limit: str | None = None,
              duckdb_query_memory_limit: str | None = None, depth: int = 2) -> dict[str, Any]:
    """One round; ``depth`` is the number of writes of every root and leaf sample before the
    measured resolve (``write`` + ``append`` + ``append_more``; ``write_leaf`` +
    ``write_leaf_more``)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    sc = build(scenario, n)
    r = Round()
    roots = {str(root.feature.spec().key): root for root in sc.roots}
    v1 = {k: root.make(sc.root_rows, "v1") for k, root in roots.items()}
    total_root = sum(df.height for df in v1.values())
    sql = backend in ("duckdb", "postgresql", "clickhouse")
    limits = with_limits and scenario in ("simple", "wide", "aggregation", "expansion")
    options: dict[str, Any] = {}
    if backend == "duckdb":
        options.update({k: v for k, v in (("memory_limit", duckdb_memory_limit),
                                          ("query_memory_limit", duckdb_query_memory_limit))
                        if v})
    with fresh_store(backend, sc.graph, **options) as store, store.open("w"):
        with r.step("write", total_root):
            for k, root in roots.items():
                store.write(root.feature, v1[k])
        if limits and sql:
            _raw_load(store, backend, sc, v1, r)
        if limits and backend == "delta":
            _raw_write_delta(store, sc, v1, r)
        if depth >= 2:
            with r.step("append", total_root):
                for k, root in roots.items():
                    store.write(root.feature, v1[k])
        if depth >= 3:
            with r.step("append_more", total_root * (depth - 2)):
                for _ in range(depth - 2):
                    for k, root in roots.items():
                        store.write(root.feature, v1[k])
        for mid in sc.middle:  # chain: materialise the features between root and leaf
            store.write(mid, leaf_rows(sc, store.resolve_update(mid).new))

        with r.step("resolve_new", sc.leaf_samples):
            inc = store.resolve_update(sc.leaf)
        r.check(inc.new.height == sc.leaf_samples and inc.stale.height == 0
                and inc.orphaned.height == 0,
                f"all-new increment: {inc.new.height} new of {sc.leaf_samples}")
        rows = leaf_rows(sc, inc.new)
        with r.step("write_leaf", rows.height):
            store.write(sc.leaf, rows)
        if depth >= 2:
            with r.step("write_leaf_more", rows.height * (depth - 1)):
                for _ in range(depth - 1):
                    store.write(sc.leaf, rows)
        del inc, rows
        narrow = limits and backend in ("duckdb", "postgresql") \
            and L.narrow_applies(store.plan(sc.leaf))
        if narrow:  # the leaf's state: the upstream versions it was just computed from
            _state(store, backend, sc, downstream=True)

        mutation = sc.mutate(n)
        mutated = sum(df.height for df in mutation.values())
        with r.step("write_10pct", mutated):
            for k, df in mutation.items():
                store.write(roots[k].feature, df)
        for mid in sc.middle:
            store.write(mid, leaf_rows(sc, store.resolve_update(mid).stale))
        if narrow:
            _state(store, backend, sc, downstream=False)

        expected = sc.expected_stale(n)
        with r.step("resolve_stale", expected.height):
            inc = store.resolve_update(sc.leaf)
        r.check(inc.new.height == 0 and inc.orphaned.height == 0,
                f"10% increment has no new/orphaned ({inc.new.height}/{inc.orphaned.height})")
        r.check(keys_equal(inc.stale, expected, sc.key_columns),
                f"10% increment: exactly the {expected.height} mutated samples are stale "
                f"(got {inc.stale.height})")
        fields = inc.stale[C.STALE_FIELDS].to_list()
        r.check(all(f == sc.stale_fields for f in fields),
                f"stale fields are {sc.stale_fields}")

        if limits:
            _limit_resolve(store, backend, sc, inc.stale, r)
        if narrow:
            _limit_narrow(store, backend, sc, inc.stale, r)

        with r.step("status", sc.leaf_samples):
            st = store.status(sc.leaf)
        r.check((st.new, st.stale, st.orphaned, st.up_to_date)
                == (0, expected.height, 0, sc.leaf_samples - expected.height),
                f"status counts {st}")
    return {"backend": backend, "scenario": scenario, "n": n, "depth": depth,
            "steps": r.steps, "checks": r.checks, "options": options}


def _raw_load(store: Any, backend: str, sc: Scenario, v1: dict[str, pl.DataFrame],
              r: Round) -> None:
    """The raw bulk loads of the rows metaxy wrote, into copies of the same tables: with no index
    (``limit_write``, ``limit_append``: the honest limit, issue 14) and with ``metaxy_row_id`` as
    a PRIMARY KEY (``limit_write_pk``, ``limit_append_pk``: the limit of issue 6)."""
    for primary_key, suffix in ((False, ""), (True, "_pk")):
        if primary_key and backend == "clickhouse":
            continue  # ClickHouse has no primary key constraint
        _raw_load_into(store, backend, sc, v1, r, primary_key, suffix)


def _raw_load_into(store: Any, backend: str, sc: Scenario, v1: dict[str, pl.DataFrame],
                   r: Round, primary_key: bool, suffix: str) -> None:
    roots = {str(x.feature.spec().key): x for x in sc.roots}
    storage = {k: storage_of(store, root.feature, v1[k]) for k, root in roots.items()}
    copies = {}
    conn = store.conn
    for k, root in roots.items():
        copies[k] = L.copy_table(root.feature.__table__,  # type: ignore[attr-defined]
                                 primary_key=primary_key)
        copies[k].create(conn)
    conn.commit()
    raw = driver(store)

    def load(frames: dict[str, pl.DataFrame]) -> None:
        for k, df in frames.items():
            if backend == "duckdb":
                L.raw_load_duckdb(raw, copies[k].name, df)
            elif backend == "clickhouse":
                L.raw_load_clickhouse(raw.client, copies[k].name, df)
            else:
                L.raw_load_postgres(raw, copies[k].name, df)
                raw.commit()

    with r.step("limit_write" + suffix, sum(df.height for df in storage.values())):
        load(storage)
    # The append's limit: the same rows (fresh row ids) into the copy that already holds N rows,
    # as metaxy's append goes into a table holding N rows.
    again = {k: storage_of(store, root.feature, v1[k]) for k, root in roots.items()}
    with r.step("limit_append" + suffix, sum(df.height for df in again.values())):
        load(again)
    del storage, again
    for t in copies.values():
        t.drop(conn)
    conn.commit()


def _raw_write_delta(store: Any, sc: Scenario, v1: dict[str, pl.DataFrame], r: Round) -> None:
    """The raw ``write_delta`` of the storage-form rows metaxy wrote, into a fresh Delta table
    (``limit_write``), then the same rows again into it once it holds N rows
    (``limit_append``)."""
    roots = {str(x.feature.spec().key): x for x in sc.roots}
    paths = {k: store.table_uri(f"rawload_{uuid.uuid4().hex[:10]}") for k in roots}
    for step in ("limit_write", "limit_append"):
        storage = {k: storage_of(store, root.feature, v1[k]) for k, root in roots.items()}
        with r.step(step, sum(df.height for df in storage.values())):
            for k, df in storage.items():
                df.write_delta(paths[k], mode="append")


def _limit_resolve(store: Any, backend: str, sc: Scenario, stale: pl.DataFrame,
                   r: Round) -> None:
    plan = store.plan(sc.leaf)
    run: Callable[[], pl.DataFrame]
    if backend == "duckdb":
        raw = driver(store)
        run = lambda: L.run_limit_duckdb(raw, plan)  # noqa: E731
    elif backend == "clickhouse":
        client = driver(store).client
        run = lambda: L.run_limit_clickhouse(client, plan)  # noqa: E731
    elif backend == "postgresql":
        raw = driver(store)

        def run() -> pl.DataFrame:
            df = L.run_limit_postgres(raw, plan)
            raw.commit()
            return df
    elif backend == "memory":
        tables = {f.__table__.name: history_storage(store, f)  # type: ignore[attr-defined]
                  for f in [*(x.feature for x in sc.roots), sc.leaf]}
        run = lambda: L.limit_polars(plan, tables, store.hash_settings)  # noqa: E731
    elif backend == "delta":  # the same query over the same Delta tables, streamed
        names = [f.__table__.name  # type: ignore[attr-defined]
                 for f in [*(x.feature for x in sc.roots), sc.leaf]]
        scans = {name: pl.scan_delta(store.table_uri(name)) for name in names}
        run = lambda: L.limit_polars(plan, scans, store.hash_settings,  # noqa: E731
                                     engine="streaming")
    else:
        return
    with r.step("limit_resolve_full", stale.height):
        df = run()
    _check_limit(sc, df, stale, r, "limit")


def _check_limit(sc: Scenario, df: pl.DataFrame, stale: pl.DataFrame, r: Round,
                 name: str) -> None:
    got = df.filter(pl.col("__status") == "stale")
    r.check(df.height == got.height, f"{name}: only stale rows")
    want = stale.select([*sc.key_columns, C.PROVENANCE]).sort(sc.key_columns)
    r.check(got.select([*sc.key_columns, C.PROVENANCE]).sort(sc.key_columns).equals(want),
            f"{name} computes the same stale samples and provenance hashes")


STATE_UP = "mxstate_up{}"
STATE_DOWN = "mxstate_down"


def _state(store: Any, backend: str, sc: Scenario, downstream: bool) -> None:
    """(Re)build the narrow latest-state tables of the narrow limit (not measured: a store
    would maintain them at write time). ``downstream``: also the leaf's state, i.e. the
    upstream state it was just computed from."""
    plan = store.plan(sc.leaf)
    ups = [STATE_UP.format(i) for i in range(len(plan.deps))]
    L.build_state(driver(store), backend, plan, ups, STATE_DOWN if downstream else None)


def _limit_narrow(store: Any, backend: str, sc: Scenario, stale: pl.DataFrame,
                  r: Round) -> None:
    """``limit_resolve``: one narrow join of the latest-state tables (issue 14)."""
    plan = store.plan(sc.leaf)
    raw = driver(store)
    ups = [STATE_UP.format(i) for i in range(len(plan.deps))]
    run = L.run_narrow_duckdb if backend == "duckdb" else L.run_narrow_postgres
    with r.step("limit_resolve", stale.height):
        df = run(raw, plan, ups, STATE_DOWN)
        raw.commit()
    _check_limit(sc, df, stale, r, "narrow limit")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--no-limits", action="store_true")
    ap.add_argument("--duckdb-memory-limit", default=None)
    ap.add_argument("--duckdb-query-memory-limit", default=None)
    ap.add_argument("--depth", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        result = run_round(args.backend, args.scenario, args.n, not args.no_limits,
                           args.duckdb_memory_limit, args.duckdb_query_memory_limit,
                           args.depth)
    except Exception as e:  # reported, not raised: the runner shows it in the table
        import traceback

        result = {"backend": args.backend, "scenario": args.scenario, "n": args.n,
                  "depth": args.depth, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
