"""The Python API behind the CLI: each function takes a project (and a store) and returns data.

The CLI only parses arguments and renders what these functions return, so everything here is
usable (and tested) from Python. The dataclasses are plain data: ``dataclasses.asdict`` gives the
``--format json`` output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.config import MetaxyConfig, load_config
from metaxy.discovery import load_features
from metaxy.errors import MetaxyError
from metaxy.graph import FeatureGraph
from metaxy.keys import FeatureKey
from metaxy.store.base import Increment
from metaxy.versions import column_schema, versions_of

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore


class ApiError(MetaxyError):
    """A CLI/API request that cannot be served (bad output path, malformed sample id...)."""


# ====================================================================== project
@dataclass(frozen=True)
class Project:
    """A loaded project: its configuration and its feature graph."""

    config: MetaxyConfig
    graph: FeatureGraph

    @property
    def version(self) -> str:
        return versions_of(self.graph).project_version(self.config.project)


def load_project(config: MetaxyConfig | None = None, *, strict: bool = True) -> Project:
    """Read the configuration and discover every installed team package's features."""
    config = config if config is not None else load_config()
    packages = list(config.packages) if config.packages is not None else None
    graph = load_features(strict=strict, packages=packages)
    return Project(config, graph)


def get_store(project: Project, store: str | None = None) -> MetadataStore:
    """The project's store by name or URL (default: the configured default store)."""
    from metaxy.store.registry import get_store as _get_store

    return _get_store(store, config=project.config, graph=project.graph)


def with_code_versions(graph: FeatureGraph,
                       overrides: dict[str, dict[str, str]]) -> FeatureGraph:
    """A copy of ``graph`` whose fields carry other code versions.

    ``overrides`` maps feature key -> {field key -> code_version}. Every feature class is
    re-created in a fresh graph (same columns, same spec except the overridden code versions), so
    the copy can be handed to a store (``get_store(url, graph=copy)``) without touching the
    process's own classes. This is how the demo shows a ``code_version`` bump without editing a
    team package on disk, and how a test can ask "what would this bump make stale?".
    """
    from metaxy.feature import Feature, FeatureMeta

    for name, fields in overrides.items():
        known = {str(f) for f in graph.spec(name).field_keys}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ApiError(f"feature '{name}' has no field(s) {unknown} (fields: {sorted(known)})")
    copy = FeatureGraph()
    with copy.use():
        for key in graph.topological_order():
            cls = graph.get(key)
            spec = cls.spec()
            bumped = overrides.get(str(key), {})
            if bumped:
                spec = spec.model_copy(update={"fields": tuple(
                    f.model_copy(update={"code_version": bumped[str(f.key)]})
                    if str(f.key) in bumped else f for f in spec.fields)})
            annotations: dict[str, Any] = {}
            ns: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            for name, info in cls.model_fields.items():
                if name in Feature.model_fields or C.is_reserved(name):
                    continue
                annotations[name] = info.annotation
                if not info.is_required():
                    ns[name] = info.default
            ns["__annotations__"] = annotations
            FeatureMeta(cls.__name__, (Feature,), ns, table=True, spec=spec)
    copy.validate()
    return copy


# ====================================================================== definitions
@dataclass(frozen=True)
class FeatureRow:
    key: str
    feature_version: str
    definition_version: str
    upstream: list[str]
    fields: dict[str, str]
    package: str | None


def list_features(project: Project) -> list[FeatureRow]:
    """Every feature in topological order with its static versions."""
    from metaxy.packages import package_of

    versions = versions_of(project.graph)
    rows = []
    for key in project.graph.topological_order():
        cls = project.graph.get(key)
        rows.append(FeatureRow(
            key=str(key),
            feature_version=versions.feature_version(key),
            definition_version=versions.definition_version(key),
            upstream=[str(k) for k in project.graph.upstream(key)],
            fields=versions.field_versions(key),
            package=package_of(cls.__module__),
        ))
    return rows


