"""A Dagster resource wrapping a metaxy store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from metaxy import FeatureGraph, load_config
from metaxy_dagster.increment import FeatureIncrement

if TYPE_CHECKING:
    from metaxy import Feature
    from metaxy.store import MetadataStore


class MetaxyStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A metaxy store, configured by name (from ``metaxy.toml``) or URL.

    Each asset body opens its own store (a fresh connection) for the duration of the body, so the
    resource is safe to share between runs; embedded databases (DuckDB files) still allow one
    writing process at a time, so use Dagster's in-process executor with them.
    """

    store: str | None = Field(
        default=None,
        description="Store URL (duckdb:///path, postgresql://...) or the name of a store in "
                    "metaxy.toml; default: the configured default store.")
    config_path: str | None = Field(
        default=None,
        description="Path of metaxy.toml (or pyproject.toml); default: searched from the "
                    "working directory.")

    def get_store(self, graph: FeatureGraph | None = None) -> MetadataStore:
        """An unopened store resolving features in ``graph`` (default: the active graph)."""
        from metaxy import get_store

        config = load_config(self.config_path) if self.config_path else load_config()
        return get_store(self.store, config=config, graph=graph)

    @contextlib.contextmanager
    def increment(self, context: Any, feature: type[Feature] | str, *,
                  graph: FeatureGraph | None = None,
                  samples: Any = None) -> Iterator[FeatureIncrement]:
        """Open the store for writing and yield the feature's increment.

        A downstream feature's increment is resolved on entry; a root feature's is resolved with
        ``samples`` when given (otherwise call ``inc.resolve(samples)`` in the body).
        """
        store = self.get_store(graph)
        with store.open("w"):
            inc = FeatureIncrement(context, store, feature)
            if not inc.is_root:
                inc.resolve()
            elif samples is not None:
                inc.resolve(samples)
            yield inc
