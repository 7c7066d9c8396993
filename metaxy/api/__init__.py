"""The Python API behind the CLI: each function takes a project (and a store) and returns data.

The CLI only parses arguments and renders what these functions return, so everything here is
usable (and tested) from Python. The dataclasses are plain data: ``dataclasses.asdict`` gives the
``--format json`` output.

One job per module: :mod:`~metaxy.api.project` (loading a project and its store),
:mod:`~metaxy.api.definitions` (static feature definitions and config),
:mod:`~metaxy.api.status` (status, plan, resolve, delete, sample ids),
:mod:`~metaxy.api.explain` (why a sample is stale) and :mod:`~metaxy.api.maintenance`
(cleanup of old history). Everything public is re-exported here, so
``from metaxy import api; api.status(...)`` is the way to use it.
"""

from __future__ import annotations

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
from metaxy.api.maintenance import CleanupRow, cleanup, parse_age
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
from metaxy.errors import ApiError  # re-exported: it lived here before metaxy.errors

__all__ = [
    "ApiError",
    "Cause",
    "CleanupRow",
    "DepInfo",
    "Explanation",
    "FeatureDescription",
    "FeatureRow",
    "FieldInfo",
    "PlanRow",
    "Project",
    "ResolveResult",
    "StatusRow",
    "cleanup",
    "config_show",
    "delete",
    "describe",
    "explain",
    "get_store",
    "increment_frame",
    "list_features",
    "load_project",
    "opened",
    "parse_age",
    "parse_ids",
    "plan",
    "resolve",
    "status",
    "with_code_versions",
]
