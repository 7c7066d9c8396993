"""Media team: the root feature (videos) and the chunks cut from them."""

from __future__ import annotations

import metaxy as mx


class Video(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="media/video",
        id_columns=["video_id"],
        fields=[mx.FieldSpec(key="audio", code_version="1"), mx.FieldSpec(key="frames")],
        description="A source video; its audio track and frames are versioned separately.",
    ),
):
    video_id: str
    path: str | None = None
    duration_s: float | None = None
    fps: int | None = None


class Chunk(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="media/chunk",
        id_columns=["video_id", "chunk_id"],
        deps=[mx.FeatureDep(feature=Video, columns=("duration_s",),
                            lineage=mx.Lineage.expansion(on=["video_id"]))],
        fields=[mx.FieldSpec(key="audio", code_version="1")],
        description="Fixed-length chunks of a video's audio (1:N expansion).",
    ),
):
    video_id: str
    chunk_id: int
    start_s: float | None = None
    end_s: float | None = None

# The compute functions declare themselves on the classes above (@Feature.computes); importing
# them here makes every loader of the features (metaxy check, push) see the declarations.
from team_media import compute as compute  # noqa: E402
