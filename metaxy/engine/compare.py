"""Compare, don't re-hash (issue 14; docs/design-latest-state.md): stale flags from stored inputs.

A feature's stored field provenance is ``H(static part, parents' data versions)``. If the latest
state keeps, next to it, the parents' data versions the row was computed from (the *input*
columns ``metaxy_in__<dep>_<field>``) and a *signature* of the static part
(``metaxy_code__<field>``: field key, code version, parents' keys, which input column feeds
which parent, hash settings), then a field is stale exactly when the signature differs from the
plan's or an input differs from the upstream's data version now — no hash. The write verifies,
per row and field, that the stored provenance equals the hash of the static part and the
inputs, and stores the signature only then (NULL otherwise: a row written from an older
increment, or by hand). Resolve compares where the signature matches and hashes only the other
rows, and the hashes it returns (per field, overall) only for the rows it returns, with the
same expressions as :func:`metaxy.engine.sql.expected`: bit-identical.

Why this is exact: for a verified row, ``pv == H(s, in)``; the expected value is ``H(s, dv)``
(same ``s``, the signature pins it), so ``pv == expected`` iff ``in == dv`` (the encoding is
injective; a hash collision, which the hash compare would miss, is reported stale here).

Applies to plans whose dependencies are all identity (1:1) without filters; the others keep the
hash compare (:func:`applies`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause

from metaxy import columns as C
from metaxy.engine.plan import DepPlan, FieldPlan, ResolvePlan
from metaxy.engine.sql import SqlContext, _Cols, _field_hash, concat, enc
from metaxy.hashing import HashSettings
from metaxy.keys import FieldKey

IN_PREFIX = "metaxy_in__"
CODE_PREFIX = "metaxy_code__"


def in_column(dep_index: int, field: FieldKey) -> str:
    """The state column holding the data version of upstream ``field`` (of dependency number
    ``dep_index``) the row was computed from."""
    return field.column(f"{IN_PREFIX}{dep_index}_")


def code_column(field: FieldPlan) -> str:
    """The state column holding the field's verified signature (NULL: not verified)."""
    return field.field.column(CODE_PREFIX)


def applies(plan: ResolvePlan) -> bool:
    """Whether the plan's stale flags can come from stored inputs: a derived feature whose
    dependencies are all identity (1:1) and unfiltered."""
    return bool(plan.deps) and not plan.expansion and all(
        d.kind == "identity" and not d.dep.filters for d in plan.deps)


def inputs_of(plan: ResolvePlan) -> list[tuple[DepPlan, FieldKey]]:
    """Every upstream field the plan reads, by dependency (the input columns' order)."""
    return [(dep, f) for dep in plan.deps for f in dep.fields]


def state_columns(plan: ResolvePlan) -> tuple[str, ...]:
    """The state columns this adds for ``plan``: its input columns, then one signature column
    per field (none when the plan does not apply)."""
    if not applies(plan):
        return ()
    return (*(in_column(d.index, f) for d, f in inputs_of(plan)),
            *(code_column(f) for f in plan.fields))


def signature(plan: ResolvePlan, field: FieldPlan, settings: HashSettings) -> str:
    # 16 hex characters: a digest of code, not of data (no adversary), kept on every row
    """A digest of everything in the field's provenance but the parents' data versions."""
    parts = [settings.algorithm, settings.length, field.prefix, field.input_alias,
             [(p.encoded_name, in_column(p.dep_index, p.field)) for p in field.parents]]
    return hashlib.md5(json.dumps(parts).encode()).hexdigest()[:16]


def usable(plan: ResolvePlan, state: FromClause | None) -> bool:
    """Whether a target state holds this plan's input and signature columns."""
    names = state_columns(plan)
    return bool(names) and state is not None and set(names) <= set(state.c.keys())


def inputs_relation(plan: ResolvePlan, states: dict[str, FromClause]) -> sa.Subquery:
    """Per expected sample: its key columns and the upstream data versions (named by the
    plan's aliases), joined from the upstream states alone (tombstones hidden), the way
    :func:`metaxy.engine.sql.expected` joins the dependencies (optional ones outer)."""
    ordered = sorted(plan.deps, key=lambda d: d.optional)
    rels = {}
    for dep in ordered:
        st = states[str(dep.feature.spec().key)]
        cols = [st.c[u].label(dep.renamed(u)) for u in dep.upstream_ids]
        cols += [st.c[C.dv_column(f)].label(dep.dv_alias(f)) for f in dep.fields]
        rels[dep.index] = sa.select(*cols).where(st.c[C.DELETED_AT].is_(None)) \
            .subquery(f"i{dep.index}")
    first = rels[ordered[0].index]
    from_: FromClause = first
    source: dict[str, ColumnElement[Any]] = {c.name: c for c in first.c}
    for dep in ordered[1:]:
        rel = rels[dep.index]
        on = [source[k] == rel.c[k] for k in dep.join_keys if k in source]
        from_ = from_.join(rel, sa.and_(*on), isouter=dep.optional)
        for c in rel.c:
            source.setdefault(c.name, c)
    aliases = [dep.dv_alias(f) for dep, f in inputs_of(plan)]
    return sa.select(*[source[k].label(k) for k in plan.key_columns],
                     *[source[a].label(a) for a in aliases]).select_from(from_).subquery("inputs")


