"""metaxy's Alembic custom operations and their autogenerate renderers.

Registered with ``Operations.register_operation`` / ``Operations.implementation_for`` on import, so
revision scripts call them as ``op.reconcile("speech/transcript")``,
``op.backfill("media/video", frame_or_callable)``, ``op.rename_feature("old/key", "new/key")``,
``op.rename_field("feature/key", "old", "new")`` and ``op.metaxy_not_reversible(...)``.

Data operations run through the metadata store (append-only) and are tracked per feature in the
store (:mod:`metaxy.migrations.reconcile`): a resumed upgrade skips features already done. In
offline (``--sql``) mode they print a comment instead: they need the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic.autogenerate import renderers  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.operations import MigrateOperation, Operations  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy.errors import MigrationError
from metaxy.migrations.reconcile import ADHOC, OpResult, backfill, reconcile, run_tracked
from metaxy.migrations.rename import Step, rename_feature_steps, rename_field_steps
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


@Operations.register_operation("rename_feature")
class RenameFeatureOp(MigrateOperation):
    """Carry a feature's rows to a new key, then reconcile its dependents (see rename)."""

    def __init__(self, old_key: str, new_key: str) -> None:
        self.old_key = old_key
        self.new_key = new_key

    @classmethod
    def rename_feature(cls, operations: Operations, old_key: str, new_key: str) -> Any:
        return operations.invoke(cls(old_key, new_key))

    def reverse(self) -> MigrateOperation:
        return NotReversibleOp("rename_feature", self.new_key)


@Operations.register_operation("rename_field")
class RenameFieldOp(MigrateOperation):
    """Carry a feature's rows to a new field name, then reconcile its dependents."""

    def __init__(self, feature: str, old: str, new: str) -> None:
        self.feature = feature
        self.old = old
        self.new = new

    @classmethod
    def rename_field(cls, operations: Operations, feature: str, old: str, new: str) -> Any:
        return operations.invoke(cls(feature, old, new))

    def reverse(self) -> MigrateOperation:
        return NotReversibleOp("rename_field", self.feature)


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


class RenameProposalOp(MigrateOperation):
    """Autogenerate only: a commented-out ``rename_feature`` / ``rename_field`` proposal."""

    def __init__(self, call: str, why: str) -> None:
        self.call = call
        self.why = why

    def reverse(self) -> MigrateOperation:
        return RenameProposalReverseOp(self.call)


class RenameProposalReverseOp(MigrateOperation):
    def __init__(self, call: str) -> None:
        self.call = call

    def reverse(self) -> MigrateOperation:
        return RenameProposalOp(self.call, "")


# ---------------------------------------------------------------------------- implementations
@contextmanager
def _failing_as_migration_error(state: MigrationState, operation: str,
                                feature: str) -> Iterator[None]:
    """Re-raise what a data operation raises as a MigrationError naming revision, operation and
    feature (the original chained). Progress is recorded per finished feature, so resuming is
    unaffected."""
    try:
        yield
    except MigrationError as e:
        if getattr(e, "_metaxy_op_wrapped", False):
            raise
        raise _wrapped(state, operation, feature, e) from e
    except Exception as e:
        raise _wrapped(state, operation, feature, e) from e


def _wrapped(state: MigrationState, operation: str, feature: str,
             error: Exception) -> MigrationError:
    revision = state.revision or ADHOC
    err = MigrationError(f"revision {revision}: {operation} of feature '{feature}' failed: "
                         f"{type(error).__name__}: {error}")
    err._metaxy_op_wrapped = True  # type: ignore[attr-defined]
    return err


def _run_steps(state: MigrationState, index: int, steps: list[Step]) -> None:
    for step in steps:
        with _failing_as_migration_error(state, step.operation, step.feature):
            state.results.append(run_tracked(
                state.store, state.project, state.revision or ADHOC, index, step.operation,
                step.feature, step.run, dry_run=state.dry_run))


def _graphs(state: MigrationState, what: str) -> tuple[Any, Any]:
    if not state.revision_from or not state.revision_to:
        raise MigrationError(f"revision {state.revision} has no metaxy_from_version / "
                             f"metaxy_to_version; {what} needs both")
    return state.snapshot_graph(state.revision_from), state.snapshot_graph(state.revision_to)


def _tracked(state: MigrationState, operation: str, feature: str,
             fn: Callable[[], OpResult]) -> None:
    index = state.next_op()
    _run_steps(state, index, [Step(operation, feature, fn)])


