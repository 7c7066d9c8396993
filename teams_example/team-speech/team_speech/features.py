"""Speech team: transcripts from the media team's audio, keywords, and per-video summaries."""

from __future__ import annotations

from team_media.features import Video

import metaxy as mx


class Transcript(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="speech/transcript",
        id_columns=["video_id"],
        deps=[mx.FeatureDep(feature=Video, columns=())],
        # Depends on the audio only: new frames never make a transcript stale.
        fields=[mx.FieldSpec(key="text", code_version="1",
                             deps=[mx.FieldDep(feature=Video, fields=["audio"])])],
    ),
):
    """The text spoken in a video's audio track, with its word count.

    Computed by team_speech.compute.transcribe (a stand-in for a speech model).
    """

    video_id: str
    text: str | None = None
    n_words: int | None = None


class Keywords(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="speech/keywords",
        id_columns=["video_id"],
        deps=["speech/transcript"],  # by key works as well as by class
        fields=[mx.FieldSpec(key="keywords", code_version="1")],
    ),
):
    video_id: str
    keywords: str | None = None


class Summary(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="speech/summary",
        id_columns=["video_id"],
        deps=[mx.FeatureDep(feature="media/chunk", columns=(),
                            lineage=mx.Lineage.aggregation(on=["video_id"]))],
        fields=[mx.FieldSpec(key="summary", code_version="1")],
        description="One summary per video, aggregated over its chunks (N:1).",
    ),
):
    video_id: str
    summary: str | None = None
    n_chunks: int | None = None

# The compute functions declare themselves on the classes above (@Feature.computes); importing
# them here makes every loader of the features (metaxy check, push) see the declarations.
from team_speech import compute as compute  # noqa: E402
