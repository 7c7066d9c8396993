"""Ray Data integration (issue 17): a 1M-sample increment streamed into Ray and written back.

    .venv/bin/python -m benchmarks.ray_data                      # 1M, postgresql
    .venv/bin/python -m benchmarks.ray_data --n 200000 --backends duckdb,postgresql

The example teams' graph (the Ray writers load it from the installed team packages): ``n`` videos
are written as the root; ``speech/transcript``'s increment is then ``n`` new rows. On one local Ray
cluster (``num_cpus=2``, 1 GiB object store; the worker and writer processes warmed up by a small
job first: the pool of writers keeps them between jobs), one run measures:

* ``resolve`` -- opening the store, ``store.resolve_update(transcript)`` to one Arrow table and
  closing it, in this process;
* ``read into Ray`` -- ``read_increment(transcript, url)`` (which opens and closes the store too)
  and ``ds.materialize()``; ``resolve`` and ``read into Ray`` run ``READ_REPS`` times in
  alternating order and their medians are compared (until 2026-12-05: one pair);
* ``store write`` -- ``store.open("w")``, ``store.write(transcript, rows)`` of the computed rows
  and closing the store, in this process, into store A;
* ``Ray write (w writers)`` -- the same rows, already in Ray's object store in blocks of
  ``ROWS_PER_WRITE`` (one write task each), written through ``MetaxyDatasink(..., writers=w)``
  into store B (a second store prepared identically, so both writes append to the same state);
  PostgreSQL is measured with 1, 2 and 4 writers. DuckDB is measured with the sink's default
  (staged commits: the write tasks hand their batches to a holder actor, the writer commits up
  to ``rows_per_commit`` rows per transaction) and with ``rows_per_commit=0`` (each batch one
  transaction while its task waits), each into its own prepared store.

Both sides of each ratio open and close the store: the sink must leave a DuckDB file free when
``write_datasink`` returns, and closing a DuckDB file that took 1M rows checkpoints it (~2 s of a
~7 s write here). Until 2026-12-04 the baselines timed only the call inside an open store.

Ratios are Ray's time over the single-process baseline (targets: read <= 1.5, write <= 1.5).
``--steps`` adds the Ray side's parts: ``read_increment`` (spool + putting the blocks) and
``materialize``; the sink's ``on_write_start`` (writers open the store), the write tasks, and
``on_write_complete`` (writers close it).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FEATURE = "speech/transcript"
OBJECT_STORE = 2**30
READ_REPS = 3  # resolve / read pairs, alternating; medians are reported


def _videos(n: int) -> Any:
    import polars as pl

    from metaxy import columns as C

    ids = pl.Series("video_id", [f"v{i:08d}" for i in range(n)])
    return pl.DataFrame({"video_id": ids, "duration_s": pl.Series([30.0] * n)}).with_columns(
        pl.struct(audio=pl.lit("audio:") + pl.col("video_id"),
                  frames=pl.lit("frames:") + pl.col("video_id")).alias(C.INPUT_BY_FIELD))


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    from benchmarks.worker import PG_ADMIN, _pg_admin

    tmp = tempfile.mkdtemp(prefix="mxbench_ray_")
    dbname = None
    try:
        if backend == "postgresql":
            dbname = f"mxbench_{uuid.uuid4().hex[:10]}"
            _pg_admin("CREATE DATABASE {}", dbname)
            yield PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
        else:
            yield f"duckdb:///{tmp}/bench.duckdb"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if dbname is not None:
            _pg_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", dbname)


def _prepare(url: str, videos: Any) -> None:
    import metaxy as mx

    store = mx.get_store(url)
    with store.open("w"):
        store.write("media/video", videos)


def _transactions(url: str, run: str) -> int:
    """How many transactions a sink's job committed (one write time each)."""
    import polars as pl

    import metaxy as mx
    from metaxy import columns as C

    store = mx.get_store(url)
    with store:
        rows = store.read(FEATURE, with_history=True)
    mine = rows.filter(pl.col(C.MATERIALIZATION_ID).str.starts_with(run + "/"))
    return int(mine[C.UPDATED_AT].n_unique())


