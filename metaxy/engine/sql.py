"""Compile a :class:`~metaxy.engine.plan.ResolvePlan` into SQLAlchemy Core statements.

One statement computes the whole increment inside the database: the latest row per upstream
sample (window function), the joins, the per-field hashes, the N:1 aggregation, and a full outer
join with the target's latest rows that classifies every sample as new, stale or orphaned. Only
rows of the increment are returned. A second statement of the same shape returns the counts only
(``status``).

Dialect differences are confined to two constructs compiled per dialect: :class:`SampleHash`
(the hash function) and :class:`OrderedConcat` (string aggregation in id order); backends without
an ordered aggregate (SQLite < 3.44) use a window-function form instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.functions import FunctionElement

from metaxy import columns as C
from metaxy.engine import filters as F
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
from metaxy.hashing import FULL_LENGTH, MISSING, HashSettings


class SampleHash(FunctionElement[str]):
    """``H(x)``: the store's hash of a string as lowercase hex, truncated.

    A backend whose dialect names the hash functions differently compiles it for its dialect
    (``@compiles(SampleHash, "<dialect>")``), computing ``algorithm`` of the UTF-8 bytes as
    lowercase hex and keeping the first ``length`` characters when :attr:`truncated`.

    Attributes:
        algorithm: ``"md5"`` or ``"sha256"``.
        length: hex characters kept.
        truncated: whether ``length`` is below the algorithm's full length
            (:data:`metaxy.hashing.FULL_LENGTH`), i.e. whether the hex digest must be cut.
    """

    type = sa.String()
    inherit_cache = True

    def __init__(self, expr: ColumnElement[Any], algorithm: str, length: int) -> None:
        self.algorithm = algorithm
        self.length = length
        self.truncated = length < FULL_LENGTH[algorithm]
        super().__init__(expr)


@compiles(SampleHash)
def _hash_default(element: SampleHash, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    fn = {"md5": sa.func.md5, "sha256": sa.func.sha256}[element.algorithm]
    expr: ColumnElement[Any] = fn(arg)
    if element.truncated:
        expr = sa.func.substr(expr, 1, element.length)
    return str(compiler.process(expr, **kw))


class OrderedConcat(FunctionElement[str]):
    """Aggregate: the concatenation of a string column over a group, in the given order."""

    type = sa.String()
    inherit_cache = True

    def __init__(self, expr: ColumnElement[Any], *order_by: ColumnElement[Any]) -> None:
        self.order_by = order_by
        super().__init__(expr)


@compiles(OrderedConcat)
def _concat_default(element: OrderedConcat, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    order = ", ".join(compiler.process(o, **kw) for o in element.order_by)
    return f"string_agg({compiler.process(arg, **kw)}, '' ORDER BY {order})"


@dataclass(frozen=True)
class SqlContext:
    """What the compiler needs to know about the target database."""

    settings: HashSettings
    tables: dict[str, sa.Table]  # feature key string -> physical table
    ordered_aggregate: bool = True
    byte_order: Any = None  # callable(column) -> column ordered in byte order (e.g. COLLATE "C")
    latest_method: str = "window"  # how latest() picks the latest row: "window" / "distinct_on"
    full_outer_join: bool = True  # False: LEFT JOIN + anti-joined orphans instead
    #: feature key string -> its latest-state table (metaxy.store.latest_state), when ready
    states: dict[str, sa.Table] = dataclasses.field(default_factory=dict)

    def h(self, expr: ColumnElement[Any]) -> ColumnElement[str]:
        return SampleHash(expr, self.settings.algorithm, self.settings.length)

    def ordered(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        t = column.type
        # SQLModel's AutoString is a TypeDecorator over String, not a String subclass.
        if isinstance(t, sa.TypeDecorator):
            t = t.impl_instance
        if self.byte_order is not None and isinstance(t, sa.String):
            return self.byte_order(column)  # type: ignore[no-any-return]
        return column


def enc(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """``<chars>:<value>`` (``value`` must not be NULL)."""
    return sa.cast(sa.func.length(expr), sa.String) + sa.literal(":") + expr


def enc_or_missing(expr: ColumnElement[Any]) -> ColumnElement[str]:
    return sa.case((expr.is_(None), sa.literal(MISSING)), else_=enc(expr))


def concat(parts: list[ColumnElement[Any]]) -> ColumnElement[str]:
    result = parts[0]
    for part in parts[1:]:
        result = result + part
    return result


def latest(table: FromClause, ids: tuple[str, ...], *,
           include_deleted: bool = False, name: str = "latest",
           method: str = "window", columns: tuple[str, ...] | None = None,
           state: FromClause | None = None) -> sa.Subquery:
    """The latest row per sample (by updated_at, then row id), hiding soft-deleted samples.

    ``state``: the table's latest state (:mod:`metaxy.store.latest_state`), one row per sample
    naming its latest row: the history is joined with it on the row id instead of windowed.

    ``method`` is the store's choice (measured: docs/performance.md): ``window`` is
    ``row_number() OVER (PARTITION BY ids ORDER BY ...) = 1``; ``distinct_on`` is
    ``DISTINCT ON (ids) ... ORDER BY ids, updated_at DESC, row_id DESC``, which PostgreSQL
    estimates well (it misestimates ``rn = 1`` and then picks nested loops).

    ``columns``: only these columns are needed (besides ids and the ordering/deletion columns).
    PostgreSQL cannot prune columns below ``DISTINCT ON``: it sorts whole rows unless the
    relation is narrowed first (docs/performance.md). When the ``state`` holds all of them
    (ids, system columns, per-field data versions and provenances), only the state is read.
    """
    order = [table.c[C.UPDATED_AT].desc(), table.c[C.ROW_ID].desc()]
    names = None if columns is None else list(
        dict.fromkeys([*ids, *columns, C.UPDATED_AT, C.ROW_ID, C.DELETED_AT]))
    if state is not None and names is not None and set(names) <= set(state.c.keys()):
        # every column needed is in the state: the history is not read at all
        only = sa.select(*[state.c[n] for n in names])
        if not include_deleted:
            only = only.where(state.c[C.DELETED_AT].is_(None))
        return only.subquery(name)
    keep = [c for c in table.c] if names is None else [table.c[n] for n in names]
    if state is not None:
        picked = sa.select(state.c[C.ROW_ID])
        if not include_deleted:
            picked = picked.where(state.c[C.DELETED_AT].is_(None))
        chosen = picked.subquery(f"{name}_state")
        return (sa.select(*keep).select_from(
            table.join(chosen, chosen.c[C.ROW_ID] == table.c[C.ROW_ID])).subquery(name))
    if method == "distinct_on":
        from sqlalchemy.dialects.postgresql import distinct_on

        id_cols = [table.c[i] for i in ids]
        ranked = (sa.select(*keep).ext(distinct_on(*id_cols)).order_by(*id_cols, *order)
                  .subquery(f"{name}_ranked"))
        stmt = sa.select(*[ranked.c[c.name] for c in keep])
    else:
        rn = sa.func.row_number().over(partition_by=[table.c[i] for i in ids],
                                       order_by=order).label("__rn")
        ranked = sa.select(*keep, rn).subquery(f"{name}_ranked")
        stmt = sa.select(*[ranked.c[c.name] for c in keep]).where(ranked.c["__rn"] == 1)
    if not include_deleted:
        stmt = stmt.where(ranked.c[C.DELETED_AT].is_(None))
    return stmt.subquery(name)


def _dep_relation(ctx: SqlContext, dep: DepPlan) -> sa.Subquery:
    table = ctx.tables[str(dep.feature.spec().key)]
    where = F.combine(dep.dep.filters)
    needed = None  # a dependency filter may name any column: keep them all then
    if where is None:
        needed = (*dep.upstream_ids, *(up for up, _ in dep.carried),
                  *(C.dv_column(f) for f in dep.fields))
        if dep.kind == "aggregation":
            needed += tuple(dep.upstream_name(k) for k in dep.join_keys)
    rel = latest(table, dep.upstream_ids, name=f"u{dep.index}_latest",
                 method=ctx.latest_method, columns=needed,
                 state=ctx.states.get(str(dep.feature.spec().key)))
    conds = [F.retarget(where, rel.c, what=f"upstream '{dep.feature.spec().key}'")] \
        if where is not None else []
    if dep.kind != "aggregation":
        cols = [rel.c[u].label(dep.renamed(u)) for u in dep.upstream_ids]
        cols += [rel.c[up].label(down) for up, down in dep.carried]
        cols += [rel.c[C.dv_column(f)].label(dep.dv_alias(f)) for f in dep.fields]
        return sa.select(*cols).where(*conds).subquery(f"u{dep.index}")
    group = [rel.c[dep.upstream_name(k)] for k in dep.join_keys]
    order = [ctx.ordered(rel.c[u]) for u in dep.upstream_ids]
    if ctx.ordered_aggregate:
        cols = [g.label(k) for g, k in zip(group, dep.join_keys, strict=True)]
        cols += [ctx.h(OrderedConcat(enc(rel.c[C.dv_column(f)]), *order)).label(dep.dv_alias(f))
                 for f in dep.fields]
        return sa.select(*cols).where(*conds).group_by(*group).subquery(f"u{dep.index}")
    # Window form (no ordered aggregate): concatenate over the whole ordered partition.
    cols = [g.label(k) for g, k in zip(group, dep.join_keys, strict=True)]
    cols += [sa.func.group_concat(enc(rel.c[C.dv_column(f)]), sa.literal(""))
             .over(partition_by=group, order_by=order, rows=(None, None))
             .label(dep.dv_alias(f)) for f in dep.fields]
    cols.append(sa.func.row_number().over(partition_by=group, order_by=order).label("__rn"))
    windowed = sa.select(*cols).where(*conds).subquery(f"u{dep.index}_w")
    out = [windowed.c[k] for k in dep.join_keys]
    out += [ctx.h(windowed.c[dep.dv_alias(f)]).label(dep.dv_alias(f)) for f in dep.fields]
    return sa.select(*out).where(windowed.c["__rn"] == 1).subquery(f"u{dep.index}")


def _field_hash(ctx: SqlContext, field: FieldPlan,
                source: dict[str, ColumnElement[Any]]) -> ColumnElement[str]:
    parts: list[ColumnElement[Any]] = [sa.literal(field.prefix)]
    if field.input_alias is not None:
        parts.append(enc_or_missing(source[field.input_alias]))
    for parent in field.parents:
        parts += [sa.literal(parent.encoded_name), enc_or_missing(source[parent.alias])]
    return ctx.h(concat(parts))


def expected(plan: ResolvePlan, ctx: SqlContext, staged: FromClause | None,
             where: Any = None, hashed: bool = True) -> sa.Subquery:
    """The expected samples: key columns, carried columns, per-field and overall provenance
    (not ``hashed``: the upstream data versions instead, by their aliases, for
    :mod:`metaxy.engine.compare`, which hashes only the rows it returns)."""
    source: dict[str, ColumnElement[Any]] = {}
    if plan.is_root:
        if staged is None:
            raise InvalidFrameError(
                "a root feature has no upstream: pass samples= (a frame with the id columns and "
                f"a '{C.INPUT_BY_FIELD}' struct)", feature_key=str(plan.key),
                column=C.INPUT_BY_FIELD)
        from_: FromClause = staged
        source.update({c.name: c for c in staged.c})
        carried: list[Any] = [
            c for c in staged.c
            if c.name not in plan.key_columns and not c.name.startswith(INPUT_PREFIX)
        ]
    else:
        ordered = sorted(plan.deps, key=lambda d: d.optional)
        rels = {d.index: _dep_relation(ctx, d) for d in ordered}
        first = ordered[0]
        from_ = rels[first.index]
        source.update({c.name: c for c in from_.c})
        for dep in ordered[1:]:
            rel = rels[dep.index]
            on = [source[k] == rel.c[k] for k in dep.join_keys if k in source]
            if not on:
                raise definition_error(plan.feature, f"dependency on '{dep.feature.spec().key}' "
                                                     "shares no column with the ones before it")
            from_ = from_.join(rel, sa.and_(*on), isouter=dep.optional)
            for c in rel.c:
                source.setdefault(c.name, c)
        carried = [source[c] for c in plan.carried]
    cols: list[ColumnElement[Any]] = [source[k].label(k) for k in plan.key_columns]
    cols += [c.label(c.name) for c in carried if c.name not in plan.key_columns]
    if hashed:
        cols += [_field_hash(ctx, f, source).label(f.pv_column) for f in plan.fields]
    else:
        cols += [source[a].label(a) for a in
                 dict.fromkeys(p.alias for f in plan.fields for p in f.parents)]
    inner = sa.select(*cols).select_from(from_)
    if where is not None:
        allowed = {*plan.key_columns, *plan.id_columns, *(c.name for c in carried)}
        names = _NameMap({k: v for k, v in source.items() if k in allowed})
        inner = inner.where(F.retarget(where, names, what="the expected samples"))
    sub = inner.subquery("e_fields")
    if not hashed:
        return sub
    total = concat([sa.literal(f.encoded_key) + enc(sub.c[f.pv_column]) for f in
                    sorted(plan.fields, key=lambda f: f.field.to_string())])
    return sa.select(*sub.c, ctx.h(total).label(C.PROVENANCE)).subquery("expected")


class _NameMap:
    """Column lookup for filters on the expected relation: key and carried columns by name."""

    def __init__(self, cols: dict[str, ColumnElement[Any]]) -> None:
        self._cols = cols

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def __getitem__(self, name: str) -> ColumnElement[Any]:
        return self._cols[name]

    def keys(self) -> list[str]:
        return list(self._cols)


def current(plan: ResolvePlan, table: FromClause, where: Any = None,
            method: str = "window", scope: Any = None,
            state: FromClause | None = None, rule: Any = None,
            columns: tuple[str, ...] | None = None) -> sa.Subquery:
    """The target's latest rows; for an expansion, reduced to one row per parent.

    ``scope`` (expansions only): the non-key part of a ``where=`` filter; the parent row gets
    ``__scope = 1`` when any of its stored child rows matches it (a column the target lacks is
    NULL there), which is what selects an orphaned parent (:class:`~metaxy.engine.plan.WherePlan`).
    ``rule`` (expansions only): a ``stale_if=`` rule; ``__stale_if = 1`` when any stored child
    row of the parent matches it.
    ``columns``: only these are needed (the state's: then the history is not read).
    """
    rel = latest(table, plan.id_columns, name="t_latest", method=method, state=state,
                 columns=columns)
    conds = [F.retarget(where, rel.c, what=f"feature '{plan.key}'")] if where is not None else []
    if not plan.expansion:
        return sa.select(rel).where(*conds).subquery("current")
    cols: list[ColumnElement[Any]] = [rel.c[k] for k in plan.key_columns]
    for f in plan.fields:
        cols.append(sa.func.min(rel.c[f.pv_column]).label(f.pv_column))
        cols.append(sa.func.max(rel.c[f.pv_column]).label("__max_" + f.pv_column))
    if scope is not None:
        names = _NameMap({n: rel.c[n] if n in rel.c else sa.null() for n in F.check(scope)})
        matches = F.retarget(scope, names, what=f"feature '{plan.key}'")
        cols.append(sa.func.max(sa.case((matches, 1), else_=0)).label(SCOPE))
    if rule is not None:
        matched = F.retarget(rule, rel.c, what=f"feature '{plan.key}' (stale_if)")
        cols.append(sa.func.max(sa.case((matched, 1), else_=0)).label(STALE_RULE))
    group = [rel.c[k] for k in plan.key_columns]
    return sa.select(*cols).where(*conds).group_by(*group).subquery("current")


def _stale_flag(plan: ResolvePlan, e: Any, c: Any,
                field: FieldPlan) -> ColumnElement[bool]:
    col = field.pv_column
    flag: ColumnElement[bool] = c.c[col].is_distinct_from(e.c[col])
    if plan.expansion:
        flag = sa.or_(flag, c.c["__max_" + col].is_distinct_from(e.c[col]))
    return flag


class _Cols:
    """``.c[name]`` over the expected or current half of a joined relation."""

    def __init__(self, cols: dict[str, ColumnElement[Any]]) -> None:
        self.c = cols


def _joined(plan: ResolvePlan, ctx: SqlContext, e: sa.Subquery,
            c: sa.Subquery) -> tuple[Any, Any, FromClause]:
    """``expected FULL OUTER JOIN current`` on the key columns, in the dialect's fast form."""
    on = sa.and_(*[e.c[k] == c.c[k] for k in plan.key_columns])
    if ctx.full_outer_join:
        return e, c, e.join(c, on, full=True)
    ec, cc = e.element.cte("expected_rows"), c.element.cte("current_rows")
    on = sa.and_(*[ec.c[k] == cc.c[k] for k in plan.key_columns])
    e_names, c_names = list(e.c.keys()), list(c.c.keys())
    both = sa.select(*[ec.c[n].label("e_" + n) for n in e_names],
                     *[cc.c[n].label("c_" + n) for n in c_names]).select_from(
        ec.outerjoin(cc, on))
    orphans = sa.select(*[sa.cast(sa.null(), ec.c[n].type).label("e_" + n) for n in e_names],
                        *[cc.c[n].label("c_" + n) for n in c_names]).select_from(
        cc.outerjoin(ec, on)).where(ec.c[plan.key_columns[0]].is_(None))
    j = sa.union_all(both, orphans).subquery("classified")
    return (_Cols({n: j.c["e_" + n] for n in e_names}),
            _Cols({n: j.c["c_" + n] for n in c_names}), j)


class _Classified(NamedTuple):
    e: Any  # the expected half (``.c``)
    c: Any  # the current half (``.c``)
    flags: list[ColumnElement[Any]]  # per field: its provenance changed
    joined: FromClause
    scope: ColumnElement[bool] | None  # the ``where=`` non-key terms
    rule: ColumnElement[bool] | None  # the ``stale_if=`` flag
    #: the history, when the current half was read from the latest state alone: it holds the
    #: ids, system columns and per-field columns only, and an orphan's stored row is joined
    #: from the history by its row id (None: the current half has every column)
    history: FromClause | None
    #: the flags compare stored inputs (metaxy.engine.compare): the expected half has the
    #: field provenances but not the overall one, added by compare.with_total
    by_inputs: bool = False


def _lean_columns(plan: ResolvePlan, state: FromClause | None,
                  terms: list[Any]) -> tuple[str, ...] | None:
    """The state's columns when the target's side of the increment can read the state alone
    (the filter and rule terms name only columns it holds), else None."""
    if state is None:
        return None
    held = tuple(state.c.keys())
    if any(not set(F.check(t)) <= set(held) for t in terms if t is not None):
        return None
    return held


def _classified(plan: ResolvePlan, ctx: SqlContext, table: FromClause, staged: FromClause | None,
                where: Any, stale_if: Any = None) -> _Classified:
    """Expected FULL OUTER JOIN current, the per-field stale flags, the ``where=`` scope and
    the ``stale_if=`` flag (true, never NULL, for a sample on both sides whose stored row
    matches the rule; None without a rule)."""
    names = expected_names(plan, staged.c.keys() if staged is not None else None)
    wp = where_plan(plan, where, names, table.c.keys())
    key_terms = wp.keys if wp is not None else None
    rest = wp.rest if wp is not None else None
    rule = F.combine(stale_if)
    state = ctx.states.get(str(plan.key))
    lean = _lean_columns(plan, state, [rest, rule])
    from metaxy.engine import compare  # it builds on this module's expressions

    by_inputs = lean is not None and compare.usable(plan, state)
    e, c, joined = _joined(plan, ctx, expected(plan, ctx, staged, key_terms, not by_inputs),
                           current(plan, table, key_terms, ctx.latest_method,
                                   rest if plan.expansion else None, state,
                                   rule if plan.expansion else None, lean))
    flags = compare.stale_flags(plan, ctx, e, c) if by_inputs \
        else [_stale_flag(plan, e, c, f) for f in plan.fields]
    if by_inputs:
        e = compare.hashed_half(plan, ctx, e)
    scope = _scope(plan, wp, e, c) if wp is not None and rest is not None else None
    flag = None
    if rule is not None:
        k0 = plan.key_columns[0]
        matched = c.c[STALE_RULE] == 1 if plan.expansion else F.retarget(
            rule, _NameMap(dict(c.c.items())), what=f"feature '{plan.key}' (stale_if)")
        both = sa.and_(e.c[k0].is_not(None), c.c[k0].is_not(None), matched)
        flag = sa.case((both, sa.true()), else_=sa.false())
    return _Classified(e, c, flags, joined, scope, flag, table if lean is not None else None,
                       by_inputs)


def _scope(plan: ResolvePlan, wp: WherePlan, e: Any, c: Any) -> ColumnElement[bool]:
    """Whether a joined sample is selected by the filter's non-key terms (WherePlan's rule)."""
    present = e.c[plan.key_columns[0]].is_not(None)
    what = f"feature '{plan.key}'"
    if plan.expansion:
        on_expected = F.retarget(wp.rest, _NameMap({n: e.c[n] for n in wp.expected}), what=what)
        return sa.or_(sa.and_(present, on_expected),
                      sa.and_(sa.not_(present), c.c[SCOPE] == 1))
    values: dict[str, ColumnElement[Any]] = {}
    for name in F.check(wp.rest):
        source = wp.value_source(name)
        values[name] = (sa.case((present, e.c[name]), else_=c.c[name]) if source == "both"
                        else e.c[name] if source == "expected" else c.c[name])
    return F.retarget(wp.rest, _NameMap(values), what=what)


def increment_statement(plan: ResolvePlan, ctx: SqlContext, table: FromClause,
                        staged: FromClause | None = None, where: Any = None,
                        status: str | None = None, stale_if: Any = None) -> sa.Select[Any]:
    """One statement returning every new, stale and orphaned sample (optionally one status);
    a sample whose stored row matches ``stale_if`` is stale (raw column ``__stale_if``)."""
    e, c, flags, joined, scope, rule, history, by_inputs = _classified(
        plan, ctx, table, staged, where, stale_if)
    k0 = plan.key_columns[0]
    state = sa.case((c.c[k0].is_(None), sa.literal("new")),
                    (e.c[k0].is_(None), sa.literal("orphaned")),
                    else_=sa.literal("stale")).label(STATUS)
    cols: list[ColumnElement[Any]] = [sa.func.coalesce(e.c[k], c.c[k]).label(k)
                                      for k in plan.key_columns]
    cols.append(state)
    cols += [e.c[name].label(name) for name in e.c.keys() if name not in plan.key_columns]
    cols += [flag.label(STALE_FLAG + f.field.column("")) for flag, f in
             zip(flags, plan.fields, strict=True)]
    if rule is not None:
        cols.append(rule.label(STALE_RULE))
        flags = [*flags, rule]
    if not plan.expansion and history is None:
        cols += [c.c[name].label(STORED + name) for name in c.c.keys()
                 if name not in plan.key_columns]
    elif not plan.expansion:  # the stored row of an orphan is joined below, by its row id
        cols.append(c.c[C.CREATED_AT].label(STORED + C.CREATED_AT))
        cols.append(sa.case((e.c[k0].is_(None), c.c[C.ROW_ID])).label(_ORPHAN_ROW))
        cols.append(sa.case((e.c[k0].is_(None), c.c[C.UPDATED_AT])).label(_ORPHAN_AT))
    stmt = sa.select(*cols).select_from(joined)
    if scope is not None:
        stmt = stmt.where(scope)
    if status == "new":
        stmt = stmt.where(c.c[k0].is_(None))
    elif status == "orphaned":
        stmt = stmt.where(e.c[k0].is_(None))
    elif status == "stale":
        stmt = stmt.where(c.c[k0].is_not(None), e.c[k0].is_not(None), sa.or_(*flags))
    else:
        stmt = stmt.where(sa.or_(c.c[k0].is_(None), e.c[k0].is_(None), *flags))
    if by_inputs:
        from metaxy.engine import compare

        stmt = compare.with_total(plan, ctx, stmt)
    if plan.expansion or history is None:
        return stmt
    return _with_stored_rows(plan, stmt.cte("increment"), history)


_ORPHAN_ROW = "__orphan_row"  # raw column: an orphan's stored row id (NULL for the others)
_ORPHAN_AT = "__orphan_at"  # raw column: an orphan's stored updated_at (NULL for the others)


def _with_stored_rows(plan: ResolvePlan, inc: sa.CTE, history: FromClause) -> sa.Select[Any]:
    """The increment rows with the stored row's columns (``__c__*``, in the table's order):
    of each orphan, joined from the history by row id and ``updated_at`` (DuckDB skips the
    row groups outside the orphans' times; no orphan, no scan: an inner join with an empty
    side; PostgreSQL, without an index, scans the history once when there are orphans), for
    the other rows NULL but ``metaxy_created_at``, which the state holds (a stale
    sample needs only it). The classification above read the latest state alone."""
    h = history.alias("stored")
    own = [inc.c[n] for n in inc.c.keys()
           if not n.startswith(STORED) and n not in (_ORPHAN_ROW, _ORPHAN_AT)]
    stored = [col for col in h.c if col.name not in plan.key_columns]
    rest = sa.select(*own, *[
        inc.c[STORED + C.CREATED_AT] if col.name == C.CREATED_AT
        else sa.cast(sa.null(), col.type).label(STORED + col.name) for col in stored
    ]).where(inc.c[_ORPHAN_ROW].is_(None))
    orphans = sa.select(*own, *[col.label(STORED + col.name) for col in stored]).select_from(
        inc.join(h, sa.and_(h.c[C.ROW_ID] == inc.c[_ORPHAN_ROW],
                            h.c[C.UPDATED_AT] == inc.c[_ORPHAN_AT]))
    ).where(inc.c[_ORPHAN_ROW].is_not(None))  # PostgreSQL then hashes the orphans, not the history
    both = sa.union_all(rest, orphans).subquery("with_stored")
    return sa.select(*both.c)


def status_statement(plan: ResolvePlan, ctx: SqlContext, table: FromClause,
                     staged: FromClause | None = None, where: Any = None,
                     stale_if: Any = None) -> sa.Select[Any]:
    """One statement returning the counts: new, stale, orphaned, up to date."""
    e, c, flags, joined, scope, rule, _, _ = _classified(plan, ctx, table, staged, where,
                                                         stale_if)
    k0 = plan.key_columns[0]
    both = sa.and_(e.c[k0].is_not(None), c.c[k0].is_not(None))
    any_stale = sa.or_(*flags, *([rule] if rule is not None else []))

    def count(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    stmt: sa.Select[Any] = sa.select(  # type: ignore[assignment]
        count(c.c[k0].is_(None)).label("new"),
        count(sa.and_(both, any_stale)).label("stale"),
        count(e.c[k0].is_(None)).label("orphaned"),
        count(sa.and_(both, sa.not_(any_stale))).label("up_to_date"),
    ).select_from(joined)
    return stmt if scope is None else stmt.where(scope)
