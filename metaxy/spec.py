"""The declarative parts of a feature: fields, dependencies, lineage and the feature spec.

All of them are frozen, validated Pydantic models. Upstream features may be named by key
(``"media/video"``) or by class; a class is turned into its key on validation, so specs never hold
references to classes and can be serialised into graph snapshots.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metaxy.errors import DependencyNotFoundError, FieldNotFoundError
from metaxy.keys import FeatureKey, FieldKey

_FROZEN = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _to_feature_key(value: Any) -> Any:
    """Accept a key string, a FeatureKey or a Feature class (anything carrying ``spec()``)."""
    spec = getattr(value, "__metaxy_spec__", None)
    if spec is not None:
        return spec.key
    return value


class Lineage(BaseModel):
    """How upstream samples map to downstream samples (SPEC §4).

    Use the constructors: ``Lineage.identity()``, ``Lineage.aggregation(on=[...])`` (N:1: one
    downstream sample per group of upstream rows sharing ``on``) and ``Lineage.expansion(on=[...])``
    (1:N: each upstream sample, identified by ``on``, yields many downstream rows).
    """

    model_config = _FROZEN
    kind: Literal["identity", "aggregation", "expansion"] = "identity"
    on: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_on(self) -> Lineage:
        if self.kind == "identity" and self.on:
            raise ValueError("identity lineage takes no 'on' columns")
        if self.kind != "identity" and not self.on:
            raise ValueError(f"{self.kind} lineage needs at least one 'on' column")
        return self

    @classmethod
    def identity(cls) -> Lineage:
        return cls(kind="identity")

    @classmethod
    def aggregation(cls, on: list[str] | tuple[str, ...]) -> Lineage:
        return cls(kind="aggregation", on=tuple(on))

    @classmethod
    def expansion(cls, on: list[str] | tuple[str, ...]) -> Lineage:
        return cls(kind="expansion", on=tuple(on))


class FieldDep(BaseModel):
    """A field's dependency on fields of one upstream feature (``fields="all"`` for every field)."""

    model_config = _FROZEN
    feature: FeatureKey
    fields: tuple[FieldKey, ...] | Literal["all"] = "all"

    _feature_key = field_validator("feature", mode="before")(_to_feature_key)

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all":
            return (value,)
        return value


class FieldSpec(BaseModel):
    """A field: the unit of versioning of a feature.

    ``deps`` selects the upstream fields this field depends on:

    * ``None`` (default mapping): for each upstream feature, its field of the same key if it has
      one, otherwise all of its fields;
    * ``"all"``: every field of every upstream feature;
    * ``"none"``: no upstream field (only the code version matters);
    * a list of :class:`FieldDep`: exactly those.
    """

    model_config = _FROZEN
    key: FieldKey
    code_version: str = "1"
    deps: tuple[FieldDep, ...] | Literal["all", "none"] | None = None
    description: str | None = None

    @field_validator("code_version", mode="before")
    @classmethod
    def _code_version(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value:
            raise ValueError("code_version must not be empty")
        return value


class FeatureDep(BaseModel):
    """A dependency on an upstream feature.

    Args:
        feature: the upstream feature (class or key).
        columns: upstream user columns to carry into the increment (``None``: all; ``()``: none).
        rename: upstream column -> name seen downstream (e.g. to align id columns).
        filters: SQLAlchemy column expressions restricting the upstream rows (never raw SQL).
        optional: left join; a downstream sample may exist without this upstream sample, and the
            missing upstream enters the provenance as a distinct "missing" marker.
        lineage: identity (default), aggregation or expansion.
    """

    model_config = _FROZEN
    feature: FeatureKey
    columns: tuple[str, ...] | None = None
    rename: tuple[tuple[str, str], ...] = ()
    filters: tuple[Any, ...] = ()
    optional: bool = False
    lineage: Lineage = Field(default_factory=Lineage.identity)

    _feature_key = field_validator("feature", mode="before")(_to_feature_key)

    @field_validator("rename", mode="before")
    @classmethod
    def _rename(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return tuple(sorted(value.items()))
        return value

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            return (value,)
        return tuple(value)

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self.rename)


class FeatureSpec(BaseModel):
    """Everything metaxy needs to know about a feature besides its columns."""

    model_config = _FROZEN
    key: FeatureKey
    id_columns: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = (FieldSpec(key=FieldKey("default")),)
    deps: tuple[FeatureDep, ...] = ()
    description: str | None = None

    @field_validator("id_columns", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        return tuple(FieldSpec(key=v) if isinstance(v, str) else v for v in value)

    @field_validator("deps", mode="before")
    @classmethod
    def _deps(cls, value: Any) -> Any:
        return tuple(v if isinstance(v, FeatureDep) else FeatureDep(feature=v) for v in value)

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        if not self.id_columns:
            raise ValueError("id_columns must name at least one column")
        if len(set(self.id_columns)) != len(self.id_columns):
            raise ValueError(f"id_columns {list(self.id_columns)} repeat a column")
        if not self.fields:
            raise ValueError("a feature needs at least one field")
        seen: set[FieldKey] = set()
        for f in self.fields:
            if f.key in seen:
                raise ValueError(f"field '{f.key}' is declared twice")
            seen.add(f.key)
        upstream = [d.feature for d in self.deps]
        dup = {k for k in upstream if upstream.count(k) > 1}
        if dup:
            raise ValueError(f"upstream feature '{sorted(dup)[0]}' is listed twice in deps")
        if self.key in upstream:
            raise ValueError("a feature cannot depend on itself")
        # A field dep on a feature missing from ``deps`` is checked by the feature metaclass, so
        # that the error can name the class (the spec is built before the class statement runs).
        return self

    def field(self, key: str | FieldKey) -> FieldSpec:
        """The field of that key; :class:`~metaxy.errors.FieldNotFoundError` if there is none."""
        for f in self.fields:
            if f.key == key:
                return f
        raise FieldNotFoundError(str(self.key), str(key), [str(f.key) for f in self.fields])

    @property
    def field_keys(self) -> tuple[FieldKey, ...]:
        return tuple(f.key for f in self.fields)

    def dep(self, key: FeatureKey) -> FeatureDep:
        """The dependency on ``key``; :class:`~metaxy.errors.DependencyNotFoundError` if none."""
        for d in self.deps:
            if d.feature == key:
                return d
        raise DependencyNotFoundError(str(self.key), str(key), [str(d.feature) for d in self.deps])


for _cls in (Lineage, FieldDep, FieldSpec, FeatureDep, FeatureSpec):
    _cls.__module__ = "metaxy"
