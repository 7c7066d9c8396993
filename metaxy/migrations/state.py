"""The state shared between metaxy's migration API, the ``env.py`` runner and the custom ops.

Alembic loads ``env.py`` and revision scripts as plain modules; metaxy hands them its state through
``Config.attributes["metaxy"]`` (see :mod:`metaxy.migrations.environment`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metaxy.graph import FeatureGraph

if TYPE_CHECKING:
    from metaxy.migrations.reconcile import OpResult
    from metaxy.migrations.snapshots import Snapshot
    from metaxy.store.base import MetadataStore

VERSION_TABLE = "metaxy_alembic_version"
PLUGIN_NAME = "metaxy.snapshot"


@dataclass
class MigrationState:
    store: MetadataStore
    graph: FeatureGraph  # the code's graph
    project: str
    dialect: str
    dry_run: bool = False
    #: False on a store without SQL (``memory://``, ``delta:///``): records, not SQL tables
    sql: bool = True
    #: set by ``revision``: the project versions the new revision goes from and to
    from_version: str | None = None
    to_version: str | None = None
    base_snapshot: Snapshot | None = None
    #: autogenerate: write drop_column of columns holding data (else commented out)
    allow_drop: bool = False
    #: autogenerate: what the author must look at (column renames, drops kept commented)
    warnings: list[str] = field(default_factory=list)
    #: set while a revision runs
    revision: str | None = None
    revision_from: str | None = None
    revision_to: str | None = None
    op_index: int = 0
    results: list[OpResult] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    #: called with a revision id each time one is applied (the CLI drives a progress bar)
    progress: Callable[[str], None] | None = None
    _graphs: dict[str, FeatureGraph] = field(default_factory=dict)

    def start_step(self, revision: str, module: Any, is_upgrade: bool) -> None:
        self.revision = revision
        frm = getattr(module, "metaxy_from_version", None)
        to = getattr(module, "metaxy_to_version", None)
        self.revision_from, self.revision_to = (frm, to) if is_upgrade else (to, frm)
        self.op_index = 0

    def next_op(self) -> int:
        self.op_index += 1
        return self.op_index

    def snapshot_graph(self, project_version: str) -> FeatureGraph:
        """The graph recorded at a project version (the code's graph when it is that version)."""
        from metaxy.migrations.snapshots import require_snapshot
        from metaxy.versions import versions_of

        if versions_of(self.graph).project_version(self.project) == project_version:
            return self.graph
        if project_version not in self._graphs:
            snap = require_snapshot(self.store, self.project, project_version)
            self._graphs[project_version] = snap.graph()
        return self._graphs[project_version]
