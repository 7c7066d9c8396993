"""Cost of the code-change guard (issue 18 item 1): fingerprinting and ``check``.

``python -m benchmarks.codeguard`` prints a table: the time to fingerprint every declared compute
function of the example teams (source read + parse + helper walk; linecache warm after the first
round), and a full ``check`` (fingerprints + one read of ``metaxy_snapshot_code``) against a
DuckDB store where the graph was pushed. Times are medians of ``ROUNDS`` rounds; nothing is
asserted.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import metaxy as mx
from metaxy.codeguard.check import check, current_fingerprints, guarded_push

ROUNDS = 20
PROJECT = "teams_example"


def _median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    graph = mx.load_features(mx.FeatureGraph())
    n = len(current_fingerprints(graph))
    url = f"duckdb:///{Path(tempfile.mkdtemp()) / 'guard.duckdb'}"
    store = mx.get_store(url, graph=graph)
    guarded_push(store, graph, PROJECT)
    rows = [
        ("fingerprint all declared functions", n, _median_ms(lambda: current_fingerprints(graph))),
        ("check (fingerprints + read records, DuckDB)", n,
         _median_ms(lambda: check(store, graph, PROJECT))),
    ]
    print(f"{'step':<46} {'functions':>9} {'median ms':>10}")
    for step, count, ms in rows:
        print(f"{step:<46} {count:>9} {ms:>10.2f}")


if __name__ == "__main__":
    main()
