"""Graph snapshots (SPEC §8): the graph of a project recorded in system tables of the store.

A snapshot holds, per feature, the spec as JSON, the static versions (feature, definition, and per
field: version, code version and parent fields) and the column schema of the feature table. It is
keyed by ``(project, project_version)``; the project version is a digest of every definition, so
pushing an unchanged graph records nothing, and a snapshot is never rewritten.

:meth:`Snapshot.graph` rebuilds a :class:`~metaxy.graph.FeatureGraph` from a snapshot without
importing any team code: each feature class is defined dynamically in an isolated graph from the
stored spec and column schema (type names map back to SQLAlchemy types). Such a graph is what the
reconcile operation uses to compute what was expected under the *old* definitions.

The system tables are plain SQLAlchemy Core tables; any :class:`~metaxy.store.sql.SQLStore`
(DuckDB, SQLite, PostgreSQL) holds them in its database. A store without SQL (``memory://``,
``delta:///``) holds the same rows as its system records (:mod:`metaxy.migrations.records`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.errors import MigrationError, StoreError
from metaxy.graph import FeatureGraph
from metaxy.migrations import records
from metaxy.versions import column_schema, spec_to_json, versions_of

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore

SNAPSHOT_METADATA = sa.MetaData()
SNAPSHOTS_TABLE = sa.Table(
    "metaxy_snapshots", SNAPSHOT_METADATA,
    sa.Column("project", sa.String, primary_key=True),
    sa.Column("project_version", sa.String, primary_key=True),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("n_features", sa.Integer, nullable=False),
)
SNAPSHOT_FEATURES_TABLE = sa.Table(
    "metaxy_snapshot_features", SNAPSHOT_METADATA,
    sa.Column("project", sa.String, primary_key=True),
    sa.Column("project_version", sa.String, primary_key=True),
    sa.Column("feature_key", sa.String, primary_key=True),
    sa.Column("feature_version", sa.String, nullable=False),
    sa.Column("definition_version", sa.String, nullable=False),
    sa.Column("class_name", sa.String, nullable=False),
    sa.Column("fields_json", sa.Text, nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("columns_json", sa.Text, nullable=False),
)
PROGRESS_TABLE = sa.Table(
    "metaxy_migration_progress", SNAPSHOT_METADATA,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("project", sa.String, nullable=False),
    sa.Column("revision", sa.String, nullable=False),  # "adhoc" outside a revision
    sa.Column("op_index", sa.Integer, nullable=False),
    sa.Column("operation", sa.String, nullable=False),
    sa.Column("feature_key", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
)

#: type name (SQLAlchemy type affinity, see :func:`metaxy.versions.type_name`) -> (Python, SQL)
_TYPES: dict[str, tuple[type, Any]] = {
    "String": (str, sa.String),
    "Text": (str, sa.Text),
    "Unicode": (str, sa.String),
    "Integer": (int, sa.Integer),
    "BigInteger": (int, sa.BigInteger),
    "SmallInteger": (int, sa.SmallInteger),
    "Float": (float, sa.Float),
    "Double": (float, sa.Double),
    "Numeric": (float, sa.Numeric),
    "Boolean": (bool, sa.Boolean),
    "DateTime": (datetime, sa.DateTime),
    "Date": (date, sa.Date),
    "LargeBinary": (bytes, sa.LargeBinary),
    "_Binary": (bytes, sa.LargeBinary),
    "JSON": (dict, sa.JSON),
}


def sa_type_for(name: str) -> Any:
    """The SQLAlchemy type for a stored type name (unknown names map to ``String``)."""
    return _TYPES.get(name, (str, sa.String))[1]()


@dataclass(frozen=True)
class FeatureSnapshot:
    """One feature as recorded in a snapshot."""

    key: str
    feature_version: str
    definition_version: str
    class_name: str
    #: field key -> {"version", "code_version", "parents": [[feature key, field key], ...]}
    fields: dict[str, dict[str, Any]]
    spec: dict[str, Any]
    columns: list[dict[str, Any]]

    @property
    def table_name(self) -> str:
        from metaxy.keys import FeatureKey

        return FeatureKey(self.key).table_name

    def column(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.columns if c["name"] == name), None)


@dataclass
class Snapshot:
    """A project's graph at one project version (from the store, or from code)."""

    project: str
    project_version: str
    features: dict[str, FeatureSnapshot]
    pushed_at: datetime | None = None
    _graph: FeatureGraph | None = field(default=None, repr=False, compare=False)

    @property
    def keys(self) -> list[str]:
        return sorted(self.features)

    def graph(self) -> FeatureGraph:
        """The snapshot as an isolated feature graph (classes defined from the stored data)."""
        if self._graph is None:
            self._graph = graph_from_snapshot(self)
        return self._graph

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "project_version": self.project_version,
            "pushed_at": self.pushed_at.isoformat() if self.pushed_at else None,
            "features": {k: {
                "feature_version": f.feature_version,
                "definition_version": f.definition_version,
                "class_name": f.class_name,
                "fields": f.fields, "spec": f.spec, "columns": f.columns,
            } for k, f in sorted(self.features.items())},
        }