def verified_columns(plan: ResolvePlan, ctx: SqlContext, stored: Any,
                     inputs: Any) -> list[ColumnElement[Any]]:
    """The state's input and signature columns for stored rows (``stored.c``: the field
    provenances) next to their inputs (``inputs.c``: the aliases, NULL when the sample has no
    upstream row): the inputs as they are, each field's signature where its stored provenance
    equals the hash of the signature's static part and the inputs, else NULL."""
    source = {a: inputs.c[a] for a in (d.dv_alias(f) for d, f in inputs_of(plan))}
    cols: list[ColumnElement[Any]] = [
        inputs.c[dep.dv_alias(f)].label(in_column(dep.index, f)) for dep, f in inputs_of(plan)]
    for field in plan.fields:
        equal = stored.c[field.pv_column] == _field_hash(ctx, field, source)
        cols.append(sa.case((equal, sa.literal(signature(plan, field, ctx.settings))))
                    .label(code_column(field)))
    return cols


def stale_flags(plan: ResolvePlan, ctx: SqlContext, e: Any, c: Any) -> list[ColumnElement[bool]]:
    """Per field: stale. A new or orphaned sample: true (as the hash compare gives). A
    verified row: an input differs from the upstream's data version now. Otherwise (not
    verified, or another signature: code version bumped, parents changed): the hash compare,
    the hash computed for those rows only."""
    k0 = plan.key_columns[0]
    one_side = sa.or_(c.c[k0].is_(None), e.c[k0].is_(None))
    source = {a: e.c[a] for a in (d.dv_alias(f) for d, f in inputs_of(plan))}
    flags: list[ColumnElement[bool]] = []
    for field in plan.fields:
        changed = [e.c[p.alias].is_distinct_from(c.c[in_column(p.dep_index, p.field)])
                   for p in field.parents]
        verified = c.c[code_column(field)] == sa.literal(signature(plan, field, ctx.settings))
        rehashed = c.c[field.pv_column].is_distinct_from(_field_hash(ctx, field, source))
        flags.append(sa.case((one_side, sa.true()),
                             (verified, sa.or_(sa.false(), *changed)),
                             else_=rehashed))
    return flags


def hashed_half(plan: ResolvePlan, ctx: SqlContext, e: Any) -> _Cols:
    """The expected half with the field provenances the increment returns, computed from the
    inputs in the select that returns the rows (so only for them; NULL for an orphan, as the
    expected relation gives): keys and carried columns as they are, then per field its
    provenance. The overall provenance is added over the selected rows (:func:`with_total`)."""
    aliases = {dep.dv_alias(f) for dep, f in inputs_of(plan)}
    out = {n: col for n, col in e.c.items() if n not in aliases}
    present = e.c[plan.key_columns[0]].is_not(None)
    source = {a: e.c[a] for a in aliases}
    for f in plan.fields:
        out[f.pv_column] = sa.case((present, _field_hash(ctx, f, source)))
    return _Cols(out)


def with_total(plan: ResolvePlan, ctx: SqlContext, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """``stmt``'s rows with ``metaxy_provenance`` (the expected relation's expression over the
    field provenances) after the last field provenance column: hashed in an outer select, so
    the field provenances are not hashed twice."""
    sub = stmt.subquery("hashed")
    total = concat([sa.literal(f.encoded_key) + enc(sub.c[f.pv_column]) for f in
                    sorted(plan.fields, key=lambda f: f.field.to_string())])
    value = sa.case((sub.c[plan.fields[0].pv_column].is_not(None), ctx.h(total)))
    last = max(list(sub.c.keys()).index(f.pv_column) for f in plan.fields)
    cols: list[ColumnElement[Any]] = list(sub.c)
    cols.insert(last + 1, value.label(C.PROVENANCE))
    return sa.select(*cols)
