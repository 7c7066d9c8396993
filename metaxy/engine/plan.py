"""The backend-independent plan of ``resolve_update`` for one feature.

The plan says *what* to join and hash; :mod:`metaxy.engine.sql` compiles it to one SQLAlchemy
Core statement and :mod:`metaxy.engine.frames` to Polars. Keeping both compilers fed by the same
plan (and the static encoded prefixes computed here once) is what makes their hashes identical.

Vocabulary:

* ``key_columns`` (K): what identifies an *expected* sample in the increment. The downstream id
  columns, except for an expansion (1:N), where it is the parent id columns (``on``);
* one :class:`DepPlan` per upstream dependency: its latest rows, filtered, renamed, reduced to K
  (aggregated for N:1) with one data-version column per upstream field the feature needs;
* one :class:`FieldPlan` per field: the encoded static prefix and the ordered parent columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList

from metaxy import columns as C
from metaxy.engine import filters as F
from metaxy.errors import FeatureDefinitionError, FilterError
from metaxy.graph import FeatureGraph, class_path
from metaxy.hashing import enc, fq_field
from metaxy.keys import FeatureKey, FieldKey
from metaxy.packages import package_of
from metaxy.spec import FeatureDep

if TYPE_CHECKING:
    from metaxy.feature import Feature

INPUT_PREFIX = "__in__"


@dataclass(frozen=True)
class DepPlan:
    """How one upstream feature enters the expected samples."""

    index: int
    feature: type[Feature]
    dep: FeatureDep
    upstream_ids: tuple[str, ...]  # upstream id columns, upstream names
    join_keys: tuple[str, ...]  # downstream names of the columns this relation is keyed by
    carried: tuple[tuple[str, str], ...]  # (upstream column, downstream name) user columns
    fields: tuple[FieldKey, ...]  # upstream fields whose data version is needed

    @property
    def kind(self) -> Literal["identity", "aggregation", "expansion"]:
        return self.dep.lineage.kind

    @property
    def optional(self) -> bool:
        return self.dep.optional

    def renamed(self, upstream_column: str) -> str:
        return self.dep.rename_map.get(upstream_column, upstream_column)

    def upstream_name(self, downstream_column: str) -> str:
        for up, down in self.dep.rename_map.items():
            if down == downstream_column:
                return up
        return downstream_column

    def dv_alias(self, field: FieldKey) -> str:
        return f"__u{self.index}_{field.column('')}"


@dataclass(frozen=True)
class ParentRef:
    dep_index: int
    field: FieldKey
    encoded_name: str  # enc(fully-qualified parent field key)
    alias: str  # column holding the parent's data version in the expected relation


@dataclass(frozen=True)
class FieldPlan:
    field: FieldKey
    prefix: str  # enc(fq field key) + enc(code_version)
    parents: tuple[ParentRef, ...]  # sorted by fully-qualified key; empty for roots
    input_alias: str | None  # root features: the staged input column

    @property
    def pv_column(self) -> str:
        return C.pv_column(self.field)

    @property
    def encoded_key(self) -> str:
        return enc(self.field.to_string())


@dataclass(frozen=True)
class ResolvePlan:
    feature: type[Feature]
    key_columns: tuple[str, ...]
    id_columns: tuple[str, ...]
    deps: tuple[DepPlan, ...]
    fields: tuple[FieldPlan, ...]
    carried: tuple[str, ...]  # downstream names of carried user columns, in order
    expansion: bool

    @property
    def is_root(self) -> bool:
        return not self.deps

    @property
    def key(self) -> FeatureKey:
        return self.feature.spec().key


def user_columns(feature: type[Feature]) -> list[str]:
    """The model's own (non-system) columns, in declaration order."""
    table = feature.__table__  # type: ignore[attr-defined]
    return [c.name for c in table.columns if not C.is_reserved(c.name)]


def _error(feature: type[Feature], message: str) -> FeatureDefinitionError:
    """A :class:`FeatureDefinitionError` naming the feature's key, class and package."""
    return FeatureDefinitionError(
        message, feature_key=str(feature.spec().key), class_path=class_path(feature),
        package=package_of(feature.__module__),
    )


definition_error = _error  # for the compilers


