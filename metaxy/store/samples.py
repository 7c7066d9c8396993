"""``samples=`` for root features and the split of a raw increment into its API-form parts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.engine.plan import INPUT_PREFIX, ResolvePlan, user_columns
from metaxy.errors import InvalidFrameError
from metaxy.frame_input import to_polars
from metaxy.hashing import HashSettings
from metaxy.store.frames import (
    cast_user_columns,
    check_id_presence,
    check_unique_ids,
    content_input,
    to_api,
)
from metaxy.store.types import table_schema
from metaxy.store.values import check_flat_struct, check_no_nul

if TYPE_CHECKING:
    from metaxy.feature import Feature

STATUS = "__status"
STALE_FLAG = "__stale__"
STORED = "__c__"


def samples_frame(feature: type[Feature], samples: Any, *, is_root: bool,
                  settings: HashSettings) -> pl.DataFrame | None:
    """Validate ``samples=`` and bring it to the staging form.

    Staging form: the id columns, one string column ``__in__<field>`` per field (the field's input,
    NULL when absent) and the model's user columns present in the frame.
    """
    key = str(feature.spec().key)
    if samples is None:
        if is_root:
            raise InvalidFrameError(
                "a root feature has no upstream: pass samples= (a frame with the id columns and "
                f"a '{C.INPUT_BY_FIELD}' struct)", feature_key=key, column=C.INPUT_BY_FIELD)
        return None
    if not is_root:
        raise InvalidFrameError("samples= is only accepted for root features; use where= to "
                                "restrict a downstream feature", feature_key=key)
    df = to_polars(samples, what="samples=", feature_key=key)
    spec = feature.spec()
    schema = table_schema(feature.__table__)  # type: ignore[attr-defined]
    check_id_presence(feature, df)
    # Ids are compared in the model's types: "1" and "01" are one sample of an int id.
    df = cast_user_columns(feature, df, schema, list(spec.id_columns))
    check_unique_ids(feature, df, "samples")
    inputs: dict[str, pl.Expr] = {}
    if C.INPUT_BY_FIELD in df.columns:
        dtype = df.schema[C.INPUT_BY_FIELD]
        if not isinstance(dtype, pl.Struct):
            raise InvalidFrameError(f"must be a struct of field -> string, got {dtype}",
                                    feature_key=key, column=C.INPUT_BY_FIELD)
        check_flat_struct(feature, C.INPUT_BY_FIELD, dtype)
        names = {f.name for f in dtype.fields}
        inputs = {n: pl.col(C.INPUT_BY_FIELD).struct.field(n).cast(pl.Utf8) for n in names}
    users = [c for c in user_columns(feature) if c in df.columns and c not in spec.id_columns]
    content = None
    if not inputs:
        df = cast_user_columns(feature, df, schema)
        content = content_input(feature, settings)
    cols = [pl.col(c) for c in spec.id_columns]
    for f in spec.field_keys:
        value = inputs.get(str(f), content if content is not None else pl.lit(None, pl.Utf8))
        cols.append(value.alias(INPUT_PREFIX + f.column("")))
    cols += [pl.col(c) for c in users]
    staged = df.select(cols)
    check_no_nul(feature, staged)  # staged into a table of the store, like a write
    return staged


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
    stale = stale_raw.with_columns(
        pl.concat_list(flags).list.drop_nulls().alias(C.STALE_FIELDS)
    ).select([*out_cols, *created, C.STALE_FIELDS])
    orphan_raw = raw.filter(status == "orphaned")
    if plan.expansion:
        orphaned = orphan_raw.select(keys)
    else:
        stored = [c for c in orphan_raw.columns if c.startswith(STORED)]
        orphaned = orphan_raw.select(keys + stored).rename(
            {c: c[len(STORED):] for c in stored})
    return {"new": to_api(feature, new), "stale": to_api(feature, stale),
            "orphaned": to_api(feature, orphaned)}
