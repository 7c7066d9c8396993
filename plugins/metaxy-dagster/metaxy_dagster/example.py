"""The ``teams_example`` pipeline as a Dagster ``Definitions`` object.

Run it with ``dagster dev -m metaxy_dagster.example`` (store: ``$METAXY_DAGSTER_STORE``, a URL or a
store name from ``metaxy.toml``; default: the configured default store). The compute functions are
trivial and deterministic stand-ins for real models; the chunk, transcript, keyword and face
logic lives in the team packages (``team_*.compute``), declared with ``@Feature.computes`` so that
``metaxy check`` guards it, and the assets below only hand them their increment's rows:

* ``media/video`` (root) -- the samples come from the :class:`VideoCatalog` resource: ``n_videos``
  videos, each field's input being a revision string, so bumping a video's revision in
  ``audio_revisions`` / ``frames_revisions`` models re-encoded audio / re-extracted frames;
* ``media/chunk`` -- every video expands into 3 equal chunks;
* ``speech/transcript`` -- text from the audio (its provenance), ``speech/keywords`` -- sorted
  unique words of the text, ``speech/summary`` -- one line over the video's chunks (read from the
  store), ``vision/faces`` -- a face count from the frames.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import Field

import metaxy as mx
from metaxy import columns as C
from metaxy_dagster.assets import ComputeFn, metaxy_assets
from metaxy_dagster.increment import FeatureIncrement
from metaxy_dagster.observe import metaxy_observation_job, metaxy_staleness_sensor
from metaxy_dagster.resource import MetaxyStoreResource

CATALOG_KEY = "video_catalog"


class VideoCatalog(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the raw videos come from (a stand-in for a bucket listing with content hashes)."""

    n_videos: int = Field(default=12, description="Videos v000 ... v<n-1>.")
    audio_revisions: dict[str, int] = Field(
        default_factory=dict, description="video_id -> revision of its audio track (default 0).")
    frames_revisions: dict[str, int] = Field(
        default_factory=dict, description="video_id -> revision of its frames (default 0).")

    def samples(self) -> pl.DataFrame:
        ids = [f"v{i:03d}" for i in range(self.n_videos)]
        return pl.DataFrame({
            "video_id": ids,
            "path": [f"/videos/{v}.mp4" for v in ids],
            "duration_s": [float(30 + 3 * i) for i in range(self.n_videos)],
            "fps": [25] * self.n_videos,
            C.INPUT_BY_FIELD: [
                {"audio": f"audio:{v}:r{self.audio_revisions.get(v, 0)}",
                 "frames": f"frames:{v}:r{self.frames_revisions.get(v, 0)}"} for v in ids],
        })


def _table(inc: FeatureIncrement, key: str) -> sa.Table:
    """The SQL table of a feature in the store's graph (filters are written on its columns)."""
    table: sa.Table = inc.store.feature(key).__table__  # type: ignore[attr-defined]
    return table


def videos(inc: FeatureIncrement) -> pl.DataFrame:
    """Root: the catalog's samples (only new and stale ones get written)."""
    catalog: VideoCatalog = getattr(inc.context.resources, CATALOG_KEY)
    return catalog.samples()


def chunks(inc: FeatureIncrement) -> pl.DataFrame:
    """1:N: three equal chunks per video (the media team's declared compute function)."""
    from team_media.compute import cut_chunks

    return cut_chunks(inc.to_process)


def transcripts(inc: FeatureIncrement) -> pl.DataFrame:
    """Text "from the audio" (the speech team's declared compute function)."""
    from team_speech.compute import transcribe

    return transcribe(inc.to_process)


def keywords(inc: FeatureIncrement) -> pl.DataFrame:
    """Sorted unique words of the transcript (the speech team's declared compute function)."""
    from team_speech.compute import extract_keywords

    todo = inc.to_process
    ids = todo["video_id"].to_list()
    where = _table(inc, "speech/transcript").c.video_id.in_(ids)
    return extract_keywords(todo, inc.store.read("speech/transcript", where=where))


def summaries(inc: FeatureIncrement) -> pl.DataFrame:
    """N:1: one line per video over its chunks (read back from the store)."""
    todo = inc.to_process
    ids = todo["video_id"].to_list()
    stored = inc.store.read("media/chunk", where=_table(inc, "media/chunk").c.video_id.in_(ids))
    per_video = stored.group_by("video_id").agg(
        n_chunks=pl.len().cast(pl.Int64), end=pl.col("end_s").max())
    return todo.join(per_video, on="video_id", how="left").with_columns(
        summary=pl.format("{} chunks covering {}s", pl.col("n_chunks"), pl.col("end")),
    ).drop("end")


def faces(inc: FeatureIncrement) -> pl.DataFrame:
    """A face count "from the frames" (the vision team's declared compute function)."""
    from team_vision.compute import count_faces

    return count_faces(inc.to_process)


COMPUTE_FNS: dict[str, ComputeFn] = {
    "media/video": videos,
    "media/chunk": chunks,
    "speech/transcript": transcripts,
    "speech/keywords": keywords,
    "speech/summary": summaries,
    "vision/faces": faces,
}


def build_assets(graph: mx.FeatureGraph | None = None) -> list[dg.AssetsDefinition]:
    graph = graph if graph is not None else mx.load_features()
    return metaxy_assets(graph, COMPUTE_FNS, resource_keys={"media/video": [CATALOG_KEY]})


def build_definitions(store: str | None = None, *, catalog: VideoCatalog | None = None,
                      graph: mx.FeatureGraph | None = None,
                      config_path: str | None = None) -> dg.Definitions:
    """The example's assets, resources, observation job and sensor.

    The in-process executor runs one asset at a time: an embedded DuckDB file admits a single
    writing process.
    """
    graph = graph if graph is not None else mx.load_features()
    roots = {"media/video": videos}
    return dg.Definitions(
        assets=build_assets(graph),
        jobs=[
            dg.define_asset_job("metaxy_materialize_all", selection=dg.AssetSelection.all()),
            metaxy_observation_job(graph, root_samples=roots, resource_keys=[CATALOG_KEY]),
        ],
        sensors=[metaxy_staleness_sensor(graph, root_samples=roots,
                                         resource_keys=[CATALOG_KEY])],
        resources={
            "metaxy": MetaxyStoreResource(store=store, config_path=config_path),
            CATALOG_KEY: catalog if catalog is not None else VideoCatalog(),
        },
        executor=dg.in_process_executor,
    )


def __getattr__(name: str) -> Any:
    # `defs` is built on first access, so importing this module for its functions does not load
    # every team package; `dagster dev -m metaxy_dagster.example` asks for it by name.
    if name == "defs":
        return build_definitions(os.environ.get("METAXY_DAGSTER_STORE"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster's module loader discovers definitions through dir() + getattr().
    return [*globals(), "defs"]