def _key_columns(feature: type[Feature]) -> tuple[tuple[str, ...], bool]:
    spec = feature.spec()
    expansions = [d for d in spec.deps if d.lineage.kind == "expansion"]
    if len(expansions) > 1:
        raise _error(feature, "at most one dependency can use expansion lineage")
    if expansions:
        return expansions[0].lineage.on, True
    return spec.id_columns, False


def _dep_plan(feature: type[Feature], graph: FeatureGraph, index: int, dep: FeatureDep,
              key_columns: tuple[str, ...],
              needed: set[tuple[FeatureKey, FieldKey]]) -> DepPlan:
    upstream = graph.get(dep.feature)
    uspec = upstream.spec()
    rename = dep.rename_map
    if dep.lineage.kind == "aggregation":
        join_keys = tuple(dep.lineage.on)
        for col in join_keys:
            up = next((u for u, d in rename.items() if d == col), col)
            if up not in user_columns(upstream):
                raise _error(feature, f"aggregation on '{col}': '{up}' is not a column of "
                                      f"upstream '{uspec.key}'")
    else:
        join_keys = tuple(rename.get(c, c) for c in uspec.id_columns)
        if dep.lineage.kind == "expansion" and set(join_keys) != set(dep.lineage.on):
            raise _error(feature, f"expansion from '{uspec.key}' on {list(dep.lineage.on)}: the "
                                  f"upstream ids are {list(join_keys)} (after rename)")
    missing = [k for k in join_keys if k not in key_columns]
    if missing:
        raise _error(feature, f"cannot join upstream '{uspec.key}': its key column(s) {missing} "
                              f"are not id columns {list(key_columns)} of this feature "
                              "(rename them, or use aggregation lineage)")
    carried: list[tuple[str, str]] = []
    if dep.lineage.kind != "aggregation":
        ucols = [c for c in user_columns(upstream) if c not in uspec.id_columns]
        chosen = ucols if dep.columns is None else list(dep.columns)
        for col in chosen:
            if col not in ucols:
                raise _error(feature, f"dependency on '{uspec.key}' selects column '{col}', which "
                                      f"is not a user column of it (columns: {ucols})")
            carried.append((col, rename.get(col, col)))
    fields = tuple(sorted({fld for (key, fld) in needed if key == uspec.key}))
    return DepPlan(index, upstream, dep, uspec.id_columns, join_keys, tuple(carried), fields)


def _check_joins(feature: type[Feature], deps: tuple[DepPlan, ...]) -> None:
    """Each dependency (non-optional ones first, as the compilers join them) must share a column
    with the ones before it: key columns or carried columns (no cross joins)."""
    present: set[str] = set()
    for i, dep in enumerate(sorted(deps, key=lambda d: d.optional)):
        if i and not set(dep.join_keys) & present:
            raise _error(
                feature, f"dependency on '{dep.feature.spec().key}' shares no column with the "
                         f"dependencies before it: its key columns {list(dep.join_keys)}, theirs "
                         f"{sorted(present)} (rename a column so that they meet)")
        present |= {*dep.join_keys, *(down for _, down in dep.carried)}


def build_plan(feature: type[Feature], graph: FeatureGraph) -> ResolvePlan:
    """Build (and validate) the resolve plan of ``feature`` within ``graph``."""
    graph.validate()
    spec = feature.spec()
    key_columns, expansion = _key_columns(feature)
    if spec.deps and all(d.optional for d in spec.deps):
        raise _error(feature, "at least one dependency must be non-optional")
    parents = {f.key: graph.field_parents(spec.key, f.key) for f in spec.fields}
    needed = {p for ps in parents.values() for p in ps}
    deps = tuple(_dep_plan(feature, graph, i, d, key_columns, needed)
                 for i, d in enumerate(spec.deps))
    _check_joins(feature, deps)
    covered = {k for d in deps if not d.optional for k in d.join_keys}
    if deps and set(key_columns) - covered:
        raise _error(feature, f"id column(s) {sorted(set(key_columns) - covered)} are not "
                              "provided by any non-optional dependency")
    index_of = {d.feature.spec().key: d for d in deps}
    fields = []
    for f in spec.fields:
        refs = tuple(
            ParentRef(index_of[fk].index, fld, enc(fq_field(str(fk), str(fld))),
                      index_of[fk].dv_alias(fld))
            for fk, fld in parents[f.key]
        )
        prefix = enc(fq_field(str(spec.key), str(f.key))) + enc(f.code_version)
        input_alias = None if deps else INPUT_PREFIX + f.key.column("")
        fields.append(FieldPlan(f.key, prefix, refs, input_alias))
    carried: list[str] = []
    for d in deps:
        for _, name in d.carried:
            if name in carried or name in key_columns:
                continue
            carried.append(name)
    return ResolvePlan(feature, key_columns, spec.id_columns, deps, tuple(fields),
                       tuple(carried), expansion)


