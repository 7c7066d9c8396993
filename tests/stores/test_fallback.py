"""Fallback stores: a dev store reads upstream features it lacks from a prod store, read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import metaxy as mx
from metaxy import columns as C
from metaxy.config import MetaxyConfig, StoreConfig
from tests.stores.conftest import backend_url


@pytest.fixture(params=("duckdb-file", "sqlite-file", "memory", "postgresql"))
def dev_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


def _features() -> tuple[type[mx.Feature], type[mx.Feature]]:
    class Video(mx.Feature, table=True, spec=mx.FeatureSpec(
            key="media/video", id_columns=["video_id"], fields=["audio", "frames"])):
        video_id: str
        path: str | None = None

    class Transcript(mx.Feature, table=True, spec=mx.FeatureSpec(
            key="speech/transcript", id_columns=["video_id"],
            deps=[mx.FeatureDep(feature=Video, columns=("path",))],
            fields=[mx.FieldSpec(key="text", deps=[mx.FieldDep(feature=Video,
                                                               fields=["audio"])])])):
        video_id: str
        path: str | None = None
        text: str | None = None

    return Video, Transcript


def _videos(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "video_id": [f"v{i}" for i in range(n)],
        "path": [f"/data/v{i}.mp4" for i in range(n)],
        C.INPUT_BY_FIELD: [{"audio": f"a{i}", "frames": f"f{i}"} for i in range(n)],
    })


def test_dev_store_reads_upstream_from_prod(dev_url: str, tmp_path: Path,
                                            isolated_graph: mx.FeatureGraph) -> None:
    video, transcript = _features()
    prod_url = f"duckdb:///{tmp_path / 'prod.duckdb'}"
    config = MetaxyConfig(stores={"prod": StoreConfig(url=prod_url),
                                  "dev": StoreConfig(url=dev_url, fallback=("prod",))})
    prod = mx.get_store("prod", config=config)
    with prod.open("w"):
        prod.write(video, prod.resolve_update(video, samples=_videos(5)).new)
        prod.write(transcript, prod.resolve_update(transcript).new.with_columns(text=pl.lit("p")))
        expected_new = prod.resolve_update(transcript).new  # nothing: prod is up to date
    assert expected_new.height == 0

    dev = mx.get_store("dev", config=config)
    with dev.open("w"):
        assert not dev.has_feature(video)
        assert sorted(dev.read(video)["video_id"].to_list()) == [f"v{i}" for i in range(5)]
        inc = dev.resolve_update(transcript)  # video comes from prod, staged into dev
        assert sorted(inc.new["video_id"].to_list()) == [f"v{i}" for i in range(5)]
        with prod:  # same provenance as prod computed
            prod_rows = prod.read(transcript).sort("video_id")
        assert inc.new.sort("video_id")[C.PROVENANCE].to_list() == \
            prod_rows[C.PROVENANCE].to_list()
        assert inc.new.sort("video_id")["path"].to_list() == prod_rows["path"].to_list()
        dev.write(transcript, inc.new.with_columns(text=pl.lit("d")))
        assert dev.status(transcript).up_to_date == 5
        assert not dev.has_feature(video)  # nothing was copied into dev's own tables

    with prod:  # prod is untouched
        assert prod.read(transcript)["text"].to_list() == ["p"] * 5



def test_fallback_chain_is_followed(tmp_path: Path, isolated_graph: mx.FeatureGraph) -> None:
    """dev -> staging -> prod: a feature only prod holds is found two links down the chain."""
    video, transcript = _features()
    urls = {name: f"duckdb:///{tmp_path / f'{name}.duckdb'}" for name in ("prod", "staging")}
    config = MetaxyConfig(stores={
        "prod": StoreConfig(url=urls["prod"]),
        "staging": StoreConfig(url=urls["staging"], fallback=("prod",)),
        "dev": StoreConfig(url="memory://", fallback=("staging",)),
    })
    prod = mx.get_store("prod", config=config)
    with prod.open("w"):
        prod.write(video, prod.resolve_update(video, samples=_videos(3)).new)
    dev = mx.get_store("dev", config=config)
    with dev.open("w"):
        assert sorted(dev.read(video)["video_id"].to_list()) == ["v0", "v1", "v2"]
        assert dev.resolve_update(transcript).new.height == 3
    with mx.get_store("staging", config=config) as staging:
        assert not staging.has_feature(video)  # staging was only read through