# ---------------------------------------------------------------------------- from code
def snapshot_of(graph: FeatureGraph, project: str) -> Snapshot:
    """The snapshot the code's graph would record (nothing is written)."""
    versions = versions_of(graph)
    features: dict[str, FeatureSnapshot] = {}
    for key in graph.topological_order():
        cls = graph.get(key)
        spec = cls.spec()
        fields = {
            str(f.key): {
                "version": versions.field_version(key, f.key),
                "code_version": f.code_version,
                "parents": [[str(pk), str(pf)] for pk, pf in graph.field_parents(key, f.key)],
            }
            for f in spec.fields
        }
        features[str(key)] = FeatureSnapshot(
            key=str(key),
            feature_version=versions.feature_version(key),
            definition_version=versions.definition_version(key),
            class_name=cls.__name__,
            fields=fields,
            spec=spec_to_json(spec),
            columns=column_schema(cls),
        )
    return Snapshot(project, versions.project_version(project), features)


# ---------------------------------------------------------------------------- store access
def connection(store: MetadataStore) -> sa.Connection:
    """The open store's SQL connection (:meth:`~metaxy.store.contract.StoreContract.
    sql_connection`); only for SQL stores (:func:`metaxy.migrations.records.uses_sql`)."""
    store.require_open("r")
    try:
        return store.sql_connection()
    except StoreError as e:
        raise MigrationError(f"{store.display()}: the {store.backend} backend does not support "
                             "graph snapshots and migrations (a SQL store is needed)") from e


def fetch_all(conn: sa.Connection, stmt: Any) -> list[Any]:
    """Every row of a query. Results are always read to the end: DuckDB refuses further work
    on a connection with a partly fetched result (e.g. after ``.scalar()``)."""
    return list(conn.execute(stmt).all())


def begin(conn: sa.Connection) -> Any:
    """A fresh transaction (committing any implicitly begun one first)."""
    if conn.in_transaction():
        conn.commit()
    return conn.begin()


#: The store lock (:meth:`~metaxy.store.contract.StoreContract.lock`) serialising the creation of
#: the system tables and snapshot pushes: two first pushes would otherwise both create the tables
#: (PostgreSQL's catalog refuses the second ``CREATE TABLE``, DuckDB reports a write-write
#: conflict), and two pushes of one project version would both insert it.
SNAPSHOT_LOCK = "metaxy-snapshots"
SNAPSHOT_LOCK_WAIT_S = 60.0  # a push or a table creation takes well under a second


def ensure_system_tables(store: MetadataStore) -> None:
    """Create metaxy's migration system tables if missing (store open for writing)."""
    store.require_open("w")
    if not records.uses_sql(store):
        return  # system records are created by their first append
    conn = connection(store)
    with store.lock(SNAPSHOT_LOCK, SNAPSHOT_LOCK_WAIT_S), begin(conn):
        SNAPSHOT_METADATA.create_all(conn, checkfirst=True)


def _has_tables(conn: sa.Connection) -> bool:
    names = set(sa.inspect(conn).get_table_names())
    return SNAPSHOTS_TABLE.name in names and SNAPSHOT_FEATURES_TABLE.name in names


@dataclass(frozen=True)
class PushResult:
    project: str
    project_version: str
    created: bool
    n_features: int


def push(store: MetadataStore, graph: FeatureGraph, project: str) -> PushResult:
    """Record the graph as a snapshot; a no-op when this project version is already recorded."""
    snap = snapshot_of(graph, project)
    return push_snapshot(store, snap)


