"""Every float value survives a write bit-exactly, or is refused whole (issue 13 item 5).

DuckDB, PostgreSQL and memory keep NaN, inf, -inf, -0.0 and subnormals. SQLite would store NaN as
NULL and read -0.0 back as 0.0, so it refuses those two (``InvalidFrameError`` naming feature,
column and row) and keeps every other value bit-exactly. NaN is compared as NaN: its payload bits
carry no value.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
from collections.abc import Iterator

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy.errors import InvalidFrameError
from metaxy.store.base import MetadataStore
from metaxy.testing.pytest_plugin import make_store

EXAMPLES = int(os.environ.get("METAXY_HYPOTHESIS_EXAMPLES", "10"))
SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5e-324,
            2.2250738585072014e-308, 1.7976931348623157e308, 0.1]
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                   st.sampled_from(SPECIALS))


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a):
        return math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def _sqlite_refuses(v: float | None) -> bool:
    return v is not None and (math.isnan(v) or (v == 0.0 and math.copysign(1.0, v) < 0))


@pytest.fixture
def float_store(store_url: str) -> Iterator[tuple[MetadataStore, type[mx.Feature], bool]]:
    with mx.FeatureGraph.isolated():
        class Num(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/num",
                                                               id_columns=["sid"])):
            sid: int
            f: float | None = None
            g: float | None = None

        store = make_store(store_url)
        with store.open("w"):
            yield store, Num, store_url.startswith("sqlite")


_ids = itertools.count()


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=os.environ.get("CI") == "true")
@given(st.lists(st.tuples(st.none() | FLOATS, st.none() | FLOATS), min_size=1, max_size=20))
def test_floats_round_trip_bit_exactly(
        float_store: tuple[MetadataStore, type[mx.Feature], bool],
        rows: list[tuple[float | None, float | None]]) -> None:
    store, num, sqlite = float_store
    sids = [next(_ids) for _ in rows]
    df = pl.DataFrame({"sid": sids, "f": [r[0] for r in rows], "g": [r[1] for r in rows]},
                      schema={"sid": pl.Int64, "f": pl.Float64, "g": pl.Float64})
    before = store.read(num, with_history=True).height if store.has_feature(num) else 0
    refused = [i for i, r in enumerate(rows) if any(_sqlite_refuses(v) for v in r)]
    if sqlite and refused:
        with pytest.raises(InvalidFrameError) as info:
            store.write(num, df)
        assert info.value.feature_key == "val/num" and info.value.column in ("f", "g")
        assert info.value.row is not None and info.value.row in refused
        assert store.read(num, with_history=True).height == before  # nothing written
        return
    store.write(num, df)
    back = store.read(num, where=num.sid.in_(sids)).sort("sid")
    assert back["sid"].to_list() == sids
    for col, k in (("f", 0), ("g", 1)):
        for got, want in zip(back[col].to_list(), [r[k] for r in rows], strict=True):
            assert _same(got, want), (col, got, want)


def test_sqlite_refuses_nan_in_samples(tmp_path: object) -> None:
    with mx.FeatureGraph.isolated():
        class Num(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/num",
                                                               id_columns=["sid"])):
            sid: int
            f: float | None = None

        store = make_store(f"sqlite:///{tmp_path}/s.sqlite")
        with store.open("w"):
            with pytest.raises(InvalidFrameError, match="NaN") as info:
                store.resolve_update(Num, samples=pl.DataFrame({"sid": [1, 2],
                                                                "f": [1.0, math.nan]}))
            assert info.value.column == "f" and info.value.row == 1