@Operations.implementation_for(ReconcileOp)
def _reconcile(operations: Operations, operation: ReconcileOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        fields = f" fields {operation.fields}" if operation.fields else ""
        ctx.impl.static_output(f"-- metaxy reconcile {operation.feature}{fields}: a data "
                               "operation, not rendered as SQL; run the upgrade online")
        return
    state = _require_state(operations, "op.reconcile")
    with _failing_as_migration_error(state, "reconcile", operation.feature):
        old, new = _graphs(state, "reconcile")
    _tracked(state, "reconcile", operation.feature,
             lambda: reconcile(state.store, operation.feature, old_graph=old, new_graph=new,
                               fields=operation.fields, dry_run=state.dry_run,
                               materialization_id=f"migration:{state.revision}"))


@Operations.implementation_for(BackfillOp)
def _backfill(operations: Operations, operation: BackfillOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        ctx.impl.static_output(f"-- metaxy backfill {operation.feature}: a data operation, not "
                               "rendered as SQL; run the upgrade online")
        return
    state = _require_state(operations, "op.backfill")
    with _failing_as_migration_error(state, "backfill", operation.feature):
        graph = state.snapshot_graph(state.revision_to) if state.revision_to else state.graph
    _tracked(state, "backfill", operation.feature,
             lambda: backfill(state.store, operation.feature, operation.data, graph=graph,
                              dry_run=state.dry_run,
                              materialization_id=f"migration:{state.revision}"))


@Operations.implementation_for(RenameFeatureOp)
def _rename_feature(operations: Operations, operation: RenameFeatureOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        ctx.impl.static_output(f"-- metaxy rename_feature {operation.old_key} -> "
                               f"{operation.new_key}: a data operation, not rendered as SQL; "
                               "run the upgrade online")
        return
    state = _require_state(operations, "op.rename_feature")
    index = state.next_op()
    with _failing_as_migration_error(state, "rename_feature", operation.new_key):
        old, new = _graphs(state, "rename_feature")
        steps = rename_feature_steps(state.store, operation.old_key, operation.new_key,
                                     old_graph=old, new_graph=new, dry_run=state.dry_run,
                                     materialization_id=f"migration:{state.revision}")
    _run_steps(state, index, steps)


@Operations.implementation_for(RenameFieldOp)
def _rename_field(operations: Operations, operation: RenameFieldOp) -> None:
    ctx = operations.migration_context
    if ctx.as_sql:
        ctx.impl.static_output(f"-- metaxy rename_field {operation.feature} {operation.old} -> "
                               f"{operation.new}: a data operation, not rendered as SQL (its "
                               "storage columns are added online); run the upgrade online")
        return
    state = _require_state(operations, "op.rename_field")
    index = state.next_op()
    with _failing_as_migration_error(state, "rename_field", operation.feature):
        old, new = _graphs(state, "rename_field")
        steps = rename_field_steps(state.store, operation.feature, operation.old, operation.new,
                                   old_graph=old, new_graph=new, dry_run=state.dry_run,
                                   materialization_id=f"migration:{state.revision}",
                                   operations=None if state.dry_run else operations)
    _run_steps(state, index, steps)


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


@renderers.dispatch_for(RenameFeatureOp)
def _render_rename_feature(autogen_context: Any, op: RenameFeatureOp) -> str:
    return f"op.rename_feature({op.old_key!r}, {op.new_key!r})"


@renderers.dispatch_for(RenameFieldOp)
def _render_rename_field(autogen_context: Any, op: RenameFieldOp) -> str:
    return f"op.rename_field({op.feature!r}, {op.old!r}, {op.new!r})"


@renderers.dispatch_for(RenameProposalOp)
def _render_rename_proposal(autogen_context: Any, op: RenameProposalOp) -> str:
    return "\n".join([
        f"# metaxy: {op.why}",
        "# If it is a rename, uncomment to carry the history (user columns and data versions",
        "# kept, provenance recomputed under the new names) and reconcile the dependents (the",
        "# reconcile proposals for them below are then not needed). Left commented, the renamed",
        "# samples are new and recomputed.",
        f"# {op.call}",
    ])


@renderers.dispatch_for(RenameProposalReverseOp)
def _render_rename_proposal_reverse(autogen_context: Any, op: RenameProposalReverseOp) -> str:
    return (f"# metaxy: if you enabled {op.call} in upgrade(), it is not reversed here (the "
            "carried rows stay; the old rows were never changed)")