def push_snapshot(store: MetadataStore, snap: Snapshot) -> PushResult:
    """Record ``snap`` unless its project version is recorded; pushes are serialised by the
    store lock :data:`SNAPSHOT_LOCK` (concurrent pushers wait up to a minute)."""
    store.require_open("w")
    with store.lock(SNAPSHOT_LOCK, SNAPSHOT_LOCK_WAIT_S):
        return _push_snapshot(store, snap)


def _feature_rows(snap: Snapshot) -> list[dict[str, Any]]:
    return [{
        "project": snap.project, "project_version": snap.project_version,
        "feature_key": f.key, "feature_version": f.feature_version,
        "definition_version": f.definition_version, "class_name": f.class_name,
        "fields_json": json.dumps(f.fields, sort_keys=True),
        "spec_json": json.dumps(f.spec, sort_keys=True),
        "columns_json": json.dumps(f.columns),
    } for f in snap.features.values()]


def _push_records(store: MetadataStore, snap: Snapshot) -> PushResult:
    """:func:`_push_snapshot` on a store without SQL (under :data:`SNAPSHOT_LOCK`): the features
    first, then the head row that makes the snapshot visible, so an interrupted push leaves no
    snapshot (its feature rows are ignored, and written again by the next push)."""
    heads = _heads(store, snap.project).filter(pl.col("project_version") == snap.project_version)
    if heads.height:
        return PushResult(snap.project, snap.project_version, False, len(snap.features))
    records.append(store, SNAPSHOT_FEATURES_TABLE, _feature_rows(snap))
    records.append(store, SNAPSHOTS_TABLE, [{
        "project": snap.project, "project_version": snap.project_version,
        "pushed_at": datetime.now(UTC), "n_features": len(snap.features)}])
    return PushResult(snap.project, snap.project_version, True, len(snap.features))


def _heads(store: MetadataStore, project: str) -> pl.DataFrame:
    """The snapshot rows of a project on a store without SQL, newest first."""
    rows = records.read(store, SNAPSHOTS_TABLE).filter(pl.col("project") == project)
    return rows.unique(["project_version"], keep="first", maintain_order=True) \
        .sort(["pushed_at", "project_version"], descending=True)


def _push_snapshot(store: MetadataStore, snap: Snapshot) -> PushResult:
    if not records.uses_sql(store):
        return _push_records(store, snap)
    ensure_system_tables(store)
    conn = connection(store)
    t, ft = SNAPSHOTS_TABLE, SNAPSHOT_FEATURES_TABLE
    with begin(conn):
        found = conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.project == snap.project, t.c.project_version == snap.project_version)).all()[0][0]
        if found:
            return PushResult(snap.project, snap.project_version, False, len(snap.features))
        conn.execute(t.insert().values(project=snap.project, project_version=snap.project_version,
                                       pushed_at=datetime.now(UTC),
                                       n_features=len(snap.features)))
        if snap.features:
            conn.execute(ft.insert(), _feature_rows(snap))
    return PushResult(snap.project, snap.project_version, True, len(snap.features))


def list_snapshots(store: MetadataStore, project: str) -> list[tuple[str, datetime]]:
    """``(project_version, pushed_at)`` of every snapshot of the project, oldest first."""
    if not records.uses_sql(store):
        heads = _heads(store, project).reverse()
        return list(zip(heads["project_version"].to_list(), heads["pushed_at"].to_list(),
                        strict=True))
    conn = connection(store)
    if not _has_tables(conn):
        return []
    t = SNAPSHOTS_TABLE
    rows = conn.execute(sa.select(t.c.project_version, t.c.pushed_at)
                        .where(t.c.project == project)
                        .order_by(t.c.pushed_at, t.c.project_version)).all()
    conn.commit()
    return [(r[0], r[1]) for r in rows]


