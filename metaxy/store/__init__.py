"""Metadata stores: the API every store offers, and the surface a backend plugin builds on.

Users get a store from :func:`metaxy.get_store` and use :class:`MetadataStore`'s public methods.
A backend author subclasses :class:`MetadataStore`, :class:`SQLStore` for a SQLAlchemy
dialect (its docstring lists the backend hooks to override), or :class:`FrameStore` for rows
read as Polars frames and resolved by Polars (the in-memory and Delta Lake stores), and uses
the names re-exported here from :mod:`metaxy.engine`: the staged rows of a write
(:class:`StagedRows`), the hash expression (:class:`SampleHash`) and the hashers
(:data:`Hasher`, :func:`polars_hasher`, :func:`duckdb_hasher`), and the column types of
fetched rows (:func:`polars_dtype` of a SQLAlchemy type, :func:`conform` of a frame a driver
returned), the columns worth a planner's statistics (:func:`planner_columns`); the
bookkeeping tables are
:data:`SETTINGS_TABLE`, :data:`FEATURE_VERSIONS_TABLE` and :data:`WRITE_CLOCK_TABLE`.

The names are imported on first use (PEP 562), so ``import metaxy.store`` loads no driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metaxy._lazy import lazy_getattr

if TYPE_CHECKING:
    from metaxy.engine.hashers import Hasher, duckdb_hasher, polars_hasher
    from metaxy.engine.sql import SampleHash
    from metaxy.engine.staged import StagedRows
    from metaxy.store.base import AccessMode, Increment, LazyIncrement, MetadataStore, Status
    from metaxy.store.contract import StoreContract
    from metaxy.store.frame_store import FrameStore
    from metaxy.store.locks import (
        NamedLocks,
        database_lock,
        file_lock,
        lock_file_name,
        locked_error,
    )
    from metaxy.store.registry import get_store
    from metaxy.store.sql import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE, SQLStore
    from metaxy.store.statistics import planner_columns
    from metaxy.store.types import conform, polars_dtype
    from metaxy.store.write_clock import WRITE_CLOCK_TABLE

__all__ = [
    "FEATURE_VERSIONS_TABLE",
    "SETTINGS_TABLE",
    "WRITE_CLOCK_TABLE",
    "AccessMode",
    "FrameStore",
    "Hasher",
    "Increment",
    "LazyIncrement",
    "MetadataStore",
    "NamedLocks",
    "SQLStore",
    "SampleHash",
    "StagedRows",
    "Status",
    "StoreContract",
    "conform",
    "database_lock",
    "duckdb_hasher",
    "file_lock",
    "get_store",
    "lock_file_name",
    "locked_error",
    "planner_columns",
    "polars_dtype",
    "polars_hasher",
]

_LAZY = {
    "FEATURE_VERSIONS_TABLE": "metaxy.store.sql",
    "SETTINGS_TABLE": "metaxy.store.sql",
    "WRITE_CLOCK_TABLE": "metaxy.store.write_clock",
    "AccessMode": "metaxy.store.base",
    "FrameStore": "metaxy.store.frame_store",
    "Hasher": "metaxy.engine.hashers",
    "Increment": "metaxy.store.base",
    "LazyIncrement": "metaxy.store.base",
    "MetadataStore": "metaxy.store.base",
    "NamedLocks": "metaxy.store.locks",
    "SQLStore": "metaxy.store.sql",
    "SampleHash": "metaxy.engine.sql",
    "StagedRows": "metaxy.engine.staged",
    "Status": "metaxy.store.base",
    "StoreContract": "metaxy.store.contract",
    "conform": "metaxy.store.types",
    "database_lock": "metaxy.store.locks",
    "duckdb_hasher": "metaxy.engine.hashers",
    "file_lock": "metaxy.store.locks",
    "get_store": "metaxy.store.registry",
    "lock_file_name": "metaxy.store.locks",
    "locked_error": "metaxy.store.locks",
    "planner_columns": "metaxy.store.statistics",
    "polars_dtype": "metaxy.store.types",
    "polars_hasher": "metaxy.engine.hashers",
}

__getattr__ = lazy_getattr("metaxy.store", _LAZY)