@dataclass(frozen=True)
class FieldInfo:
    key: str
    code_version: str
    version: str
    parents: list[str]  # "feature/key:field" of the upstream fields it depends on


@dataclass(frozen=True)
class DepInfo:
    feature: str
    lineage: str
    on: list[str]
    columns: list[str] | None
    optional: bool


@dataclass(frozen=True)
class FeatureDescription:
    key: str
    class_path: str
    package: str | None
    description: str | None
    table: str
    id_columns: list[str]
    columns: list[dict[str, Any]]
    fields: list[FieldInfo]
    deps: list[DepInfo]
    downstream: list[str]
    feature_version: str
    definition_version: str


def describe(project: Project, key: str) -> FeatureDescription:
    """Everything about one feature: columns, fields with versions and parents, lineage."""
    from metaxy.graph import class_path
    from metaxy.packages import package_of

    graph = project.graph
    cls = graph.get(key)
    spec = cls.spec()
    versions = versions_of(graph)
    fields = [
        FieldInfo(str(f.key), f.code_version, versions.field_version(cls, f.key),
                  [f"{fk}:{pk}" for fk, pk in graph.field_parents(cls, f.key)])
        for f in spec.fields
    ]
    deps = [DepInfo(str(d.feature), d.lineage.kind, list(d.lineage.on),
                    None if d.columns is None else list(d.columns), d.optional)
            for d in spec.deps]
    return FeatureDescription(
        key=str(spec.key), class_path=class_path(cls), package=package_of(cls.__module__),
        description=spec.description, table=spec.key.table_name,
        id_columns=list(spec.id_columns),
        columns=[c for c in column_schema(cls) if not C.is_reserved(c["name"])],
        fields=fields, deps=deps,
        downstream=[str(k) for k in graph.downstream(cls)],
        feature_version=versions.feature_version(cls),
        definition_version=versions.definition_version(cls),
    )


def config_show(config: MetaxyConfig) -> dict[str, Any]:
    """The resolved configuration with every password redacted."""
    from metaxy.config import redact_url

    data = config.redacted()
    data["default_store_url"] = redact_url(config.store_config(None).url)
    return data


# ====================================================================== status and plan
@dataclass(frozen=True)
class StatusRow:
    """Counts of one feature's samples. Root features without samples only have ``stored``."""

    feature: str
    root: bool
    new: int | None
    stale: int | None
    orphaned: int | None
    up_to_date: int | None
    stored: int | None = None

    @property
    def needs_work(self) -> bool:
        return bool(self.new or self.stale or self.orphaned)


def _resolve_keys(project: Project, keys: list[str] | None) -> list[FeatureKey]:
    order = project.graph.topological_order()
    if not keys:
        return order
    wanted = {project.graph.get(k).spec().key for k in keys}  # raises on unknown keys
    return [k for k in order if k in wanted]


def _stored_count(store: MetadataStore, cls: type[Feature]) -> int:
    if not store.has_feature(cls):
        return 0
    return store.read(cls).height


def status(project: Project, store: MetadataStore, keys: list[str] | None = None,
           samples: dict[str, pl.DataFrame] | None = None) -> list[StatusRow]:
    """Per feature (topological order): new / stale / orphaned / up-to-date counts.

    The counts of non-root features are computed in the store (only numbers travel). A root
    feature's expected samples come from the caller (``samples[key]``); without them only the
    number of stored samples is reported.
    """
    samples = samples or {}
    rows = []
    with store.open("r") if store.mode is None else contextlib.nullcontext():
        for key in _resolve_keys(project, keys):
            cls = project.graph.get(key)
            root = not cls.spec().deps
            if root and str(key) not in samples:
                rows.append(StatusRow(str(key), True, None, None, None, None,
                                      _stored_count(store, cls)))
                continue
            s = store.status(cls, samples=samples.get(str(key)))
            rows.append(StatusRow(str(key), root, s.new, s.stale, s.orphaned, s.up_to_date))
    return rows


