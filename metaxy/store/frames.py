"""Frames at the API boundary: validation of writes into the storage form (SPEC §3, §6).

API form: per-field provenance and data versions as the structs ``metaxy_provenance_by_field`` /
``metaxy_data_version_by_field``. Storage form: one string column per field
(``metaxy_pv__<field>`` / ``metaxy_dv__<field>``); the way back is
:func:`metaxy.engine.protocol.to_api`.

Write policy (documented in docs/decisions.md):

* columns that are not columns of the model (e.g. upstream columns an increment carried along,
  ``metaxy_stale_fields``) are dropped;
* id columns must be present, non-null and unique within the write: a duplicate is rejected;
* every field needs a non-empty provenance. A non-root feature's rows must carry it (they come
  from an increment); a root feature's rows may instead carry ``metaxy_input_by_field``, or
  nothing, in which case the input of every field is a hash of the row's user columns;
* data versions default to the provenance, field by field;
* every check is vectorised; a bad frame is rejected whole, naming the column and first bad row.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine import polars_hash as P
from metaxy.engine.hashers import Hasher
from metaxy.engine.plan import user_columns
from metaxy.engine.staged import Constant, FieldHashes, HashRecipe, StagedRows
from metaxy.frame_input import to_polars
from metaxy.hashing import HashSettings, enc, fq_field
from metaxy.store import values as V
from metaxy.store.types import table_schema

if TYPE_CHECKING:
    from metaxy.feature import Feature

_last_time = datetime.min.replace(tzinfo=UTC)
_row_counter = itertools.count()

def write_timestamp() -> datetime:
    """The client's time of a write (UTC), strictly increasing within the process.

    Only a proposal: the store assigns the stored ``metaxy_updated_at`` inside the write's
    transaction, never earlier than the table's previous write (:mod:`metaxy.store.write_clock`),
    so a host whose clock is behind cannot write rows older than the ones they replace."""
    global _last_time
    now = datetime.now(UTC)
    if now <= _last_time:
        now = _last_time + timedelta(microseconds=1)
    _last_time = now
    return now


def row_ids(n: int) -> pl.Expr:
    """Time-ordered unique row ids in UUIDv7 layout: 48-bit ms time, random bits, row counter."""
    ms = time.time_ns() // 1_000_000
    rand = uuid.UUID(bytes=os.urandom(16)).hex
    seq = next(_row_counter) % 0x1000
    stamp = f"{ms:012x}"
    variant = f"{8 + int(rand[0], 16) % 4:x}"
    prefix = f"{stamp[:8]}-{stamp[8:]}-7{seq:03x}-{variant}{rand[1:4]}-"
    counter = pl.int_range(n, dtype=pl.Int64).cast(pl.Utf8).str.zfill(12)
    return pl.concat_str([pl.lit(prefix), counter])


_fail = V.fail
_first_true = V.first_true


def check_id_presence(feature: type[Feature], df: pl.DataFrame) -> None:
    """Every id column is present and non-null (before the cast: a null is the caller's)."""
    for col in feature.spec().id_columns:
        if col not in df.columns:
            _fail(feature, col, None,
                  f"id column is missing from the frame (columns: {df.columns})")
        bad = _first_true(df[col].is_null())
        if bad is not None:
            _fail(feature, col, bad, "id column has a null value")


def check_unique_ids(feature: type[Feature], df: pl.DataFrame, what: str = "one write") -> None:
    """No sample id twice; run *after* the cast to the model's types, where ``"1"`` and ``"01"``
    are both the integer 1."""
    ids = list(feature.spec().id_columns)
    # Counting distinct ids is cheaper than flagging duplicates; flag only on a failure.
    # One id column: no struct to build (docs/performance.md).
    key = df[ids[0]] if len(ids) == 1 else df.select(pl.struct(ids)).to_series()
    # Distinct 64-bit hashes prove distinct ids at half the cost of counting the values (a
    # third for several id columns); a collision or a duplicate falls through to the exact
    # count. Only for strings and integers, whose equal values always hash alike.
    if all(df.schema[c] == pl.Utf8 or df.schema[c].is_integer() for c in ids) \
            and key.hash().n_unique() == df.height:
        return
    if key.n_unique() == df.height:
        return
    dup = _first_true(key.is_duplicated())
    if dup is not None:
        _fail(feature, ",".join(ids), dup, f"duplicate sample id within {what} "
                                           f"({ {c: df[c][dup] for c in ids} })")


def cast_user_columns(feature: type[Feature], df: pl.DataFrame,
                      schema: dict[str, pl.DataType],
                      columns: list[str] | None = None) -> pl.DataFrame:
    """Cast the model's user columns (or just ``columns``) to the model's dtypes, refusing any
    value that does not convert (:func:`metaxy.store.values.cast_column`); absent columns
    become nulls."""
    exprs: list[pl.Expr | pl.Series] = []
    for col in columns if columns is not None else user_columns(feature):
        if col not in df.columns:
            exprs.append(pl.lit(None, dtype=schema[col]).alias(col))
        elif df.schema[col] != schema[col]:
            exprs.append(V.cast_column(feature, df[col], schema[col]))
    return df.with_columns(exprs) if exprs else df


def _struct_fields(feature: type[Feature], df: pl.DataFrame, column: str) -> dict[str, pl.Expr]:
    dtype = df.schema[column]
    if not isinstance(dtype, pl.Struct):
        _fail(feature, column, None, f"must be a struct of field -> string, got {dtype}")
    assert isinstance(dtype, pl.Struct)
    V.check_flat_struct(feature, column, dtype)
    names = {f.name for f in dtype.fields}
    return {str(k): pl.col(column).struct.field(str(k)) for k in feature.spec().field_keys
            if str(k) in names}


def _provenance_columns(feature: type[Feature], df: pl.DataFrame, is_root: bool,
                        settings: HashSettings) -> tuple[list[pl.Expr], dict[str, str] | None]:
    """The per-field provenance columns, and for a root whose provenance is computed here the
    static payload prefix of each field (the columns then hold the fields' inputs)."""
    spec = feature.spec()
    given: dict[str, pl.Expr] = {}
    if C.PROVENANCE_BY_FIELD in df.columns:
        given = _struct_fields(feature, df, C.PROVENANCE_BY_FIELD)
    for f in spec.field_keys:
        if C.pv_column(f) in df.columns:
            given.setdefault(str(f), pl.col(C.pv_column(f)))
    if given or C.PROVENANCE_BY_FIELD in df.columns:  # a struct naming no field is no excuse
        missing = [str(f) for f in spec.field_keys if str(f) not in given]
        if missing:
            _fail(feature, C.PROVENANCE_BY_FIELD, None, f"no provenance for field(s) {missing}")
        return [given[str(f)].cast(pl.Utf8).alias(C.pv_column(f)) for f in spec.field_keys], None
    if not is_root:
        _fail(feature, C.PROVENANCE_BY_FIELD, 0,
              "provenance is missing; rows of a non-root feature must come from "
              "resolve_update() (write the increment's rows back with their provenance)")
    inputs: dict[str, pl.Expr] = {}
    if C.INPUT_BY_FIELD in df.columns:
        inputs = _struct_fields(feature, df, C.INPUT_BY_FIELD)
    content = content_input(feature, settings)
    out = []
    prefixes: dict[str, str] = {}
    for fspec in spec.fields:
        prefixes[str(fspec.key)] = (enc(fq_field(str(spec.key), str(fspec.key)))
                                    + enc(fspec.code_version))
        value = inputs.get(str(fspec.key), content)
        out.append(value.cast(pl.Utf8).alias(C.pv_column(fspec.key)))
    return out, prefixes


def content_input(feature: type[Feature], settings: HashSettings) -> pl.Expr:
    """A root field's default input: a hash of the row's non-id user columns (model dtypes).

    Used when a root row or sample carries no ``metaxy_input_by_field``; the frame must already be
    cast to the model's dtypes with absent columns as nulls (:func:`cast_user_columns`).
    """
    spec = feature.spec()
    cols = [c for c in user_columns(feature) if c not in spec.id_columns] or list(spec.id_columns)
    schema = table_schema(feature.__table__)  # type: ignore[attr-defined]
    return P.h(P.content_payload({c: schema[c] for c in cols}), settings)


def _check_hashes(feature: type[Feature], df: pl.DataFrame, columns: list[str],
                  allow_null: bool = False) -> None:
    for col in columns:
        bad_value = ((df[col].str.len_chars() == 0)
                     | df[col].str.to_lowercase().is_in(["nan", "none", "null"]))
        bad = _first_true(bad_value.fill_null(False) if allow_null
                          else df[col].is_null() | bad_value)
        if bad is not None:
            _fail(feature, col, bad, f"provenance/data version is empty or null: {df[col][bad]!r}")


def stage_write(feature: type[Feature], frame: Any, *, is_root: bool, settings: HashSettings,
                feature_version: str, project_version: str, now: datetime,
                materialization_id: str | None = None) -> StagedRows:
    """Validate a frame and stage it in table order; the sample hashes are left to the store
    (:mod:`metaxy.engine.staged`), which computes them where it is cheapest."""
    df = to_polars(frame, what="write", feature_key=str(feature.spec().key))
    table: sa.Table = feature.__table__  # type: ignore[attr-defined]
    schema = table_schema(table)
    check_id_presence(feature, df)
    df = cast_user_columns(feature, df, schema)
    check_unique_ids(feature, df)
    spec = feature.spec()
    pv_exprs, prefixes = _provenance_columns(feature, df, is_root, settings)
    df = df.with_columns(pv_exprs)
    dv_given: dict[str, pl.Expr] = {}
    if C.DATA_VERSION_BY_FIELD in df.columns:
        dv_given = _struct_fields(feature, df, C.DATA_VERSION_BY_FIELD)
    df = df.with_columns([
        dv_given[str(f)].cast(pl.Utf8).alias(C.dv_column(f)) if str(f) in dv_given
        else pl.lit(None, dtype=pl.Utf8).alias(C.dv_column(f)) for f in spec.field_keys])
    # Only hashes the caller supplied can be empty or null; the ones computed later cannot.
    # A null data version is allowed: it falls back to the provenance.
    _check_hashes(feature, df, [] if prefixes is not None
                  else [C.pv_column(f) for f in spec.field_keys])
    _check_hashes(feature, df, [C.dv_column(f) for f in spec.field_keys if str(f) in dv_given],
                  allow_null=True)
    constants = [Constant(C.FEATURE_VERSION, feature_version, schema[C.FEATURE_VERSION]),
                 Constant(C.PROJECT_VERSION, project_version, schema[C.PROJECT_VERSION]),
                 Constant(C.UPDATED_AT, now, schema[C.UPDATED_AT]),
                 Constant(C.DELETED_AT, None, schema[C.DELETED_AT]),
                 Constant(C.MATERIALIZATION_ID, materialization_id,
                          schema[C.MATERIALIZATION_ID])]
    if C.CREATED_AT in df.columns:  # the caller's creation times, where given
        created = V.cast_column(feature, df[C.CREATED_AT], schema[C.CREATED_AT])
        df = df.with_columns(pl.coalesce([
            pl.lit(created), pl.lit(now, dtype=schema[C.CREATED_AT])]).alias(C.CREATED_AT))
    else:
        constants.append(Constant(C.CREATED_AT, now, schema[C.CREATED_AT]))
    df = df.with_columns(
        pl.lit(None, dtype=pl.Utf8).alias(C.PROVENANCE),
        pl.lit(None, dtype=pl.Utf8).alias(C.DATA_VERSION),
        row_ids(df.height).alias(C.ROW_ID),
    )
    fields = tuple(
        FieldHashes(enc(str(f)), C.pv_column(f), C.dv_column(f),
                    None if prefixes is None else prefixes[str(f)])
        for f in sorted(spec.field_keys))
    recipe = HashRecipe(settings, fields, bool(dv_given))
    fixed = {c.name for c in constants}
    order = tuple(c.name for c in table.columns)
    staged = df.select([pl.col(n).cast(schema[n]) for n in order if n not in fixed])
    # the row ids are made here (hex and digits): the user's columns are checked
    V.check_no_nul(feature, staged, [c for c in staged.columns if c != C.ROW_ID])
    if materialization_id is not None and V.NUL in materialization_id:
        _fail(feature, C.MATERIALIZATION_ID, None,
              f"materialization id {materialization_id!r} contains a NUL character (\\x00)")
    return StagedRows(staged, recipe, tuple(constants), order)


def prepare_write(feature: type[Feature], frame: Any, *, is_root: bool, settings: HashSettings,
                  feature_version: str, project_version: str, now: datetime,
                  materialization_id: str | None = None,
                  hasher: Hasher | None = None) -> pl.DataFrame:
    """Validate a frame and turn it into the final storage form, columns in table order
    (hashes computed by ``hasher``, default polars-hash)."""
    return stage_write(feature, frame, is_root=is_root, settings=settings,
                       feature_version=feature_version, project_version=project_version,
                       now=now, materialization_id=materialization_id).finish(hasher)
