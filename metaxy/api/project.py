"""The project: configuration plus feature graph, and the store it points at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metaxy import columns as C
from metaxy.config import MetaxyConfig, load_config
from metaxy.discovery import load_features
from metaxy.errors import ApiError, StoreFileNotFoundError
from metaxy.graph import FeatureGraph
from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore


@dataclass(frozen=True)
class Project:
    """A loaded project: its configuration and its feature graph."""

    config: MetaxyConfig
    graph: FeatureGraph

    @property
    def version(self) -> str:
        """The project version: a hash of every feature version of the graph."""
        return versions_of(self.graph).project_version(self.config.project)

    def store(self, url_or_name: str | None = None) -> MetadataStore:
        """The project's store (unopened), bound to the project's graph and configuration.

        The same as ``mx.get_store(url_or_name, config=project.config, graph=project.graph)``.

        Args:
            url_or_name: a store URL or the name of a configured store; default: the
                configured default store.

        Raises:
            StoreNotFoundError: no configured store of that name, or no backend for the URL.
        """
        from metaxy.store.registry import get_store

        return get_store(url_or_name, config=self.config, graph=self.graph)


def require_store_file(store: MetadataStore) -> None:
    """Refuse to read a file store (DuckDB, SQLite) whose file does not exist.

    Opening such a store for reading would show an empty store (all zeros, exit code 0), which
    hides a typo in the path; every read of the CLI and the API (``status``, ``run_plan``,
    ``explain``, ``resolve``) calls this first. Writing (``ingest``, the demo, a pipeline)
    creates the file.

    Raises:
        StoreFileNotFoundError: the store's file does not exist.
    """
    from pathlib import Path

    path = getattr(store, "path", None)
    if isinstance(path, str) and path not in ("", ":memory:") and not Path(path).exists():
        raise StoreFileNotFoundError(
            f"store file {path} does not exist ({store.display()}): check the path; a write "
            "(metaxy ingest, metaxy demo, store.write) creates it")


def load_project(config: MetaxyConfig | None = None, *, strict: bool = True) -> Project:
    """Read the configuration and discover every installed team package's features."""
    config = config if config is not None else load_config()
    packages = list(config.packages) if config.packages is not None else None
    paths = [(config.root / p).resolve() for p in config.entrypoint_paths]
    graph = load_features(strict=strict, packages=packages, modules=config.entrypoints,
                          paths=paths if config.entrypoints else ())
    return Project(config, graph)


def with_code_versions(graph: FeatureGraph,
                       overrides: dict[str, dict[str, str]]) -> FeatureGraph:
    """A copy of ``graph`` whose fields carry other code versions.

    ``overrides`` maps feature key -> {field key -> code_version}. Every feature class is
    re-created in a fresh graph (same columns, same spec except the overridden code versions), so
    the copy can be handed to a store (``get_store(url, graph=copy)``) without touching the
    process's own classes. This is how the demo shows a ``code_version`` bump without editing a
    team package on disk, and how a test can ask "what would this bump make stale?".
    """
    from metaxy.feature import Feature, FeatureMeta

    for name, fields in overrides.items():
        known = {str(f) for f in graph.spec(name).field_keys}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ApiError(f"feature '{name}' has no field(s) {unknown} (fields: {sorted(known)})")
    copy = FeatureGraph()
    with copy.use():
        for key in graph.topological_order():
            cls = graph.get(key)
            spec = cls.spec()
            bumped = overrides.get(str(key), {})
            if bumped:
                spec = spec.model_copy(update={"fields": tuple(
                    f.model_copy(update={"code_version": bumped[str(f.key)]})
                    if str(f.key) in bumped else f for f in spec.fields)})
            annotations: dict[str, Any] = {}
            ns: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            for name, info in cls.model_fields.items():
                if name in Feature.model_fields or C.is_reserved(name):
                    continue
                annotations[name] = info.annotation
                if not info.is_required():
                    ns[name] = info.default
            ns["__annotations__"] = annotations
            FeatureMeta(cls.__name__, (Feature,), ns, table=True, spec=spec)
    copy.validate()
    return copy