@dataclass(frozen=True)
class PlanRow:
    """What one feature would recompute.

    ``stale_fields``: field -> number of samples stale in that field now. ``cascade``: field ->
    upstream fields with pending work; those samples become stale once the upstream is recomputed
    (staleness travels through data, so the store cannot count them yet).
    """

    feature: str
    status: StatusRow
    stale_fields: dict[str, int]
    cascade: dict[str, list[str]] = dc_field(default_factory=dict)

    @property
    def needs_work(self) -> bool:
        return self.status.needs_work or bool(self.cascade)


def plan(project: Project, store: MetadataStore,
         samples: dict[str, pl.DataFrame] | None = None) -> list[PlanRow]:
    """The whole graph in topological order: counts per feature and per stale field, plus the
    cascade a pending upstream change will cause (from the static field dependencies)."""
    samples = samples or {}
    graph = project.graph
    rows: list[PlanRow] = []
    pending: set[tuple[str, str]] = set()  # (feature, field) with work, now or by cascade
    with store.open("r") if store.mode is None else contextlib.nullcontext():
        for st in status(project, store, None, samples):
            cls = graph.get(st.feature)
            stale_fields: dict[str, int] = {}
            if st.stale:
                inc = store.resolve_update(cls, samples=samples.get(st.feature))
                for fields in inc.stale.get_column(C.STALE_FIELDS).to_list():  # type: ignore[union-attr]
                    for f in fields:
                        stale_fields[f] = stale_fields.get(f, 0) + 1
            cascade: dict[str, list[str]] = {}
            for fspec in cls.spec().fields:
                parents = [f"{fk}:{pk}" for fk, pk in graph.field_parents(cls, fspec.key)
                           if (str(fk), str(pk)) in pending]
                if parents:
                    cascade[str(fspec.key)] = parents
            for fkey in cls.spec().field_keys:
                name = str(fkey)
                if st.new or st.orphaned or name in stale_fields or name in cascade:
                    pending.add((st.feature, name))
            rows.append(PlanRow(st.feature, st, dict(sorted(stale_fields.items())), cascade))
    return rows


# ====================================================================== ids and filters
def parse_ids(cls: type[Feature], ids: list[str]) -> list[dict[str, Any]]:
    """Sample ids from the command line: a value per id column, comma separated, in the order of
    the feature's id columns (``v001`` or ``v001,3``), or ``col=value,...``."""
    from metaxy.filter_syntax import coerce_value

    id_cols = list(cls.spec().id_columns)
    result = []
    for text in ids:
        parts = [p.strip() for p in text.split(",")]
        if all("=" in p for p in parts):
            pairs = dict(p.split("=", 1) for p in parts)
        elif len(parts) == len(id_cols):
            pairs = dict(zip(id_cols, parts, strict=True))
        else:
            raise ApiError(f"sample id {text!r} of feature '{cls.spec().key}' needs one value per "
                           f"id column ({', '.join(id_cols)}), comma separated")
        if set(pairs) != set(id_cols):
            raise ApiError(f"sample id {text!r} of feature '{cls.spec().key}' must name exactly "
                           f"the id columns {id_cols}")
        row: dict[str, Any] = {}
        for col in id_cols:
            try:
                row[col] = coerce_value(cls, col, pairs[col])
            except MetaxyError as e:
                raise ApiError(f"sample id {text!r} of feature '{cls.spec().key}': {e}") from None
        result.append(row)
    return result


def _id_filter(cls: type[Feature], values: dict[str, Any]) -> Any:
    import sqlalchemy as sa

    return sa.and_(*[getattr(cls, c) == v for c, v in values.items()])


