"""What the store holds against the code: status counts, the run plan (``metaxy plan``), resolve
and delete.

Also the parsing of sample ids given on the command line (shared with :mod:`metaxy.api.causes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.api import cascade as C_
from metaxy.api.project import Project, require_store_file
from metaxy.errors import ApiError, MetaxyError
from metaxy.keys import FeatureKey
from metaxy.store.base import Increment, Status

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore


def _resolve_keys(project: Project, keys: list[str] | None) -> list[FeatureKey]:
    order = project.graph.topological_order()
    if not keys:
        return order
    wanted = {project.graph.get(k).spec().key for k in keys}  # raises on unknown keys
    return [k for k in order if k in wanted]


def _stored_count(store: MetadataStore, cls: type[Feature], where: Any = None) -> int:
    if not store.has_feature(cls):
        return 0
    return store.read(cls, where).height


def feature_filter(cls: type[Feature], where: str | None) -> Any:
    """The CLI filter string ``where`` (``--where``) as an expression on ``cls``'s columns;
    ``None`` for no filter. The error of a filter naming a column the feature lacks names the
    feature, since one filter is applied to every selected feature.

    Raises:
        FilterError: the filter does not parse, or names a column ``cls`` does not have.
    """
    from metaxy.errors import FilterError
    from metaxy.filter_syntax import parse_filter

    if where is None:
        return None
    try:
        return parse_filter(where, cls)
    except FilterError as e:
        raise type(e)(f"--where on feature '{cls.spec().key}': {e} (use --select to choose "
                      "the features that have these columns)") from None


Progress = Callable[[str], None]
"""Called with a feature key each time a feature is done (the CLI drives a progress bar)."""


def status(project: Project, store: MetadataStore, keys: list[str] | None = None,
           samples: dict[str, pl.DataFrame] | None = None,
           progress: Progress | None = None, where: str | None = None,
           stale_if: dict[str, Any] | list[str] | None = None) -> list[Status]:
    """Per feature (topological order): new / stale / orphaned / up-to-date counts.

    The counts of non-root features are computed in the store (only numbers travel). A root
    feature's expected samples come from the caller (``samples[key]``); without them only the
    number of stored samples is reported. ``where`` (CLI filter syntax, see
    :func:`feature_filter`) restricts every count to the matching samples. ``stale_if``:
    feature key -> staleness rule, or ``--stale-if`` texts (:func:`stale_rules`; the feature
    prefix may be left out when ``keys`` names one feature).
    """
    samples = samples or {}
    rows = []
    resolved = _resolve_keys(project, keys)
    rules = stale_rules(project, stale_if, str(resolved[0]) if len(resolved) == 1 else None) \
        if isinstance(stale_if, list) else stale_if or {}
    filters = {key: feature_filter(project.graph.get(key), where) for key in resolved}
    require_store_file(store)
    with store.open("r"):
        for key in resolved:
            cls = project.graph.get(key)
            root = not cls.spec().deps
            if root and str(key) not in samples:
                rows.append(Status(str(key), True, None, None, None, None,
                                   _stored_count(store, cls, filters[key])))
            else:
                rows.append(store.status(cls, samples=samples.get(str(key)),
                                         where=filters[key], stale_if=rules.get(str(key))))
            if progress is not None:
                progress(str(key))
    return rows


@dataclass(frozen=True)
class RunPlanRow:
    """What one feature would recompute.

    ``stale_fields``: field -> number of samples stale in that field now. ``cascade``: field ->
    upstream fields with pending work; those samples become stale once the upstream is recomputed
    with a changed output (staleness travels through data). ``cascade_samples``: an **upper
    bound** of the stored samples (beyond the ones stale now) that the cascade may make stale,
    through lineage (:mod:`metaxy.api.cascade`); None without a cascade. ``note``: why a
    feature without any sample is not simply up to date (its upstream is empty).
    """

    feature: str
    status: Status
    stale_fields: dict[str, int]
    cascade: dict[str, list[str]] = dc_field(default_factory=dict)
    cascade_samples: int | None = None
    note: str | None = None

    @property
    def needs_work(self) -> bool:
        return self.status.needs_work or bool(self.cascade)


def needs_work(rows: Iterable[Status | RunPlanRow]) -> bool:
    """Whether any of ``rows`` (of :func:`status` or :func:`run_plan`) has new, stale or orphaned
    samples (or, in a run plan, a cascade from a pending upstream change).

    This is the CI gate of ``metaxy status --exit-code`` and ``metaxy plan --exit-code``. A root
    feature whose expected samples were not given has no counts and never needs work here.
    """
    return any(row.needs_work for row in rows)


def run_plan(project: Project, store: MetadataStore,
             samples: dict[str, pl.DataFrame] | None = None,
             progress: Progress | None = None,
             stale_if: dict[str, Any] | list[str] | None = None) -> list[RunPlanRow]:
    """The whole graph in topological order: counts per feature and per stale field, plus the
    cascade a pending upstream change will cause (from the static field dependencies).
    ``stale_if``: feature key -> staleness rule, or ``--stale-if`` texts (:func:`stale_rules`)."""
    samples = samples or {}
    rules = stale_rules(project, stale_if) if isinstance(stale_if, list) else stale_if or {}
    graph = project.graph
    rows: list[RunPlanRow] = []
    pending: set[tuple[str, str]] = set()  # (feature, field) with work, now or by cascade
    affected: dict[str, pl.DataFrame] = {}  # feature -> its rows with work, now or by cascade
    require_store_file(store)
    with store.open("r"):
        for key in graph.topological_order():
            (st,) = status(project, store, [str(key)], samples, stale_if=rules)
            cls = graph.get(st.feature)
            stale_fields: dict[str, int] = {}
            inc = None
            if st.stale or st.new:
                inc = store.resolve_update(cls, samples=samples.get(st.feature),
                                           stale_if=rules.get(st.feature))
                affected[st.feature] = inc.to_process()
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
            bound, note = None, None
            if cascade:
                ups = sorted({p.rsplit(":", 1)[0] for ps in cascade.values() for p in ps})
                found = C_.cascade(store, graph, cls, ups, affected,
                                   inc.stale if inc is not None else None)
                bound = found.samples
                if found.rows.height:
                    affected[st.feature] = pl.concat(
                        [affected[st.feature], found.rows], how="diagonal_relaxed") \
                        if st.feature in affected else found.rows
            elif cls.spec().deps and not (st.new or st.stale or st.orphaned or st.up_to_date):
                note = C_.empty_upstream(store, cls)
            rows.append(RunPlanRow(st.feature, st, dict(sorted(stale_fields.items())), cascade,
                                   bound, note))
            if progress is not None:
                progress(st.feature)
    return rows


# ====================================================================== ids and filters
_RULE_PREFIX = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_/-]*)\s*:(?!=)(.*)", re.DOTALL)


def stale_rules(project: Project, texts: list[str] | None,
                default: str | None = None) -> dict[str, Any]:
    """The ``--stale-if`` options: ``FEATURE:FILTER`` (or only ``FILTER`` for the ``default``
    feature, when the command names one) -> feature key -> expression on that feature.

    The filter is the CLI filter syntax (:mod:`metaxy.filter_syntax`) over the feature's own
    columns, e.g. ``media/video: status == 'failed'``. Two rules for one feature are ORed.
    """
    import sqlalchemy as sa

    from metaxy.filter_syntax import parse_filter

    rules: dict[str, Any] = {}
    for text in texts or []:
        m = _RULE_PREFIX.fullmatch(text)
        key = m.group(1) if m and m.group(1) in project.graph else None
        if key is None and default is None:
            raise ApiError(f"--stale-if {text!r}: name the feature, as FEATURE:FILTER (e.g. "
                           "\"media/video: status == 'failed'\")")
        cls = project.graph.get(key or str(default))
        name = str(cls.spec().key)
        expr = parse_filter(m.group(2) if key and m else text, cls)
        rules[name] = sa.or_(rules[name], expr) if name in rules else expr
    return rules


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


def rule_for(project: Project, key: str, stale_if: Any) -> Any:
    """The staleness rule of feature ``key`` from ``stale_if``: None, an expression (kept), or
    ``--stale-if`` texts (a string or a list of them, see :func:`stale_rules`)."""
    if stale_if is None or not isinstance(stale_if, str | list):
        return stale_if
    texts = [stale_if] if isinstance(stale_if, str) else stale_if
    return stale_rules(project, texts, default=key).get(key)


# ====================================================================== resolve and delete
@dataclass(frozen=True)
class ResolveResult:
    feature: str
    counts: dict[str, int]
    output: str | None
    increment: Increment


def resolve(project: Project, store: MetadataStore, key: str,
            output: str | Path | None = None, where: str | None = None,
            stale_if: Any = None) -> ResolveResult:
    """The increment of a (non-root) feature; written to ``output`` (.parquet / .csv) if given.

    ``stale_if``: a staleness rule (see :func:`rule_for`).

    The file holds the ``new`` and ``stale`` rows (with a ``metaxy_status`` column) and the
    ``orphaned`` ones, structs flattened to JSON strings for CSV. ``where`` (CLI filter syntax)
    restricts the increment to the matching samples.
    """
    cls = project.graph.get(key)
    if not cls.spec().deps:
        name = str(cls.spec().key)
        raise ApiError(
            f"feature '{name}' is a root feature: its increment compares samples you pass, "
            f"so resolve it from Python (store.resolve_update('{name}', samples=frame)); "
            f"`metaxy status {name}` shows what is stored")
    if output is not None and Path(output).suffix.lower() not in (".parquet", ".csv"):
        raise ApiError(f"output file {output}: use a .parquet or .csv extension")
    expr = feature_filter(cls, where)
    stale_if = rule_for(project, str(cls.spec().key), stale_if)
    require_store_file(store)
    with store.open("r"):
        inc = store.resolve_update(cls, where=expr, stale_if=stale_if)
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
