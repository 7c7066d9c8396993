"""The example pipeline materialized with Dagster's own APIs: full run, then exactly the changes."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl
from metaxy_dagster import MetaxyStoreResource, metaxy_assets
from metaxy_dagster.example import (
    COMPUTE_FNS,
    VideoCatalog,
    build_assets,
    build_definitions,
)
from team_media.compute import CHUNKS_PER_VIDEO

import metaxy as mx
from metaxy import columns as C

N = 8
AUDIO_CHANGED = {"v002": 1, "v005": 1}
FRAMES_CHANGED = {"v006": 1}
FEATURES = ["media/video", "media/chunk", "speech/transcript", "speech/keywords",
            "speech/summary", "vision/faces"]


def _run(assets: list[dg.AssetsDefinition], url: str,
         catalog: VideoCatalog) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, resources={"metaxy": MetaxyStoreResource(store=url),
                                               "video_catalog": catalog})
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """feature key -> materialization metadata values."""
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        out[str(meta["metaxy/feature"])] = meta
    return out


def _written(url: str, graph: mx.FeatureGraph, key: str, run_id: str) -> pl.DataFrame:
    """The rows of ``key`` whose materialization id is ``run_id``."""
    store = mx.get_store(url, graph=graph)
    with store:
        rows = store.read(key, with_history=True)
    return rows.filter(pl.col(C.MATERIALIZATION_ID) == run_id)


def _ids(df: pl.DataFrame) -> set[str]:
    return set(df["video_id"].to_list())


def _listed(meta: dict[str, Any]) -> set[str]:
    return {row["video_id"] for row in meta["metaxy/processed_samples"]}


def test_second_run_processes_exactly_the_changed_samples(teams: mx.FeatureGraph,
                                                          store_url: str) -> None:
    assets = build_assets(teams)
    everyone = {f"v{i:03d}" for i in range(N)}

    first = _run(assets, store_url, VideoCatalog(n_videos=N))
    meta = _metadata(first)
    assert set(meta) == set(FEATURES)
    versions = mx.versions_of(teams)
    for key in FEATURES:
        rows = _written(store_url, teams, key, first.run_id)
        per_sample = CHUNKS_PER_VIDEO if key == "media/chunk" else 1
        assert _ids(rows) == everyone, key
        assert rows.height == N * per_sample, key
        assert (meta[key]["metaxy/new"], meta[key]["metaxy/stale"]) == (N, 0), key
        assert meta[key]["metaxy/rows_written"] == N * per_sample, key
        assert meta[key]["metaxy/unprocessed"] == 0, key
        assert _listed(meta[key]) == everyone, key
        assert meta[key]["metaxy/feature_version"] == versions.feature_version(key)

    # Re-encode the audio of two videos and the frames of a third.
    changed = VideoCatalog(n_videos=N, audio_revisions=AUDIO_CHANGED,
                           frames_revisions=FRAMES_CHANGED)
    second = _run(assets, store_url, changed)
    meta = _metadata(second)
    audio, frames = set(AUDIO_CHANGED), set(FRAMES_CHANGED)
    # Field-level provenance: audio feeds chunks/transcripts/keywords/summaries, frames faces.
    expected = {"media/video": audio | frames, "media/chunk": audio, "speech/transcript": audio,
                "speech/keywords": audio, "speech/summary": audio, "vision/faces": frames}
    for key, ids in expected.items():
        rows = _written(store_url, teams, key, second.run_id)
        per_sample = CHUNKS_PER_VIDEO if key == "media/chunk" else 1
        assert _ids(rows) == ids, key
        assert rows.height == len(ids) * per_sample, key
        assert meta[key]["metaxy/new"] == 0, key
        assert meta[key]["metaxy/stale"] == len(ids), key
        assert meta[key]["metaxy/processed"] == len(ids), key
        assert meta[key]["metaxy/rows_written"] == len(ids) * per_sample, key
        assert _listed(meta[key]) == ids, key

    # Nothing changed since: a third run writes nothing.
    third = _run(assets, store_url, changed)
    for key, m in _metadata(third).items():
        assert (m["metaxy/new"], m["metaxy/stale"], m["metaxy/rows_written"]) == (0, 0, 0), key


def test_observations_report_staleness(teams: mx.FeatureGraph, duckdb_url: str) -> None:
    defs = build_definitions(duckdb_url, catalog=VideoCatalog(n_videos=4), graph=teams)
    defs.resolve_implicit_global_asset_job_def().execute_in_process()
    changed = VideoCatalog(n_videos=4, frames_revisions={"v001": 1})
    job = defs.resolve_job_def("metaxy_observe_staleness")
    result = job.execute_in_process(resources={"metaxy": MetaxyStoreResource(store=duckdb_url),
                                               "video_catalog": changed})
    assert result.success
    observed = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            obs = event.event_specific_data.asset_observation  # type: ignore[union-attr]
            observed[obs.asset_key.to_user_string()] = {k: v.value
                                                        for k, v in obs.metadata.items()}
    assert set(observed) == {"media/video", "media/chunk", "speech/transcript",
                             "speech/keywords", "speech/summary", "vision/faces"}
    assert observed["media/video"]["metaxy/stale"] == 1
    assert observed["media/video"]["metaxy/up_to_date"] == 3
    assert observed["vision/faces"]["metaxy/stale"] == 0  # the video is not rewritten yet
    assert observed["speech/summary"]["metaxy/up_to_date"] == 4
    assert all(o["metaxy/new"] == 0 for o in observed.values())

    # After the video asset ran, the faces of v001 are stale: the sensor reports it.
    dg.materialize([a for a in build_assets(teams) if a.key == dg.AssetKey(["media", "video"])],
                   resources={"metaxy": MetaxyStoreResource(store=duckdb_url),
                              "video_catalog": changed})
    sensor = defs.resolve_sensor_def("metaxy_staleness_sensor")
    ctx = dg.build_sensor_context(resources={"metaxy": MetaxyStoreResource(store=duckdb_url),
                                             "video_catalog": changed})
    tick = sensor(ctx)
    assert isinstance(tick, dg.SensorResult)
    by_key = {e.asset_key.to_user_string(): e.metadata for e in tick.asset_events or []}
    assert by_key["vision/faces"]["metaxy/stale"].value == 1  # type: ignore[union-attr]
    assert by_key["vision/faces"]["metaxy/needs_work"].value is True  # type: ignore[union-attr]
    assert by_key["speech/transcript"]["metaxy/stale"].value == 0  # type: ignore[union-attr]
    assert by_key["media/video"]["metaxy/up_to_date"].value == 4  # type: ignore[union-attr]


def test_orphaned_samples_are_reported_and_deleted_on_request(teams: mx.FeatureGraph,
                                                              duckdb_url: str) -> None:
    keep = metaxy_assets(teams, COMPUTE_FNS, features=["media/video"],
                         resource_keys=["video_catalog"])
    _run(keep, duckdb_url, VideoCatalog(n_videos=5))
    meta = _metadata(_run(keep, duckdb_url, VideoCatalog(n_videos=3)))["media/video"]
    assert (meta["metaxy/orphaned"], meta["metaxy/orphaned_deleted"]) == (2, 0)

    delete = metaxy_assets(teams, COMPUTE_FNS, features=["media/video"], on_orphaned="delete",
                           resource_keys=["video_catalog"])
    meta = _metadata(_run(delete, duckdb_url, VideoCatalog(n_videos=3)))["media/video"]
    assert (meta["metaxy/orphaned"], meta["metaxy/orphaned_deleted"]) == (2, 2)
    store = mx.get_store(duckdb_url, graph=teams)
    with store:
        assert sorted(store.read("media/video")["video_id"]) == ["v000", "v001", "v002"]
        assert store.status("media/video",
                            samples=VideoCatalog(n_videos=3).samples()).orphaned == 0


def test_definitions_object_loads(teams: mx.FeatureGraph, duckdb_url: str) -> None:
    defs = build_definitions(duckdb_url, graph=teams)
    assert defs.resolve_job_def("metaxy_materialize_all") is not None
    assert {a.to_user_string() for a in defs.resolve_asset_graph().get_all_asset_keys()} == \
        set(FEATURES)


def test_hand_written_asset_body(teams: mx.FeatureGraph, duckdb_url: str) -> None:
    from metaxy_dagster import feature_asset_spec

    catalog = VideoCatalog(n_videos=3)

    def transcript_body(context: dg.AssetExecutionContext,
                        metaxy: MetaxyStoreResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with metaxy.increment(context, "speech/transcript", graph=teams) as inc:
            for batch in inc.to_process.iter_slices(2):
                inc.write(batch.with_columns(text=pl.lit("hi"), n_words=pl.lit(1)))
        return inc.result()

    transcript_body.__annotations__.update(context=dg.AssetExecutionContext,
                                           metaxy=MetaxyStoreResource)
    body = dg.asset(**feature_asset_spec("speech/transcript", graph=teams))(transcript_body)
    video = metaxy_assets(teams, COMPUTE_FNS, features=["media/video"],
                          resource_keys=["video_catalog"])
    result = _run([*video, body], duckdb_url, catalog)
    meta = _metadata(result)["speech/transcript"]
    assert (meta["metaxy/new"], meta["metaxy/rows_written"]) == (3, 3)
    rows = _written(duckdb_url, teams, "speech/transcript", result.run_id)
    assert sorted(rows["text"]) == ["hi", "hi", "hi"]
