"""Static versions computed from definitions alone (SPEC §2).

Every version is the first 16 hex digits of xxhash64 over a canonical encoding: compact JSON with
sorted object keys, ASCII only, of a list whose first element names what is hashed. JSON strings
are quoted and escaped, so the encoding is unambiguous. The golden tests in
``tests/unit/test_versions.py`` pin the encoding: any change there is a breaking change, because
every stored provenance downstream depends on field versions.

* field version   = H(["field", feature key, field key, code_version,
                      [[parent feature key, parent field key, parent field version]...]])
* feature version = H(["feature", feature key, [[field key, field version]...]])
* definition      = H(["definition", spec as canonical JSON, column schema])
* project version = H(["project", project name, [[feature key, definition version]...]])
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import xxhash

from metaxy.keys import FeatureKey, FieldKey

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.graph import FeatureGraph
    from metaxy.spec import FeatureSpec

VERSION_LENGTH = 16


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest(value: Any) -> str:
    """Version digest of a JSON-able value."""
    return xxhash.xxh64_hexdigest(canonical_json(value).encode("ascii"))[:VERSION_LENGTH]


def filter_text(expr: Any) -> str:
    """A stable textual form of a SQLAlchemy filter expression (for hashing and snapshots)."""
    try:
        return str(expr.compile(compile_kwargs={"literal_binds": True}))
    except Exception:
        return str(expr)


def spec_to_json(spec: FeatureSpec) -> dict[str, Any]:
    """The spec as plain JSON data (filters rendered as SQL text)."""
    data = spec.model_dump(mode="json", exclude={"deps"})
    data["deps"] = [
        {
            **dep.model_dump(mode="json", exclude={"filters"}),
            "filters": [filter_text(f) for f in dep.filters],
        }
        for dep in spec.deps
    ]
    return data


def type_name(column: sa.Column[Any]) -> str:
    """A portable, version-stable name of a column's type (its SQLAlchemy type affinity)."""
    affinity = getattr(column.type, "_type_affinity", None) or type(column.type)
    return str(affinity.__name__)


def column_schema(feature: type[Feature]) -> list[dict[str, Any]]:
    """The feature table's columns in declaration order, as plain data.

    Part of a feature's definition (it enters the feature's definition version), and what an
    integration shows as the table's schema (the Dagster plugin's asset column schema).

    Args:
        feature: A feature class.

    Returns:
        One dict per column: ``name``, ``type`` (the SQL type's name, e.g. ``"VARCHAR"``),
        ``nullable`` and ``primary_key``, metaxy's system columns included.

    Example:
        >>> [c["name"] for c in mx.column_schema(Video)][:1]  # doctest: +SKIP
        ['video_id']
    """
    table: sa.Table = feature.__table__  # type: ignore[attr-defined]
    return [
        {
            "name": c.name,
            "type": type_name(c),
            "nullable": bool(c.nullable),
            "primary_key": bool(c.primary_key),
        }
        for c in table.columns
    ]


class GraphVersions:
    """Computes (and caches) the static versions of one graph."""

    def __init__(self, graph: FeatureGraph) -> None:
        self.graph = graph
        self._fields: dict[tuple[FeatureKey, FieldKey], str] = {}

    def field_version(self, feature: str | FeatureKey | type[Feature],
                      field: str | FieldKey) -> str:
        spec = self.graph.spec(feature)
        key = (spec.key, FieldKey(field))
        cached = self._fields.get(key)
        if cached is not None:
            return cached
        fspec = spec.field(key[1])
        parents = [
            [str(fk), str(fld), self.field_version(fk, fld)]
            for fk, fld in self.graph.field_parents(spec.key, key[1])
        ]
        version = digest(["field", str(spec.key), str(key[1]), fspec.code_version, parents])
        self._fields[key] = version
        return version

    def field_versions(self, feature: str | FeatureKey | type[Feature]) -> dict[str, str]:
        spec = self.graph.spec(feature)
        return {str(f.key): self.field_version(spec.key, f.key) for f in spec.fields}

    def feature_version(self, feature: str | FeatureKey | type[Feature]) -> str:
        spec = self.graph.spec(feature)
        pairs = sorted(self.field_versions(spec.key).items())
        return digest(["feature", str(spec.key), [list(p) for p in pairs]])

    def definition_version(self, feature: str | FeatureKey | type[Feature]) -> str:
        cls = self.graph.get(feature)
        return digest(["definition", spec_to_json(cls.spec()), column_schema(cls)])

    def project_version(self, project: str, keys: list[FeatureKey] | None = None) -> str:
        keys = sorted(keys if keys is not None else self.graph.keys)
        return digest(["project", project,
                       [[str(k), self.definition_version(k)] for k in keys]])


def versions_of(graph: FeatureGraph) -> GraphVersions:
    """The (cached) version calculator of a graph; reset whenever a feature is added."""
    cached = graph._cache.get("versions")
    if not isinstance(cached, GraphVersions):
        graph.validate()
        cached = GraphVersions(graph)
        graph._cache["versions"] = cached
    return cached