# ====================================================================== explain
@dataclass
class Cause:
    """One reason a sample (or one of its fields) is not up to date.

    ``kind``: ``new`` (no stored row), ``orphaned`` (its upstream sample is gone),
    ``code_version`` (the field's own code version / definition changed),
    ``upstream_changed`` (a parent field's data version changed), ``upstream_deleted``,
    ``upstream_added`` (a new member, e.g. of an aggregation), ``input_changed`` (a root sample was
    re-ingested with another input). ``causes`` follows the chain upstream.
    """

    kind: str
    feature: str
    field: str | None
    message: str
    sample: dict[str, Any] = dc_field(default_factory=dict)
    causes: list[Cause] = dc_field(default_factory=list)


@dataclass
class Explanation:
    feature: str
    sample: dict[str, Any]
    state: str  # up_to_date | new | stale | orphaned | unknown
    stale_fields: list[str]
    causes: list[Cause]


def explain(project: Project, store: MetadataStore, key: str,
            ids: list[str]) -> list[Explanation]:
    """Why each sample is stale (or new / orphaned), following the chain upstream.

    For each stale field F of the sample, the stored row of F was computed from the upstream rows
    that were current when it was written (``metaxy_updated_at``); the upstream history (metadata
    is append-only) gives those rows back. A parent field whose data version differs now is an
    upstream change (explained recursively: why did *that* row change?); a vanished upstream
    sample is a deletion. If no parent changed, the provenance can only differ because F's own
    ``code_version`` (its definition) changed.
    """
    cls = project.graph.get(key)
    out = []
    with store.open("r") if store.mode is None else contextlib.nullcontext():
        for values in parse_ids(cls, ids):
            out.append(_Explainer(project.graph, store).sample(cls, values))
    return out


