"""Peak memory of ``status`` on a Delta store holding N new samples (issue 16: < 1 GiB at 10M).

    .venv/bin/python -m benchmarks.delta_status_memory --n 10000000

The ``simple`` scenario: a first process writes N root rows (in chunks of 1M, one Delta commit
each) into a fresh ``delta:///`` store; a second, fresh process opens the store and runs
``status`` of the leaf, which is never written, so every sample is new ("N simple adds"). The
second process reports its peak RSS (``ru_maxrss``: the whole process, Python and the imports
included) and its RSS before ``status``; the counts are checked. ``--depth k`` writes every
root sample k times (k commits of each chunk), so that every sample has k rows to deduplicate.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import polars as pl

import metaxy as mx
from benchmarks.scenarios import build
from benchmarks.worker import rss_bytes

CHUNK = 1_000_000


def write(url: str, n: int, depth: int) -> None:
    sc = build("simple", n)
    root = sc.roots[0]
    rows = root.make(sc.root_rows, "v1")
    t0 = time.perf_counter()
    with mx.get_store(url, graph=sc.graph).open("w") as store:
        for _ in range(depth):
            for start in range(0, rows.height, CHUNK):
                store.write(root.feature, rows.slice(start, CHUNK))
    print(f"wrote {rows.height:,} root rows {depth}x in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)


def status(url: str, n: int) -> dict[str, float]:
    sc = build("simple", n)
    before = rss_bytes()
    t0 = time.perf_counter()
    with mx.get_store(url, graph=sc.graph).open("r") as store:
        st = store.status(sc.leaf)
    seconds = time.perf_counter() - t0
    if (st.new, st.stale, st.orphaned, st.up_to_date) != (sc.leaf_samples, 0, 0, 0):
        raise AssertionError(f"status counts {st}, expected {sc.leaf_samples:,} new")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"seconds": seconds, "rss_before_mib": before / 2**20, "peak_rss_mib": peak / 2**20,
            "new": st.new}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--phase", choices=("all", "write", "status"), default="all")
    ap.add_argument("--url", default=None)
    ap.add_argument("--depth", type=int, default=1,
                    help="rows per root sample (the history depth; 1: every sample once)")
    args = ap.parse_args(argv)
    if args.phase == "write":
        write(args.url, args.n, args.depth)
        return
    if args.phase == "status":
        print(json.dumps(status(args.url, args.n)))
        return
    tmp = tempfile.mkdtemp(prefix="mxbench_")
    url = f"delta:///{tmp}/lake"
    try:
        me = [sys.executable, "-m", "benchmarks.delta_status_memory", "--n", str(args.n),
              "--url", url]
        subprocess.run([*me, "--phase", "write", "--depth", str(args.depth)], check=True)
        out = subprocess.run([*me, "--phase", "status"], check=True, capture_output=True,
                             text=True)
        got = json.loads(out.stdout)
        print(f"| n | depth | status s | RSS before MiB | peak RSS MiB |\n"
              f"|---|---|---|---|---|\n"
              f"| {args.n:,} | {args.depth} | {got['seconds']:.1f} | "
              f"{got['rss_before_mib']:.0f} | {got['peak_rss_mib']:.0f} |")
        print(f"status: {got['new']:,} new; polars {pl.__version__}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
