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
import pytest
import ray
from metaxy_ray import (
    PART_COLUMN,
    MetaxyDatasink,
    RayIntegrationError,
    WriteFailedError,
    read_increment,
)

import metaxy as mx
from metaxy import columns as C

pytestmark = pytest.mark.usefixtures("ray_cluster", "teams")

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


def test_first_run_computes_all_second_run_only_changed(store_url: str) -> None:
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


def test_rows_come_from_several_read_tasks(duckdb_url: str) -> None:
    write_videos(duckdb_url)
    ds = read_increment(FEATURE, duckdb_url, parts=("new", "stale", "orphaned"), batch_size=2,
                        parallelism=3)
    source = ds._logical_plan.dag.datasource  # the plan's read op holds our datasource
    tasks = source.get_read_tasks(3)
    assert len(tasks) == 3 and sum(t.metadata.num_rows for t in tasks) == N_VIDEOS
    assert source.counts == {"new": N_VIDEOS, "stale": 0, "orphaned": 0}
    rows = ds.to_pandas()
    assert rows.shape[0] == N_VIDEOS and set(rows[PART_COLUMN]) == {"new"}
    assert {C.PROVENANCE, C.PROVENANCE_BY_FIELD, "video_id"} <= set(rows.columns)


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
    ("duckdb", "task"), ("postgres", "task"), ("postgres", "writer")])
def test_killed_worker_mid_write_leaves_latest_rows_and_increment(
        request: pytest.FixtureRequest, backend: str, what: str, tmp_path: Path) -> None:
    """The task's process dies after some of its blocks were committed (Ray retries the task),
    or the writer's process dies (Ray restarts it and retries its pending write)."""
    store_url = str(request.getfixturevalue(f"{backend}_url"))
    write_videos(store_url)
    ds = read_increment(FEATURE, store_url, batch_size=2, parallelism=2)
    sink = MetaxyDatasink(FEATURE, store_url, writers=1, materialization_id=f"kill-{what}",
                          rows_per_write=2)  # one transaction per block
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


def test_on_error_collect_returns_failed_ids(postgres_url: str) -> None:
    write_videos(postgres_url)
    ds = read_increment(FEATURE, postgres_url, batch_size=4)
    sink = MetaxyDatasink(FEATURE, postgres_url, on_error="collect", writers=2,
                          rows_per_write=4)
    ds.map_batches(_poison("v002"), batch_format="pyarrow").write_datasink(sink)
    result = sink.result
    assert result is not None
    failed = result.failed["video_id"].to_list()
    assert "v002" in failed and len(failed) < N_VIDEOS
    assert result.rows_written + len(failed) == N_VIDEOS
    latest, _, inc = stored(postgres_url)
    assert sorted(inc.new["video_id"]) == sorted(failed)
    assert set(latest["video_id"]).isdisjoint(failed)


def test_arguments_are_checked(duckdb_url: str) -> None:
    with pytest.raises(RayIntegrationError, match="one writing process"):
        MetaxyDatasink(FEATURE, duckdb_url, writers=4)
    with pytest.raises(RayIntegrationError, match="rows_per_write"):
        MetaxyDatasink(FEATURE, duckdb_url, rows_per_write=0)
    with pytest.raises(RayIntegrationError, match="on_error"):
        MetaxyDatasink(FEATURE, duckdb_url, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(RayIntegrationError, match="memory"):
        MetaxyDatasink(FEATURE, "memory://")
    with pytest.raises(RayIntegrationError, match="parts"):
        read_increment(FEATURE, duckdb_url, parts=("new", "done"))
    with pytest.raises(RayIntegrationError, match="store URL"):
        read_increment(FEATURE, mx.get_store(duckdb_url))  # type: ignore[arg-type]
