"""Eager vs lazy increments (issue 13 item 9): time and memory, printed as a table.

    .venv/bin/python -m benchmarks.lazy                           # 1M, duckdb + postgresql
    .venv/bin/python -m benchmarks.lazy --sizes 3000000 --backends duckdb,sqlite

Scenario ``simple`` (benchmarks/scenarios.py): ``n`` root samples, the leaf never written, so
the leaf's increment is ``n`` new rows. One process writes the store; then each mode runs in a
fresh process on it (so no allocator cache of the write hides or inflates the numbers):
``eager`` is ``resolve_update(leaf)``; ``lazy`` is ``resolve_update(leaf, lazy=True)`` (one
statement spooled to Arrow files) plus reading every batch of 10,000 rows (``iter_batches``).
``peak MiB`` is the process's peak RSS during the step, ``growth`` its rise over the step. The
lazy path holds one fetch batch (100k rows) and one read batch; the eager path the whole
increment.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 10_000


def _store(url: str, n: int) -> tuple[Any, Any]:
    import metaxy as mx
    from benchmarks.scenarios import build

    sc = build("simple", n)
    return sc, mx.get_store(url, graph=sc.graph)


def prepare(url: str, n: int) -> None:
    sc, store = _store(url, n)
    root = sc.roots[0]
    with store.open("w"):
        store.write(root.feature, root.make(sc.root_rows, "v1"))


def measure(url: str, mode: str, n: int) -> dict[str, float]:
    from benchmarks.worker import Round

    sc, store = _store(url, n)
    r = Round()
    rows = 0
    with store.open("r"):
        with r.step(mode, sc.leaf_samples):
            if mode == "eager":
                rows = store.resolve_update(sc.leaf).new.height
            else:
                with store.resolve_update(sc.leaf, lazy=True) as inc:
                    for batch in inc.new.iter_batches(BATCH):
                        rows += batch.height
    r.check(rows == sc.leaf_samples, f"{rows} new rows")
    return r.steps[mode]


def _child(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "benchmarks.lazy", *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-500:])
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def run(backend: str, n: int) -> list[str]:
    from benchmarks.worker import PG_ADMIN, _pg_admin

    tmp = tempfile.mkdtemp(prefix="mxbench_lazy_")
    dbname = None
    try:
        if backend == "postgresql":
            dbname = f"mxbench_{uuid.uuid4().hex[:10]}"
            _pg_admin("CREATE DATABASE {}", dbname)
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
        else:
            url = f"{backend}:///{tmp}/bench.{backend}"
        _child("--prepare", url, str(n))
        lines = []
        for mode in ("eager", "lazy"):
            step = json.loads(_child("--measure", url, mode, str(n)))
            lines.append(f"| {backend} | {n:,} | {mode} | {step['seconds']:.2f} | "
                         f"{step['rss_peak_mib']:.0f} | {step['rss_mib']:.0f} |")
        return lines
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if dbname is not None:
            _pg_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", dbname)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--backends", default="duckdb,postgresql")
    parser.add_argument("--prepare", nargs=2, help=argparse.SUPPRESS)  # child: URL N
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)  # child: URL MODE N
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare[0], int(args.prepare[1]))
        return
    if args.measure:
        url, mode, n = args.measure
        print(json.dumps(measure(url, mode, int(n))))
        return
    print("| backend | rows | mode | seconds | peak MiB | growth MiB |\n"
          "|---|---:|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            for line in run(backend, n):
                print(line, flush=True)


if __name__ == "__main__":
    main()