SCOPE = "__scope"  # an expansion's current side: 1 when a stored child row matches the filter


@dataclass(frozen=True)
class WherePlan:
    """A ``where=`` filter of ``resolve_update`` / ``status``, prepared for the compilers.

    A filter selects *samples*, the same way on the expected and the stored side (otherwise a
    sample whose value crossed the filter's boundary would be reported new on one side and
    orphaned on the other). Each column the filter names takes, per sample, the value the
    expected relation has when the sample is expected (key columns and columns carried from
    upstream, or the ``samples=`` frame of a root), else the stored value; a column only the
    downstream stores always takes the stored value (NULL for a new sample). For a 1:N feature
    the samples are the parents: the filter may name only the parent-level (expected) columns,
    and an orphaned parent is selected when any of its stored child rows matches.

    * ``keys``: the top-level AND terms naming only key columns. A key has one value on both
      sides, so they are applied to both sides before the join (cheap, and pushed down before
      hashing: how ``explain`` resolves one sample);
    * ``rest``: the other terms, evaluated per sample after the join;
    * ``expected`` / ``stored``: which columns of ``rest`` the expected / stored side has.
    """

    keys: Any
    rest: Any
    expected: frozenset[str]
    stored: frozenset[str]

    def value_source(self, name: str) -> Literal["both", "expected", "stored"]:
        """Where a column of ``rest`` takes its value from (see the class docstring)."""
        if name in self.expected:
            return "both" if name in self.stored else "expected"
        return "stored"


def expected_names(plan: ResolvePlan, staged_columns: Iterable[str] | None) -> tuple[str, ...]:
    """The columns of the expected relation a filter may name: keys and carried columns."""
    if plan.is_root:
        extra = [n for n in staged_columns or () if n not in plan.key_columns
                 and not n.startswith(INPUT_PREFIX)]
    else:
        extra = list(plan.carried)
    return (*plan.key_columns, *extra)


def where_plan(plan: ResolvePlan, where: Any, expected: Iterable[str],
               stored: Iterable[str]) -> WherePlan | None:
    """Validate ``where`` against both sides and split it (None: no filter)."""
    clause = F.combine(where)
    if clause is None:
        return None
    terms = list(clause.clauses) if isinstance(clause, BooleanClauseList) \
        and clause.operator is operators.and_ else [clause]
    keys, rest, names = [], [], []
    for term in terms:
        used = F.check(term)
        if set(used) <= set(plan.key_columns):
            keys.append(term)
        else:
            rest.append(term)
            names += used
    e_names, s_names = frozenset(expected), frozenset(stored)
    for name in dict.fromkeys(names):
        _check_name(plan, name, e_names, s_names)
    return WherePlan(F.combine(keys), F.combine(rest), e_names & set(names),
                     s_names & set(names))


def _check_name(plan: ResolvePlan, name: str, expected: frozenset[str],
                stored: frozenset[str]) -> None:
    if plan.expansion and name not in expected:
        raise FilterError(
            f"filter column '{name}' has no value per sample of feature '{plan.key}': its "
            f"lineage is 1:N, so its increment lists parent samples {list(plan.key_columns)}; "
            f"filter on the parent's columns ({', '.join(sorted(expected))})")
    if name not in expected and name not in stored:
        known = sorted(n for n in expected | stored if not n.startswith("__"))
        raise FilterError(
            f"filter column '{name}' is neither a column of feature '{plan.key}' nor carried "
            f"into it from upstream (columns: {', '.join(known)})")
