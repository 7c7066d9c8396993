"""The media team's compute function for chunks, declared with ``@Chunk.computes`` (see
``metaxy check``)."""

from __future__ import annotations

import polars as pl

from team_media.features import Chunk

CHUNKS_PER_VIDEO = 3


@Chunk.computes("audio")
def cut_chunks(todo: pl.DataFrame) -> pl.DataFrame:
    """1:N: ``CHUNKS_PER_VIDEO`` equal chunks per video (``todo`` carries ``duration_s``)."""
    parts = pl.DataFrame({"chunk_id": list(range(CHUNKS_PER_VIDEO))})
    length = pl.col("duration_s") / CHUNKS_PER_VIDEO
    return todo.join(parts, how="cross").with_columns(
        start_s=length * pl.col("chunk_id"), end_s=length * (pl.col("chunk_id") + 1))