class _Explainer:
    max_depth = 8

    def __init__(self, graph: FeatureGraph, store: MetadataStore) -> None:
        self.graph, self.store = graph, store

    def sample(self, cls: type[Feature], values: dict[str, Any]) -> Explanation:
        from metaxy.engine.plan import build_plan

        key = str(cls.spec().key)
        exists = self.store.has_feature(cls)
        current = self.store.read(cls, where=_id_filter(cls, values)) if exists else None
        if not cls.spec().deps:
            return self._root(cls, values, current)
        plan = build_plan(cls, self.graph)
        kvalues = {c: values[c] for c in plan.key_columns}
        inc = self.store.resolve_update(cls, where=_id_filter(cls, kvalues))
        assert isinstance(inc, Increment)
        if _contains(inc.new, kvalues):
            first = Cause("new", key, None, "no stored row yet: the upstream sample exists, "
                          "this feature has not been computed for it", values)
            return Explanation(key, values, "new", [], [first, *self._deleted_before(cls, values)])
        if _contains(inc.orphaned, kvalues):
            return Explanation(key, values, "orphaned", [],
                               self._orphan_causes(cls, kvalues))
        stale = inc.stale.filter(_match(kvalues))
        if stale.height == 0:
            state = "up_to_date" if current is not None and current.height else "unknown"
            return Explanation(key, values, state, [], [])
        fields = sorted(stale.get_column(C.STALE_FIELDS)[0])
        assert current is not None
        row = current.sort(list(cls.spec().id_columns)).row(0, named=True)
        causes = [self._field(cls, f, row, None, 0) for f in fields]
        return Explanation(key, values, "stale", fields, causes)

    # ------------------------------------------------------------------ roots
    def _root(self, cls: type[Feature], values: dict[str, Any],
              current: pl.DataFrame | None) -> Explanation:
        key = str(cls.spec().key)
        if current is None or current.height == 0:
            first = Cause("new", key, None, "root feature: no stored row (ingest it with samples=)",
                          values)
            return Explanation(key, values, "unknown", [],
                               [first, *self._deleted_before(cls, values)])
        history = self._history(cls, _id_filter(cls, values))
        causes = []
        if history.height >= 2:
            old, new = history.row(-2, named=True), history.row(-1, named=True)
            for f in cls.spec().field_keys:
                c = self._root_change(cls, str(f), old, new)
                if c is not None:
                    causes.append(c)
        return Explanation(key, values, "root", [], causes)

    def _root_change(self, cls: type[Feature], fld: str, old: dict[str, Any],
                     new: dict[str, Any]) -> Cause | None:
        key = str(cls.spec().key)
        o, n = _field_value(old, C.PROVENANCE_BY_FIELD, fld), _field_value(
            new, C.PROVENANCE_BY_FIELD, fld)
        if o == n:
            return None
        ids = _ids(cls, new)
        if old.get(C.FEATURE_VERSION) != new.get(C.FEATURE_VERSION):
            return Cause("code_version", key, fld,
                         f"root field '{fld}' rewritten at {new[C.UPDATED_AT]} after a definition "
                         f"change (feature version {old[C.FEATURE_VERSION]} -> "
                         f"{new[C.FEATURE_VERSION]})", ids)
        return Cause("input_changed", key, fld,
                     f"root sample re-ingested at {new[C.UPDATED_AT]} with a new input for field "
                     f"'{fld}'", ids)

    # ------------------------------------------------------------------ stale fields
    def _field(self, cls: type[Feature], fld: str, row: dict[str, Any],
               then_row: dict[str, Any] | None, depth: int) -> Cause:
        """Why field ``fld`` of ``cls`` changed between ``then_row`` (None: now) and ``row``.

        With ``then_row=None``: compare the upstream as it was when ``row`` was written against
        the upstream now. Otherwise compare the upstream at the two rows' write times.
        """
        key = str(cls.spec().key)
        ids = _ids(cls, row)
        at_old = row[C.UPDATED_AT] if then_row is None else then_row[C.UPDATED_AT]
        at_new = None if then_row is None else row[C.UPDATED_AT]
        children: list[Cause] = []
        for up_key, up_field in self.graph.field_parents(cls, fld):
            children += self._parent(cls, row, str(up_key), str(up_field), at_old, at_new, depth)
        if children:
            what = "is stale" if then_row is None else "changed"
            return Cause("upstream_changed", key, fld,
                         f"field '{fld}' {what} because upstream changed", ids, children)
        versions = versions_of(self.graph)
        code = self.graph.spec(cls).field(fld).code_version
        stored_fv = (then_row or row).get(C.FEATURE_VERSION)
        return Cause("code_version", key, fld,
                     f"code_version of '{key}:{fld}' changed: now '{code}' (field version "
                     f"{versions.field_version(cls, fld)}); the stored row was written under "
                     f"feature version {stored_fv}, current is {versions.feature_version(cls)}",
                     ids)

    def _parent(self, cls: type[Feature], row: dict[str, Any], up_key: str, up_field: str,
                at_old: Any, at_new: Any, depth: int) -> list[Cause]:
        from metaxy.engine.plan import build_plan

        up_cls = self.graph.get(up_key)
        dep_plan = next(d for d in build_plan(cls, self.graph).deps
                        if str(d.feature.spec().key) == up_key)
        where = _id_filter(up_cls, {dep_plan.upstream_name(c): row[c]
                                    for c in dep_plan.join_keys})
        history = self._history(up_cls, where)
        old = _as_of(up_cls, history, at_old)
        new = _as_of(up_cls, history, at_new)
        causes: list[Cause] = []
        ids_cols = list(up_cls.spec().id_columns)
        old_by = {tuple(r[c] for c in ids_cols): r for r in old}
        new_by = {tuple(r[c] for c in ids_cols): r for r in new}
        for sid in sorted(set(old_by) | set(new_by), key=repr):
            sample = dict(zip(ids_cols, sid, strict=True))
            o, n = old_by.get(sid), new_by.get(sid)
            if n is None:
                assert o is not None
                when = _deleted_at(up_cls, history, sid)
                causes.append(Cause("upstream_deleted", up_key, up_field,
                                    f"upstream sample {_fmt(sample)} of '{up_key}' was deleted"
                                    + (f" at {when}" if when else ""), sample))
            elif o is None:
                causes.append(Cause("upstream_added", up_key, up_field,
                                    f"upstream sample {_fmt(sample)} of '{up_key}' was added at "
                                    f"{n[C.UPDATED_AT]}", sample))
            else:
                odv = _field_value(o, C.DATA_VERSION_BY_FIELD, up_field)
                ndv = _field_value(n, C.DATA_VERSION_BY_FIELD, up_field)
                if odv == ndv:
                    continue
                msg = (f"'{up_key}:{up_field}' of {_fmt(sample)} has a new data version "
                       f"({_short(odv)} -> {_short(ndv)}, written at {n[C.UPDATED_AT]})")
                inner: list[Cause] = []
                if depth < self.max_depth:
                    if up_cls.spec().deps:
                        inner = [self._field(up_cls, up_field, n, o, depth + 1)]
                    else:
                        rc = self._root_change(up_cls, up_field, o, n)
                        inner = [rc] if rc is not None else []
                causes.append(Cause("upstream_changed", up_key, up_field, msg, sample, inner))
        return _collapse(causes, up_key)

    def _orphan_causes(self, cls: type[Feature], kvalues: dict[str, Any]) -> list[Cause]:
        from metaxy.engine.plan import build_plan

        key = str(cls.spec().key)
        causes = []
        for dep in build_plan(cls, self.graph).deps:
            up_cls = dep.feature
            where = _id_filter(up_cls, {dep.upstream_name(c): kvalues[c]
                                        for c in dep.join_keys if c in kvalues})
            if self.store.has_feature(up_cls) and self.store.read(up_cls, where=where).height:
                continue
            up_key = str(up_cls.spec().key)
            history = self._history(up_cls, where) if self.store.has_feature(up_cls) else None
            when = _deleted_at(up_cls, history, None) if history is not None else None
            msg = (f"upstream sample {_fmt(kvalues)} of '{up_key}' was deleted at {when}" if when
                   else f"upstream '{up_key}' has no sample {_fmt(kvalues)}")
            causes.append(Cause("upstream_deleted", up_key, None, msg, dict(kvalues)))
        if not causes:
            causes.append(Cause("orphaned", key, None, "the upstream no longer yields this "
                                "sample (filtered out)", kvalues))
        return causes

    def _deleted_before(self, cls: type[Feature], values: dict[str, Any]) -> list[Cause]:
        if not self.store.has_feature(cls):
            return []
        history = self._history(cls, _id_filter(cls, values))
        when = _deleted_at(cls, history, None)
        if when is None:
            return []
        return [Cause("deleted", str(cls.spec().key), None,
                      f"the sample was deleted at {when}", values)]

    def _history(self, cls: type[Feature], where: Any) -> pl.DataFrame:
        if not self.store.has_feature(cls):
            return pl.DataFrame()
        df = self.store.read(cls, where=where, with_history=True, include_deleted=True)
        return df.sort(C.UPDATED_AT, C.ROW_ID) if df.height else df


