"""The testing helpers shipped for users: provenance-correct frames, temporary stores (the
PostgreSQL plugin tests its fresh databases in its own tests/test_testing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

import metaxy as mx
from metaxy import columns as C
from metaxy.store.base import MetadataStore
from metaxy.testing.frames import materialize, provenance_frame, temporary_store
from metaxy.testing.pytest_plugin import make_store

VIDEOS = pl.DataFrame({
    "video_id": ["a", "b"], "path": ["/a", "/b"], "duration_s": [1.0, 2.0],
    C.INPUT_BY_FIELD: [{"audio": "ha", "frames": "fa"}, {"audio": "hb", "frames": "fb"}],
})
TEXTS = pl.DataFrame({"video_id": ["a", "b"], "text": ["hello", "bye"]})


def _provenance(df: pl.DataFrame, ids: list[str]) -> list[tuple[object, ...]]:
    return df.sort(ids).select(*ids, C.PROVENANCE).rows()


def test_provenance_frame_matches_the_pipeline(example_graph: mx.FeatureGraph,
                                               tmp_path: Path) -> None:
    """The frame carries the provenance a real run computes: written, it is up to date."""
    frame = provenance_frame("speech/transcript", TEXTS, upstream={"media/video": VIDEOS})
    assert sorted(frame["text"]) == ["bye", "hello"]
    store = make_store(f"duckdb:///{tmp_path / 'real.duckdb'}")
    with store.open("w"):
        store.write("media/video", store.resolve_update("media/video", samples=VIDEOS).new)
        expected = store.resolve_update("speech/transcript").new
        assert _provenance(frame, ["video_id"]) == _provenance(expected, ["video_id"])
        store.write("speech/transcript", frame)
        assert store.status("speech/transcript").up_to_date == 2
        assert store.resolve_update("speech/transcript").counts == {
            "new": 0, "stale": 0, "orphaned": 0}


def test_provenance_follows_the_upstream_inputs(example_graph: mx.FeatureGraph) -> None:
    changed = VIDEOS.with_columns(pl.Series(C.INPUT_BY_FIELD, [
        {"audio": "ha2", "frames": "fa"}, {"audio": "hb", "frames": "fb"}]))
    before = dict(_provenance(provenance_frame("speech/transcript", TEXTS,
                                               upstream={"media/video": VIDEOS}), ["video_id"]))
    after = dict(_provenance(provenance_frame("speech/transcript", TEXTS,
                                              upstream={"media/video": changed}), ["video_id"]))
    assert before["a"] != after["a"] and before["b"] == after["b"]
    faces_before = provenance_frame("vision/faces", None, upstream={"media/video": VIDEOS})
    faces_after = provenance_frame("vision/faces", None, upstream={"media/video": changed})
    assert _provenance(faces_before, ["video_id"]) == _provenance(faces_after, ["video_id"])


def test_root_rows_and_expansion_child_ids(example_graph: mx.FeatureGraph) -> None:
    root = provenance_frame("media/video", VIDEOS)
    assert sorted(root["video_id"]) == ["a", "b"] and root[C.PROVENANCE].null_count() == 0
    chunks = provenance_frame("media/chunk", pl.DataFrame({"video_id": ["a"] * 3,
                                                           "chunk_id": [0, 1, 2]}),
                              upstream={"media/video": VIDEOS})
    assert chunks.sort("chunk_id").select("video_id", "chunk_id").rows() == [
        ("a", 0), ("a", 1), ("a", 2)]  # b has no row: not part of the frame


def test_materialize_writes_only_the_given_samples(example_graph: mx.FeatureGraph) -> None:
    with temporary_store() as store:
        inc = materialize(store, "media/video", VIDEOS)
        assert inc.new.height == 2
        materialize(store, "speech/transcript", TEXTS.filter(pl.col("video_id") == "a"))
        assert store.read("speech/transcript")["text"].to_list() == ["hello"]
        status = store.status("speech/transcript")
        assert (status.up_to_date, status.new) == (1, 1)
        assert materialize(store, "media/video", VIDEOS).counts == {
            "new": 0, "stale": 0, "orphaned": 0}
        assert store.mode == "w"
    assert store.mode is None  # closed on exit


def test_temp_store_fixture_is_open_on_the_active_graph(example_graph: mx.FeatureGraph,
                                                        temp_store: MetadataStore) -> None:
    materialize(temp_store, "media/video", VIDEOS)
    assert temp_store.status("media/video", samples=VIDEOS).up_to_date == 2


def test_importing_the_helpers_imports_no_database_driver() -> None:
    code = ("import sys, metaxy.testing, metaxy.testing.pytest_plugin, metaxy.testing.frames, "
            "metaxy.testing.backends; "
            "print(sorted(m for m in ('psycopg', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
