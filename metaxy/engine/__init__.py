"""The engine: what a ``resolve_update`` and a write compute, independent of any store.

The layer below :mod:`metaxy.store` (which imports it, never the reverse): the resolve plan
(:func:`build_plan`), its two compilers (SQL: :mod:`metaxy.engine.sql`; Polars:
:mod:`metaxy.engine.frames`), the ``where=`` filter subset (:mod:`metaxy.engine.filters`), the
raw-row protocol between the compilers and the stores (:mod:`metaxy.engine.protocol`), the staged
rows of a write with their hash recipe (:class:`StagedRows`) and the hashers that finish them.

A backend plugin uses these names (also re-exported by :mod:`metaxy.store`): it compiles
:class:`SampleHash` for its dialect, finishes :class:`StagedRows` in its bulk-insert path with a
:data:`Hasher` or :meth:`StagedRows.finish_select`, and returns raw increment rows that
:func:`split_increment` turns into an ``Increment``.

The re-exports are lazy (PEP 562): ``import metaxy.engine`` loads neither SQLAlchemy nor Polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metaxy._lazy import lazy_getattr

if TYPE_CHECKING:
    from metaxy.engine.hashers import Hasher, duckdb_hasher, polars_hasher
    from metaxy.engine.plan import ResolvePlan, build_plan, user_columns
    from metaxy.engine.protocol import STALE_FLAG, STATUS, STORED, split_increment, to_api
    from metaxy.engine.sql import OrderedConcat, SampleHash
    from metaxy.engine.staged import Constant, FieldHashes, HashRecipe, StagedRows
    from metaxy.hashing import FULL_LENGTH

__all__ = [
    "FULL_LENGTH",
    "STALE_FLAG",
    "STATUS",
    "STORED",
    "Constant",
    "FieldHashes",
    "HashRecipe",
    "Hasher",
    "OrderedConcat",
    "ResolvePlan",
    "SampleHash",
    "StagedRows",
    "build_plan",
    "duckdb_hasher",
    "polars_hasher",
    "split_increment",
    "to_api",
    "user_columns",
]

_LAZY = {
    "FULL_LENGTH": "metaxy.hashing",
    "STALE_FLAG": "metaxy.engine.protocol",
    "STATUS": "metaxy.engine.protocol",
    "STORED": "metaxy.engine.protocol",
    "Constant": "metaxy.engine.staged",
    "FieldHashes": "metaxy.engine.staged",
    "HashRecipe": "metaxy.engine.staged",
    "Hasher": "metaxy.engine.hashers",
    "OrderedConcat": "metaxy.engine.sql",
    "ResolvePlan": "metaxy.engine.plan",
    "SampleHash": "metaxy.engine.sql",
    "StagedRows": "metaxy.engine.staged",
    "build_plan": "metaxy.engine.plan",
    "duckdb_hasher": "metaxy.engine.hashers",
    "polars_hasher": "metaxy.engine.hashers",
    "split_increment": "metaxy.engine.protocol",
    "to_api": "metaxy.engine.protocol",
    "user_columns": "metaxy.engine.plan",
}

__getattr__ = lazy_getattr("metaxy.engine", _LAZY)