def _collapse(causes: list[Cause], up_key: str, keep: int = 2) -> list[Cause]:
    """Many upstream samples (an aggregation's members) changed the same way: show ``keep``."""
    changed = [c for c in causes if c.kind == "upstream_changed"]
    if len(changed) <= keep + 1:
        return causes
    rest = changed[keep:]
    others = [c for c in causes if c.kind != "upstream_changed"]
    more = Cause("upstream_changed", up_key, rest[0].field,
                 f"... and {len(rest)} more samples of '{up_key}' "
                 f"({', '.join(_fmt(c.sample) for c in rest[:3])}"
                 f"{', ...' if len(rest) > 3 else ''}) changed too", {})
    return [*changed[:keep], more, *others]


def _contains(df: pl.DataFrame, values: dict[str, Any]) -> bool:
    return df.height > 0 and df.filter(_match(values)).height > 0


def _match(values: dict[str, Any]) -> pl.Expr:
    expr = pl.lit(True)
    for c, v in values.items():
        expr = expr & (pl.col(c) == v)
    return expr


def _ids(cls: type[Feature], row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in cls.spec().id_columns}


def _fmt(sample: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sample.items())


def _short(value: str | None) -> str:
    return "missing" if value is None else value[:10]


def _field_value(row: dict[str, Any], struct: str, fld: str) -> str | None:
    data = row.get(struct) or {}
    value = data.get(fld)
    return None if value is None else str(value)


