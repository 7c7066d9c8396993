"""Conformance pack: column values round-trip exactly through every backend's bulk write path.

A separate module from :mod:`metaxy.testing.suite` to keep each pack small; it is part of
:class:`metaxy.testing.suite.StoreConformanceTests`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

import metaxy as mx
from metaxy.store.base import MetadataStore
from metaxy.testing.graphs import define_feature

TRICKY_STRINGS = ["", "NULL", "\\N", 'quote " and , comma', "line\nbreak\r\n", "tab\t",
                  "émoji 🎞", "e\u0301", "semi; DROP TABLE x; --"]


def _typed_feature() -> type[mx.Feature]:
    return define_feature("Typed", mx.FeatureSpec(key="conf/typed", id_columns=["tid"]), {
        "tid": int, "text": str | None, "real": float | None, "flag": bool | None,
        "when": datetime | None,
    }, {"text": None, "real": None, "flag": None, "when": None})


class TypesTests:
    """Needs the ``store`` fixture of :class:`metaxy.testing.suite.StoreFixtures`."""

    def test_values_round_trip(self, store: MetadataStore,
                               isolated_graph: mx.FeatureGraph) -> None:
        typed = _typed_feature()
        texts: list[str | None] = [*TRICKY_STRINGS, None]
        # -0.0 and NaN: tests/stores/test_float_roundtrip.py (SQLite refuses both)
        reals = [0.1 + 0.2, 1e300, -2.5, 5e-324, 2.0**53 + 1, None, 1.5, -1e-300, 3.0, 7.25]
        when = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
        frame = pl.DataFrame({
            "tid": list(range(10)),
            "text": texts,
            "real": reals,
            "flag": [True, False, None] * 3 + [True],
            "when": [when, None] * 5,
        }, schema_overrides={"when": pl.Datetime("us", "UTC")})
        with store.open("w"):
            store.write(typed, frame)
            back = store.read(typed).sort("tid")
        assert back["text"].to_list() == texts
        for got, want in zip(back["real"].to_list(), reals, strict=True):
            assert (got is None and want is None) or got == want, (got, want)
        assert back["flag"].to_list() == frame["flag"].to_list()
        assert back["when"].to_list() == frame["when"].to_list()
