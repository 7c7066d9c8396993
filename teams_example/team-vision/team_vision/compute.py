"""The vision team's compute function, declared with ``@Faces.computes`` (see ``metaxy check``).

A deterministic stand-in for a face detector: the count depends on the frames' provenance only.
"""

from __future__ import annotations

import polars as pl
import xxhash

from metaxy import columns as C
from team_vision.features import Faces


def _digest(value: object) -> int:
    return int(xxhash.xxh64_hexdigest(str(value).encode())[:8], 16)


@Faces.computes("faces")
def count_faces(todo: pl.DataFrame) -> pl.DataFrame:
    """A face count "from the frames"."""
    counts = [_digest(p) % 5 for p in todo[C.PROVENANCE]]
    return todo.with_columns(n_faces=pl.Series(counts, dtype=pl.Int64))
