"""The rows of one write, validated, with their sample hashes still to compute.

A write's rows are validated whole in Polars (:func:`metaxy.store.frames.stage_write`), but their
hashes (per-field provenance of a root, the ``metaxy_provenance`` / ``metaxy_data_version``
totals) need not be computed there. :class:`StagedRows` carries the validated frame plus a
:class:`HashRecipe`, and each backend finishes the rows where it is cheapest:

* :meth:`StagedRows.finish` computes them in Polars (or with any :data:`Hasher`), on the whole
  frame or slice by slice (PostgreSQL hashes the next ``COPY`` chunk while the server parses the
  current one);
* :meth:`StagedRows.finish_select` is the same recipe as one SQL ``SELECT`` over the staged
  frame, so DuckDB hashes inside its ``INSERT ... SELECT`` from the Arrow table, in parallel,
  without the hashes ever crossing into Python.

Both forms follow :mod:`metaxy.hashing` and are bit-identical (conformance suite).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause

from metaxy import columns as C
from metaxy.engine import polars_hash as P
from metaxy.engine import sql as Q
from metaxy.engine.hashers import Hasher, polars_hasher
from metaxy.hashing import HashSettings

STAMPED = (C.UPDATED_AT, C.CREATED_AT, C.DELETED_AT)  # columns that carry the write's time


@dataclass(frozen=True)
class FieldHashes:
    """The storage columns of one field and how its provenance is obtained."""

    encoded_key: str  # enc(field key): its part of the totals
    pv_column: str
    dv_column: str
    # Set for a root field whose provenance is computed here: the pv column then holds the
    # field's *input* (or null) and the provenance is H(prefix || enc_or_missing(input)).
    prefix: str | None = None


@dataclass(frozen=True)
class HashRecipe:
    """How a staged frame's hash columns become the stored ones (SPEC, metaxy.hashing).

    1. a computed field provenance replaces its input: ``pv = H(prefix || enc_or_missing(pv))``;
    2. a data version defaults to its provenance: ``dv = coalesce(dv, pv)``;
    3. ``metaxy_provenance = H(enc(key) enc(pv) ...)`` over the fields in sorted key order,
       ``metaxy_data_version`` likewise over the data versions when any was given, otherwise
       equal to the provenance (the same hash, computed once).
    """

    settings: HashSettings
    fields: tuple[FieldHashes, ...]  # in sorted field-key order (the totals' order)
    data_versions_given: bool

    @property
    def computed(self) -> list[FieldHashes]:
        return [f for f in self.fields if f.prefix is not None]

    def total_parts(self, kind: str) -> list[tuple[str, str, bool]]:
        """The payload of ``metaxy_provenance`` (kind "pv") or ``metaxy_data_version`` ("dv"):
        per field, a literal, the column, and whether the column still needs ``enc()``. A
        provenance hashed here has the store's fixed length, so its ``<len>:`` is literal."""
        parts = []
        for f in self.fields:
            if kind == "pv" and f.prefix is not None:
                parts.append((f"{f.encoded_key}{self.settings.length}:", f.pv_column, False))
            else:
                parts.append((f.encoded_key, f.pv_column if kind == "pv" else f.dv_column, True))
        return parts


@dataclass(frozen=True)
class Constant:
    """A column with one value for every row of a write (versions, timestamps): kept out of the
    frame, so it is neither materialised per row in Python nor scanned per row by the database."""

    name: str
    value: Any
    dtype: pl.DataType


