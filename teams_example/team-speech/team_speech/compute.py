"""The speech team's compute functions, declared with ``@Feature.computes`` so that
``metaxy check`` notices a logic change whose ``code_version`` nobody bumped.

They take and return Polars frames (the rows to process, as an increment hands them out) and know
nothing about the orchestrator; the Dagster example calls them from its assets. The transcripts
are deterministic stand-ins for a speech model.
"""

from __future__ import annotations

import polars as pl
import xxhash

from metaxy import columns as C
from team_speech.features import Keywords, Transcript

WORDS = ["hello", "world", "metaxy", "video", "speech", "model", "frame", "audio"]


def digest(*parts: object) -> int:
    """A small deterministic integer from the parts (stands in for a model's randomness)."""
    return int(xxhash.xxh64_hexdigest("|".join(str(p) for p in parts).encode())[:8], 16)


@Transcript.computes("text")
def transcribe(todo: pl.DataFrame) -> pl.DataFrame:
    """Text "from the audio": deterministic in the video and its audio's provenance."""
    texts = []
    for vid, prov in zip(todo["video_id"], todo[C.PROVENANCE], strict=True):
        h = digest(vid, prov)
        texts.append(" ".join(WORDS[(h >> (3 * i)) % len(WORDS)] for i in range(6)))
    return todo.with_columns(text=pl.Series(texts, dtype=pl.String)).with_columns(
        n_words=pl.col("text").str.split(" ").list.len().cast(pl.Int64))


@Keywords.computes("keywords")
def extract_keywords(todo: pl.DataFrame, transcripts: pl.DataFrame) -> pl.DataFrame:
    """Sorted unique words of each video's transcript (``transcripts``: stored rows)."""
    kw = transcripts.select("video_id", keywords=pl.col("text").str.split(" ").list.unique()
                            .list.sort().list.join(","))
    return todo.join(kw, on="video_id", how="left")
