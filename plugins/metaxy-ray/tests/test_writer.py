"""The writer actor's body in this process (no Ray cluster): ``on_error="collect"`` isolates the
bad rows of a failed batch by bisection, a retried batch skips the parts already committed, and
the bisection stops at its budget; staged batches (held by a holder actor on the test's Ray
cluster) commit as one transaction, which a restarted writer recognises, and a failed staged
transaction falls back to writing each batch alone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import ray
from metaxy_ray.errors import WriteFailedError
from metaxy_ray.staging import Holder
from metaxy_ray.stores import StoreRef
from metaxy_ray.writer import Writer, WriterJob, block_key

import metaxy as mx
from metaxy import columns as C

pytestmark = pytest.mark.usefixtures("teams")

FEATURE = "speech/transcript"
IDS = ("video_id",)
BAD = ("v002", "v005")
N = 8


def computed_batch(url: str, n: int = N) -> pa.Table:
    """The transcript increment of ``n`` new videos, computed; ``BAD`` rows cannot be stored
    (a NUL character in their text)."""
    from team_speech.compute import transcribe

    store = mx.get_store(url)
    with store.open("w"):
        ids = [f"v{i:03d}" for i in range(n)]
        store.write("media/video", pl.DataFrame({
            "video_id": ids, "duration_s": [30.0] * n,
            C.INPUT_BY_FIELD: [{"audio": f"a:{v}", "frames": f"f:{v}"} for v in ids]}))
        todo = store.resolve_update(FEATURE).to_process()
    out = transcribe(todo).with_columns(
        text=pl.when(pl.col("video_id").is_in(BAD)).then(pl.lit("bad\x00text"))
        .otherwise(pl.col("text")))
    return out.to_arrow(compat_level=pl.CompatLevel.oldest())


def job(url: str, job_id: str) -> WriterJob:
    return WriterJob(StoreRef.of(url), FEATURE, IDS, "run1", job_id, "collect")


def stored(url: str) -> tuple[pl.DataFrame, mx.Increment]:
    store = mx.get_store(url)
    with store:
        return store.read(FEATURE, with_history=True), store.resolve_update(FEATURE)


def test_collect_isolates_bad_rows_and_a_retry_skips_written_parts(duckdb_url: str) -> None:
    table = computed_batch(duckdb_url)
    key = block_key(table, IDS)
    writer = Writer()
    writer.begin(job(duckdb_url, "a"))
    result = writer.write(job(duckdb_url, "a"), table, key)
    writer.end()
    assert sorted(r["video_id"] for r in result.failed) == list(BAD)
    assert result.rows == N - 2 and len(result.errors) == 2
    assert all("first failing sample ids: [{'video_id': 'v0" in e for e in result.errors)
    history, inc = stored(duckdb_url)
    assert history.height == N - 2 and set(history["video_id"]).isdisjoint(BAD)
    assert sorted(inc.new["video_id"]) == list(BAD)

    # the same batch again, as after a writer restart (a new job id: the writer lost its memory
    # and looks each part up in the store): the good parts are skipped, nothing is appended
    retry = Writer()
    again = retry.write(job(duckdb_url, "b"), table, key)
    retry.end()
    assert (again.rows, again.skipped_rows) == (0, N - 2)
    assert sorted(r["video_id"] for r in again.failed) == list(BAD)
    assert stored(duckdb_url)[0].height == N - 2


def test_collect_reports_the_rest_whole_past_the_budget(
        duckdb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import metaxy_ray.writer as writer_module

    table = computed_batch(duckdb_url)
    monkeypatch.setattr(writer_module, "MAX_SPLIT_FAILURES", 1)
    writer = Writer()
    result = writer.write(job(duckdb_url, "a"), table, block_key(table, IDS))
    writer.end()
    # one split (8 -> 4 + 4), then both halves fail (one bad row each) and are reported whole
    assert result.rows == 0 and len(result.errors) == 2
    assert sorted(r["video_id"] for r in result.failed) == [f"v{i:03d}" for i in range(N)]
    assert stored(duckdb_url)[0].height == 0


def staged_job(url: str, job_id: str, on_error: str, holder: Any) -> WriterJob:
    return WriterJob(StoreRef.of(url), FEATURE, IDS, "run1", job_id, on_error,
                     commit_rows=1_000_000, holder=holder, started_at=datetime.now(UTC))


def held(job: WriterJob, tables: list[pa.Table]) -> WriterJob:
    """``job`` with a fresh holder (an actor on the test's Ray cluster) holding ``tables``, as
    write tasks hand them in."""
    holder = ray.remote(Holder).options(num_cpus=0).remote()
    ray.get(holder.start.remote(job.job_id))
    for table in tables:
        ray.get(holder.keep.remote(job.job_id, block_key(table, IDS), table))
    return dataclasses.replace(job, holder=holder)


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.xdist_group("ray")
def test_staged_batches_commit_in_one_transaction_and_a_restart_skips_them(
        duckdb_url: str) -> None:
    table = computed_batch(duckdb_url)
    good = [table.slice(0, 2), table.slice(3, 2)]  # v000-v001, v003-v004
    keys = sorted(block_key(t, IDS) for t in good)
    first = held(staged_job(duckdb_url, "a", "raise", None), good)
    writer = Writer()
    writer.begin(first)
    assert sorted(writer.flush(first).committed) == keys
    writer.end()
    assert ray.get(first.holder.held_rows.remote("a")) == 0  # released once committed
    history, _ = stored(duckdb_url)
    # one transaction: one write time and one materialization id naming both batches
    assert history.height == 4 and history[C.UPDATED_AT].n_unique() == 1
    (mid,) = history[C.MATERIALIZATION_ID].unique().to_list()
    assert mid.startswith("run1/") and sorted(mid[len("run1/"):].split("+")) == keys

    # a restarted writer (its memory lost) reads the run's keys once: both skipped
    again = held(staged_job(duckdb_url, "a", "raise", None), good)
    restarted = Writer()
    out = restarted.flush(again)
    restarted.end()
    assert sorted(out.committed) == keys and not out.failed
    assert stored(duckdb_url)[0].height == 4
    # a job that did not say when it started: the restarted writer reads every row's key
    late = held(dataclasses.replace(staged_job(duckdb_url, "a", "raise", None),
                                    started_at=None), good)
    unknown = Writer()
    assert sorted(unknown.flush(late).committed) == keys
    unknown.end()
    assert stored(duckdb_url)[0].height == 4


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.xdist_group("ray")
def test_a_failed_staged_commit_writes_each_batch_alone(duckdb_url: str) -> None:
    table = computed_batch(duckdb_url)
    good, bad = [table.slice(0, 2), table.slice(3, 2)], table.slice(5, 3)  # v005 is bad
    collect = held(staged_job(duckdb_url, "a", "collect", None), [*good, bad])
    writer = Writer()
    writer.begin(collect)
    out = writer.flush(collect)
    writer.end()
    # the transaction of all three failed; the good batches were then written alone and the
    # bad one bisected: only v005 is reported, its batch-mates are written
    assert out.failed == [{"video_id": "v005"}] and out.failed_keys == {block_key(bad, IDS)}
    assert out.committed >= {block_key(t, IDS) for t in good}
    history, inc = stored(duckdb_url)
    assert history.height == 6 and sorted(inc.new["video_id"]) == ["v002", "v005"]

    # on_error="raise": the bad batch fails naming its sample
    raising = held(staged_job(duckdb_url, "b", "raise", None),
                   [table.slice(1, 2), table.slice(6, 2)])  # v001-v002, v006-v007
    writer = Writer()
    with pytest.raises(WriteFailedError, match="'v001'"):
        writer.flush(raising)
    writer.end()
    assert "v002" in stored(duckdb_url)[1].new["video_id"].to_list()
