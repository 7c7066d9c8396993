"""Static definitions: the feature list, one feature's description, the resolved config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metaxy import columns as C

if TYPE_CHECKING:  # the imports that load SQLAlchemy stay in the functions (CLI startup)
    from metaxy.api.project import Project
    from metaxy.config import MetaxyConfig
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore


@dataclass(frozen=True)
class FeatureRow:
    key: str
    feature_version: str
    definition_version: str
    upstream: list[str]
    fields: dict[str, str]
    #: the installed distribution defining the feature (None: a module that is not part of one,
    #: e.g. a local module named by ``entrypoints`` in metaxy.toml)
    package: str | None
    #: the Python module defining the feature
    module: str


def select_features(project: Project, include: Sequence[str] | None = None,
                    exclude: Sequence[str] | None = None,
                    store: MetadataStore | None = None) -> list[str]:
    """The feature keys selected by dbt-style selectors (``+key+``, ``2+key``, ``speech/*``,
    ``state:modified``), in topological order; see :mod:`metaxy.selectors`.

    ``state:modified`` compares with the last snapshot pushed to ``store`` (see
    :func:`modified_features`); without a store it is a :class:`~metaxy.errors.SelectorError`.
    """
    from metaxy.selectors import select

    modified = None if store is None else (lambda: set(modified_features(project, store)))
    return [str(k) for k in select(project.graph, include, exclude, modified)]


def modified_features(project: Project, store: MetadataStore) -> list[str]:
    """The features whose definition differs from the last snapshot pushed to ``store``
    (``metaxy push``), or that the snapshot does not hold; in topological order.

    Raises:
        SelectorError: the store holds no pushed snapshot of the project (nothing to compare
            with), or its file does not exist.
    """
    from metaxy.api.project import require_store_file
    from metaxy.errors import SelectorError, StoreFileNotFoundError
    from metaxy.migrations.snapshots import load_snapshot
    from metaxy.versions import versions_of

    name = project.config.project
    try:
        require_store_file(store)
    except StoreFileNotFoundError as e:
        raise SelectorError(f"state:modified: {e}") from None
    with store.open("r"):
        snap = load_snapshot(store, name)
    if snap is None:
        raise SelectorError(f"state:modified compares with the last pushed snapshot, and "
                            f"{store.display()} holds none of project '{name}': run "
                            "`metaxy push` after a deployment")
    versions = versions_of(project.graph)
    out = []
    for key in project.graph.topological_order():
        before = snap.features.get(str(key))
        if before is None or before.definition_version != versions.definition_version(key):
            out.append(str(key))
    return out


@dataclass(frozen=True)
class CodeChange:
    """A field whose ``code_version`` differs from the last pushed snapshot."""

    feature: str
    field: str
    pushed: str
    code: str


def code_changes(project: Project, store: MetadataStore) -> list[CodeChange]:
    """The fields whose ``code_version`` changed since the last snapshot pushed to ``store``
    (nothing without a snapshot, or for a store that cannot hold one).

    ``metaxy plan`` shows them: when such a change was a refactor (the output is the same), the
    stale samples need no recomputation, and ``metaxy migrations revision --autogenerate`` writes
    the migration that reconciles them.
    """
    from metaxy.errors import MigrationError
    from metaxy.migrations.snapshots import load_snapshot

    try:
        with store.open("r"):
            snap = load_snapshot(store, project.config.project)
    except MigrationError:  # not a SQL store: no snapshots
        return []
    if snap is None:
        return []
    out = []
    for key in project.graph.topological_order():
        before = snap.features.get(str(key))
        if before is None:
            continue
        for f in project.graph.spec(key).fields:
            old = before.fields.get(str(f.key))
            if old is not None and old.get("code_version") != f.code_version:
                out.append(CodeChange(str(key), str(f.key), str(old.get("code_version")),
                                      f.code_version))
    return out


def list_features(project: Project) -> list[FeatureRow]:
    """Every feature in topological order with its static versions."""
    from metaxy.packages import package_of
    from metaxy.versions import versions_of

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
            module=cls.__module__,
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


def _description(cls: type[Feature]) -> str | None:
    """The spec's ``description``, else the class's own docstring (not one inherited from
    ``mx.Feature``), as the Dagster plugin shows it."""
    import inspect

    if cls.spec().description:
        return cls.spec().description
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def describe(project: Project, key: str) -> FeatureDescription:
    """Everything about one feature: columns, fields with versions and parents, lineage."""
    from metaxy.graph import class_path
    from metaxy.packages import package_of
    from metaxy.versions import column_schema, versions_of

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
        description=_description(cls), table=spec.key.table_name,
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
