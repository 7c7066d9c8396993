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
