"""The raw-row protocol between the resolve compilers and the stores, and the API form.

Both compilers (:func:`metaxy.engine.sql.increment_statement`, run by a SQL store, and
:func:`metaxy.engine.frames.increment_frame`, run by the memory store) return *raw* increment
rows of one shape: the key columns, :data:`STATUS` (``"new"``, ``"stale"`` or ``"orphaned"``),
the expected columns (storage form: one provenance column per field, ``metaxy_provenance``, the
carried user columns), one boolean :data:`STALE_FLAG` column per field, and the stored row's
columns prefixed with :data:`STORED`. :func:`split_increment` turns such rows into the three
API-form frames of an ``Increment``; :func:`to_api` packs a storage-form frame's per-field
columns into the two structs users see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from metaxy import columns as C
from metaxy.engine.plan import ResolvePlan

if TYPE_CHECKING:
    from metaxy.feature import Feature

STATUS = "__status"
"""Raw column: the sample's class, ``"new"``, ``"stale"`` or ``"orphaned"`` (NULL: up to date)."""
STALE_FLAG = "__stale__"
"""Prefix of the raw per-field columns: true when that field's provenance changed."""
STORED = "__c__"
"""Prefix of the raw columns holding the stored (current) row's values."""
STALE_RULE = "__stale_if"
"""Raw column (only with a ``stale_if=`` rule): true when the stored row matches the rule."""
REASON_PROVENANCE = "provenance"
"""``metaxy_stale_reason`` of a sample stale because a field's provenance changed."""
REASON_RULE = "stale_if"
"""``metaxy_stale_reason`` of a sample the ``stale_if=`` rule matched (all its fields listed)."""


def to_api(feature: type[Feature], df: pl.DataFrame, *, prefix: str = "") -> pl.DataFrame:
    """Storage form -> API form: pack per-field columns into the two structs."""
    keys = feature.spec().field_keys
    pv = {str(f): prefix + C.pv_column(f) for f in keys}
    dv = {str(f): prefix + C.dv_column(f) for f in keys}
    exprs = []
    drop = []
    if all(c in df.columns for c in pv.values()):
        exprs.append(pl.struct([pl.col(c).alias(k) for k, c in pv.items()])
                     .alias(C.PROVENANCE_BY_FIELD))
        drop += list(pv.values())
    if all(c in df.columns for c in dv.values()):
        exprs.append(pl.struct([pl.col(c).alias(k) for k, c in dv.items()])
                     .alias(C.DATA_VERSION_BY_FIELD))
        drop += list(dv.values())
    return df.with_columns(exprs).drop(drop) if exprs else df


def to_storage(feature: type[Feature], df: pl.DataFrame) -> pl.DataFrame:
    """API form -> storage form (the inverse of :func:`to_api`): unpack the two structs into
    one provenance and one data-version column per field, e.g. to hand rows read from one
    store to another's ``append_storage_rows``."""
    exprs: list[pl.Expr] = []
    for struct, column in ((C.PROVENANCE_BY_FIELD, C.pv_column),
                           (C.DATA_VERSION_BY_FIELD, C.dv_column)):
        if struct in df.columns:
            exprs += [pl.col(struct).struct.field(str(f)).alias(column(f))
                      for f in feature.spec().field_keys]
    drop = [c for c in (C.PROVENANCE_BY_FIELD, C.DATA_VERSION_BY_FIELD) if c in df.columns]
    return df.with_columns(exprs).drop(drop) if exprs else df


def split_increment(plan: ResolvePlan, raw: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Raw classified rows (one statement's result) -> API-form ``new``/``stale``/``orphaned``."""
    feature = plan.feature
    keys = list(plan.key_columns)
    pv_cols = [f.pv_column for f in plan.fields]
    expected_cols = [c for c in raw.columns if not c.startswith(("__",)) and c not in keys]
    expected_cols = [c for c in expected_cols if c not in pv_cols and c != C.PROVENANCE]
    out_cols = keys + expected_cols + pv_cols + [C.PROVENANCE]
    status = raw[STATUS] if STATUS in raw.columns else pl.Series(STATUS, [], pl.Utf8)
    new = raw.filter(status == "new").select(out_cols)
    stale_raw = raw.filter(status == "stale")
    flags = [pl.when(pl.col(STALE_FLAG + f.field.column(""))).then(pl.lit(str(f.field)))
             for f in plan.fields]
    # A stale sample keeps its first-write time when written back (SPEC §3, metaxy_created_at).
    created = [pl.col(STORED + C.CREATED_AT).alias(C.CREATED_AT)] \
        if STORED + C.CREATED_AT in raw.columns else []
    listed = pl.concat_list(flags).list.drop_nulls()
    reason: list[str] = []
    if STALE_RULE in raw.columns:  # a stale_if= rule: a matched sample is stale in every field
        everything = pl.lit([str(f.field) for f in plan.fields], dtype=pl.List(pl.Utf8))
        rule = pl.col(STALE_RULE).fill_null(False)
        listed = pl.when(rule).then(everything).otherwise(listed)
        stale_raw = stale_raw.with_columns(pl.when(rule).then(pl.lit(REASON_RULE))
                                           .otherwise(pl.lit(REASON_PROVENANCE))
                                           .alias(C.STALE_REASON))
        reason = [C.STALE_REASON]
    stale = stale_raw.with_columns(listed.alias(C.STALE_FIELDS)).select(
        [*out_cols, *created, C.STALE_FIELDS, *reason])
    orphan_raw = raw.filter(status == "orphaned")
    if plan.expansion:
        orphaned = orphan_raw.select(keys)
    else:
        stored = [c for c in orphan_raw.columns if c.startswith(STORED)]
        orphaned = orphan_raw.select(keys + stored).rename(
            {c: c[len(STORED):] for c in stored})
    return {"new": to_api(feature, new), "stale": to_api(feature, stale),
            "orphaned": to_api(feature, orphaned)}
