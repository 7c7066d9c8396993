"""The root content hash (a root row's default input) is injective and stable (issue 13 item 7).

* different values -> different payload (and hash), equal values -> equal payload, over every
  user column type a feature supports (property test);
* rows that were already encoded injectively keep exactly the hash they had before NaN / inf /
  -inf got their own encoding (pinned hashes), so no stored root sample turns stale on upgrade.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy.engine import polars_hash as P
from metaxy.hashing import HashSettings
from metaxy.store.frames import prepare_write

EXAMPLES = int(os.environ.get("METAXY_HYPOTHESIS_EXAMPLES", "10")) * 10

SCHEMA: dict[str, pl.DataType] = {
    "f": pl.Float64(), "n": pl.Int64(), "s": pl.Utf8(), "b": pl.Boolean(),
    "t": pl.Datetime("us"), "tz": pl.Datetime("us", "UTC"), "d": pl.Date(), "x": pl.Binary(),
}
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                   st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324]))
DATETIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "f": FLOATS,
    "n": st.integers(-(2**63), 2**63 - 1),
    "s": st.text(alphabet=st.characters(codec="utf-8"), max_size=6)
    | st.sampled_from(["", "\x00", "null", '"', "\\", "é", "\u2028", "~n"]),
    "b": st.booleans(),
    "t": DATETIMES,
    "tz": DATETIMES.map(lambda v: v.replace(tzinfo=UTC)),
    "d": st.dates(),
    "x": st.binary(max_size=4),
}
ROW = st.fixed_dictionaries({k: st.none() | v for k, v in VALUES.items()})


def _value_key(v: Any) -> Any:
    """Equality of values as a user means it: every NaN is one value, -0.0 is not 0.0."""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return (type(v).__name__, v)


def _payloads(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> list[str]:
    df = pl.DataFrame(rows, schema=schema)
    return df.select(P.content_payload(schema).alias("p"))["p"].to_list()


@st.composite
def _near_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random rows plus copies of them that differ in one column (the hard cases: two rows
    that differ only by NaN vs null, -0.0 vs 0.0, "" vs null...)."""
    rows = draw(st.lists(ROW, min_size=1, max_size=6))
    for _ in range(draw(st.integers(1, 8))):
        base = dict(draw(st.sampled_from(rows)))
        column = draw(st.sampled_from(list(SCHEMA)))
        base[column] = draw(st.none() | VALUES[column])
        rows.append(base)
    return rows


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true")
@given(_near_rows())
def test_different_values_different_payload(rows: list[dict[str, Any]]) -> None:
    payloads = _payloads(rows, SCHEMA)
    hashes = pl.Series(payloads).to_frame("p").select(P.h(pl.col("p"), HashSettings()))
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            same = all(_value_key(a[k]) == _value_key(b[k]) for k in SCHEMA)
            assert (payloads[i] == payloads[j]) == same, (a, b, payloads[i], payloads[j])
            assert (hashes[i, 0] == hashes[j, 0]) == same


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true")
@given(st.lists(st.tuples(st.none() | FLOATS, st.none() | FLOATS), min_size=2, max_size=12))
def test_two_float_columns(rows: list[tuple[float | None, float | None]]) -> None:
    """Specials in several float columns: which column held which special is kept."""
    schema: dict[str, pl.DataType] = {"a": pl.Float64(), "z": pl.Float64()}
    payloads = _payloads([{"a": a, "z": z} for a, z in rows], schema)
    for i, (a1, z1) in enumerate(rows):
        for j, (a2, z2) in enumerate(rows):
            same = _value_key(a1) == _value_key(a2) and _value_key(z1) == _value_key(z2)
            assert (payloads[i] == payloads[j]) == same


def test_specials_and_null_are_told_apart() -> None:
    payloads = _payloads([{"f": v} for v in (None, math.nan, math.inf, -math.inf, 0.0, -0.0)],
                         {"f": pl.Float64()})
    assert len(set(payloads)) == 6
    assert payloads[0] == '{"f":null}' and payloads[4] == '{"f":0.0}'  # unchanged encodings


@pytest.fixture
def row_feature() -> Iterator[type[mx.Feature]]:
    with mx.FeatureGraph.isolated():
        class Row(mx.Feature, table=True, spec=mx.FeatureSpec(key="pin/row",
                                                               id_columns=["sid"])):
            sid: str
            f: float | None = None
            n: int | None = None
            s: str | None = None
            b: bool | None = None
            t: datetime | None = None
            d: date | None = None

        yield Row


# Computed by metaxy before NaN/inf/-inf got their own encoding (plain JSON of the row).
PINNED = {
    "a": "809cdbf08fe3ac34539f9b7c84198ef1", "b": "08a1e8213a9e18ba929bebb76652a171",
    "c": "db81084d5e8ac6996f8cabd32c5d861f", "d": "b3bc11881e9461a29ae0f4c385fdea9a",
    "e": "dbbdb021b798b15be55605db51b312cd",
}


def test_hashes_of_unambiguous_rows_are_unchanged(row_feature: type[mx.Feature]) -> None:
    df = pl.DataFrame({
        "sid": ["a", "b", "c", "d", "e"],
        "f": [1.5, None, -0.0, 5e-324, 1e300],
        "n": [1, None, -(2**63), 2**63 - 1, 0],
        "s": ["x", None, "é\u2028\"\\", "", "null"],
        "b": [True, None, False, True, False],
        "t": [datetime(2024, 1, 2, 3, 4, 5, 6), None, datetime(1970, 1, 1),
              datetime(2024, 1, 2, 3, 4, 5), datetime(9999, 12, 31)],
        "d": [date(2024, 1, 2), None, date(1970, 1, 1), date(2000, 2, 29), date(1, 1, 1)],
    })
    out = prepare_write(row_feature, df, is_root=True, settings=HashSettings(),
                        feature_version="fv", project_version="pv",
                        now=datetime(2024, 1, 1, tzinfo=UTC))
    assert dict(zip(out["sid"].to_list(), out["metaxy_pv__default"].to_list(),
                    strict=True)) == PINNED
