"""metaxy: a metadata layer for multimodal data and ML pipelines.

Public API (``import metaxy as mx``). Heavy drivers (duckdb, psycopg, alembic) are imported only
when a store or a migration is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metaxy.config import MetaxyConfig, load_config
from metaxy.discovery import load_features
from metaxy.errors import MetaxyError, MetaxyWarning
from metaxy.feature import Feature
from metaxy.graph import FeatureGraph
from metaxy.hookspecs import hookimpl
from metaxy.keys import FeatureKey, FieldKey
from metaxy.spec import FeatureDep, FeatureSpec, FieldDep, FieldSpec, Lineage
from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.orm import select_latest
    from metaxy.store.base import Increment, MetadataStore
    from metaxy.store.registry import get_store

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
    "Increment",
    "Lineage",
    "MetadataStore",
    "MetaxyConfig",
    "MetaxyError",
    "MetaxyWarning",
    "get_store",
    "hookimpl",
    "load_config",
    "load_features",
    "select_latest",
    "versions_of",
]

_LAZY = {
    "get_store": "metaxy.store.registry",
    "MetadataStore": "metaxy.store.base",
    "Increment": "metaxy.store.base",
    "select_latest": "metaxy.orm",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metaxy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
