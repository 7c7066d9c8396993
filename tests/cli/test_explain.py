"""`metaxy explain` names the right cause: code_version bump, upstream data change, deleted
upstream (the three scenarios of the engine issue), following the chain upstream."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from metaxy import api, demo
from tests.cli.conftest import N, run, run_json


def _causes(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    """All causes of an explanation, depth first."""
    out = []
    stack = list(explanation["causes"])
    while stack:
        c = stack.pop(0)
        out.append(c)
        stack[:0] = c["causes"]
    return out


def test_up_to_date(populated: str) -> None:
    [ex] = run_json("explain", "speech/transcript", "v0001", "--store", populated)
    assert ex["state"] == "up_to_date" and ex["causes"] == []


def test_code_version_bump(project: api.Project, populated: str) -> None:
    # Rows written under faces code_version 2; the installed package says 1.
    bumped = api.with_code_versions(project.graph, {"vision/faces": {"faces": "2"}})
    store = api.Project(project.config, bumped).store(populated)
    demo.run_pipeline(store, bumped, demo.make_samples(N), "bumped")
    [ex] = run_json("explain", "vision/faces", "v0002", "--store", populated)
    assert ex["state"] == "stale" and ex["stale_fields"] == ["faces"]
    [cause] = ex["causes"]
    assert cause["kind"] == "code_version"
    assert (cause["feature"], cause["field"]) == ("vision/faces", "faces")
    assert cause["causes"] == []
    assert "code_version of 'vision/faces:faces' changed" in run(
        "explain", "vision/faces", "v0002", "--store", populated).stdout
    # other features are not blamed
    [tr] = run_json("explain", "speech/transcript", "v0002", "--store", populated)
    assert tr["state"] == "up_to_date"


def test_code_version_bump_names_the_old_version_from_a_pushed_snapshot(
        project: api.Project, populated: str) -> None:
    """With the snapshot of the graph the rows were written under (``metaxy push``), the cause
    names the code_version before and after; without one it names only the current one."""
    from metaxy.migrations.snapshots import push

    bumped = api.with_code_versions(project.graph, {"vision/faces": {"faces": "2"}})
    store = api.Project(project.config, bumped).store(populated)
    demo.run_pipeline(store, bumped, demo.make_samples(N), "bumped")
    assert "now '1'" in run("explain", "vision/faces", "v0002", "--store", populated).stdout
    with store.open("w"):
        push(store, bumped, store.project)
    [ex] = run_json("explain", "vision/faces", "v0002", "--store", populated)
    [cause] = ex["causes"]
    assert cause["kind"] == "code_version"
    assert "code_version of 'vision/faces:faces' changed: '2' -> '1'" in cause["message"]


def test_upstream_data_change_follows_the_chain(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    with store.open("w"):
        inc = store.resolve_update("media/video", samples=demo.make_samples(N, audio_rev={4: 1}))
        store.write("media/video", inc.to_process())  # type: ignore[union-attr]
    [ex] = run_json("explain", "speech/transcript", "v0004", "--store", populated)
    assert ex["state"] == "stale" and ex["stale_fields"] == ["text"]
    chain = _causes(ex)
    assert chain[0]["kind"] == "upstream_changed" and chain[0]["field"] == "text"
    assert (chain[1]["kind"], chain[1]["feature"], chain[1]["field"]) == (
        "upstream_changed", "media/video", "audio")
    assert chain[1]["sample"] == {"video_id": "v0004"}
    assert (chain[2]["kind"], chain[2]["field"]) == ("input_changed", "audio")
    assert not any(c["kind"] == "code_version" for c in chain)
    # frames did not change: faces stays up to date
    [faces] = run_json("explain", "vision/faces", "v0004", "--store", populated)
    assert faces["state"] == "up_to_date"
    # one level further: the summary is stale once the chunks are recomputed
    with store.open("w"):
        inc = store.resolve_update("media/chunk")
        store.write("media/chunk", demo.compute_chunk(store, inc.to_process()))  # type: ignore[union-attr]
    [summary] = run_json("explain", "speech/summary", "v0004", "--store", populated)
    kinds = [(c["kind"], c["feature"]) for c in _causes(summary)]
    assert ("upstream_changed", "media/chunk") in kinds
    assert ("upstream_changed", "media/video") in kinds
    assert ("input_changed", "media/video") in kinds
    text = run("explain", "speech/summary", "v0004", "--store", populated).stdout
    assert "media/chunk:audio" in text and "media/video:audio" in text


def test_deleted_upstream(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    video, chunk = project.graph.get("media/video"), project.graph.get("media/chunk")
    with store.open("w"):
        store.delete(video, video.video_id == "v0005")  # type: ignore[attr-defined]
        store.delete(chunk, sa.and_(chunk.video_id == "v0006",  # type: ignore[attr-defined]
                                    chunk.chunk_id == 0))  # type: ignore[attr-defined]
    [ex] = run_json("explain", "speech/transcript", "v0005", "--store", populated)
    assert ex["state"] == "orphaned"
    assert [(c["kind"], c["feature"]) for c in ex["causes"]] == [
        ("upstream_deleted", "media/video")]
    # a deleted member of an aggregation makes the group stale
    [agg] = run_json("explain", "speech/summary", "v0006", "--store", populated)
    assert agg["state"] == "stale"
    deleted = [c for c in _causes(agg) if c["kind"] == "upstream_deleted"]
    assert [(c["feature"], c["sample"]) for c in deleted] == [
        ("media/chunk", {"video_id": "v0006", "chunk_id": 0})]
    # explain several ids, multi-column ids
    both = run_json("explain", "media/chunk", "v0006,1", "video_id=v0007,chunk_id=0",
                    "--store", populated)
    assert [e["state"] for e in both] == ["up_to_date", "up_to_date"]


def test_new_sample(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    with store.open("w"):
        inc = store.resolve_update("media/video", samples=demo.make_samples(N + 1))
        store.write("media/video", inc.to_process())  # type: ignore[union-attr]
    [ex] = run_json("explain", "vision/faces", demo.video_id(N), "--store", populated)
    assert ex["state"] == "new" and ex["causes"][0]["kind"] == "new"
