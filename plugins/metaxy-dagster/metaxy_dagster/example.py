"""The ``teams_example`` pipeline as a Dagster ``Definitions`` object.

Run it with ``dagster dev -m metaxy_dagster.example`` (store: ``$METAXY_DAGSTER_STORE``, a URL or a
store name from ``metaxy.toml``; default: the configured default store). The compute functions are
trivial and deterministic stand-ins for real models:

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
import xxhash
from pydantic import Field

import metaxy as mx
from metaxy import columns as C
from metaxy_dagster.assets import ComputeFn, metaxy_assets
from metaxy_dagster.increment import FeatureIncrement
from metaxy_dagster.observe import metaxy_observation_job, metaxy_staleness_sensor
from metaxy_dagster.resource import MetaxyStoreResource

CHUNKS_PER_VIDEO = 3
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


def _digest(*parts: Any) -> int:
    return int(xxhash.xxh64_hexdigest("|".join(str(p) for p in parts).encode())[:8], 16)


def _table(inc: FeatureIncrement, key: str) -> sa.Table:
    """The SQL table of a feature in the store's graph (filters are written on its columns)."""
    table: sa.Table = inc.store.feature(key).__table__  # type: ignore[attr-defined]
    return table


def videos(inc: FeatureIncrement) -> pl.DataFrame:
    """Root: the catalog's samples (only new and stale ones get written)."""
    catalog: VideoCatalog = getattr(inc.context.resources, CATALOG_KEY)
    return catalog.samples()


def chunks(inc: FeatureIncrement) -> pl.DataFrame:
    """1:N: three equal chunks per video."""
    todo = inc.to_process
    parts = pl.DataFrame({"chunk_id": list(range(CHUNKS_PER_VIDEO))})
    length = pl.col("duration_s") / CHUNKS_PER_VIDEO
    return todo.join(parts, how="cross").with_columns(
        start_s=length * pl.col("chunk_id"), end_s=length * (pl.col("chunk_id") + 1))


def transcripts(inc: FeatureIncrement) -> pl.DataFrame:
    """Text "from the audio": deterministic in the video and its audio's provenance."""
    todo = inc.to_process
    words = ["hello", "world", "metaxy", "video", "speech", "model", "frame", "audio"]
    texts = []
    for vid, prov in zip(todo["video_id"], todo[C.PROVENANCE], strict=True):
        h = _digest(vid, prov)
        texts.append(" ".join(words[(h >> (3 * i)) % len(words)] for i in range(6)))
    return todo.with_columns(text=pl.Series(texts, dtype=pl.String)).with_columns(
        n_words=pl.col("text").str.split(" ").list.len().cast(pl.Int64))


def keywords(inc: FeatureIncrement) -> pl.DataFrame:
    """Sorted unique words of the transcript."""
    todo = inc.to_process
    ids = todo["video_id"].to_list()
    where = _table(inc, "speech/transcript").c.video_id.in_(ids)
    text = inc.store.read("speech/transcript", where=where)
    kw = text.select("video_id", keywords=pl.col("text").str.split(" ").list.unique()
                     .list.sort().list.join(","))
    return todo.join(kw, on="video_id", how="left")


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
    """A face count "from the frames": deterministic in the frames' provenance."""
    todo = inc.to_process
    counts = [_digest(p) % 5 for p in todo[C.PROVENANCE]]
    return todo.with_columns(n_faces=pl.Series(counts, dtype=pl.Int64))


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