def _as_of(cls: type[Feature], history: pl.DataFrame, at: Any) -> list[dict[str, Any]]:
    """The live rows per sample at time ``at`` (``None``: now), tombstones removed."""
    if history.height == 0:
        return []
    df = history if at is None else history.filter(pl.col(C.UPDATED_AT) <= at)
    if df.height == 0:
        return []
    latest = df.group_by(list(cls.spec().id_columns), maintain_order=True).last()
    latest = latest.filter(pl.col(C.DELETED_AT).is_null())
    return latest.to_dicts()


def _deleted_at(cls: type[Feature], history: pl.DataFrame | None,
                sid: tuple[Any, ...] | None) -> Any:
    if history is None or history.height == 0:
        return None
    df = history
    if sid is not None:
        df = df.filter(_match(dict(zip(cls.spec().id_columns, sid, strict=True))))
    tomb = df.filter(pl.col(C.DELETED_AT).is_not_null())
    return tomb.get_column(C.DELETED_AT).max() if tomb.height else None


# ====================================================================== resolve and delete
@dataclass(frozen=True)
class ResolveResult:
    feature: str
    counts: dict[str, int]
    output: str | None
    increment: Increment


def resolve(project: Project, store: MetadataStore, key: str,
            output: str | Path | None = None) -> ResolveResult:
    """The increment of a (non-root) feature; written to ``output`` (.parquet / .csv) if given.

    The file holds the ``new`` and ``stale`` rows (with a ``metaxy_status`` column) and the
    ``orphaned`` ones, structs flattened to JSON strings for CSV.
    """
    cls = project.graph.get(key)
    if output is not None and Path(output).suffix.lower() not in (".parquet", ".csv"):
        raise ApiError(f"output file {output}: use a .parquet or .csv extension")
    with store.open("r") if store.mode is None else contextlib.nullcontext():
        inc = store.resolve_update(cls)
    assert isinstance(inc, Increment)
    if output is not None:
        frame = increment_frame(inc)
        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".parquet":
                frame.write_parquet(path)
            else:
                flat = frame.with_columns([
                    pl.col(n).struct.json_encode() for n, t in frame.schema.items()
                    if isinstance(t, pl.Struct)] + [
                    pl.col(n).cast(pl.List(pl.String)).list.join(",")
                    for n, t in frame.schema.items() if isinstance(t, pl.List)])
                flat.write_csv(path)
        except OSError as e:
            raise ApiError(f"cannot write {path}: {e}") from e
    return ResolveResult(str(cls.spec().key), inc.counts, None if output is None else str(output),
                         inc)


def increment_frame(inc: Increment) -> pl.DataFrame:
    """The three parts of an increment in one frame with a ``metaxy_status`` column."""
    parts = [df.with_columns(pl.lit(name).alias("metaxy_status"))
             for name, df in (("new", inc.new), ("stale", inc.stale), ("orphaned", inc.orphaned))]
    return pl.concat(parts, how="diagonal_relaxed")


def delete(project: Project, store: MetadataStore, key: str, where: str, *,
           hard: bool = False) -> int:
    """Delete the samples matching a CLI filter string (tombstones, or physically)."""
    from metaxy.filter_syntax import parse_filter

    cls = project.graph.get(key)
    expr = parse_filter(where, cls)
    with store.open("w"):
        if not store.has_feature(cls):
            return 0
        return store.delete(cls, expr, soft=not hard)


@contextlib.contextmanager
def opened(store: MetadataStore, mode: str = "r") -> Iterator[MetadataStore]:
    """Open the store unless it already is."""
    if store.mode is not None:
        yield store
        return
    with store.open(mode):  # type: ignore[arg-type]
        yield store
