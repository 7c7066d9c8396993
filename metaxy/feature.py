"""The feature base class: a SQLModel table carrying a :class:`~metaxy.spec.FeatureSpec`.

SQLModel's metaclass silently drops class keywords it does not know, so ``spec=`` is consumed by a
metaclass of our own. The metaclass also

* injects the per-field storage columns (``metaxy_pv__<field>``, ``metaxy_dv__<field>``),
* names the table after the feature key (one-to-one, <= 63 bytes),
* maps the class into the *active graph's* SQLAlchemy registry, so that isolated graphs (tests,
  snapshots) can each define the same table,
* validates the definition and registers the class, or raises a
  :class:`~metaxy.errors.FeatureDefinitionError` and registers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from pydantic_core import PydanticUndefined
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelMetaclass

from metaxy import columns as C
from metaxy.errors import FeatureDefinitionError, MetaxyError
from metaxy.packages import package_of
from metaxy.spec import FeatureSpec

_F = TypeVar("_F", bound=Callable[..., Any])

# Attribute names a feature class uses for itself; a column of that name would shadow them.
_RESERVED_ATTRIBUTES = frozenset({"spec", "computes"})
# Column names are rendered as quoted identifiers, but anything beyond a plain identifier
# (quotes, ";", "--", "/* */", spaces) is refused outright; 63 bytes is PostgreSQL's limit.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _class_path(ns: dict[str, Any], name: str) -> str:
    """``module.Qualname``, as :func:`metaxy.graph.class_path` renders an existing class."""
    return f"{ns.get('__module__', '?')}.{ns.get('__qualname__', name)}"


def _definition_error(
    message: str, ns: dict[str, Any], name: str, key: str | None
) -> FeatureDefinitionError:
    module = str(ns.get("__module__", "?"))
    return FeatureDefinitionError(
        message,
        feature_key=key,
        class_path=_class_path(ns, name),
        package=package_of(module),
    )


def _coerce_spec(spec: Any, ns: dict[str, Any], name: str) -> FeatureSpec:
    if isinstance(spec, FeatureSpec):
        return spec
    key = spec.get("key") if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        raise _definition_error(
            f"spec= must be a metaxy.FeatureSpec, got {type(spec).__name__}", ns, name, None
        )
    try:
        return FeatureSpec(**spec)
    except (ValidationError, MetaxyError) as e:
        raise _definition_error(f"invalid spec: {e}", ns, name, str(key)) from e


def _check_field_deps(spec: FeatureSpec, ns: dict[str, Any], name: str) -> None:
    """A field may only depend on features among the feature's deps (reported with the class)."""
    upstream = {d.feature for d in spec.deps}
    for f in spec.fields:
        if isinstance(f.deps, tuple):
            for fd in f.deps:
                if fd.feature not in upstream:
                    raise _definition_error(
                        f"field '{f.key}' depends on feature '{fd.feature}', which is not among "
                        "the feature's deps", ns, name, str(spec.key),
                    )


def _inject_field_columns(spec: FeatureSpec, ns: dict[str, Any], name: str) -> None:
    annotations = dict(ns.get("__annotations__", {}))
    for column in list(annotations) + [k for k in ns if not k.startswith("__")]:
        if C.is_reserved(column):
            raise _definition_error(
                f"column '{column}' uses the reserved 'metaxy_' prefix", ns, name, str(spec.key)
            )
        if column in _RESERVED_ATTRIBUTES and column in annotations:
            raise _definition_error(
                f"column '{column}' would shadow Feature.{column}(); rename it", ns, name,
                str(spec.key),
            )
    seen: dict[str, str] = {}
    for field in spec.fields:
        for column in (C.pv_column(field.key), C.dv_column(field.key)):
            if column in seen:  # pragma: no cover - sql_name is one-to-one
                raise _definition_error(
                    f"fields '{seen[column]}' and '{field.key}' map to one column", ns, name,
                    str(spec.key),
                )
            seen[column] = str(field.key)
            annotations[column] = str | None
            ns[column] = Field(default=None, sa_type=sa.String)
    ns["__annotations__"] = annotations


