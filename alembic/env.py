"""Alembic environment of a metaxy project (installed by ``metaxy migrations init``).

Run it through ``metaxy migrations upgrade|downgrade|revision ...``: metaxy hands Alembic the
store's connection, the feature graph and the project. Revision scripts may use metaxy's
operations (``op.reconcile``, ``op.backfill``) next to ordinary Alembic operations.
"""

from alembic import context  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from metaxy.migrations.environment import run

# Alembic runs autogenerate comparators only for the plugins named here. metaxy's plugin compares
# the last pushed graph snapshot with the code (no database reflection); Alembic's own
# reflection-based comparators ("alembic.autogenerate.*") are left out on purpose.
AUTOGENERATE_PLUGINS = ["metaxy.*"]

run(context, autogenerate_plugins=AUTOGENERATE_PLUGINS)
