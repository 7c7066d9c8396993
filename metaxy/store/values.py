"""What a write accepts: casting values to the model's types and refusing what cannot be stored.

Every check is vectorised and raises :class:`~metaxy.errors.InvalidFrameError` naming the feature,
the column and the first bad row, before anything reaches a store:

* a value is cast to the model's dtype; a value that does not convert (``"x"`` into an ``int``,
  ``1.5`` into an ``int``, a struct or list into any scalar column) is refused instead of being
  nulled, truncated or stringified (a struct cast to a string would be stored as ``'{1}'``);
* a string is parsed into a datetime or date column (ISO 8601; naive strings are UTC in a UTC
  column);
* a NUL character in a string is refused on every backend (PostgreSQL cannot store it; the
  others could, so a frame would be accepted by one store and refused by another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy.errors import InvalidFrameError

if TYPE_CHECKING:
    from metaxy.feature import Feature

NUL = "\x00"


def fail(feature: type[Feature], column: str | None, row: int | None, message: str) -> None:
    raise InvalidFrameError(message, feature_key=str(feature.spec().key), column=column, row=row)


def first_true(mask: pl.Series) -> int | None:
    idx = mask.fill_null(False).arg_true()
    return int(idx[0]) if len(idx) else None


def _is_nested(dtype: Any) -> bool:
    return isinstance(dtype, pl.Struct | pl.List | pl.Array | pl.Object)


_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M",
                  "%Y-%m-%d %H:%M", "%Y-%m-%d")
_OFFSET_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")


def _to_datetime(s: pl.Series, want: pl.Datetime) -> pl.Series:
    """Parse ISO 8601 strings row by row (formats may differ between rows); a string with an
    offset is converted to a zoned column's zone and refused in a naive column (null here)."""
    parsed = [s.str.to_datetime(f, time_unit="us", time_zone=want.time_zone, strict=False)
              for f in _NAIVE_FORMATS]
    if want.time_zone is not None:
        parsed += [s.str.to_datetime(f, time_unit="us", strict=False)
                   .dt.convert_time_zone(want.time_zone) for f in _OFFSET_FORMATS]
    return pl.select(pl.coalesce([pl.lit(p) for p in parsed]).alias(s.name)).to_series()


def check_flat_struct(feature: type[Feature], column: str, dtype: pl.Struct) -> None:
    """A field -> hash/input struct holds scalar values; a nested one would be cast to its text
    (``{1}``) and hashed or stored as such."""
    for f in dtype.fields:
        if _is_nested(f.dtype):
            fail(feature, column, None, f"field '{f.name}' holds {f.dtype} values; a "
                                        "field's value must be a string")


def cast_column(feature: type[Feature], s: pl.Series, want: pl.DataType) -> pl.Series:
    """``s`` cast to ``want``; a value that does not convert losslessly is refused by its row."""
    have = s.dtype
    if have == want:
        return s
    if _is_nested(have) and not _is_nested(want):
        bad = first_true(s.is_not_null())
        fail(feature, s.name, bad if bad is not None else 0,
             f"a {have} value cannot be stored in a {want} column: {s[bad or 0]!r}")
    if isinstance(want, pl.Datetime) and have == pl.Utf8:
        cast = _to_datetime(s, want)
    elif want == pl.Date and have == pl.Utf8:
        cast = s.str.to_date("%Y-%m-%d", strict=False)
    else:
        try:
            cast = s.cast(want, strict=False)
        except Exception as e:
            fail(feature, s.name, 0, f"cannot convert {have} to {want}: {e}")
            raise  # unreachable
    bad = first_true(cast.is_null() & s.is_not_null())
    if bad is None and have.is_float() and want.is_integer():
        # float -> int truncates silently (1.5 -> 1); only whole numbers may pass
        bad = first_true(cast.cast(have).ne_missing(s))
    if bad is not None:
        fail(feature, s.name, bad, f"value {s[bad]!r} is not a valid {want}")
    return cast


def check_no_nul(feature: type[Feature], df: pl.DataFrame, columns: list[str] | None = None,
                 ) -> None:
    """Refuse a NUL character in any string column (every backend alike; PostgreSQL cannot
    store one)."""
    for name in columns if columns is not None else df.columns:
        if df.schema[name] != pl.Utf8:
            continue
        bad = first_true(df[name].str.contains(NUL, literal=True))
        if bad is not None:
            fail(feature, name, bad, f"a string contains a NUL character (\\x00): "
                                     f"{df[name][bad]!r}; no store can keep it on every backend")


def negative_zero(s: pl.Series) -> pl.Series:
    """Where ``s`` (a float series) holds -0.0 (equal to 0.0, but 1 / -0.0 is -inf)."""
    return (s == 0.0) & ((1.0 / s) < 0.0)


def check_floats_storable(feature: type[Feature], df: pl.DataFrame, backend: str,
                          nan_ok: bool = True, negative_zero_ok: bool = True) -> None:
    """Refuse the float values a backend cannot keep bit-exactly (SQLite: NaN would read back
    as NULL, -0.0 as 0.0), rather than store something else than was written."""
    for name, dtype in df.schema.items():
        if not dtype.is_float():
            continue
        s = df[name]
        if not nan_ok:
            bad = first_true(s.is_nan())
            if bad is not None:
                fail(feature, name, bad, f"{backend} cannot store NaN (it would read back as "
                                         "NULL); write null, or use DuckDB/PostgreSQL")
        if not negative_zero_ok:
            bad = first_true(negative_zero(s))
            if bad is not None:
                fail(feature, name, bad, f"{backend} cannot store -0.0 (it would read back as "
                                         "0.0); write 0.0, or use DuckDB/PostgreSQL")