class FeatureMeta(SQLModelMetaclass):
    """Metaclass of :class:`Feature`: consumes ``spec=`` and registers the class in a graph."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        ns: dict[str, Any],
        spec: FeatureSpec | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> FeatureMeta:
        from metaxy.graph import FeatureGraph

        is_table = kwargs.get("table", False) is True
        if spec is None and is_table:
            raise _definition_error("a feature table needs spec=metaxy.FeatureSpec(...)", ns,
                                    name, None)
        if spec is not None and not is_table:
            raise _definition_error("spec= is only allowed together with table=True", ns, name,
                                    None)
        feature_spec = None
        graph = FeatureGraph.get_active()
        if spec is not None:
            feature_spec = _coerce_spec(spec, ns, name)
            _check_field_deps(feature_spec, ns, name)
            _inject_field_columns(feature_spec, ns, name)
            ns["__tablename__"] = feature_spec.key.table_name
            graph.check_can_register(feature_spec.key, _class_path(ns, name))
        try:
            cls: FeatureMeta = super().__new__(mcls, name, bases, ns, **kwargs)
        except MetaxyError:
            raise
        except Exception as e:
            key = str(feature_spec.key) if feature_spec else None
            raise _definition_error(f"SQLModel rejected the class: {e}", ns, name, key) from e
        if feature_spec is not None:
            cls.__metaxy_spec__ = feature_spec  # type: ignore[attr-defined]
            cls.__metaxy_graph__ = graph  # type: ignore[attr-defined]
            # Map into the active graph's registry (one MetaData per graph) instead of the
            # process-wide SQLModel registry.
            cls._sa_registry = graph.sa_registry  # type: ignore[attr-defined]
            cls.metadata = graph.sa_registry.metadata  # type: ignore[attr-defined]
        return cls

    def __init__(
        cls,
        name: str,
        bases: tuple[type, ...],
        ns: dict[str, Any],
        spec: FeatureSpec | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        feature_spec: FeatureSpec | None = cls.__dict__.get("__metaxy_spec__")
        graph = cls.__dict__.get("__metaxy_graph__")
        try:
            super().__init__(name, bases, ns, **kwargs)
        except Exception as e:
            if graph is not None and feature_spec is not None:
                graph.discard_class(cls, feature_spec.key.table_name)
            key = str(feature_spec.key) if feature_spec else None
            raise _definition_error(f"SQLAlchemy could not map the class: {e}", ns, name,
                                    key) from e
        if feature_spec is not None and graph is not None:
            try:
                _widen_int_columns(cls)
                _check_columns(cls, feature_spec, ns, name)
                graph.add(cls)  # type: ignore[arg-type]
            except MetaxyError:
                graph.discard_class(cls, feature_spec.key.table_name)
                raise


def _widen_int_columns(cls: Any) -> None:
    """A Python ``int`` column is 64-bit (BIGINT) on every backend.

    SQLModel maps ``int`` to ``INTEGER``: 32-bit on DuckDB and PostgreSQL, 64-bit on SQLite and
    in Polars, so a value above 2**31 passed validation and then failed in the driver. A column
    whose type the user chose (``sa_type=``, ``sa_column=``) keeps it. The definition version is
    unchanged (column types are versioned by affinity, Integer for both); tables created before
    keep their INTEGER columns, and a value that does not fit is refused before the write
    (:mod:`metaxy.store.int_range`).
    """
    table: sa.Table = cls.__table__
    for column in table.columns:
        info = cls.model_fields.get(column.name)
        chosen = info is not None and any(
            getattr(info, attr, None) not in (None, PydanticUndefined)
            for attr in ("sa_type", "sa_column"))
        if type(column.type) is sa.Integer and not chosen:
            column.type = sa.BigInteger()


def _check_columns(cls: Any, spec: FeatureSpec, ns: dict[str, Any], name: str) -> None:
    table: sa.Table = cls.__table__
    for column in table.c.keys():
        if not _COLUMN_NAME.fullmatch(column):
            raise _definition_error(
                f"column name {column!r} is not a plain SQL identifier (letters, digits and '_', "
                "not starting with a digit, at most 63 characters)", ns, name, str(spec.key),
            )
    for column in spec.id_columns:
        if column not in table.c:
            raise _definition_error(
                f"id column '{column}' is not a column of the model "
                f"(columns: {', '.join(c for c in table.c.keys() if not C.is_reserved(c))})",
                ns, name, str(spec.key),
            )
    for dep in spec.deps:
        for column in dep.lineage.on:
            if dep.lineage.kind == "aggregation" and column not in spec.id_columns:
                raise _definition_error(
                    f"aggregation over '{dep.feature}' groups on '{column}', which must be an id "
                    "column of this feature", ns, name, str(spec.key),
                )
            if dep.lineage.kind == "expansion" and column not in spec.id_columns:
                raise _definition_error(
                    f"expansion from '{dep.feature}' on '{column}': the parent id must also be an "
                    "id column of this feature", ns, name, str(spec.key),
                )


class Feature(SQLModel, metaclass=FeatureMeta):
    """Base class of every feature.

    Example::

        class Video(mx.Feature, table=True, spec=mx.FeatureSpec(
            key="media/video", id_columns=["video_id"],
            fields=[mx.FieldSpec(key="audio", code_version="1"), "frames"],
        )):
            video_id: str
            duration: float | None = None

    ``metaxy_row_id`` is the primary key: metadata is append-only and one sample has many rows.
    """

    __metaxy_spec__: ClassVar[FeatureSpec]

    metaxy_row_id: str | None = Field(default=None, primary_key=True, sa_type=sa.String)
    metaxy_provenance: str | None = Field(default=None, sa_type=sa.String)
    metaxy_data_version: str | None = Field(default=None, sa_type=sa.String)
    metaxy_feature_version: str | None = Field(default=None, sa_type=sa.String)
    metaxy_project_version: str | None = Field(default=None, sa_type=sa.String)
    metaxy_created_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    metaxy_updated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    metaxy_deleted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    metaxy_materialization_id: str | None = Field(default=None, sa_type=sa.String)

    @classmethod
    def spec(cls) -> FeatureSpec:
        """The feature's spec."""
        return cls.__metaxy_spec__

    @classmethod
    def computes(cls, *fields: str, depth: int | None = None) -> Callable[[_F], _F]:
        """Declare the decorated function as the code computing ``fields`` (default: all).

        Optional. metaxy then fingerprints the function (its normalised AST and its
        same-package helpers, ``depth`` levels deep) and ``metaxy check`` / ``metaxy push``
        refuse a changed fingerprint whose field ``code_version`` was not bumped. The function
        is returned unchanged, so it can be called (or handed to Dagster) as before::

            @Transcript.computes("text")
            def transcribe(videos: pl.DataFrame) -> pl.DataFrame: ...
        """
        from metaxy.codeguard.fingerprint import HELPER_DEPTH
        from metaxy.codeguard.registry import declare

        def decorate(fn: _F) -> _F:
            declare(cls, fields, fn, HELPER_DEPTH if depth is None else depth)
            return fn

        return decorate


Feature.__module__ = "metaxy"
