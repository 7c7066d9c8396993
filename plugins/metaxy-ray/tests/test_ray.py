"""The Ray integration on a real local Ray cluster, on DuckDB and PostgreSQL (issue 17).

Every test runs the example teams' ``speech/transcript`` step (text from the audio's provenance)
as a Ray job: increment in (``read_increment``), the team's compute function in ``map_batches``,
results out (``MetaxyDatasink``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import ray
from metaxy_ray import (
    PART_COLUMN,
    MetaxyDatasink,
    RayIntegrationError,
    WriteFailedError,
    read_increment,
)
from metaxy_ray.sink import DEFAULT_ROWS_PER_COMMIT

import metaxy as mx
from metaxy import columns as C

# xdist_group: under `--dist loadgroup` (scripts/test.sh) every Ray test runs on one worker, so
# the suite starts one Ray cluster (see conftest.py)
pytestmark = [pytest.mark.usefixtures("ray_cluster", "teams"), pytest.mark.xdist_group("ray")]

N_VIDEOS = 12
FEATURE = "speech/transcript"


def catalog(audio_revisions: dict[str, int] | None = None) -> pl.DataFrame:
    """The root samples: each field's input is a revision string (bump one: re-encoded audio)."""
    revs = audio_revisions or {}
    ids = [f"v{i:03d}" for i in range(N_VIDEOS)]
    return pl.DataFrame({
        "video_id": ids,
        "duration_s": [float(30 + i) for i in range(N_VIDEOS)],
        C.INPUT_BY_FIELD: [{"audio": f"audio:{v}:r{revs.get(v, 0)}", "frames": f"frames:{v}"}
                           for v in ids],
    })


def write_videos(url: str, audio_revisions: dict[str, int] | None = None) -> None:
    store = mx.get_store(url)
    with store.open("w"):
        inc = store.resolve_update("media/video", samples=catalog(audio_revisions))
        store.write("media/video", inc.to_process())


def transcribe(batch: pa.Table) -> pa.Table:
    from team_speech.compute import transcribe as team_transcribe

    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return team_transcribe(frame).to_arrow(compat_level=pl.CompatLevel.oldest())


def stored(url: str) -> tuple[pl.DataFrame, pl.DataFrame, mx.Increment]:
    """Latest rows, history rows and the increment of the transcript feature."""
    store = mx.get_store(url)
    with store:
        return (store.read(FEATURE).sort("video_id"),
                store.read(FEATURE, with_history=True),
                store.resolve_update(FEATURE))


def test_first_run_computes_all_second_run_only_changed(duckdb_url: str) -> None:
    """On PostgreSQL the same scenario (three steps of the example) is test_docs.py's."""
    store_url = duckdb_url
    write_videos(store_url)
    ds = read_increment(FEATURE, store_url, parallelism=3)
    assert ds.count() == N_VIDEOS
    sink = MetaxyDatasink(FEATURE, store_url)
    ds.map_batches(transcribe, batch_format="pyarrow").write_datasink(sink)
    assert sink.result is not None and sink.result.rows_written == N_VIDEOS
    latest, history, inc = stored(store_url)
    assert latest["video_id"].to_list() == [f"v{i:03d}" for i in range(N_VIDEOS)]
    assert latest["text"].null_count() == 0 and history.height == N_VIDEOS
    assert inc.counts == {"new": 0, "stale": 0, "orphaned": 0}

    changed = {"v001": 1, "v005": 1, "v010": 1}
    write_videos(store_url, audio_revisions=changed)
    ds = read_increment(FEATURE, store_url)
    rows = ds.to_pandas()
    assert sorted(rows["video_id"]) == sorted(changed)
    assert set(rows[PART_COLUMN]) == {"stale"}
    assert all(list(f) == ["text"] for f in rows[C.STALE_FIELDS])
    sink = MetaxyDatasink(FEATURE, store_url)
    ds.map_batches(transcribe, batch_format="pyarrow").write_datasink(sink)
    assert sink.result is not None and sink.result.rows_written == 3
    latest, history, inc = stored(store_url)
    assert history.height == N_VIDEOS + 3
    assert inc.counts == {"new": 0, "stale": 0, "orphaned": 0}
    rewritten = history.filter(pl.col(C.MATERIALIZATION_ID).str.starts_with(
        sink.result.materialization_id + "/"))["video_id"].to_list()
    assert sorted(rewritten) == sorted(changed)


