"""What a write accepts and how values survive, on every backend (issue 13 items 3, 18).

Each bad frame is refused whole with an ``InvalidFrameError`` naming the feature, the column and
the first bad row, before anything is written (not even the table).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import InvalidFrameError
from metaxy.testing.pytest_plugin import make_store


@pytest.fixture
def values_feature() -> Iterator[type[mx.Feature]]:
    with mx.FeatureGraph.isolated():
        class Val(mx.Feature, table=True, spec=mx.FeatureSpec(key="val/t", id_columns=["sid"])):
            sid: int
            f: float | None = None
            n: int | None = None
            s: str | None = None
            d: date | None = None
            t: datetime | None = None

        yield Val


def _refused(store: Any, feature: type[mx.Feature], df: pl.DataFrame, column: str,
             row: int | None) -> InvalidFrameError:
    with pytest.raises(InvalidFrameError) as info:
        store.write(feature, df)
    err = info.value
    assert err.feature_key == "val/t" and err.column == column and err.row == row, str(err)
    assert "val/t" in str(err) and column in str(err)
    return err


def _assert_nothing_written(store: Any, feature: type[mx.Feature]) -> None:
    assert not store.has_feature(feature)
    assert store.read(feature, with_history=True).height == 0


BAD: dict[str, tuple[dict[str, Any], str, int | None]] = {
    # "1" and "01" are both the integer 1: a duplicate, found after the cast (item 3)
    "ids equal after the cast": ({"sid": ["1", "2", "01"]}, "sid", 0),
    "not an int id": ({"sid": ["1", "x"]}, "sid", 1),
    "struct in a str column": ({"sid": [1, 2], "s": [None, {"a": 1}]}, "s", 1),
    "list in a str column": ({"sid": [1], "s": [["a"]]}, "s", 0),
    "NUL in a str column": ({"sid": [1, 2], "s": ["ok", "a\x00b"]}, "s", 1),
    "NUL in a provenance": ({"sid": [1], "metaxy_provenance_by_field": [{"default": "h\x00"}]},
                            "metaxy_pv__default", 0),
    "NUL in an input": ({"sid": [1], "metaxy_input_by_field": [{"default": "\x00"}]},
                        "metaxy_pv__default", 0),
    "bad created_at string": ({"sid": [1, 2], "metaxy_created_at": ["2024-01-01T00:00:00",
                                                                    "not a time"]},
                              "metaxy_created_at", 1),
    "struct in an input": ({"sid": [1], "metaxy_input_by_field": [{"default": {"a": 1}}]},
                           "metaxy_input_by_field", None),
    "list in a provenance": ({"sid": [1], "metaxy_provenance_by_field": [{"default": ["h"]}]},
                             "metaxy_provenance_by_field", None),
    "bad date string": ({"sid": [1, 2], "d": ["2024-02-29", "2023-02-29"]}, "d", 1),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_are_refused_whole(store_url: str, values_feature: type[mx.Feature],
                                      case: str) -> None:
    data, column, row = BAD[case]
    store = make_store(store_url)
    with store.open("w"):
        _refused(store, values_feature, pl.DataFrame(data, strict=False), column, row)
        _assert_nothing_written(store, values_feature)


def test_duplicate_ids_after_the_cast_in_samples(store_url: str,
                                                 values_feature: type[mx.Feature]) -> None:
    store = make_store(store_url)
    with store.open("w"):
        with pytest.raises(InvalidFrameError, match="duplicate") as info:
            store.resolve_update(values_feature, samples=pl.DataFrame({"sid": ["1", "01"]}))
        assert info.value.column == "sid" and info.value.row == 0
        with pytest.raises(InvalidFrameError, match="not a valid") as bad:
            store.resolve_update(values_feature, samples=pl.DataFrame({"sid": ["1", "x"]}))
        assert bad.value.column == "sid" and bad.value.row == 1
        with pytest.raises(InvalidFrameError, match="NUL") as nul:
            store.resolve_update(values_feature, samples=pl.DataFrame({"sid": [1], "s": ["\x00"]}))
        assert nul.value.column == "s" and nul.value.row == 0
        # string ids that are distinct integers resolve as the model's ints
        inc = store.resolve_update(values_feature, samples=pl.DataFrame({"sid": ["1", "02"]}))
        assert sorted(inc.new["sid"].to_list()) == [1, 2]


def test_created_at_strings_parse_like_datetimes(store_url: str,
                                                 values_feature: type[mx.Feature]) -> None:
    store = make_store(store_url)
    with store.open("w"):
        store.write(values_feature, pl.DataFrame({
            "sid": [1, 2, 3],
            "metaxy_created_at": ["2024-01-02T03:04:05", "2024-01-02T03:04:05.000006+02:00",
                                  None]}))
        out = store.read(values_feature).sort("sid")["metaxy_created_at"].to_list()
    assert out[0] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert out[1] == datetime(2024, 1, 2, 1, 4, 5, 6, tzinfo=UTC)
    assert out[2] is not None and out[2].year >= 2025  # no value given: this write's time


def test_date_and_datetime_round_trip(store_url: str,
                                      values_feature: type[mx.Feature]) -> None:
    """Dates (also given as strings) and datetimes read back with the model's dtypes on every
    backend (SQLite returns both as text; SQLModel makes ``datetime`` a UTC column)."""
    store = make_store(store_url)
    when = datetime(2024, 1, 2, 3, 4, 5, 6)
    with store.open("w"):
        store.write(values_feature, pl.DataFrame({"sid": [1, 2], "d": ["2024-02-29", None],
                                                  "t": [when, None]}))
        out = store.read(values_feature).sort("sid")
    assert out.schema["d"] == pl.Date and out.schema["t"] == pl.Datetime("us", "UTC")
    assert out["d"].to_list() == [date(2024, 2, 29), None]
    assert out["t"].to_list() == [when.replace(tzinfo=UTC), None]


def test_content_hash_tells_special_floats_apart(store_url: str,
                                                 values_feature: type[mx.Feature]) -> None:
    """A root row's content hash changes when a float moves between null, inf, -inf and NaN
    (item 7): each such change makes the sample stale."""
    values = [None, math.inf, -math.inf] + ([] if store_url.startswith("sqlite") else [math.nan])
    store = make_store(store_url)
    with store.open("w"):
        store.write(values_feature, pl.DataFrame({"sid": range(len(values)), "f": values},
                                                 schema={"sid": pl.Int64, "f": pl.Float64}))
        for shift in range(1, len(values)):
            moved = values[shift:] + values[:shift]
            inc = store.resolve_update(values_feature, samples=pl.DataFrame(
                {"sid": range(len(values)), "f": moved},
                schema={"sid": pl.Int64, "f": pl.Float64}))
            assert inc.stale.height == len(values), (shift, moved)
        same = store.resolve_update(values_feature, samples=pl.DataFrame(
            {"sid": range(len(values)), "f": values}, schema={"sid": pl.Int64, "f": pl.Float64}))
        assert same.stale.height == 0 and same.new.height == 0


def test_content_hash_is_identical_on_every_backend(all_store_urls: dict[str, str],
                                                    values_feature: type[mx.Feature]) -> None:
    """The content hash is computed in Polars before staging, on every backend: the stored
    provenance of rows with inf / -inf / null / unicode is bit-identical everywhere."""
    df = pl.DataFrame({"sid": [1, 2, 3, 4], "f": [math.inf, -math.inf, None, 1.5],
                       "n": [2**40, None, -1, 0], "s": ["é\u2028", None, "", "null"]})
    seen: dict[str, list[str]] = {}
    for backend, url in all_store_urls.items():
        store = make_store(url)
        with store.open("w"):
            store.write(values_feature, df)
            seen[backend] = store.read(values_feature).sort("sid")["metaxy_provenance"].to_list()
    assert len({tuple(v) for v in seen.values()}) == 1, seen
    assert len(set(next(iter(seen.values())))) == 4
