"""The plugin manager and deterministic entry-point loading.

pluggy's own ``load_setuptools_entrypoints`` silently skips an entry point whose *name* is already
registered (three teams naming theirs ``features`` would load one), so metaxy loads its groups
itself: sorted by (distribution, name), each registered as ``dist:name``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import pluggy

from metaxy import hookspecs
from metaxy.errors import (
    DuplicatePluginError,
    FeatureDefinitionError,
    PluginLoadError,
    describe_exception,
)
from metaxy.hookspecs import BackendSpec

PLUGINS_GROUP = "metaxy.plugins"
FEATURES_GROUP = "metaxy.features"
DISABLE_AUTOLOAD_ENV = "METAXY_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class EntryPointRef:
    """One entry point, with the distribution that declares it."""

    dist: str
    name: str
    value: str
    entry_point: importlib.metadata.EntryPoint

    @property
    def plugin_name(self) -> str:
        return f"{self.dist}:{self.name}"

    def load(self) -> Any:
        """Import the entry point; failures become :class:`PluginLoadError` naming the package."""
        try:
            return self.entry_point.load()
        except FeatureDefinitionError:
            raise  # already names the feature, its class and its package
        except Exception as e:
            raise PluginLoadError(
                f"entry point '{self.name} = {self.value}' of package {self.dist} failed to "
                f"load: {describe_exception(e)}",
                entry_point=self.name,
                package=self.dist,
            ) from e


def entry_points(group: str) -> list[EntryPointRef]:
    """The entry points of ``group``, sorted by (distribution, name), duplicates removed."""
    seen: set[tuple[str, str]] = set()
    refs: list[EntryPointRef] = []
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != group or (dist_name, ep.name) in seen:
                continue
            seen.add((dist_name, ep.name))
            refs.append(EntryPointRef(dist_name, ep.name, ep.value, ep))
    return sorted(refs, key=lambda r: (r.dist, r.name))


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("metaxy")
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(pm: pluggy.PluginManager,
                 refs: list[EntryPointRef] | None = None) -> pluggy.PluginManager:
    """Register every ``metaxy.plugins`` entry point with ``pm`` and check the result."""
    blocked = {n.strip() for n in os.environ.get("METAXY_BLOCK_PLUGINS", "").split(",") if n}
    for ref in refs if refs is not None else entry_points(PLUGINS_GROUP):
        if ref.name in blocked or ref.plugin_name in blocked:
            continue
        plugin = ref.load()
        if pm.get_plugin(ref.plugin_name) is None and not pm.is_registered(plugin):
            pm.register(plugin, name=ref.plugin_name)
    pm.check_pending()
    backends(pm)  # raises on duplicate backend names
    return pm


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with every installed plugin loaded.

    ``METAXY_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the built-in backends (DuckDB, SQLite, memory).
    """
    pm = _new_manager()
    if os.environ.get(DISABLE_AUTOLOAD_ENV):
        refs = [r for r in entry_points(PLUGINS_GROUP) if r.dist == "metaxy"]
        return load_plugins(pm, refs)
    return load_plugins(pm)


def backends(pm: pluggy.PluginManager) -> dict[str, tuple[BackendSpec, str]]:
    """Backend name -> (spec, plugin name); two plugins declaring one name is an error."""
    result: dict[str, tuple[BackendSpec, str]] = {}
    for impl in pm.hook.metaxy_store_backends.get_hookimpls():
        specs = cast("list[BackendSpec]", impl.function())
        for spec in specs:
            if spec.name in result:
                raise DuplicatePluginError(
                    f"store backend '{spec.name}' is declared by two plugins: "
                    f"{result[spec.name][1]} and {impl.plugin_name}"
                )
            result[spec.name] = (spec, impl.plugin_name)
    return result