@dataclass(frozen=True)
class StagedRows:
    """Validated rows: ``frame`` holds the per-row columns, ``constants`` the columns with one
    value per write, ``order`` every column in table order; ``recipe`` None means the hashes are
    final (or there are none). ``keep_times``: the rows keep their own timestamps (copied rows,
    :meth:`~metaxy.store.contract.StoreContract.append_storage_rows`); the store's write clock
    only advances past the latest of them (:meth:`clock_time`, :meth:`restamped`)."""

    frame: pl.DataFrame
    recipe: HashRecipe | None = None
    constants: tuple[Constant, ...] = ()
    order: tuple[str, ...] = ()
    keep_times: bool = False

    @classmethod
    def ready(cls, frame: pl.DataFrame, *, keep_times: bool = False) -> StagedRows:
        return cls(frame, None, (), tuple(frame.columns), keep_times)

    def clock_time(self) -> Any:
        """The time the write claims on the table's clock: the write's own (first row), or,
        for rows keeping their times, the latest of them."""
        if self.keep_times and self.frame.height:
            return self.frame[C.UPDATED_AT].max()
        return self.first(C.UPDATED_AT)

    @property
    def height(self) -> int:
        return self.frame.height

    @property
    def columns(self) -> list[str]:
        """Every column, in table order."""
        return list(self.order)

    def first(self, name: str) -> Any:
        """The first row's value of a column that no hashing changes (e.g. a version)."""
        for c in self.constants:
            if c.name == name:
                return c.value
        return self.frame[name][0]

    def _with(self, frame: pl.DataFrame) -> StagedRows:
        return StagedRows(frame, self.recipe, self.constants, self.order, self.keep_times)

    def uniform(self, name: str) -> bool:
        """Whether every row has the same non-null value in column ``name``."""
        if any(c.name == name for c in self.constants):
            return True
        col = self.frame.get_column(name)
        return col.null_count() == 0 and col.n_unique() <= 1

    def restamped(self, client: Any, at: Any) -> StagedRows:
        """The rows with the write time assigned by the store (``at``, from its clock) in place
        of the client's (:func:`restamp`), in the constants and in the frame; rows keeping their
        times are returned as they are."""
        if at == client or self.keep_times:
            return self
        constants = tuple(
            replace(c, value=at) if c.name in STAMPED and (
                c.name == C.UPDATED_AT or c.value == client) else c
            for c in self.constants)
        return StagedRows(restamp(self.frame, client, at), self.recipe, constants, self.order)

    def head(self, n: int) -> StagedRows:
        return self._with(self.frame.head(n))

    def slices(self, rows: int) -> Iterator[StagedRows]:
        for chunk in self.frame.iter_slices(rows):
            yield self._with(chunk)

    # ------------------------------------------------------------------ Polars form
    def finish(self, hasher: Hasher | None = None) -> pl.DataFrame:
        """The storage-form frame in table order, hashes computed by ``hasher`` (default:
        polars-hash)."""
        r = self.recipe
        df = self.frame
        if r is not None:
            df = _finish_hashes(df, r, hasher or polars_hasher(r.settings))
        if self.constants:
            df = df.with_columns([pl.lit(c.value, dtype=c.dtype).alias(c.name)
                                  for c in self.constants])
        return df.select(self.order) if df.columns != list(self.order) else df

    # ------------------------------------------------------------------ SQL form
    def finish_select(self, source: FromClause,
                      types: dict[str, sa.types.TypeEngine[Any]] | None = None) -> sa.Select[Any]:
        """One ``SELECT`` over ``source`` (the frame as a relation) giving every column in table
        order; the hashes are computed by the database (:class:`SampleHash`), the constants are
        bound parameters (typed by ``types``, e.g. the target table's column types)."""
        r = self.recipe
        names = self.frame.columns
        consts: dict[str, ColumnElement[Any]] = {
            c.name: sa.null() if c.value is None
            else sa.literal(c.value, (types or {}).get(c.name)) for c in self.constants}

        def ordered(cols: dict[str, ColumnElement[Any]]) -> sa.Select[Any]:
            both = {**cols, **consts}
            return sa.select(*[both[n].label(n) for n in self.order])

        if r is None:
            return ordered({n: source.c[n] for n in names})

        def h(expr: ColumnElement[Any]) -> ColumnElement[str]:
            return Q.SampleHash(expr, r.settings.algorithm, r.settings.length)

        # Level 1: computed field provenances; level 2: data versions and totals. Nesting keeps
        # each hash computed once (a hash used twice is a column of the level below).
        level1_cols: dict[str, ColumnElement[Any]] = {n: source.c[n] for n in names}
        for f in r.computed:
            assert f.prefix is not None
            payload = sa.literal(f.prefix, sa.String) + Q.enc_or_missing(source.c[f.pv_column])
            level1_cols[f.pv_column] = h(payload)
        s1 = sa.select(*[e.label(n) for n, e in level1_cols.items()]).subquery("mx_s1")
        level2_cols: dict[str, ColumnElement[Any]] = {n: s1.c[n] for n in names}
        for f in r.fields:
            level2_cols[f.dv_column] = sa.func.coalesce(s1.c[f.dv_column], s1.c[f.pv_column])

        def total(kind: str) -> ColumnElement[str]:
            parts: list[ColumnElement[Any]] = []
            for literal, name, encode in r.total_parts(kind):
                col = level2_cols[name]
                parts += [sa.literal(literal, sa.String), Q.enc(col) if encode else col]
            return h(Q.concat(parts))

        level2_cols[C.PROVENANCE] = total("pv")
        if r.data_versions_given:
            level2_cols[C.DATA_VERSION] = total("dv")
            return ordered(level2_cols)
        s2 = sa.select(*[level2_cols[n].label(n) for n in names if n != C.DATA_VERSION]
                       ).subquery("mx_s2")
        return ordered({n: s2.c[C.PROVENANCE] if n == C.DATA_VERSION else s2.c[n]
                        for n in names})


