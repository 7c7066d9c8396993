"""The Python API behind the CLI: each function takes a project (and a store) and returns data.

The CLI only parses arguments and renders what these functions return, so everything here is
usable (and tested) from Python. The dataclasses are plain data: ``dataclasses.asdict`` gives the
``--format json`` output.

One job per module: :mod:`~metaxy.api.project` (loading a project and its store),
:mod:`~metaxy.api.definitions` (static feature definitions and config),
:mod:`~metaxy.api.state` (status, the run plan, resolve, delete, sample ids),
:mod:`~metaxy.api.causes` (why a sample is stale), :mod:`~metaxy.api.maintenance`
(cleanup of old history, compaction) and :mod:`~metaxy.api.sample_files` (root samples from a file).
Everything public is re-exported here, so
``from metaxy import api; api.status(...)`` is the way to use it.

The re-exports are lazy (PEP 562): ``from metaxy import api`` imports none of the submodules, so
the CLI starts without loading polars or SQLAlchemy until a command needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metaxy._lazy import lazy_getattr
from metaxy.errors import ApiError  # re-exported: it lived here before metaxy.errors

if TYPE_CHECKING:
    from metaxy.api.causes import Cause, Explanation, explain, raise_for_unknown
    from metaxy.api.definitions import (
        CodeChange,
        DepInfo,
        FeatureDescription,
        FeatureRow,
        FieldInfo,
        code_changes,
        config_show,
        describe,
        list_features,
        modified_features,
        select_features,
    )
    from metaxy.api.maintenance import (
        CleanupRow,
        OptimizeRow,
        break_lock,
        cleanup,
        delete_matches,
        delete_preview,
        optimize,
        parse_age,
    )
    from metaxy.api.project import Project, load_project, require_store_file, with_code_versions
    from metaxy.api.sample_files import IngestResult, ingest, parse_input_options
    from metaxy.api.scaffold import InitResult, init_team
    from metaxy.api.state import (
        ResolveResult,
        RunPlanRow,
        delete,
        increment_frame,
        needs_work,
        parse_ids,
        resolve,
        run_plan,
        stale_rules,
        status,
    )
    from metaxy.store.base import Status

__all__ = [
    "ApiError",
    "Cause",
    "CleanupRow",
    "CodeChange",
    "DepInfo",
    "Explanation",
    "FeatureDescription",
    "FeatureRow",
    "FieldInfo",
    "IngestResult",
    "InitResult",
    "OptimizeRow",
    "Project",
    "ResolveResult",
    "RunPlanRow",
    "Status",
    "break_lock",
    "cleanup",
    "code_changes",
    "config_show",
    "delete",
    "delete_matches",
    "delete_preview",
    "describe",
    "explain",
    "increment_frame",
    "ingest",
    "init_team",
    "list_features",
    "load_project",
    "modified_features",
    "needs_work",
    "optimize",
    "parse_age",
    "parse_ids",
    "parse_input_options",
    "raise_for_unknown",
    "require_store_file",
    "resolve",
    "run_plan",
    "select_features",
    "stale_rules",
    "status",
    "with_code_versions",
]

_LAZY = {
    "Cause": "metaxy.api.causes",
    "CleanupRow": "metaxy.api.maintenance",
    "CodeChange": "metaxy.api.definitions",
    "DepInfo": "metaxy.api.definitions",
    "Explanation": "metaxy.api.causes",
    "FeatureDescription": "metaxy.api.definitions",
    "FeatureRow": "metaxy.api.definitions",
    "FieldInfo": "metaxy.api.definitions",
    "IngestResult": "metaxy.api.sample_files",
    "InitResult": "metaxy.api.scaffold",
    "Project": "metaxy.api.project",
    "ResolveResult": "metaxy.api.state",
    "RunPlanRow": "metaxy.api.state",
    "Status": "metaxy.store.base",
    "cleanup": "metaxy.api.maintenance",
    "code_changes": "metaxy.api.definitions",
    "optimize": "metaxy.api.maintenance",
    "break_lock": "metaxy.api.maintenance",
    "OptimizeRow": "metaxy.api.maintenance",
    "config_show": "metaxy.api.definitions",
    "delete": "metaxy.api.state",
    "delete_matches": "metaxy.api.maintenance",
    "delete_preview": "metaxy.api.maintenance",
    "describe": "metaxy.api.definitions",
    "explain": "metaxy.api.causes",
    "increment_frame": "metaxy.api.state",
    "init_team": "metaxy.api.scaffold",
    "ingest": "metaxy.api.sample_files",
    "list_features": "metaxy.api.definitions",
    "load_project": "metaxy.api.project",
    "modified_features": "metaxy.api.definitions",
    "needs_work": "metaxy.api.state",
    "parse_age": "metaxy.api.maintenance",
    "parse_ids": "metaxy.api.state",
    "parse_input_options": "metaxy.api.sample_files",
    "raise_for_unknown": "metaxy.api.causes",
    "require_store_file": "metaxy.api.project",
    "resolve": "metaxy.api.state",
    "run_plan": "metaxy.api.state",
    "stale_rules": "metaxy.api.state",
    "select_features": "metaxy.api.definitions",
    "status": "metaxy.api.state",
    "with_code_versions": "metaxy.api.project",
}


__getattr__ = lazy_getattr("metaxy.api", _LAZY)

