"""Which installed distribution (package) a module belongs to, for error messages."""

from __future__ import annotations

import importlib.metadata
from functools import cache


@cache
def _module_to_dists() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def package_of(module: str | None) -> str | None:
    """The distribution that provides ``module`` (e.g. ``team-media``), or ``None`` if unknown."""
    if not module:
        return None
    top = module.split(".")[0]
    dists = _module_to_dists().get(top)
    if not dists:
        return None
    return dists[0]
