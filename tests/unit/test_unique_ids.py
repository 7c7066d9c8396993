"""A write's ids are unique: the fast path (distinct 64-bit hashes) accepts only frames whose ids
are distinct, and every duplicate is still named, whatever the id dtypes."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import InvalidFrameError
from metaxy.store.frames import check_unique_ids


def _feature(ids: list[str]) -> Any:
    graph = mx.FeatureGraph()
    with graph.use():
        class Thing(mx.Feature, table=True,
                    spec=mx.FeatureSpec(key="uq/thing", id_columns=ids,
                                        fields=[mx.FieldSpec(key="v")])):
            a: str
            b: int
            x: float
    return Thing


@pytest.mark.parametrize(("ids", "frame"), [
    (["a"], {"a": ["p", "q", "p"]}),
    (["b"], {"b": [1, 2, 1]}),
    (["a", "b"], {"a": ["p", "p", "q", "p"], "b": [1, 2, 1, 1]}),
    (["x"], {"x": [0.0, 1.5, -0.0]}),  # -0.0 == 0.0: the exact count decides floats
])
def test_duplicates_are_named(ids: list[str], frame: dict[str, list[Any]]) -> None:
    with pytest.raises(InvalidFrameError, match="duplicate sample id"):
        check_unique_ids(_feature(ids), pl.DataFrame(frame))


@pytest.mark.parametrize(("ids", "frame"), [
    (["a"], {"a": ["p", "q", "r"]}),
    (["b"], {"b": [1, 2, 3]}),
    (["a", "b"], {"a": ["p", "p", "q"], "b": [1, 2, 1]}),
    (["x"], {"x": [0.0, 1.5, 2.0]}),
])
def test_distinct_ids_pass(ids: list[str], frame: dict[str, list[Any]]) -> None:
    check_unique_ids(_feature(ids), pl.DataFrame(frame))
