"""The writer actor's body in this process (no Ray cluster): ``on_error="collect"`` isolates the
bad rows of a failed batch by bisection, a retried batch skips the parts already committed, and
the bisection stops at its budget."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
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
