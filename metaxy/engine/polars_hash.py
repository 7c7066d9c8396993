"""The sample-hash recipe of :mod:`metaxy.hashing` as vectorised Polars expressions.

These must stay bit-identical to the SQL forms in :mod:`metaxy.engine.sql`; the conformance suite
compares them on every backend.
"""

from __future__ import annotations

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash / .chash namespaces)

from metaxy.hashing import MISSING, HashSettings


def h(expr: pl.Expr, settings: HashSettings) -> pl.Expr:
    """``H(expr)`` as lowercase hex, truncated to the store's length."""
    if settings.algorithm == "md5":
        hashed = expr.nchash.md5()  # type: ignore[attr-defined]
    else:
        hashed = expr.chash.sha2_256()  # type: ignore[attr-defined]
    if settings.truncated:
        hashed = hashed.str.slice(0, settings.length)
    return hashed  # type: ignore[no-any-return]


def enc(expr: pl.Expr) -> pl.Expr:
    """``<chars>:<value>`` for a non-null string expression."""
    return pl.concat_str([expr.str.len_chars().cast(pl.Utf8), pl.lit(":"), expr])


def enc_or_missing(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_null()).then(pl.lit(MISSING)).otherwise(enc(expr))


def concat(parts: list[pl.Expr]) -> pl.Expr:
    return pl.concat_str(parts)


def total(pairs: list[tuple[str, pl.Expr]], settings: HashSettings) -> pl.Expr:
    """Overall hash over (encoded field key, per-field hash) pairs, in sorted key order."""
    parts: list[pl.Expr] = []
    for encoded_key, expr in pairs:
        parts += [pl.lit(encoded_key), enc(expr)]
    return h(concat(parts), settings)


def _float_code(col: pl.Expr) -> pl.Expr:
    """One character per float value: ``n`` NaN, ``i`` +inf, ``j`` -inf, ``.`` anything else."""
    return (pl.when(col.is_nan()).then(pl.lit("n"))
            .when(col == float("inf")).then(pl.lit("i"))
            .when(col == float("-inf")).then(pl.lit("j"))
            .otherwise(pl.lit(".")))


def content_payload(schema: dict[str, pl.DataType]) -> pl.Expr:
    """The content encoding of a row's columns ``schema`` (name -> model dtype), injective for
    every value of those dtypes (see :mod:`metaxy.hashing`, "content input").

    The row as a compact JSON object; binary values as hex strings. JSON writes NaN, inf and -inf
    as ``null``: only a row holding one of them gets a suffix ``~`` + one code per float column
    (:func:`_float_code`). A JSON object ends with ``}``, a suffix never does, so the two forms
    cannot collide, and every other row keeps exactly the encoding it always had.
    """
    cols = [pl.col(n).bin.encode("hex").alias(n) if d == pl.Binary else pl.col(n)
            for n, d in schema.items()]
    json = pl.struct(cols).struct.json_encode()
    floats = [pl.col(n) for n, d in schema.items() if d.is_float()]
    if not floats:
        return json
    special = pl.any_horizontal([(c.is_nan() | c.is_infinite()).fill_null(False)
                                 for c in floats])
    suffix = pl.concat_str([pl.lit("~"), *[_float_code(c) for c in floats]])
    return pl.when(special).then(pl.concat_str([json, suffix])).otherwise(json)
