"""Compile a :class:`~metaxy.engine.plan.ResolvePlan` into Polars LazyFrame operations.

This is the in-memory engine (``memory://``). It mirrors :mod:`metaxy.engine.sql` step by step so
that both give bit-identical hashes and the same classification:

* latest row per sample: the last row by (``metaxy_updated_at``, ``metaxy_row_id``) per id
  columns; soft-deleted samples hidden;
* one relation per dependency: filtered, renamed, with the carried columns and one data-version
  column per needed upstream field; N:1 aggregation concatenates ``enc(dv)`` of the group members
  ordered by the upstream id columns (Polars orders strings by their UTF-8 bytes, i.e. the byte
  order SQL gets from ``COLLATE "C"``) and hashes the result;
* the deps joined on their shared key columns (inner; optional deps left-joined last);
* per-field hashes ``H(prefix || enc_or_missing(input))`` / ``H(prefix || [enc(parent) ||
  enc_or_missing(dv)]...)`` and the overall ``metaxy_provenance``;
* a full outer join of expected vs current rows giving the same raw columns as
  :func:`metaxy.engine.sql.increment_statement` (coalesced key columns, ``__status``, the expected
  columns, ``__stale__<field>`` flags by null-safe inequality, stored columns prefixed ``__c__``),
  so :func:`metaxy.engine.protocol.split_increment` turns it into the API form.

Everything stays a vectorised LazyFrame plan; nothing loops over rows in Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine import filters as F
from metaxy.engine import polars_hash as P
from metaxy.engine.plan import (
    INPUT_PREFIX,
    SCOPE,
    DepPlan,
    FieldPlan,
    ResolvePlan,
    WherePlan,
    definition_error,
    expected_names,
    where_plan,
)
from metaxy.engine.protocol import STALE_FLAG, STALE_RULE, STATUS, STORED
from metaxy.errors import InvalidFrameError
from metaxy.hashing import HashSettings

MAX_PREFIX = "__max_"
_CURRENT_KEY = "__ck__"  # current's key columns inside the full join
_E_PRESENT = "__e_present"
_C_PRESENT = "__c_present"
_VALUE = "__w__"  # a column's per-sample value for a where= filter
ID_HASH = "__id_hash"  # a row's id columns hashed (see repeated_ids)


@dataclass(frozen=True)
class FrameContext:
    """What the compiler needs: the hash settings and every upstream's storage-form rows."""

    settings: HashSettings
    frames: dict[str, pl.LazyFrame]  # feature key string -> all physical rows (storage form)
    #: feature key string (upstreams and the target) -> :func:`repeated_ids` of its rows, for
    #: the features whose store computed it (see :func:`latest`)
    repeated: Mapping[str, pl.Series] = dataclasses.field(default_factory=dict)

    def h(self, expr: pl.Expr) -> pl.Expr:
        return P.h(expr, self.settings)


def id_hash(ids: tuple[str, ...] | list[str]) -> pl.Expr:
    """A 64-bit hash of a row's id columns, as :data:`ID_HASH`.

    Polars' hash is stable within one process only: it is never stored, just compared with
    hashes computed by the same process (:func:`repeated_ids` and :func:`latest`).
    """
    return pl.struct(list(ids)).hash().alias(ID_HASH)


def repeated_ids(frame: pl.LazyFrame, ids: tuple[str, ...] | list[str]) -> pl.LazyFrame:
    """The :func:`id_hash` values found on more than one row of ``frame`` (one column,
    :data:`ID_HASH`, each value once).

    Every sample with more than one row has its hash here; a few samples with one row may too
    (hash collisions), which costs :func:`latest` a little sorting and nothing else. Sorting
    8-byte hashes and comparing neighbours holds far less memory than grouping the id columns
    themselves (the streaming engine keeps a group-by's whole hash table).
    """
    h = pl.col(ID_HASH)
    return (frame.select(id_hash(ids)).sort(ID_HASH).filter(h == h.shift(1))
            .unique(maintain_order=False))


def latest(frame: pl.LazyFrame, ids: tuple[str, ...] | list[str], *,
           include_deleted: bool = False, repeated: pl.Series | None = None) -> pl.LazyFrame:
    """The latest row per sample (by updated_at, then row id), hiding soft-deleted samples.

    ``repeated``: the :data:`ID_HASH` column of :func:`repeated_ids` over this very ``frame``
    (the same snapshot of the table; anything else gives a wrong answer), when the caller has
    it. Then a sample whose hash is not listed has one row, which is its latest, and only the
    rows of the listed samples are sorted: a table holding one row per sample (the usual case)
    is read as it streams instead of being sorted whole in memory.
    """
    names = list(ids)
    if repeated is None:
        ranked = _last_rows(frame, names)
    elif repeated.len() == 0:
        ranked = frame
    else:
        listed = pl.col(ID_HASH).is_in(repeated.implode())
        tagged = frame.with_columns(id_hash(names))
        once = tagged.filter(~listed).drop(ID_HASH)
        ranked = pl.concat([once, _last_rows(tagged.filter(listed).drop(ID_HASH), names)])
    if include_deleted:
        return ranked
    return ranked.filter(pl.col(C.DELETED_AT).is_null())


