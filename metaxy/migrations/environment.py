"""What a metaxy project's ``env.py`` runs (the template's ``env.py`` only calls :func:`run`).

Online, the migration runs on the metadata store's own connection. Transactions: every revision
commits when its version row is written (``on_version_apply``); data operations commit per
feature (they go through the store's append path), so an interrupted upgrade keeps the finished
revisions and features and resumes from there. Offline (``--sql``), the DDL is printed for the
store's dialect and data operations print a comment. A store without SQL runs Alembic on an
in-memory SQLite connection (:mod:`metaxy.migrations.records_alembic`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from metaxy.errors import MigrationError
from metaxy.migrations.state import VERSION_TABLE, MigrationState

DEFAULT_PLUGINS = ("metaxy.*",)


def load_extensions(dialect: str) -> None:
    """Register metaxy's custom operations and autogenerate comparators with Alembic, and the
    Alembic implementation of ``dialect`` a store plugin provides (the ``metaxy_alembic_impl``
    hook; DuckDB's comes with its backend, :mod:`metaxy.store.duckdb_alembic`). Defining an
    implementation class registers it with Alembic; dialects Alembic knows need none."""
    from metaxy.migrations import autogen, operations  # noqa: F401  (registers the custom ops)

    autogen.register()
    from metaxy.plugins import get_plugin_manager

    get_plugin_manager().hook.metaxy_alembic_impl(dialect_name=dialect)


def run(context: Any, *, autogenerate_plugins: Sequence[str] = DEFAULT_PLUGINS) -> None:
    """Run the migration environment (called from ``env.py`` with ``alembic.context``)."""
    state = context.config.attributes.get("metaxy")
    if not isinstance(state, MigrationState):
        raise MigrationError("this env.py is run by metaxy: use `metaxy migrations ...` (or "
                             "metaxy.migrations.api), not the plain `alembic` command")
    load_extensions(state.dialect)
    metadata = state.graph.sa_registry.metadata
    if context.is_offline_mode():
        context.configure(dialect_name=state.dialect, literal_binds=True,
                          target_metadata=metadata, version_table=VERSION_TABLE,
                          metaxy_state=state)
        with context.begin_transaction():
            context.run_migrations()
        return
    if not state.sql:
        _run_on_records(context, state, autogenerate_plugins)
        return
    conn = state.store.sql_connection()
    if conn.in_transaction():
        conn.commit()

    def applied(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        state.applied.append(step.up_revision_id if step.is_upgrade else step.down_revision_ids)
        ctx.connection.commit()
        if state.progress is not None:
            state.progress(str(state.applied[-1]))

    context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE,
                      autogenerate_plugins=list(autogenerate_plugins),
                      transaction_per_migration=False, on_version_apply=[applied],
                      metaxy_state=state)
    migration_context = context.get_context()
    _track_steps(migration_context, state)
    try:
        context.run_migrations()
        if conn.in_transaction():
            conn.commit()
    except BaseException:
        if conn.in_transaction():
            conn.rollback()
        raise


def _run_on_records(context: Any, state: MigrationState,
                    autogenerate_plugins: Sequence[str]) -> None:
    """Run the migration on a store without SQL (:mod:`metaxy.migrations.records_alembic`): an
    in-memory SQLite connection holds Alembic's version table, loaded from the store's records
    and written back after every applied revision."""
    import sqlalchemy as sa

    from metaxy.migrations import records_alembic as RA

    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            RA.load_versions(conn, state)

            def applied(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
                state.applied.append(step.up_revision_id if step.is_upgrade
                                     else step.down_revision_ids)
                RA.save_versions(conn, state)
                conn.commit()
                if state.progress is not None:
                    state.progress(str(state.applied[-1]))

            context.configure(connection=conn, target_metadata=state.graph.sa_registry.metadata,
                              version_table=VERSION_TABLE,
                              autogenerate_plugins=list(autogenerate_plugins),
                              transaction_per_migration=False, on_version_apply=[applied],
                              metaxy_state=state)
            migration_context = context.get_context()
            RA.use_store_records(migration_context, state)
            _track_steps(migration_context, state)
            context.run_migrations()
            RA.save_versions(conn, state)
            conn.commit()
    finally:
        engine.dispose()


def _track_steps(migration_context: Any, state: MigrationState) -> None:
    """Tell the custom ops which revision runs (Alembic does not expose the current step)."""
    original = migration_context._migrations_fn
    if original is None:
        return

    def tracked(heads: Any, ctx: Any) -> Iterator[Any]:
        for step in original(heads, ctx):
            revision = getattr(step, "revision", None)
            if revision is not None:
                state.start_step(revision.revision, revision.module, step.is_upgrade)
            yield step

    migration_context._migrations_fn = tracked
