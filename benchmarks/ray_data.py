"""Ray Data integration (issue 17): a 1M-sample increment streamed into Ray and written back.

    .venv/bin/python -m benchmarks.ray_data                      # 1M, postgresql
    .venv/bin/python -m benchmarks.ray_data --n 200000 --backends duckdb,postgresql

The example teams' graph (the Ray writers load it from the installed team packages): ``n`` videos
are written as the root; ``speech/transcript``'s increment is then ``n`` new rows. On one local Ray
cluster (``num_cpus=2``, 1 GiB object store; the worker and writer processes warmed up by a small
job first: the pool of writers keeps them between jobs), one run measures:

* ``resolve`` -- ``store.resolve_update(transcript)`` to one Arrow table, in this process;
* ``read into Ray`` -- ``read_increment(transcript, url)`` and ``ds.materialize()`` (every block
  read by the read tasks);
* ``store write`` -- ``store.write(transcript, rows)`` of the computed rows, in this process, into
  store A;
* ``Ray write (w writers)`` -- the same rows, already in Ray's object store in blocks of
  ``ROWS_PER_WRITE`` (one write task and one transaction each), written through
  ``MetaxyDatasink(..., writers=w)`` into store B (a second store prepared identically, so both
  writes append to the same state); PostgreSQL is measured with 1, 2 and 4 writers.

Ratios are Ray's time over the single-process baseline (targets: read <= 1.5, write <= 1.5).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
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


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(backend: str, n: int, *, writes: bool = True) -> Iterator[str]:
    import polars as pl
    import ray
    from metaxy_ray import MetaxyDatasink, read_increment
    from metaxy_ray.sink import ROWS_PER_WRITE
    from team_speech.compute import transcribe

    import metaxy as mx

    videos = _videos(n)
    with _database(backend) as scratch:  # warm-up: the writer processes exist and are warm
        _prepare(scratch, videos.head(100))
        for w in ((4, 2, 1) if backend == "postgresql" else (1,)):
            warm = MetaxyDatasink(FEATURE, scratch, writers=w)
            read_increment(FEATURE, scratch).map_batches(
                lambda b: transcribe(pl.from_arrow(b)).to_arrow(
                    compat_level=pl.CompatLevel.oldest()),
                batch_format="pyarrow").write_datasink(warm)
    with _database(backend) as url_a, _database(backend) as url_b:
        _prepare(url_a, videos)
        if writes:
            _prepare(url_b, videos)
        store_a = mx.get_store(url_a)
        with store_a:
            t_resolve, table = _timed(lambda: store_a.resolve_update(FEATURE).new.to_arrow())
        t_read, ds = _timed(lambda: read_increment(FEATURE, url_a).materialize())
        assert ds.count() == n and table.num_rows == n
        yield (f"| {backend} | {n:,} | read | resolve_update to Arrow | {t_resolve:.2f} "
               f"| read_increment + materialize | {t_read:.2f} | {t_read / t_resolve:.2f} |")
        if not writes:
            return
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        rows = transcribe(frame)
        del ds, table, frame
        with store_a.open("w"):
            t_write, _ = _timed(lambda: store_a.write(FEATURE, rows))
        blocks = [ray.put(b.to_arrow(compat_level=pl.CompatLevel.oldest()))
                  for b in rows.iter_slices(ROWS_PER_WRITE)]
        ready = ray.data.from_arrow_refs(blocks).materialize()  # type: ignore[arg-type]
        for writers in ((1, 2, 4) if backend == "postgresql" else (1,)):
            with _database(backend) as url_c:
                url = url_b if writers == 1 else url_c
                if writers != 1:
                    _prepare(url, videos)
                sink = MetaxyDatasink(FEATURE, url, writers=writers)
                t_ray, _ = _timed(lambda s=sink: ready.write_datasink(s))
                assert sink.result is not None and sink.result.rows_written == n
            yield (f"| {backend} | {n:,} | write | store.write | {t_write:.2f} | "
                   f"MetaxyDatasink, {writers} writer(s) | {t_ray:.2f} | "
                   f"{t_ray / t_write:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--read-only", action="store_true", help="measure the read step only")
    args = parser.parse_args()
    import ray

    import metaxy as mx

    mx.load_features()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE,
             logging_level=logging.WARNING, log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ray.data.range(100, override_num_blocks=2).map_batches(lambda b: b).materialize()
        print("| backend | samples | step | baseline | seconds | Ray | seconds | ratio |\n"
              "|---|---:|---|---|---:|---|---:|---:|")
        for backend in args.backends.split(","):
            for line in run(backend, args.n, writes=not args.read_only):
                print(line, flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
