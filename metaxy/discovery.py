"""Discovery of team packages' features through the ``metaxy.features`` entry points (SPEC §7).

Each entry point is imported inside :meth:`FeatureGraph.staged`, so a package that fails halfway
registers nothing. Entry points are loaded in (distribution, name) order, which makes loading
deterministic. A package whose features are already registered in another graph (tests load into
isolated graphs) is re-imported with the target graph active.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from metaxy import hookspecs
from metaxy.errors import MetaxyError, MetaxyWarning, PluginLoadError
from metaxy.graph import FeatureGraph
from metaxy.plugins import FEATURES_GROUP, EntryPointRef, entry_points


def _already_loaded(ref: EntryPointRef, graph: FeatureGraph) -> bool:
    """Whether the graph already holds features imported from this entry point's module."""
    module = ref.entry_point.module
    return any(
        graph.get(key).__module__ == module or graph.get(key).__module__.startswith(module + ".")
        for key in graph.keys
    )


def _purge(top: str) -> None:
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[name]


def _call_hook(obj: Any, ref: EntryPointRef) -> None:
    """An entry point may be an object implementing ``metaxy_features()``; call it."""
    pm = pluggy.PluginManager("metaxy")
    pm.add_hookspecs(hookspecs)
    pm.register(obj, name=ref.plugin_name)
    pm.check_pending()
    for result in pm.hook.metaxy_features():
        for item in result or ():
            if isinstance(item, ModuleType) or isinstance(item, type):
                continue  # importing them registered their classes already
            raise PluginLoadError(
                f"metaxy_features() of package {ref.dist} returned {item!r}, expected feature "
                "classes or modules",
                entry_point=ref.name,
                package=ref.dist,
            )


def load_entry_point(ref: EntryPointRef, graph: FeatureGraph, fresh: set[str]) -> None:
    """Import one team package's entry point into ``graph`` atomically."""
    if _already_loaded(ref, graph):
        return
    top = ref.entry_point.module.split(".")[0]
    if top not in fresh:
        _purge(top)
        fresh.add(top)
    with graph.use(), graph.staged():
        obj = ref.load()
        if not isinstance(obj, ModuleType) and hasattr(obj, "metaxy_features"):
            _call_hook(obj, ref)


def load_features(graph: FeatureGraph | None = None, *, strict: bool = True,
                  packages: list[str] | None = None, modules: Sequence[str] = (),
                  paths: Sequence[Path] = ()) -> FeatureGraph:
    """Load every installed team package's features and validate the graph.

    Args:
        graph: the graph to load into (default: the process's default graph).
        strict: raise on the first package that fails to load; otherwise warn
            (:class:`MetaxyWarning`), skip it and load the others.
        packages: only these distributions (default: all that declare ``metaxy.features``).
        modules: local feature modules to import as well (``entrypoints`` in ``metaxy.toml``),
            for code that is not an installed package.
        paths: folders put at the front of ``sys.path`` to import ``modules`` from.

    Returns:
        The graph, validated (missing upstreams and cycles raise).
    """
    graph = graph if graph is not None else FeatureGraph.get_active()
    fresh: set[str] = set()  # top-level packages re-imported during this call
    for ref in entry_points(FEATURES_GROUP):
        if packages is not None and ref.dist not in packages:
            continue
        try:
            load_entry_point(ref, graph, fresh)
        except MetaxyError as e:
            if strict:
                raise
            warnings.warn(f"skipped package {ref.dist}: {e}", MetaxyWarning, stacklevel=2)
    for folder in reversed(paths):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    for name in modules:
        try:
            load_local_module(name, graph, fresh)
        except MetaxyError as e:
            if strict:
                raise
            warnings.warn(f"skipped module {name}: {e}", MetaxyWarning, stacklevel=2)
    graph.validate()
    return graph


def load_local_module(name: str, graph: FeatureGraph, fresh: set[str]) -> None:
    """Import a feature module named in the configuration's ``entrypoints`` into ``graph``
    atomically (nothing when its features are loaded already, e.g. through an entry point)."""
    if any(graph.get(k).__module__ == name for k in graph.keys):
        return
    top = name.split(".")[0]
    if top not in fresh:
        _purge(top)
        fresh.add(top)
    try:
        with graph.use(), graph.staged():
            importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise PluginLoadError(
            f"entrypoints: cannot import module '{name}' ({e}); the folders of entrypoint_paths "
            "are searched first, then the installed packages", entry_point=name,
            package=None) from None


def import_module(name: str, graph: FeatureGraph) -> ModuleType:
    """Import a feature module into ``graph`` (used by tests and ``--module`` options)."""
    with graph.use(), graph.staged():
        return importlib.import_module(name)
