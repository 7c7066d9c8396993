"""``samples=`` for root features: the caller's samples in the staging form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.engine.plan import INPUT_PREFIX, user_columns
from metaxy.errors import InvalidFrameError
from metaxy.frame_input import to_polars
from metaxy.hashing import HashSettings
from metaxy.store.frames import (
    cast_user_columns,
    check_id_presence,
    check_unique_ids,
    content_input,
)
from metaxy.store.types import table_schema
from metaxy.store.values import check_flat_struct, check_no_nul

if TYPE_CHECKING:
    from metaxy.feature import Feature

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
