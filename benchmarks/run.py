"""Run the metaxy benchmarks (issue 6) and print a table of medians, min/max and ratios.

    .venv/bin/python -m benchmarks.run                      # 10k + 100k, every available backend
    .venv/bin/python -m benchmarks.run --sizes 1000000 --backends duckdb,memory --json out.json

Each round (backend x scenario x size) runs in a fresh process against a fresh store (a temporary
DuckDB/SQLite file, a new PostgreSQL database, a new ``memory://`` store). A backend whose plugin
is not installed (or whose server is unreachable) is skipped. ``ratio`` = metaxy / limit, computed
per round and reported as the median: ``write`` against the raw bulk load of the same rows into
an empty copy of the table with no index (``limit_write``), ``append`` against the raw load of
the same rows into that copy once it holds N rows (``limit_append``), ``resolve_stale`` against
one hand-written narrow join of latest-state tables (``limit_resolve``, issue 14). ``old ratio``
divides by issue 6's limits: raw loads into a copy with a ``metaxy_row_id`` PRIMARY KEY
(``limit_write_pk``, ``limit_append_pk``) and the same algorithm as metaxy's written by hand over
the history (``limit_resolve_full``). ``--depths`` sets how many times every sample is written
before the measured resolve (history depth).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scenarios import SCENARIOS

BACKENDS = ("duckdb", "sqlite", "postgresql", "memory", "delta", "clickhouse")
LARGE = 10_000_000
# ratio = metaxy / limit (issue 14's honest limits); old ratio = metaxy / the limits of issue 6
RATIOS = {"write": "limit_write", "append": "limit_append", "resolve_stale": "limit_resolve"}
RATIOS_OLD = {"write": "limit_write_pk", "append": "limit_append_pk",
              "resolve_stale": "limit_resolve_full"}


def available(backend: str) -> str | None:
    """None if the backend can run here, else why not."""
    import metaxy as mx
    from metaxy.errors import MetaxyError

    url = {"duckdb": "duckdb:///:memory:", "sqlite": "sqlite:///:memory:", "memory": "memory://",
           "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
           "delta": "delta:////tmp/metaxy-bench-probe", "clickhouse": "chdb://"}[backend]
    try:
        store = mx.get_store(url)
    except MetaxyError as e:
        return f"plugin not installed ({type(e).__name__})"
    if backend == "postgresql":
        try:
            import psycopg

            from benchmarks.worker import PG_ADMIN

            psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        except Exception as e:
            return f"server unreachable: {type(e).__name__}"
    del store
    return None


def run_one(backend: str, scenario: str, n: int, limits: bool,
            duckdb_memory_limit: str | None = None,
            duckdb_query_memory_limit: str | None = None, depth: int = 2) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", "--backend", backend,
           "--scenario", scenario, "--n", str(n), "--depth", str(depth)]
    if not limits:
        cmd.append("--no-limits")
    if duckdb_memory_limit:
        cmd += ["--duckdb-memory-limit", duckdb_memory_limit]
    if duckdb_query_memory_limit:
        cmd += ["--duckdb-query-memory-limit", duckdb_query_memory_limit]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"backend": backend, "scenario": scenario, "n": n,
                "error": f"worker exited {out.returncode}: {out.stderr.strip()[-2000:]}"}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step: median/min/max seconds, max RSS growth, rows; per ratio: median of rounds."""
    ok = [r for r in rounds if "error" not in r]
    steps: dict[str, Any] = {}
    names = list(dict.fromkeys(s for r in ok for s in r["steps"]))
    for name in names:
        secs = [r["steps"][name]["seconds"] for r in ok if name in r["steps"]]
        rss = [r["steps"][name]["rss_mib"] for r in ok if name in r["steps"]]
        peak = [r["steps"][name].get("rss_peak_mib", 0.0) for r in ok if name in r["steps"]]
        steps[name] = {"median_s": statistics.median(secs), "min_s": min(secs),
                       "max_s": max(secs), "rss_mib_max": max(rss),
                       "rss_mib_median": statistics.median(rss),
                       "rss_peak_mib_max": max(peak),
                       "rows": ok[0]["steps"][name]["rows"]}
        for key, table in (("ratio", RATIOS), ("ratio_old", RATIOS_OLD)):
            limit = table.get(name)
            pairs = [r["steps"][name]["seconds"] / r["steps"][limit]["seconds"]
                     for r in ok if limit in r["steps"] and name in r["steps"]]
            if pairs:
                steps[name][key] = statistics.median(pairs)
    return {"rounds": len(rounds), "ok": len(ok), "steps": steps,
            "errors": [r["error"] for r in rounds if "error" in r],
            "checks": ok[0]["checks"] if ok else []}


