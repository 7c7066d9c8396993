"""Module-level ``__getattr__`` (PEP 562) that imports a public name's module on first use.

``import metaxy`` (and ``import metaxy.cli``) stays cheap: SQLAlchemy, Polars and the drivers
are imported only when a name that needs them is first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` resolving ``names`` (public name -> defining module) lazily."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
