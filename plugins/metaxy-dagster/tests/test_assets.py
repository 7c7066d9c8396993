"""Features -> assets: keys, the asset graph, versions, schema; plugin registration."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import polars as pl
import pytest
from metaxy_dagster import (
    AssetKeyCollisionError,
    ComputeError,
    FeatureIncrement,
    asset_key,
    asset_keys,
    metaxy_asset,
    metaxy_assets,
)
from metaxy_dagster.example import COMPUTE_FNS, build_definitions

import metaxy as mx
from metaxy import column_schema
from metaxy import columns as C


def _noop(inc: FeatureIncrement) -> pl.DataFrame:
    rows: pl.DataFrame = inc.to_process
    return rows


@pytest.fixture
def dashed() -> Iterator[mx.FeatureGraph]:
    with mx.FeatureGraph.isolated() as graph:

        class Raw(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="ingest/raw-video", id_columns=["vid"], fields=[mx.FieldSpec(key="bytes")])):
            vid: str

        class Clip(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="ingest/clip-v2", id_columns=["vid"], deps=[mx.FeatureDep(feature=Raw)],
                fields=[mx.FieldSpec(key="bytes")])):
            """Clips cut from the raw video."""

            vid: str
            length: float | None = None

        yield graph


def test_asset_graph_equals_feature_graph(teams: mx.FeatureGraph) -> None:
    defs = build_definitions("duckdb:///:memory:", graph=teams)
    asset_graph = defs.resolve_asset_graph()
    keys = asset_keys(teams)
    dagster_edges = {
        (up, node.key) for node in asset_graph.asset_nodes for up in node.parent_keys
    }
    metaxy_edges = {(keys[str(up)], keys[str(k)]) for k in teams.keys for up in teams.upstream(k)}
    assert dagster_edges == metaxy_edges
    assert len(metaxy_edges) == 5
    assert {node.key for node in asset_graph.asset_nodes} == set(keys.values())


def test_asset_carries_versions_schema_and_key(teams: mx.FeatureGraph) -> None:
    versions = mx.versions_of(teams)
    assets = {a.key: a for a in metaxy_assets(teams, COMPUTE_FNS,
                                              resource_keys={"media/video": ["video_catalog"]})}
    for key in teams.keys:
        cls = teams.get(key)
        spec = assets[asset_key(key)].specs_by_key[asset_key(key)]
        assert spec.code_version == versions.feature_version(key)
        assert spec.metadata["metaxy/feature"] == str(key)
        assert spec.group_name == key.parts[0]
        schema = spec.metadata["dagster/column_schema"]
        expected = [c["name"] for c in column_schema(cls) if not C.is_reserved(c["name"])]
        assert [c.name for c in schema.columns] == expected
    video = assets[asset_key("media/video")].specs_by_key[asset_key("media/video")]
    assert video.description == teams.spec("media/video").description
    types = {c.name: c.type for c in video.metadata["dagster/column_schema"].columns}
    assert types == {"video_id": "String", "path": "String", "duration_s": "Float",
                     "fps": "Integer"}
    video_asset = assets[asset_key("media/video")]
    assert {"metaxy", "video_catalog"} <= video_asset.required_resource_keys


def test_dashes_map_to_underscores(dashed: mx.FeatureGraph) -> None:
    assets = metaxy_assets(dashed, {"ingest/raw-video": _noop, "ingest/clip-v2": _noop})
    by_key = {a.key: a for a in assets}
    clip = dg.AssetKey(["ingest", "clip_v2"])
    assert set(by_key) == {dg.AssetKey(["ingest", "raw_video"]), clip}
    spec = by_key[clip].specs_by_key[clip]
    assert {d.asset_key for d in spec.deps} == {dg.AssetKey(["ingest", "raw_video"])}
    assert spec.description == "Clips cut from the raw video."
    assert spec.metadata["metaxy/feature"] == "ingest/clip-v2"
    assert asset_key("ingest/clip-v2", prefix=["my-team"]) == \
        dg.AssetKey(["my_team", "ingest", "clip_v2"])


def test_colliding_keys_are_rejected(dashed: mx.FeatureGraph) -> None:
    with dashed.use():

        class Twin(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="ingest/raw_video", id_columns=["vid"], fields=[mx.FieldSpec(key="b")])):
            vid: str

    with pytest.raises(AssetKeyCollisionError, match="'ingest/raw-video' and 'ingest/raw_video'"):
        metaxy_assets(dashed, {k: _noop for k in map(str, dashed.keys)})
    with pytest.raises(mx.MetaxyError):
        metaxy_asset("ingest/clip-v2", graph=dashed)(_noop)


def test_colliding_op_names_are_rejected() -> None:
    with pytest.raises(AssetKeyCollisionError, match="op name 'a__b'"):
        asset_keys(["a/b", "a__b"])


def test_missing_compute_function(dashed: mx.FeatureGraph) -> None:
    with pytest.raises(ComputeError, match=r"ingest/clip-v2"):
        metaxy_assets(dashed, {"ingest/raw-video": _noop})
    only_root = metaxy_assets(dashed, {"ingest/raw-video": _noop}, features=["ingest/raw-video"])
    assert [a.key for a in only_root] == [dg.AssetKey(["ingest", "raw_video"])]


def test_compute_returning_nothing_fails_the_asset(teams: mx.FeatureGraph,
                                                   duckdb_url: str) -> None:
    from metaxy_dagster import MetaxyStoreResource
    from metaxy_dagster.example import VideoCatalog

    fns = {**COMPUTE_FNS, "speech/transcript": lambda inc: None}
    assets = metaxy_assets(teams, fns, features=["media/video", "speech/transcript"],
                           resource_keys={"media/video": ["video_catalog"]})
    result = dg.materialize(assets, raise_on_error=False,
                            resources={"metaxy": MetaxyStoreResource(store=duckdb_url),
                                       "video_catalog": VideoCatalog(n_videos=2)})
    assert not result.success
    failure = result.failure_data_for_node("speech__transcript")
    assert failure is not None and "returned None for 2 sample(s)" in str(failure.error)


def test_plugin_is_registered() -> None:
    from metaxy.plugins import get_plugin_manager

    pm = get_plugin_manager()
    assert "metaxy-dagster:dagster" in {name for name, _ in pm.list_name_plugin()}
    pm.check_pending()
