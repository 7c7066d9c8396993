"""metaxy's Alembic custom operations and their autogenerate renderers.

Registered with ``Operations.register_operation`` / ``Operations.implementation_for`` on import, so
revision scripts call them as ``op.reconcile("speech/transcript")``,
``op.backfill("media/video", frame_or_callable)`` and ``op.metaxy_not_reversible(...)``.

Data operations run through the metadata store (append-only) and are tracked per feature in the
store (:mod:`metaxy.migrations.reconcile`): a resumed upgrade skips features already done. In
offline (``--sql``) mode they print a comment instead: they need the data.
"""

from __future__ import annotations

import logging
from typing import Any

from alembic.autogenerate import renderers  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.operations import MigrateOperation, Operations  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy.errors import MigrationError
from metaxy.migrations.reconcile import ADHOC, backfill, reconcile, run_tracked
from metaxy.migrations.state import MigrationState

log = logging.getLogger("metaxy.migrations")


def _state(operations: Operations) -> MigrationState | None:
    config = operations.migration_context.config
    state = config.attributes.get("metaxy") if config is not None else None
    return state if isinstance(state, MigrationState) else None


def _require_state(operations: Operations, what: str) -> MigrationState:
    state = _state(operations)
    if state is None:
        raise MigrationError(f"{what} needs metaxy's migration environment; run revisions with "
                             "`metaxy migrations upgrade` (env.py must call "
                             "metaxy.migrations.environment.run)")
    return state


@Operations.register_operation("reconcile")
class ReconcileOp(MigrateOperation):
    """Reconcile a feature's provenance to the new graph without recomputing (see reconcile)."""

    def __init__(self, feature: str, fields: list[str] | None = None) -> None:
        self.feature = feature
        self.fields = list(fields) if fields else None

    @classmethod
    def reconcile(cls, operations: Operations, feature: str,
                  fields: list[str] | None = None) -> Any:
        return operations.invoke(cls(feature, fields))

    def reverse(self) -> MigrateOperation:
        return NotReversibleOp("reconcile", self.feature)


@Operations.register_operation("backfill")
class BackfillOp(MigrateOperation):
    """Append metadata for a feature from a frame or a callable ``(store) -> frame``."""

    def __init__(self, feature: str, data: Any) -> None:
        self.feature = feature
        self.data = data

    @classmethod
    def backfill(cls, operations: Operations, feature: str, data: Any) -> Any:
        return operations.invoke(cls(feature, data))


@Operations.register_operation("metaxy_not_reversible")
class NotReversibleOp(MigrateOperation):
    """Marks, in ``downgrade()``, a data operation that is not undone (its rows stay)."""

    def __init__(self, operation: str, feature: str) -> None:
        self.operation = operation
        self.feature = feature

    @classmethod
    def metaxy_not_reversible(cls, operations: Operations, operation: str, feature: str) -> Any:
        return operations.invoke(cls(operation, feature))


class ReconcileProposalOp(MigrateOperation):
    """Autogenerate only: a commented-out reconcile proposal; the author decides."""

    def __init__(self, feature: str, reasons: list[str]) -> None:
        self.feature = feature
        self.reasons = reasons

    def reverse(self) -> MigrateOperation:
        return ReconcileProposalReverseOp(self.feature)


class ReconcileProposalReverseOp(MigrateOperation):
    def __init__(self, feature: str) -> None:
        self.feature = feature

    def reverse(self) -> MigrateOperation:
        return ReconcileProposalOp(self.feature, [])


# ---------------------------------------------------------------------------- implementations
@Operations.implementation_for(ReconcileOp)
def _reconcile(operations: Operations, operation: ReconcileOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        fields = f" fields {operation.fields}" if operation.fields else ""
        ctx.impl.static_output(f"-- metaxy reconcile {operation.feature}{fields}: a data "
                               "operation, not rendered as SQL; run the upgrade online")
        return
    state = _require_state(operations, "op.reconcile")
    if not state.revision_from or not state.revision_to:
        raise MigrationError(f"revision {state.revision} has no metaxy_from_version / "
                             "metaxy_to_version; reconcile needs both")
    old = state.snapshot_graph(state.revision_from)
    new = state.snapshot_graph(state.revision_to)
    index = state.next_op()
    result = run_tracked(
        state.store, state.project, state.revision or ADHOC, index, "reconcile",
        operation.feature,
        lambda: reconcile(state.store, operation.feature, old_graph=old, new_graph=new,
                          fields=operation.fields, dry_run=state.dry_run,
                          materialization_id=f"migration:{state.revision}"),
        dry_run=state.dry_run,
    )
    state.results.append(result)


@Operations.implementation_for(BackfillOp)
def _backfill(operations: Operations, operation: BackfillOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        ctx.impl.static_output(f"-- metaxy backfill {operation.feature}: a data operation, not "
                               "rendered as SQL; run the upgrade online")
        return
    state = _require_state(operations, "op.backfill")
    graph = state.snapshot_graph(state.revision_to) if state.revision_to else state.graph
    index = state.next_op()
    result = run_tracked(
        state.store, state.project, state.revision or ADHOC, index, "backfill",
        operation.feature,
        lambda: backfill(state.store, operation.feature, operation.data, graph=graph,
                         dry_run=state.dry_run,
                         materialization_id=f"migration:{state.revision}"),
        dry_run=state.dry_run,
    )
    state.results.append(result)


@Operations.implementation_for(NotReversibleOp)
def _not_reversible(operations: Operations, operation: NotReversibleOp) -> None:
    message = (f"{operation.operation} of '{operation.feature}' is a data operation and is not "
               "reversed: its appended rows stay in the store")
    ctx = operations.migration_context
    if ctx.as_sql:
        ctx.impl.static_output(f"-- metaxy: {message}")
        return
    log.warning("metaxy: %s", message)


# ---------------------------------------------------------------------------- renderers
@renderers.dispatch_for(ReconcileOp)
def _render_reconcile(autogen_context: Any, op: ReconcileOp) -> str:
    if op.fields:
        return f"op.reconcile({op.feature!r}, fields={op.fields!r})"
    return f"op.reconcile({op.feature!r})"


@renderers.dispatch_for(NotReversibleOp)
def _render_not_reversible(autogen_context: Any, op: NotReversibleOp) -> str:
    return f"op.metaxy_not_reversible({op.operation!r}, {op.feature!r})"


@renderers.dispatch_for(ReconcileProposalOp)
def _render_proposal(autogen_context: Any, op: ReconcileProposalOp) -> str:
    lines = [f"# metaxy: the field versions of '{op.feature}' changed:"]
    lines += [f"#   {r}" for r in op.reasons]
    lines += [
        "# If the change does not alter what the feature computes (refactor, cosmetic change),",
        "# uncomment to reconcile: its samples are marked up to date without recomputation and",
        "# nothing downstream turns stale. Leave it commented to recompute the stale samples.",
        f"# op.reconcile({op.feature!r})",
    ]
    return "\n".join(lines)


@renderers.dispatch_for(ReconcileProposalReverseOp)
def _render_proposal_reverse(autogen_context: Any, op: ReconcileProposalReverseOp) -> str:
    return (f"# metaxy: if you enabled the reconcile of {op.feature!r} in upgrade(), it is not "
            "reversed here (its rows stay as history)\n"
            f"# op.metaxy_not_reversible('reconcile', {op.feature!r})")
