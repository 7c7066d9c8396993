"""Scenario tests of issue 3 on the example teams, on every backend (``store_url``, conftest.py).

Graph: media/video (root; fields audio, frames) -> media/chunk (1:N) -> speech/summary (N:1);
media/video.audio -> speech/transcript -> speech/keywords; media/video.frames -> vision/faces.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.store.base import MetadataStore
from metaxy.testing.graphs import bump, clone_graph
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize, stale_fields

VIDEOS = ["v0", "v1", "v2", "v3"]
DOWNSTREAM = ("media/chunk", "speech/transcript", "speech/keywords", "speech/summary",
              "vision/faces")
INPUT = pl.Struct({"audio": pl.Utf8, "frames": pl.Utf8})


def video_samples(changed: dict[str, tuple[str, str]] | None = None,
                  ids: list[str] = VIDEOS) -> pl.DataFrame:
    inputs = {v: (f"audio-{v}", f"frames-{v}") for v in ids} | (changed or {})
    return pl.DataFrame({
        "video_id": ids,
        "path": [f"/data/{v}.mp4" for v in ids],
        "duration_s": [10.0 + i for i in range(len(ids))],
        C.INPUT_BY_FIELD: [{"audio": inputs[v][0], "frames": inputs[v][1]} for v in ids],
    }, schema_overrides={C.INPUT_BY_FIELD: INPUT})


@pytest.fixture
def store(store_url: str, example_graph: mx.FeatureGraph) -> Iterator[MetadataStore]:
    """Every example feature materialised for four videos (two chunks each), open for writing."""
    store = make_store(store_url)
    with store.open("w"):
        materialize(store, "media/video", samples=video_samples())
        for key in DOWNSTREAM:
            materialize(store, key)
        for key in DOWNSTREAM:
            assert not store.status(key).needs_work, key
        yield store


def ids(df: pl.DataFrame) -> list[str]:
    return sorted(df["video_id"].to_list())


def test_audio_code_version_bump(store: MetadataStore, example_graph: mx.FeatureGraph) -> None:
    bumped = clone_graph(example_graph, lambda s: bump(s, "media/video", "audio", "2"))
    with bumped.use():
        before = {r["video_id"]: r for r in store.read("media/video").to_dicts()}
        inc = store.resolve_update("media/video", samples=video_samples())
        assert inc.new.height == 0 and inc.orphaned.height == 0
        assert stale_fields(inc, "video_id") == {v: ["audio"] for v in VIDEOS}
        for row in inc.stale.to_dicts():  # frames untouched
            old = before[row["video_id"]][C.PROVENANCE_BY_FIELD]
            assert row[C.PROVENANCE_BY_FIELD]["frames"] == old["frames"]
            assert row[C.PROVENANCE_BY_FIELD]["audio"] != old["audio"]
        # nothing downstream moves before the upstream rows are rewritten (it travels by data)
        for key in DOWNSTREAM:
            assert not store.status(key).needs_work, key
        store.write("media/video", inc.stale)
        transcript = store.resolve_update("speech/transcript")
        assert stale_fields(transcript, "video_id") == {v: ["text"] for v in VIDEOS}
        assert transcript.new.height == 0 and transcript.orphaned.height == 0
        assert not store.status("vision/faces").needs_work
        assert ids(store.resolve_update("media/chunk").stale) == VIDEOS  # chunks cut the audio
        # keywords only move once transcripts are rewritten
        assert not store.status("speech/keywords").needs_work
        materialize(store, "speech/transcript")
        assert ids(store.resolve_update("speech/keywords").stale) == VIDEOS


def test_early_cutoff(store: MetadataStore, example_graph: mx.FeatureGraph) -> None:
    bumped = clone_graph(example_graph, lambda s: bump(s, "media/video", "audio", "2"))
    with bumped.use():
        old = {r["video_id"]: r[C.DATA_VERSION_BY_FIELD] for r in
               store.read("media/video").to_dicts()}
        inc = store.resolve_update("media/video", samples=video_samples())
        # the producer recomputed audio and found the same content: it keeps the data version
        rows = inc.stale.with_columns(pl.Series(
            C.DATA_VERSION_BY_FIELD, [old[v] for v in inc.stale["video_id"]], dtype=INPUT))
        store.write("media/video", rows)
        assert not store.status("media/video", samples=video_samples()).needs_work
        for key in DOWNSTREAM:
            assert not store.status(key).needs_work, key


def test_one_frames_change(store: MetadataStore) -> None:
    samples = video_samples({"v2": ("audio-v2", "frames-v2-new")})
    inc = store.resolve_update("media/video", samples=samples)
    assert stale_fields(inc, "video_id") == {"v2": ["frames"]}
    store.write("media/video", inc.stale)
    faces = store.resolve_update("vision/faces")
    assert stale_fields(faces, "video_id") == {"v2": ["faces"]}
    assert faces.new.height == 0 and faces.orphaned.height == 0
    for key in ("speech/transcript", "media/chunk", "speech/summary"):
        assert not store.status(key).needs_work, key


def test_deleted_upstream_orphans_downstream(store: MetadataStore,
                                             example_graph: mx.FeatureGraph) -> None:
    video = example_graph.get("media/video")
    assert store.delete("media/video", video.video_id == "v1") == 1  # type: ignore[attr-defined]
    for key in ("speech/transcript", "vision/faces", "media/chunk"):
        inc = store.resolve_update(key)
        assert ids(inc.orphaned) == ["v1"], key
        assert inc.new.height == 0 and inc.stale.height == 0, key
    assert store.resolve_update("media/chunk").orphaned.height == 1  # one row per parent
    status = store.status("media/video", samples=video_samples(ids=["v0", "v2", "v3"]))
    assert (status.new, status.orphaned, status.up_to_date) == (0, 0, 3)


def test_added_chunk_makes_its_summary_stale(store: MetadataStore) -> None:
    chunk = store.read("media/chunk").filter(pl.col("video_id") == "v3")
    extra = chunk.filter(pl.col("chunk_id") == 1).with_columns(chunk_id=pl.lit(2, pl.Int64))
    store.write("media/chunk", extra)  # shares its parent's provenance: chunks are up to date
    assert not store.status("media/chunk").needs_work
    summary = store.resolve_update("speech/summary")
    assert stale_fields(summary, "video_id") == {"v3": ["summary"]}
    assert summary.new.height == 0 and summary.orphaned.height == 0