def _last_rows(frame: pl.LazyFrame, ids: list[str]) -> pl.LazyFrame:
    return frame.sort([C.UPDATED_AT, C.ROW_ID]).unique(subset=ids, keep="last",
                                                       maintain_order=False)


def _names(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def dep_relation(ctx: FrameContext, dep: DepPlan) -> pl.LazyFrame:
    """One upstream's latest rows, filtered, renamed and reduced to the plan's key columns."""
    key = str(dep.feature.spec().key)
    rel = latest(ctx.frames[key], dep.upstream_ids, repeated=ctx.repeated.get(key))
    where = F.combine(dep.dep.filters)
    if where is not None:
        rel = rel.filter(F.to_polars(where, _names(rel), what=f"upstream '{key}'"))
    if dep.kind != "aggregation":
        cols = [pl.col(u).alias(dep.renamed(u)) for u in dep.upstream_ids]
        cols += [pl.col(up).alias(down) for up, down in dep.carried]
        cols += [pl.col(C.dv_column(f)).alias(dep.dv_alias(f)) for f in dep.fields]
        return rel.select(cols)
    group = [pl.col(dep.upstream_name(k)).alias(k) for k in dep.join_keys]
    order = [pl.col(u) for u in dep.upstream_ids]
    concatenated = rel.group_by(group).agg([
        P.enc(pl.col(C.dv_column(f))).sort_by(order).str.join("").alias(dep.dv_alias(f))
        for f in dep.fields
    ])
    return concatenated.with_columns([ctx.h(pl.col(dep.dv_alias(f))).alias(dep.dv_alias(f))
                                      for f in dep.fields])


def field_hash(ctx: FrameContext, field: FieldPlan) -> pl.Expr:
    parts: list[pl.Expr] = [pl.lit(field.prefix)]
    if field.input_alias is not None:
        parts.append(P.enc_or_missing(pl.col(field.input_alias)))
    for parent in field.parents:
        parts += [pl.lit(parent.encoded_name), P.enc_or_missing(pl.col(parent.alias))]
    return ctx.h(P.concat(parts))


def _widen(dtype: pl.DataType) -> pl.DataType | None:
    """The dtype a staged column gets back from a SQL temporary table (ints/floats widened)."""
    if dtype.is_integer() and dtype != pl.Int64:
        return pl.Int64()
    if dtype.is_float() and dtype != pl.Float64:
        return pl.Float64()
    return None


def expected(plan: ResolvePlan, ctx: FrameContext, staged: pl.DataFrame | None,
             where: Any = None) -> pl.LazyFrame:
    """The expected samples: key columns, carried columns, per-field and overall provenance."""
    if plan.is_root:
        if staged is None:
            raise InvalidFrameError(
                "a root feature has no upstream: pass samples= (a frame with the id columns and "
                f"a '{C.INPUT_BY_FIELD}' struct)", feature_key=str(plan.key),
                column=C.INPUT_BY_FIELD)
        source = staged.lazy()
        widen = {n: w for n, d in staged.schema.items() if (w := _widen(d)) is not None}
        if widen:
            source = source.with_columns([pl.col(n).cast(w) for n, w in widen.items()])
        carried = [n for n in staged.columns
                   if n not in plan.key_columns and not n.startswith(INPUT_PREFIX)]
    else:
        ordered = sorted(plan.deps, key=lambda d: d.optional)
        source = dep_relation(ctx, ordered[0])
        present = _names(source)
        for dep in ordered[1:]:
            rel = dep_relation(ctx, dep)
            on = [k for k in dep.join_keys if k in present]
            if not on:
                raise definition_error(plan.feature, f"dependency on '{dep.feature.spec().key}' "
                                                     "shares no column with the ones before it")
            # Like the SQL form, a column name already present keeps its first source.
            extra = [c for c in _names(rel) if c not in present]
            source = source.join(rel.select([*on, *extra]), on=on,
                                 how="left" if dep.optional else "inner")
            present += extra
        carried = list(plan.carried)
    if where is not None:
        allowed = {*plan.key_columns, *plan.id_columns, *carried}
        available = [c for c in _names(source) if c in allowed]
        source = source.filter(F.to_polars(where, available, what="the expected samples"))
    cols = [pl.col(k) for k in plan.key_columns]
    cols += [pl.col(c) for c in carried if c not in plan.key_columns]
    cols += [field_hash(ctx, f).alias(f.pv_column) for f in plan.fields]
    fields = source.select(cols)
    ordered_fields = sorted(plan.fields, key=lambda f: f.field.to_string())
    total = P.total([(f.encoded_key, pl.col(f.pv_column)) for f in ordered_fields], ctx.settings)
    return fields.with_columns(total.alias(C.PROVENANCE))


def current(plan: ResolvePlan, target: pl.LazyFrame, where: Any = None,
            scope: Any = None, rule: Any = None,
            repeated: pl.Series | None = None) -> pl.LazyFrame:
    """The target's latest rows; for an expansion, reduced to one row per parent.

    ``scope`` (expansions only): as in :func:`metaxy.engine.sql.current`, ``__scope`` is true
    for a parent when any of its stored child rows matches the filter's non-key terms;
    ``rule`` (expansions only): ``__stale_if`` is true when any matches the ``stale_if=`` rule;
    ``repeated``: as in :func:`latest`.
    """
    rel = latest(target, plan.id_columns, repeated=repeated)
    if where is not None:
        rel = rel.filter(F.to_polars(where, _names(rel), what=f"feature '{plan.key}'"))
    if not plan.expansion:
        return rel
    aggs: list[pl.Expr] = []
    for f in plan.fields:
        aggs.append(pl.col(f.pv_column).min().alias(f.pv_column))
        aggs.append(pl.col(f.pv_column).max().alias(MAX_PREFIX + f.pv_column))
    if scope is not None:
        present = set(_names(rel))
        names: dict[str, Any] = {n: sa.column(_VALUE + n) for n in F.check(scope)}
        rel = rel.with_columns([(pl.col(n) if n in present else pl.lit(None)).alias(_VALUE + n)
                                for n in names])
        matches = F.to_polars(F.retarget(scope, names, what=f"feature '{plan.key}'"),
                              [_VALUE + n for n in names], what=f"feature '{plan.key}'")
        aggs.append(matches.fill_null(False).any().alias(SCOPE))
    if rule is not None:
        matched = F.to_polars(rule, _names(rel), what=f"feature '{plan.key}' (stale_if)")
        aggs.append(matched.fill_null(False).any().alias(STALE_RULE))
    return rel.group_by(list(plan.key_columns)).agg(aggs)


def _scope(plan: ResolvePlan, wp: WherePlan) -> tuple[list[pl.Expr], pl.Expr]:
    """The per-sample value columns and the selection of the joined rows (WherePlan's rule).

    Mirrors :func:`metaxy.engine.sql._scope`; the joined frame holds the expected columns under
    their names, the stored key columns prefixed ``__ck__`` and the other stored ones ``__c__``.
    """
    present = pl.col(_E_PRESENT).is_not_null()
    what = f"feature '{plan.key}'"

    def bound(names: dict[str, Any]) -> pl.Expr:
        return F.to_polars(F.retarget(wp.rest, names, what=what), [_VALUE + n for n in names],
                           what=what)

    names: dict[str, Any]
    if plan.expansion:
        names = {n: sa.column(_VALUE + n) for n in wp.expected}
        on_expected = bound(names).fill_null(False)
        values = [pl.col(n).alias(_VALUE + n) for n in names]
        return values, (present & on_expected) | (~present & pl.col(STORED + SCOPE))
    values = []
    names = {}
    for name in dict.fromkeys(F.check(wp.rest)):
        stored = pl.col((_CURRENT_KEY if name in plan.key_columns else STORED) + name)
        source = wp.value_source(name)
        value = (pl.when(present).then(pl.col(name)).otherwise(stored) if source == "both"
                 else pl.col(name) if source == "expected" else stored)
        values.append(value.alias(_VALUE + name))
        names[name] = sa.column(_VALUE + name)
    return values, bound(names)


def _rule(plan: ResolvePlan, rule: Any, stored: list[str]) -> pl.Expr:
    """Whether the joined sample's stored row matches the ``stale_if=`` rule (never null)."""
    both = pl.col(_E_PRESENT).is_not_null() & pl.col(_C_PRESENT).is_not_null()
    if plan.expansion:
        return both & pl.col(STORED + STALE_RULE).fill_null(False)
    what = f"feature '{plan.key}' (stale_if)"
    names: dict[str, Any] = {
        n: sa.column((_CURRENT_KEY if n in plan.key_columns else STORED) + n) for n in stored}
    matched = F.to_polars(F.retarget(rule, names, what=what), [c.name for c in names.values()],
                          what=what)
    return both & matched.fill_null(False)


def classified(plan: ResolvePlan, ctx: FrameContext, target: pl.LazyFrame,
               staged: pl.DataFrame | None = None, where: Any = None,
               stale_if: Any = None) -> pl.LazyFrame:
    """Every expected and current sample, full-outer-joined and classified.

    Columns: the key columns, ``__status`` (``new`` / ``stale`` / ``orphaned``, or ``None`` for
    an up-to-date sample), the expected columns, one ``__stale__<field>`` flag per field, with a
    ``stale_if=`` rule the ``__stale_if`` flag and, for non-expansion features, the stored
    columns prefixed ``__c__``.
    """
    names = expected_names(plan, staged.columns if staged is not None else None)
    wp = where_plan(plan, where, names, _names(target))
    key_terms = wp.keys if wp is not None else None
    rest = wp.rest if wp is not None else None
    e = expected(plan, ctx, staged, key_terms).with_columns(pl.lit(True).alias(_E_PRESENT))
    rule = F.combine(stale_if)
    c = current(plan, target, key_terms, rest if plan.expansion else None,
                rule if plan.expansion else None, ctx.repeated.get(str(plan.key)))
    c_names = _names(c)
    target_schema = c.collect_schema()
    keys = list(plan.key_columns)
    # Join on the target's key dtypes (a database compares them after an implicit cast).
    e_schema = e.collect_schema()
    casts = [pl.col(k).cast(target_schema[k]) for k in keys if e_schema[k] != target_schema[k]]
    if casts:
        e = e.with_columns(casts)
    renames = {k: _CURRENT_KEY + k for k in keys}
    renames.update({n: STORED + n for n in c_names if n not in plan.key_columns})
    c = c.rename(renames).with_columns(pl.lit(True).alias(_C_PRESENT))
    joined = e.join(c, left_on=keys, right_on=[_CURRENT_KEY + k for k in keys], how="full",
                    coalesce=False)
    if wp is not None and rest is not None:
        values, selected = _scope(plan, wp)
        joined = joined.with_columns(values).filter(selected)
    is_new = pl.col(_C_PRESENT).is_null()
    is_orphan = pl.col(_E_PRESENT).is_null()
    flags = []
    for f in plan.fields:
        col = f.pv_column
        flag = pl.col(STORED + col).ne_missing(pl.col(col))
        if plan.expansion:
            flag = flag | pl.col(STORED + MAX_PREFIX + col).ne_missing(pl.col(col))
        flags.append(flag.alias(STALE_FLAG + f.field.column("")))
    if rule is not None:
        flags.append(_rule(plan, rule, c_names).alias(STALE_RULE))
    any_stale = pl.any_horizontal(flags) if flags else pl.lit(False)
    state = (pl.when(is_new).then(pl.lit("new"))
             .when(is_orphan).then(pl.lit("orphaned"))
             .when(any_stale).then(pl.lit("stale"))
             .otherwise(pl.lit(None, pl.Utf8)).alias(STATUS))
    out: list[pl.Expr] = [pl.coalesce([pl.col(k), pl.col(_CURRENT_KEY + k)]).alias(k)
                          for k in keys]
    out.append(state)
    out += [pl.col(n) for n in e_schema.names() if n not in plan.key_columns]
    out += flags
    if not plan.expansion:
        out += [pl.col(STORED + n) for n in c_names if n not in plan.key_columns]
    return joined.select(out)


def increment_frame(plan: ResolvePlan, ctx: FrameContext, target: pl.LazyFrame,
                    staged: pl.DataFrame | None = None, where: Any = None,
                    status: str | None = None, stale_if: Any = None) -> pl.LazyFrame:
    """Every new, stale and orphaned sample (optionally one status): the raw increment rows."""
    raw = classified(plan, ctx, target, staged, where, stale_if)
    if status is None:
        return raw.filter(pl.col(STATUS).is_not_null())
    return raw.filter(pl.col(STATUS) == status)


def status_frame(plan: ResolvePlan, ctx: FrameContext, target: pl.LazyFrame,
                 staged: pl.DataFrame | None = None, where: Any = None,
                 stale_if: Any = None) -> pl.LazyFrame:
    """One row of counts: new, stale, orphaned, up to date."""
    raw = classified(plan, ctx, target, staged, where, stale_if)
    s = pl.col(STATUS)
    return raw.select(
        (s == "new").sum().cast(pl.Int64).alias("new"),
        (s == "stale").sum().cast(pl.Int64).alias("stale"),
        (s == "orphaned").sum().cast(pl.Int64).alias("orphaned"),
        s.is_null().sum().cast(pl.Int64).alias("up_to_date"),
    )