def test_rows_are_split_into_blocks_none_holding_all(duckdb_url: str) -> None:
    write_videos(duckdb_url)
    ds = read_increment(FEATURE, duckdb_url, parts=("new", "stale", "orphaned"), batch_size=2,
                        parallelism=3)
    sizes = [m.num_rows for bundle in ds.iter_internal_ref_bundles()
             for m in bundle.metadata]
    assert sizes == [2] * (N_VIDEOS // 2) and ds.count() == N_VIDEOS
    rows = ds.to_pandas()
    assert rows.shape[0] == N_VIDEOS and set(rows[PART_COLUMN]) == {"new"}
    assert {C.PROVENANCE, C.PROVENANCE_BY_FIELD, "video_id"} <= set(rows.columns)
    # without batch_size: at least `parallelism` blocks
    assert read_increment(FEATURE, duckdb_url, parallelism=3).num_blocks() == 3


def _kill_once(marker: Path, video: str, what: str, run_id: str) -> Any:
    """A map function that SIGKILLs a process the first time it meets ``video``: its own
    process (``what="task"``) or the writer actor's (``"writer"``)."""
    def fn(batch: pa.Table) -> pa.Table:
        if video in batch.column("video_id").to_pylist() and not marker.exists():
            marker.touch()
            if what == "writer":
                for name in ray.util.list_named_actors():
                    writer = ray.get_actor(name)
                    if name.startswith("metaxy-writer-") \
                            and ray.get(writer.current_run.remote()) == run_id:
                        os.kill(ray.get(writer.pid.remote()), signal.SIGKILL)
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return transcribe(batch)
    return fn


@pytest.mark.parametrize(("backend", "what"), [
    ("duckdb", "task"), ("duckdb", "writer"), ("postgres", "task"), ("postgres", "writer")])
def test_killed_worker_mid_write_leaves_latest_rows_and_increment(
        request: pytest.FixtureRequest, backend: str, what: str, tmp_path: Path) -> None:
    """The task's process dies after some of its blocks were committed (Ray retries the task),
    or the writer's process dies (Ray restarts it and retries its pending writes). On DuckDB the
    tasks hand their batches to the job's holder and the writer commits them together at the
    end (staged commits, the default), which a restarted writer must recognise too."""
    store_url = str(request.getfixturevalue(f"{backend}_url"))
    write_videos(store_url)
    ds = read_increment(FEATURE, store_url, batch_size=2, parallelism=2)
    sink = MetaxyDatasink(FEATURE, store_url, writers=1, materialization_id=f"kill-{what}",
                          rows_per_write=2,  # one batch per block
                          rows_per_commit=None if backend == "duckdb" else 0)
    fn = _kill_once(tmp_path / "killed", "v004", what, sink.run_id)
    ds.map_batches(fn, batch_format="pyarrow", batch_size=2).write_datasink(sink)
    assert (tmp_path / "killed").exists()  # the kill happened
    _, history, inc = stored(store_url)
    # every sample written exactly once: the retried blocks committed before the kill were
    # recognised and skipped, not appended again
    assert sorted(history["video_id"]) == [f"v{i:03d}" for i in range(N_VIDEOS)]
    assert inc.counts == {"new": 0, "stale": 0, "orphaned": 0}
    assert sink.result is not None
    assert sink.result.rows_written + sink.result.rows_skipped >= N_VIDEOS - 2


def test_user_function_raising_fails_the_job(duckdb_url: str) -> None:
    write_videos(duckdb_url)

    def fn(batch: pa.Table) -> pa.Table:
        if "v007" in batch.column("video_id").to_pylist():
            raise ValueError("cannot decode v007")
        return transcribe(batch)

    ds = read_increment(FEATURE, duckdb_url, batch_size=3)
    sink = MetaxyDatasink(FEATURE, duckdb_url)
    with pytest.raises(Exception, match="cannot decode v007"):
        ds.map_batches(fn, batch_format="pyarrow", batch_size=3).write_datasink(sink)
    # the writers are gone (the DuckDB file is free) and v007 is still to be computed
    latest, history, inc = stored(duckdb_url)
    assert "v007" in inc.new["video_id"].to_list()
    assert "v007" not in latest["video_id"].to_list()
    assert history.height == latest.height


def _poison(video: str) -> Any:
    """A map function whose row for ``video`` cannot be stored (a NUL character)."""
    def fn(batch: pa.Table) -> pa.Table:
        out = pl.from_arrow(transcribe(batch))
        assert isinstance(out, pl.DataFrame)
        return out.with_columns(text=pl.when(pl.col("video_id") == video)
                                .then(pl.lit("bad\x00text")).otherwise(pl.col("text"))).to_arrow(
                                    compat_level=pl.CompatLevel.oldest())
    return fn


def test_failed_write_raises_naming_feature_and_samples(duckdb_url: str) -> None:
    write_videos(duckdb_url)
    ds = read_increment(FEATURE, duckdb_url, batch_size=4)
    sink = MetaxyDatasink(FEATURE, duckdb_url, rows_per_write=4)
    with pytest.raises(WriteFailedError,
                       match=r"'speech/transcript'.*first failing sample ids: \[[^]]*'v002'"):
        ds.map_batches(_poison("v002"), batch_format="pyarrow").write_datasink(sink)
    latest, _, inc = stored(duckdb_url)  # the failed block wrote nothing; v002 is still new
    assert "v002" in inc.new["video_id"].to_list()
    assert "v002" not in latest["video_id"].to_list()


def test_on_error_collect_returns_only_the_bad_samples(postgres_url: str) -> None:
    """A failed batch is bisected: only v002 fails, its batch-mates are written."""
    write_videos(postgres_url)
    ds = read_increment(FEATURE, postgres_url, batch_size=6)
    sink = MetaxyDatasink(FEATURE, postgres_url, on_error="collect", writers=2)
    ds.map_batches(_poison("v002"), batch_format="pyarrow").write_datasink(sink)
    result = sink.result
    assert result is not None
    assert result.failed["video_id"].to_list() == ["v002"] and len(result.errors) == 1
    assert result.rows_written == N_VIDEOS - 1
    latest, _, inc = stored(postgres_url)
    assert inc.new["video_id"].to_list() == ["v002"]
    assert "v002" not in latest["video_id"].to_list() and latest.height == N_VIDEOS - 1


def test_a_dead_idle_writer_is_replaced(duckdb_url: str) -> None:
    """The pool keeps idle writers between jobs; one that died meanwhile (here killed without
    restart) is replaced when the next job starts, instead of failing it."""
    write_videos(duckdb_url)
    read_increment(FEATURE, duckdb_url).map_batches(  # a first job: v000-v005
        lambda b: transcribe(b.filter(pc.less(b["video_id"], "v006"))),
        batch_format="pyarrow").write_datasink(MetaxyDatasink(FEATURE, duckdb_url))
    killed = 0
    for name in ray.util.list_named_actors():
        writer = ray.get_actor(name)
        if name.startswith("metaxy-writer-") and ray.get(writer.current_run.remote()) is None:
            ray.kill(writer, no_restart=True)
            killed += 1
    assert killed >= 1
    sink = MetaxyDatasink(FEATURE, duckdb_url)
    read_increment(FEATURE, duckdb_url).map_batches(
        transcribe, batch_format="pyarrow").write_datasink(sink)
    assert sink.result is not None and sink.result.rows_written == N_VIDEOS - 6
    assert stored(duckdb_url)[2].counts == {"new": 0, "stale": 0, "orphaned": 0}


def test_arguments_are_checked(duckdb_url: str) -> None:
    with pytest.raises(RayIntegrationError, match="one writing process"):
        MetaxyDatasink(FEATURE, duckdb_url, writers=4)
    with pytest.raises(RayIntegrationError, match="rows_per_write"):
        MetaxyDatasink(FEATURE, duckdb_url, rows_per_write=0)
    with pytest.raises(RayIntegrationError, match="rows_per_commit"):
        MetaxyDatasink(FEATURE, duckdb_url, rows_per_commit=-1)
    assert MetaxyDatasink(FEATURE, duckdb_url).rows_per_commit == DEFAULT_ROWS_PER_COMMIT
    server = "postgresql://postgres@127.0.0.1:5432/test"  # not connected: the check is local
    with pytest.raises(RayIntegrationError, match="needs a single writer"):
        MetaxyDatasink(FEATURE, server, rows_per_commit=1000)
    assert MetaxyDatasink(FEATURE, server).rows_per_commit == 0
    assert MetaxyDatasink(FEATURE, server, writers=1, rows_per_commit=1000).rows_per_commit == 1000
    with pytest.raises(RayIntegrationError, match="on_error"):
        MetaxyDatasink(FEATURE, duckdb_url, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(RayIntegrationError, match="memory"):
        MetaxyDatasink(FEATURE, "memory://")
    with pytest.raises(RayIntegrationError, match="parts"):
        read_increment(FEATURE, duckdb_url, parts=("new", "done"))
    with pytest.raises(RayIntegrationError, match="store URL"):
        read_increment(FEATURE, mx.get_store(duckdb_url))  # type: ignore[arg-type]