def _tree_cpu() -> float:
    """CPU seconds used so far by this process and every process it started (Ray's GCS, raylet,
    workers and actors are all descendants of the driver on a local cluster), from /proc:
    steadier than wall time on a shared machine. Processes that ended meanwhile are not
    counted (Ray keeps its workers); 0.0 where /proc is missing."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    me = os.getpid()

    def mine(pid: int) -> bool:
        while pid > 1:
            if pid == me:
                return True
            pid = parents.get(pid, 0)
        return False
    return sum(c for pid, c in cpu.items() if mine(pid))


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _cpu_timed(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds (this process tree) of ``fn()``."""
    cpu = _tree_cpu()
    wall, _ = _timed(fn)
    return wall, _tree_cpu() - cpu


def _timed_sink(base: Any, steps: dict[str, float]) -> Any:
    """A sink that records how long its driver-side start and completion took."""
    class Timed(base):  # type: ignore[misc, valid-type]
        def on_write_start(self, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            super().on_write_start(*args, **kwargs)
            steps["start"] = time.perf_counter() - start

        def on_write_complete(self, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            super().on_write_complete(*args, **kwargs)
            steps["complete"] = time.perf_counter() - start
    return Timed


def _small_jobs(backend: str, videos: Any) -> tuple[float, float, float]:
    """The warm-up, timed: the first sink job of 100 rows (it starts the writer and holder
    actors), a second one (warm), and ``store.write`` of the same 100 rows (open to close).
    On PostgreSQL the first jobs start 4 writers and a staged job's holder; the times are the
    last two jobs'."""
    import polars as pl
    from metaxy_ray import MetaxyDatasink, read_increment
    from team_speech.compute import transcribe

    import metaxy as mx

    def job(url: str, writers: int, staged: bool) -> None:
        sink = MetaxyDatasink(FEATURE, url, writers=writers,
                              rows_per_commit=1_000_000 if staged else None)
        read_increment(FEATURE, url).map_batches(
            lambda b: transcribe(pl.from_arrow(b)).to_arrow(compat_level=pl.CompatLevel.oldest()),
            batch_format="pyarrow").write_datasink(sink)

    times = []
    jobs = (((4, False), (2, False), (1, True), (1, False), (1, False))
            if backend == "postgresql" else ((1, False), (1, False)))
    for w, staged in jobs:  # PostgreSQL: a staged job too, so that its holder is warm
        with _database(backend) as scratch:
            _prepare(scratch, videos.head(100))
            times.append(_timed(lambda u=scratch, k=w, g=staged: job(u, k, g))[0])
    with _database(backend) as scratch:
        _prepare(scratch, videos.head(100))
        store = mx.get_store(scratch)
        with store:
            rows = transcribe(store.resolve_update(FEATURE).new)

        def write() -> None:
            with store.open("w"):
                store.write(FEATURE, rows)
        small = _timed(write)[0]
    return times[-2], times[-1], small


def run(backend: str, n: int, *, writes: bool = True, steps: bool = False) -> Iterator[str]:
    import polars as pl
    import ray
    from metaxy_ray import MetaxyDatasink, read_increment
    from metaxy_ray.sink import ROWS_PER_WRITE
    from team_speech.compute import transcribe

    import metaxy as mx

    videos = _videos(n)
    # warm-up: the writer and holder processes exist and are warm
    first, warm, small = _small_jobs(backend, videos)
    if steps:
        yield (f"| {backend} | 100 | fixed costs | store.write | {small:.2f} | first sink job "
               f"(starts the actors) / a warm one | {first:.2f} / {warm:.2f} | |")
    with _database(backend) as url_a, _database(backend) as url_b:
        _prepare(url_a, videos)
        if writes:
            _prepare(url_b, videos)
        store_a = mx.get_store(url_a)

        def resolve() -> Any:
            with store_a:
                return store_a.resolve_update(FEATURE).new.to_arrow()

        def read_into_ray() -> tuple[float, float, Any]:
            t_lazy, lazy = _timed(lambda: read_increment(FEATURE, url_a))
            t_mat, ds = _timed(lazy.materialize)
            return t_lazy, t_mat, ds

        # READ_REPS pairs in alternating order, medians: one pair alone swings with whichever
        # side happens to meet a busy moment (the read path itself is warm: _small_jobs)
        resolves, reads = [], []
        for rep in range(READ_REPS):
            for side in ("resolve", "read") if rep % 2 == 0 else ("read", "resolve"):
                if side == "resolve":
                    t_resolve, table = _timed(resolve)
                    resolves.append(t_resolve)
                else:
                    t_lazy, t_mat, ds = read_into_ray()
                    reads.append((t_lazy + t_mat, t_lazy, t_mat))
            assert ds.count() == n and table.num_rows == n
            if rep < READ_REPS - 1:
                del ds
        t_resolve = statistics.median(resolves)
        t_read, t_lazy, t_mat = sorted(reads)[len(reads) // 2]
        yield (f"| {backend} | {n:,} | read (median of {READ_REPS}) | resolve_update to Arrow | "
               f"{t_resolve:.2f} | read_increment + materialize | {t_read:.2f} | "
               f"{t_read / t_resolve:.2f} |")
        if steps:
            yield (f"| {backend} | {n:,} | read steps | | | read_increment / materialize | "
                   f"{t_lazy:.2f} / {t_mat:.2f} | |")
        if not writes:
            return
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        rows = transcribe(frame)
        del ds, table, frame

        def write() -> None:
            with store_a.open("w"):
                store_a.write(FEATURE, rows)

        t_write, c_write = _cpu_timed(write)
        blocks = [ray.put(b.to_arrow(compat_level=pl.CompatLevel.oldest()))
                  for b in rows.iter_slices(ROWS_PER_WRITE)]
        ready = ray.data.from_arrow_refs(blocks).materialize()  # type: ignore[arg-type]
        variants: tuple[tuple[int, int | None], ...] = (
            ((1, None), (2, None), (4, None), (1, 1_000_000)) if backend == "postgresql"
            else ((1, None), (1, 0)))
        for i, (writers, per_commit) in enumerate(variants):
            with _database(backend) as url_c:
                url = url_b if i == 0 else url_c
                if i != 0:
                    _prepare(url, videos)
                parts: dict[str, float] = {}
                sink = _timed_sink(MetaxyDatasink, parts)(FEATURE, url, writers=writers,
                                                          rows_per_commit=per_commit)
                t_ray, c_ray = _cpu_timed(lambda s=sink: ready.write_datasink(s))
                assert sink.result is not None and sink.result.rows_written == n
                commits = _transactions(url, sink.result.materialization_id)
            label = "" if per_commit is None else f", rows_per_commit={per_commit}"
            yield (f"| {backend} | {n:,} | write | store.write | {t_write:.2f} | "
                   f"MetaxyDatasink, {writers} writer(s){label}, {commits} transaction(s) | "
                   f"{t_ray:.2f} | {t_ray / t_write:.2f} |")
            if steps and c_write > 0:
                yield (f"| {backend} | {n:,} | write CPU (process tree) | store.write | "
                       f"{c_write:.2f} | same sink | {c_ray:.2f} | {c_ray / c_write:.2f} |")
            if steps:
                tasks = t_ray - parts["start"] - parts["complete"]
                yield (f"| {backend} | {n:,} | write steps | | | start / tasks / complete | "
                       f"{parts['start']:.2f} / {tasks:.2f} / {parts['complete']:.2f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--read-only", action="store_true", help="measure the read step only")
    parser.add_argument("--steps", action="store_true", help="also print the Ray side's parts")
    args = parser.parse_args()
    import ray

    import metaxy as mx

    mx.load_features()
    t_init, _ = _timed(lambda: ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE,
        logging_level=logging.WARNING, log_to_driver=False))
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        t_first, _ = _timed(ray.data.range(100, override_num_blocks=2).map_batches(
            lambda b: b).materialize)
        print("| backend | samples | step | baseline | seconds | Ray | seconds | ratio |\n"
              "|---|---:|---|---|---:|---|---:|---:|")
        if args.steps:
            print(f"| | 100 | Ray start | | | ray.init / first Ray Data job | "
                  f"{t_init:.2f} / {t_first:.2f} | |")
        for backend in args.backends.split(","):
            for line in run(backend, args.n, writes=not args.read_only, steps=args.steps):
                print(line, flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