def machine() -> dict[str, Any]:
    import duckdb
    import polars
    import sqlalchemy

    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memory_mib": mem, "platform": platform.platform(),
            "python": platform.python_version(), "polars": polars.__version__,
            "duckdb": duckdb.__version__, "sqlalchemy": sqlalchemy.__version__,
            "processor": platform.processor() or platform.machine()}


def render(results: list[dict[str, Any]], static: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    table = Table(title="metaxy benchmarks (seconds: median [min-max]; RSS +MiB: max growth "
                        "during the step; RSS MiB: the process's peak; ratio = metaxy / limit, "
                        "median of rounds; old ratio = metaxy / issue 6's limit)")
    for col in ("backend", "scenario", "n", "depth", "step", "rows", "median s", "min-max s",
                "RSS +MiB", "RSS MiB", "ratio", "old ratio"):
        table.add_column(col, justify="right" if col not in ("backend", "scenario", "step")
                         else "left")
    for res in results:
        s = res["summary"]
        head = [res["backend"], res["scenario"], f"{res['n']:,}", str(res.get("depth", 2))]
        if not s["ok"]:
            table.add_row(*head, "ERROR", "", "", "", "", "", "",
                          (s["errors"] or ["?"])[0][:60])
            continue
        for i, (name, st) in enumerate(s["steps"].items()):
            ratio = f"{st['ratio']:.2f}x" if "ratio" in st else ""
            old = f"{st['ratio_old']:.2f}x" if "ratio_old" in st else ""
            table.add_row(*(head if i == 0 else ["", "", "", ""]), name, f"{st['rows']:,}",
                          f"{st['median_s']:.3f}", f"{st['min_s']:.3f}-{st['max_s']:.3f}",
                          f"{st['rss_mib_max']:.0f}", f"{st.get('rss_peak_mib_max', 0):.0f}",
                          ratio, old)
        table.add_section()
    console.print(table)
    if static:
        console.print(
            f"static graph work, {static['features']} features: graph build + versions "
            f"{static['graph_and_versions_s']:.3f} s (validate {static['validate_s']:.3f} s); "
            f"class creation {static['class_creation_s']:.2f} s; "
            f"import metaxy {static['import_s']:.3f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--depths", default="2",
                    help="history depths: writes of every sample before the measured resolve, "
                         "e.g. 1,2,10 (default 2)")
    ap.add_argument("--json", dest="json_path", default=None)
    ap.add_argument("--large", action="store_true",
                    help="allow 10M rows (DuckDB and memory only)")
    ap.add_argument("--no-limits", action="store_true", help="skip the hand-written limits")
    ap.add_argument("--duckdb-memory-limit", default=None,
                    help="DuckDB store option memory_limit (e.g. 400MB; default DuckDB's own)")
    ap.add_argument("--duckdb-query-memory-limit", default=None,
                    help="DuckDB store option query_memory_limit: memory_limit applied only "
                         "while resolve_update/status run (e.g. 400MB)")
    ap.add_argument("--static", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the static graph work for 1,000 features")
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    scenarios = [s for s in args.scenarios.split(",") if s]
    depths = [int(d) for d in args.depths.split(",") if d]
    if not depths or min(depths) < 1:
        ap.error("--depths takes positive integers, e.g. 1,2,10")
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})")
    if any(n >= LARGE for n in sizes) and not args.large:
        ap.error("sizes of 10M and more need --large")
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend not in BACKENDS:
            ap.error(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        why = available(backend)
        if why:
            skipped[backend] = why
            print(f"skipping {backend}: {why}", file=sys.stderr)
            continue
        for n in sizes:
            if n >= LARGE and backend not in ("duckdb", "memory"):
                continue
            for scenario in scenarios:
                for depth in depths:
                    rounds = []
                    for i in range(args.rounds):
                        t0 = time.perf_counter()
                        rounds.append(run_one(backend, scenario, n, not args.no_limits,
                                              args.duckdb_memory_limit,
                                              args.duckdb_query_memory_limit, depth))
                        err = rounds[-1].get("error")
                        print(f"{backend} {scenario} n={n:,} depth {depth} round {i + 1}/"
                              f"{args.rounds}: {time.perf_counter() - t0:.1f} s"
                              + (f" ERROR {err}" if err else ""), file=sys.stderr)
                    results.append({"backend": backend, "scenario": scenario, "n": n,
                                    "depth": depth, "summary": summarise(rounds),
                                    "rounds": rounds})
    static = None
    if args.static:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run([sys.executable, "-m", "benchmarks.static"], capture_output=True,
                             text=True, cwd=root)
        static = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}
        if "error" in static:
            print(f"static benchmark failed: {static['error']}", file=sys.stderr)
            static = None
    render(results, static)
    if args.json_path:
        doc = {"machine": machine(), "args": vars(args), "skipped": skipped,
               "results": results, "static": static}
        Path(args.json_path).write_text(json.dumps(doc, indent=1))
    failed = [r for r in results if r["summary"]["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