def load_snapshot(store: MetadataStore, project: str,
                  project_version: str | None = None) -> Snapshot | None:
    """A recorded snapshot (the latest pushed one by default); ``None`` when there is none."""
    if not records.uses_sql(store):
        return _load_records(store, project, project_version)
    conn = connection(store)
    if not _has_tables(conn):
        return None
    t, ft = SNAPSHOTS_TABLE, SNAPSHOT_FEATURES_TABLE
    stmt = sa.select(t.c.project_version, t.c.pushed_at).where(t.c.project == project)
    if project_version is not None:
        stmt = stmt.where(t.c.project_version == project_version)
    found = conn.execute(stmt.order_by(t.c.pushed_at.desc(), t.c.project_version.desc())
                         .limit(1)).all()
    if not found:
        conn.commit()
        return None
    head = found[0]
    rows = conn.execute(sa.select(ft).where(ft.c.project == project,
                                            ft.c.project_version == head[0])).mappings().all()
    conn.commit()
    return Snapshot(project, head[0], _features(rows), pushed_at=head[1])


def _load_records(store: MetadataStore, project: str,
                  project_version: str | None) -> Snapshot | None:
    """:func:`load_snapshot` on a store without SQL."""
    heads = _heads(store, project)
    if project_version is not None:
        heads = heads.filter(pl.col("project_version") == project_version)
    if heads.height == 0:
        return None
    version, pushed_at = heads["project_version"][0], heads["pushed_at"][0]
    rows = records.read(store, SNAPSHOT_FEATURES_TABLE).filter(
        (pl.col("project") == project) & (pl.col("project_version") == version))
    # an interrupted push wrote feature rows without a head; the push after it wrote them again
    rows = rows.unique(["feature_key"], keep="first", maintain_order=True)
    return Snapshot(project, version, _features(rows.to_dicts()), pushed_at=pushed_at)


def _features(rows: Any) -> dict[str, FeatureSnapshot]:
    return {
        r["feature_key"]: FeatureSnapshot(
            key=r["feature_key"], feature_version=r["feature_version"],
            definition_version=r["definition_version"], class_name=r["class_name"],
            fields=json.loads(r["fields_json"]), spec=json.loads(r["spec_json"]),
            columns=json.loads(r["columns_json"]),
        )
        for r in rows
    }


def require_snapshot(store: MetadataStore, project: str, project_version: str) -> Snapshot:
    snap = load_snapshot(store, project, project_version)
    if snap is None:
        raise MigrationError(
            f"{store.display()} holds no snapshot of project '{project}' at version "
            f"{project_version}; run `metaxy push` with that code (or `metaxy migrations "
            "upgrade`, which records the snapshot it upgrades to)")
    return snap


# ---------------------------------------------------------------------------- rebuild a graph
def graph_from_snapshot(snap: Snapshot) -> FeatureGraph:
    """Define every feature of the snapshot in a new, isolated graph (no team code imported)."""
    graph = FeatureGraph()
    with graph.use():
        for key in sorted(snap.features):
            _define(snap.features[key])
    graph.validate()
    return graph


def _define(fs: FeatureSnapshot) -> type[Feature]:
    from sqlmodel import Field

    from metaxy.feature import Feature, FeatureMeta
    from metaxy.spec import FeatureDep, FeatureSpec

    data = dict(fs.spec)
    deps = []
    for dep in data.get("deps", []):
        if dep.get("filters"):
            raise MigrationError(
                f"snapshot of feature '{fs.key}': the dependency on '{dep['feature']}' has "
                f"filters ({dep['filters']}), which a snapshot stores as text only and cannot "
                "evaluate")
        deps.append(FeatureDep.model_validate({k: v for k, v in dep.items() if k != "filters"}))
    data["deps"] = tuple(deps)
    spec = FeatureSpec.model_validate(data)
    annotations: dict[str, Any] = {}
    ns: dict[str, Any] = {"__module__": "metaxy.migrations.snapshot_features",
                          "__qualname__": fs.class_name}
    for col in fs.columns:
        name = col["name"]
        if C.is_reserved(name):
            continue  # system columns come from the base class and the metaclass
        py, sa_cls = _TYPES.get(col["type"], (str, sa.String))
        sa_type = sa_cls(timezone=True) if sa_cls is sa.DateTime else sa_cls()
        nullable = bool(col["nullable"])
        annotations[name] = py | None if nullable else py
        ns[name] = Field(default=None, sa_type=sa_type, nullable=nullable,
                         primary_key=bool(col["primary_key"]))
    ns["__annotations__"] = annotations
    cls = FeatureMeta(fs.class_name, (Feature,), ns, table=True, spec=spec)
    return cls  # type: ignore[return-value]
