"""metaxy: a metadata layer for multimodal data and ML pipelines.

Public API (``import metaxy as mx``). Heavy drivers (duckdb, psycopg, alembic) are imported only
when a store or a migration is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metaxy._lazy import lazy_getattr
from metaxy.errors import MetaxyError, MetaxyWarning

if TYPE_CHECKING:
    from metaxy.api.copying import copy
    from metaxy.config import MetaxyConfig, load_config
    from metaxy.discovery import load_features
    from metaxy.feature import Feature
    from metaxy.frame_input import FrameLike
    from metaxy.graph import FeatureGraph
    from metaxy.hookspecs import hookimpl
    from metaxy.keys import FeatureKey, FieldKey
    from metaxy.orm import select_latest
    from metaxy.spec import FeatureDep, FeatureSpec, FieldDep, FieldSpec, Lineage
    from metaxy.store.base import Increment, MetadataStore
    from metaxy.store.registry import get_store
    from metaxy.versions import column_schema, versions_of

__version__ = "0.1.0"

__all__ = [
    "Feature",
    "FeatureDep",
    "FeatureGraph",
    "FeatureKey",
    "FeatureSpec",
    "FieldDep",
    "FieldKey",
    "FieldSpec",
    "FrameLike",
    "Increment",
    "Lineage",
    "MetadataStore",
    "MetaxyConfig",
    "MetaxyError",
    "MetaxyWarning",
    "column_schema",
    "copy",
    "get_store",
    "hookimpl",
    "load_config",
    "load_features",
    "select_latest",
    "versions_of",
]

# Every public name is imported on first use (PEP 562), so ``import metaxy.cli`` (whose
# package import runs this file) does not pay for SQLAlchemy/SQLModel/Polars before a command
# needs them; ``import metaxy as mx; mx.Feature`` and ``from metaxy import Feature`` work as
# with eager imports.
_LAZY = {
    "Feature": "metaxy.feature",
    "FeatureDep": "metaxy.spec",
    "FeatureGraph": "metaxy.graph",
    "FeatureKey": "metaxy.keys",
    "FeatureSpec": "metaxy.spec",
    "FieldDep": "metaxy.spec",
    "FieldKey": "metaxy.keys",
    "FieldSpec": "metaxy.spec",
    "FrameLike": "metaxy.frame_input",
    "Increment": "metaxy.store.base",
    "Lineage": "metaxy.spec",
    "MetadataStore": "metaxy.store.base",
    "MetaxyConfig": "metaxy.config",
    "column_schema": "metaxy.versions",
    "copy": "metaxy.api.copying",
    "get_store": "metaxy.store.registry",
    "hookimpl": "metaxy.hookspecs",
    "load_config": "metaxy.config",
    "load_features": "metaxy.discovery",
    "select_latest": "metaxy.orm",
    "versions_of": "metaxy.versions",
}


__getattr__ = lazy_getattr("metaxy", _LAZY)
