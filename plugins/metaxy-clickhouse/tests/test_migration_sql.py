"""``metaxy migrations upgrade --sql`` on a ClickHouse server store prints the DDL the store
itself runs: ``ON CLUSTER`` / ``ReplicatedMergeTree`` / ``SETTINGS`` with ``cluster=`` and
``settings=``, the local and ``Distributed`` tables with ``distributed=`` (checked into
``snapshots/migrations.sql``; offline, nothing is connected to)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from metaxy_clickhouse.errors import ClickHouseMigrationError
from metaxy_clickhouse.store import ClickHouseStore

import metaxy as mx
from metaxy.migrations.api import Migrations
from metaxy.testing.graphs import define_suite_features

SNAPSHOT = Path(__file__).parent / "snapshots" / "migrations.sql"
SERVER = "clickhouse://metaxy:secret@clickhouse.example:8123/metadata"
REVISION = '''from alembic import op
import sqlalchemy as sa
revision = "aaa"
down_revision = None
branch_labels = None
depends_on = None
metaxy_from_version = None
metaxy_to_version = None


def upgrade():
    op.add_column("conf__root", sa.Column("language", sa.String()))
    op.create_table("extra", sa.Column("k", sa.String(), primary_key=True),
                    sa.Column("v", sa.Integer()))
    op.alter_column("conf__root", "value", new_column_name="amount",
                    existing_type=sa.Integer())
    op.drop_column("conf__root", "label")
    op.drop_table("extra")
{rename}

def downgrade():
    op.drop_column("conf__root", "language")
'''
EXTRA = sa.Table("extra", sa.MetaData(), sa.Column("k", sa.String(), primary_key=True),
                 sa.Column("v", sa.Integer()))


def _upgrade_sql(tmp_path: Path, rename: str = "",
                 **options: object) -> tuple[str, ClickHouseStore]:
    graph = mx.FeatureGraph()
    with graph.use():
        define_suite_features()
    store = ClickHouseStore(SERVER, graph=graph, **options)  # type: ignore[arg-type]
    migrations = Migrations(store, graph, "conf", tmp_path / "migrations")
    migrations.init()
    (tmp_path / "migrations" / "versions" / "aaa_layout.py").write_text(
        REVISION.format(rename=rename), encoding="utf-8")
    return migrations.upgrade("head", sql=True).sql or "", store


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


@pytest.mark.parametrize("options", [
    {"cluster": "metadata_cluster", "settings": {"index_granularity": 8192}},
    {"cluster": "metadata_cluster", "distributed": True},
])
def test_offline_ddl_is_the_stores_own(tmp_path: Path, options: dict[str, Any]) -> None:
    sql, store = _upgrade_sql(tmp_path, **options)
    statements = _statements(sql)
    created = [" ".join(s.split()) for s in store.create_table_statements(EXTRA)]
    at = statements.index(created[0])
    assert statements[at:at + len(created)] == created  # exactly what the store runs
    assert all(" ON CLUSTER `metadata_cluster`" in s for s in statements if
               not s.startswith("INSERT"))
    alters = [s for s in statements if s.startswith("ALTER TABLE")]
    if options.get("distributed"):  # every change on the local table, then the Distributed one
        assert [a.split()[2] for a in alters] == ["`conf__root_local`", "`conf__root`"] * 3
    else:
        assert len(alters) == 3
    assert "secret" not in sql


def test_offline_ddl_snapshot(tmp_path: Path) -> None:
    parts = []
    for name, options in (("cluster", {"cluster": "metadata_cluster",
                                       "settings": {"index_granularity": 8192}}),
                          ("distributed", {"cluster": "metadata_cluster", "distributed": True})):
        sql, _ = _upgrade_sql(tmp_path / name, **options)
        parts.append(f"-- {name}\n" + "".join(f"{s};\n" for s in _statements(sql)))
    text = re.sub(r"[ \t]+\n", "\n", "".join(parts))
    if os.environ.get("METAXY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text.splitlines() == SNAPSHOT.read_text(encoding="utf-8").splitlines(), \
        "the --sql DDL changed: review the diff, rerun with METAXY_UPDATE_SNAPSHOTS=1"


def test_renaming_a_distributed_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClickHouseMigrationError, match="Distributed table names its local"):
        _upgrade_sql(tmp_path, rename='    op.rename_table("conf__root", "conf__base")',
                     cluster="metadata_cluster", distributed=True)
    sql, _ = _upgrade_sql(tmp_path / "replicated",
                          rename='    op.rename_table("conf__root", "conf__base")',
                          cluster="metadata_cluster")
    assert "RENAME TABLE `conf__root` TO `conf__base` ON CLUSTER `metadata_cluster`" in sql


def test_distributed_needs_a_cluster() -> None:
    from metaxy_clickhouse.errors import ClickHouseOptionError

    with pytest.raises(ClickHouseOptionError, match="needs cluster"):
        ClickHouseStore(SERVER, distributed=True)
    assert "distributed_foreground_insert" in ClickHouseStore(
        SERVER, cluster="c", distributed=True).session_settings()