def _finish_hashes(df: pl.DataFrame, r: HashRecipe, hasher: Hasher) -> pl.DataFrame:
    computed = r.computed
    if computed:
        # a column without nulls needs no null branch: the same payload, one pass less
        df = df.with_columns([
            pl.concat_str([pl.lit(f.prefix), P.enc(pl.col(f.pv_column))
                           if df[f.pv_column].null_count() == 0
                           else P.enc_or_missing(pl.col(f.pv_column))])
            .alias(f.pv_column) for f in computed])
        df = hasher(df, [f.pv_column for f in computed])
    df = df.with_columns([pl.coalesce([pl.col(f.dv_column), pl.col(f.pv_column)])
                          .alias(f.dv_column) for f in r.fields])
    totals = {C.PROVENANCE: "pv", **({C.DATA_VERSION: "dv"} if r.data_versions_given else {})}
    df = df.with_columns([_total_payload(r, kind).alias(c) for c, kind in totals.items()])
    df = hasher(df, list(totals))
    if not r.data_versions_given:
        df = df.with_columns(pl.col(C.PROVENANCE).alias(C.DATA_VERSION))
    return df


def _total_payload(r: HashRecipe, kind: str) -> pl.Expr:
    """The payload of ``metaxy_provenance`` (kind "pv") or ``metaxy_data_version`` ("dv")."""
    parts: list[pl.Expr] = []
    for literal, name, encode in r.total_parts(kind):
        parts += [pl.lit(literal), P.enc(pl.col(name)) if encode else pl.col(name)]
    return pl.concat_str(parts)


def restamp(df: pl.DataFrame, client: datetime, at: datetime) -> pl.DataFrame:
    """The rows with the client's write time replaced by the store's: every ``updated_at``, and
    a ``created_at`` / ``deleted_at`` that is the client's time (a new sample, a tombstone)."""
    if at == client:
        return df
    exprs = []
    for name in STAMPED:
        if name not in df.columns:
            continue
        new = pl.lit(at, dtype=df.schema[name])
        if name == C.UPDATED_AT:
            exprs.append(new.alias(name))
        else:
            old = pl.lit(client, dtype=df.schema[name])
            exprs.append(pl.when(pl.col(name) == old).then(new).otherwise(pl.col(name))
                         .alias(name))
    return df.with_columns(exprs) if exprs else df
