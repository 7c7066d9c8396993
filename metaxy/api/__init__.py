"""The Python API behind the CLI: each function takes a project (and a store) and returns data.

The CLI only parses arguments and renders what these functions return, so everything here is
usable (and tested) from Python. The dataclasses are plain data: ``dataclasses.asdict`` gives the
``--format json`` output.

One job per module: :mod:`~metaxy.api.project` (loading a project and its store),
:mod:`~metaxy.api.definitions` (static feature definitions and config),
:mod:`~metaxy.api.status` (status, plan, resolve, delete, sample ids),
:mod:`~metaxy.api.explain` (why a sample is stale), :mod:`~metaxy.api.maintenance`
(cleanup of old history) and :mod:`~metaxy.api.ingest` (root samples from a file).
Everything public is re-exported here, so
``from metaxy import api; api.status(...)`` is the way to use it.

The re-exports are lazy (PEP 562): ``from metaxy import api`` imports none of the submodules, so
the CLI starts without loading polars or SQLAlchemy until a command needs them.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from metaxy._lazy import lazy_getattr
from metaxy.errors import ApiError  # re-exported: it lived here before metaxy.errors

if TYPE_CHECKING:
    from metaxy.api.definitions import (
        DepInfo,
        FeatureDescription,
        FeatureRow,
        FieldInfo,
        config_show,
        describe,
        list_features,
    )
    from metaxy.api.explain import Cause, Explanation, explain
    from metaxy.api.ingest import IngestResult, ingest, parse_input_options
    from metaxy.api.maintenance import CleanupRow, cleanup, delete_matches, parse_age
    from metaxy.api.project import Project, get_store, load_project, opened, with_code_versions
    from metaxy.api.status import (
        PlanRow,
        ResolveResult,
        StatusRow,
        delete,
        increment_frame,
        parse_ids,
        plan,
        resolve,
        status,
    )

__all__ = [
    "ApiError",
    "Cause",
    "CleanupRow",
    "DepInfo",
    "Explanation",
    "FeatureDescription",
    "FeatureRow",
    "FieldInfo",
    "IngestResult",
    "PlanRow",
    "Project",
    "ResolveResult",
    "StatusRow",
    "cleanup",
    "config_show",
    "delete",
    "delete_matches",
    "describe",
    "explain",
    "get_store",
    "increment_frame",
    "ingest",
    "list_features",
    "load_project",
    "opened",
    "parse_age",
    "parse_ids",
    "parse_input_options",
    "plan",
    "resolve",
    "status",
    "with_code_versions",
]

_LAZY = {
    "Cause": "metaxy.api.explain",
    "CleanupRow": "metaxy.api.maintenance",
    "DepInfo": "metaxy.api.definitions",
    "Explanation": "metaxy.api.explain",
    "FeatureDescription": "metaxy.api.definitions",
    "FeatureRow": "metaxy.api.definitions",
    "FieldInfo": "metaxy.api.definitions",
    "IngestResult": "metaxy.api.ingest",
    "PlanRow": "metaxy.api.status",
    "Project": "metaxy.api.project",
    "ResolveResult": "metaxy.api.status",
    "StatusRow": "metaxy.api.status",
    "cleanup": "metaxy.api.maintenance",
    "config_show": "metaxy.api.definitions",
    "delete": "metaxy.api.status",
    "delete_matches": "metaxy.api.maintenance",
    "describe": "metaxy.api.definitions",
    "explain": "metaxy.api.explain",
    "get_store": "metaxy.api.project",
    "increment_frame": "metaxy.api.status",
    "ingest": "metaxy.api.ingest",
    "list_features": "metaxy.api.definitions",
    "load_project": "metaxy.api.project",
    "opened": "metaxy.api.project",
    "parse_age": "metaxy.api.maintenance",
    "parse_ids": "metaxy.api.status",
    "parse_input_options": "metaxy.api.ingest",
    "plan": "metaxy.api.status",
    "resolve": "metaxy.api.status",
    "status": "metaxy.api.status",
    "with_code_versions": "metaxy.api.project",
}


__getattr__ = lazy_getattr("metaxy.api", _LAZY)


class _ApiModule(types.ModuleType):
    """Keeps ``api.status`` / ``api.explain`` / ``api.ingest`` the functions.

    Importing a submodule makes the import system set it as an attribute of this package
    (``api.status = <module metaxy.api.status>``), which would shadow the lazily re-exported
    function of the same name; the function is stored instead, as the eager imports used to do.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY \
                and value.__name__ == _LAZY[name]:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ApiModule
