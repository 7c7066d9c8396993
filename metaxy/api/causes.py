"""Why a sample is stale (or new / orphaned): the chain of causes, followed upstream."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.api.project import Project, require_store_file
from metaxy.api.state import _id_filter, parse_ids, rule_for
from metaxy.errors import ApiError, SampleNotFoundError
from metaxy.graph import FeatureGraph
from metaxy.store.base import Increment
from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.migrations.snapshots import Snapshot
    from metaxy.store.base import MetadataStore


@dataclass
class Cause:
    """One reason a sample (or one of its fields) is not up to date.

    ``kind``: ``new`` (no stored row), ``orphaned`` (its upstream sample is gone),
    ``code_version`` (the field's own code version / definition changed),
    ``upstream_changed`` (a parent field's data version changed), ``upstream_deleted``,
    ``upstream_added`` (a new member, e.g. of an aggregation), ``input_changed`` (a root sample was
    re-ingested with another input), ``not_found`` (no such sample here nor upstream: a wrong id),
    ``code_accepted`` (a note, whatever the state: the field's code changed and the change was
    accepted as output-neutral with ``metaxy push --accept``), ``stale_if`` (the stored row
    matches the staleness rule given to ``explain``).
    ``causes`` follows the chain upstream.
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

    @property
    def found(self) -> bool:
        """False when the id names no sample at all (a ``not_found`` cause: a wrong id)."""
        return not any(c.kind == "not_found" for c in self.causes)


def raise_for_unknown(explanations: list[Explanation]) -> None:
    """Raise :class:`SampleNotFoundError` naming every id of ``explanations`` that names no sample.

    ``metaxy explain`` prints every explanation first, then calls this (a non-zero exit for a
    wrong id, so a script notices the typo).
    """
    missing = [ex for ex in explanations if not ex.found]
    if missing:
        ids = "; ".join(", ".join(f"{k}={v}" for k, v in ex.sample.items()) for ex in missing)
        raise SampleNotFoundError(
            f"feature '{missing[0].feature}' has no sample {ids} (not stored, and no upstream "
            "sample either): check the id")


def explain(project: Project, store: MetadataStore, key: str,
            ids: list[str] | None = None, *, strict: bool = False, where: str | None = None,
            limit: int = 20, stale_if: Any = None) -> list[Explanation]:
    """Why each sample is stale (or new / orphaned), following the chain upstream.

    For each stale field F of the sample, the stored row of F was computed from the upstream rows
    that were current when it was written (``metaxy_updated_at``); the upstream history (metadata
    is append-only) gives those rows back. A parent field whose data version differs now is an
    upstream change (explained recursively: why did *that* row change?); a vanished upstream
    sample is a deletion. If no parent changed, the provenance can only differ because F's own
    ``code_version`` (its definition) changed.

    An id that names no sample (not stored, nothing upstream) is explained with a ``not_found``
    cause; with ``strict`` it raises :class:`~metaxy.errors.SampleNotFoundError` instead.

    ``where`` (CLI filter syntax) adds the samples matching it that are not up to date (new,
    stale or orphaned; of a root feature: the stored ones), at most ``limit`` of them, in id
    order.

    ``stale_if``: a staleness rule (:func:`~metaxy.api.state.rule_for`); a sample it makes
    stale gets a ``stale_if`` cause naming the rule.
    """
    from metaxy.api.state import feature_filter

    cls = project.graph.get(key)
    expr = rule_for(project, str(cls.spec().key), stale_if)
    text = " or ".join(stale_if) if isinstance(stale_if, list) else str(stale_if)
    rule = None if expr is None else (expr, text)
    out = []
    wanted = parse_ids(cls, ids or [])
    expr = feature_filter(cls, where)
    if not wanted and expr is None:
        raise ApiError(f"explain '{cls.spec().key}': give sample ids or --where")
    require_store_file(store)
    with store.open("r"):
        if expr is not None:
            wanted += [v for v in _matching_ids(store, cls, expr, limit) if v not in wanted]
        for values in wanted:
            ex = _Explainer(project.graph, store, rule).sample(cls, values)
            ex.causes.extend(_accepted_code(store, project, str(cls.spec().key), values))
            out.append(ex)
    if strict:
        raise_for_unknown(out)
    return out


def _matching_ids(store: MetadataStore, cls: type[Feature], expr: Any,
                  limit: int) -> list[dict[str, Any]]:
    """The ids of the samples matching ``expr`` that are not up to date (a root feature's
    stored samples), sorted, at most ``limit``."""
    id_cols = list(cls.spec().id_columns)
    if not cls.spec().deps:
        frames = [store.read(cls, expr).select(id_cols)] if store.has_feature(cls) else []
    else:
        inc = store.resolve_update(cls, where=expr)
        assert isinstance(inc, Increment)
        frames = [df.select(id_cols) for df in (inc.new, inc.stale, inc.orphaned)]
    if not frames:
        return []
    ids = pl.concat(frames).unique().sort(id_cols).head(limit)
    return ids.to_dicts()


def _accepted_code(store: MetadataStore, project: Project, key: str,
                   values: dict[str, Any]) -> list[Cause]:
    """Notes on code changes of this feature accepted as output-neutral (``push --accept``):
    the stored values were computed by the code before the change."""
    from metaxy.codeguard.check import accepted_changes

    return [Cause("code_accepted", key, r.field,
                  f"the code of field '{r.field}' ({r.function}) changed without a code_version "
                  f"bump and was accepted as output-neutral (`metaxy push --accept {key}:"
                  f"{r.field}`, project version {r.project_version}); stored values were not "
                  "recomputed", values)
            for r in accepted_changes(store, project.config.project, key)]


class _Explainer:
    max_depth = 8

    def __init__(self, graph: FeatureGraph, store: MetadataStore,
                 rule: tuple[Any, str] | None = None) -> None:
        self.graph, self.store = graph, store
        self.rule = rule  # (stale_if expression, its text) for the explained feature
        self._snapshots: dict[Any, Snapshot | None] = {}

    def sample(self, cls: type[Feature], values: dict[str, Any]) -> Explanation:
        from metaxy.engine.plan import build_plan

        key = str(cls.spec().key)
        exists = self.store.has_feature(cls)
        current = self.store.read(cls, where=_id_filter(cls, values)) if exists else None
        if not cls.spec().deps:
            return self._root(cls, values, current)
        plan = build_plan(cls, self.graph)
        kvalues = {c: values[c] for c in plan.key_columns}
        by_id = _id_filter(cls, kvalues)
        inc = self.store.resolve_update(
            cls, where=by_id, stale_if=None if self.rule is None else self.rule[0])
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
            if current is not None and current.height:
                return Explanation(key, values, "up_to_date", [], [])
            deleted = self._deleted_before(cls, values)
            if deleted:
                return Explanation(key, values, "unknown", [], deleted)
            sample = ", ".join(f"{k}={v}" for k, v in values.items())
            upstream = ", ".join(str(k) for k in self.graph.upstream(cls))
            missing = Cause("not_found", key, None,
                            f"no stored row of '{key}' and no upstream sample for {sample} in "
                            f"{upstream}: check the id (`metaxy resolve {key}` lists the "
                            "samples to compute)", values)
            return Explanation(key, values, "unknown", [], [missing])
        fields = sorted(stale.get_column(C.STALE_FIELDS)[0])
        assert current is not None
        row = current.sort(list(cls.spec().id_columns)).row(0, named=True)
        changed, causes = fields, []
        if self.rule is not None and stale.get_column(C.STALE_REASON)[0] == "stale_if":
            causes.append(Cause("stale_if", key, None, "the stored row matches the staleness "
                                f"rule `{self.rule[1]}` (--stale-if): every field is stale",
                                values))
            plain = self.store.resolve_update(cls, where=by_id).stale.filter(_match(kvalues))
            changed = sorted(plain.get_column(C.STALE_FIELDS)[0]) if plain.height else []
        causes += [self._field(cls, f, row, None, 0) for f in changed]
        return Explanation(key, values, "stale", fields, causes)

    # ------------------------------------------------------------------ roots
    def _root(self, cls: type[Feature], values: dict[str, Any],
              current: pl.DataFrame | None) -> Explanation:
        key = str(cls.spec().key)
        if current is None or current.height == 0:
            deleted = self._deleted_before(cls, values)
            kind = "new" if deleted else "not_found"  # never stored at all: a wrong id
            first = Cause(kind, key, None, "root feature: no stored row (ingest it with samples=)",
                          values)
            return Explanation(key, values, "unknown", [], [first, *deleted])
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
        stored = then_row or row
        stored_fv = stored.get(C.FEATURE_VERSION)
        before = self._old_code_version(key, fld, stored.get(C.PROJECT_VERSION))
        change = f"'{before}' -> '{code}'" if before is not None and before != code \
            else f"now '{code}'"
        return Cause("code_version", key, fld,
                     f"code_version of '{key}:{fld}' changed: {change} (field version "
                     f"{versions.field_version(cls, fld)}); the stored row was written under "
                     f"feature version {stored_fv}, current is {versions.feature_version(cls)}",
                     ids)

    def _old_code_version(self, key: str, fld: str, project_version: Any) -> str | None:
        """The field's code_version when a row was written, from the graph snapshot pushed at
        that row's project version (None without one: snapshots are recorded by `metaxy push`
        and migrations)."""
        if project_version is None:
            return None
        if project_version not in self._snapshots:
            from metaxy.errors import MigrationError
            from metaxy.migrations.snapshots import load_snapshot

            try:
                self._snapshots[project_version] = load_snapshot(
                    self.store, self.store.project, str(project_version))
            except MigrationError:  # a store without snapshot support
                self._snapshots[project_version] = None
        snap = self._snapshots[project_version]
        feature = None if snap is None else snap.features.get(key)
        field = None if feature is None else feature.fields.get(fld)
        return None if field is None else field.get("code_version")

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
