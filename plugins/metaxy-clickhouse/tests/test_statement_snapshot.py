"""Every statement metaxy sends to ClickHouse, checked into a snapshot (no server runs here).

A server store (``clickhouse://``) and a chDB store compile with the same SQLAlchemy dialect
(``clickhousedb``); only the transport differs. So the workflow below (writes, reads, every kind
of increment and status, soft and hard delete, cleanup) runs on chDB with every statement
recorded, and the DDL and mutations of *server* stores with ``cluster=``, ``settings=`` and
``distributed=`` are compiled without a connection (no cluster runs here). A change of any
statement shows up as a diff of ``snapshots/statements.sql``; rewrite it with
``METAXY_UPDATE_SNAPSHOTS=1``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from metaxy_clickhouse.store import ClickHouseStore

import metaxy as mx
from metaxy.engine import sql as Q
from metaxy.store import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE
from metaxy.testing.graphs import define_suite_features
from metaxy.testing.suite import materialize, root_samples

SNAPSHOT = Path(__file__).parent / "snapshots" / "statements.sql"
_VOLATILE = [
    (re.compile(r"mx_samples_[0-9a-f]{12}"), "mx_samples_<random>"),
    (re.compile(r"mx_test_[0-9a-f]{12}"), "mx_test_<random>"),
    (re.compile(r"'/tmp/[^']*'"), "'<file>'"),
]
SERVER = "clickhouse://metaxy:***@clickhouse.example:8123/metadata"


def _normalised(sql: str) -> str:
    for pattern, repl in _VOLATILE:
        sql = pattern.sub(repl, sql)
    return " ".join(sql.split())


def _workflow(store: ClickHouseStore) -> list[str]:
    feats = define_suite_features()
    seen: list[str] = []
    with store.open("w"):
        store.on_statement = seen.append
        materialize(store, feats.root, samples=root_samples(
            {"x": ("ax", "bx"), "y": ("ay", "by"), "z": ("az", "bz")}))
        for f in (feats.child, feats.parts, feats.agg, feats.bylabel):
            materialize(store, f)
        store.status(feats.agg)
        store.resolve_update(feats.child, where=feats.child.sid == "x")  # type: ignore[attr-defined]
        store.read(feats.root, with_history=True)
        store.delete(feats.root, feats.root.sid == "y")  # type: ignore[attr-defined]
        store.delete(feats.root, feats.root.sid == "z", soft=False)  # type: ignore[attr-defined]
        store.cleanup(feats.root, datetime(2999, 1, 1, tzinfo=UTC))
        store.on_statement = None
        server = ClickHouseStore(SERVER, cluster="metadata_cluster",
                                 settings={"index_granularity": 8192, "storage_policy": "s3"})
        sharded = ClickHouseStore(SERVER, cluster="metadata_cluster", distributed=True)
        tables = (SETTINGS_TABLE, FEATURE_VERSIONS_TABLE,
                  *(f.__table__ for f in (feats.root, feats.parts, feats.bylabel)))  # type: ignore[attr-defined]
        ddl = [server.create_table_sql(t) for t in tables]
        ddl += [s for t in tables for s in sharded.create_table_statements(t)]
        root: sa.Table = feats.root.__table__  # type: ignore[attr-defined]
        latest = Q.latest(root, ("sid",), include_deleted=True)
        where = root.c.sid.in_(sa.select(latest.c.sid).where(latest.c.value > 1))
        dialect = store.conn.dialect
        ddl += [server.delete_statement(root, where, dialect)[0],
                sharded.delete_statement(root, where, dialect)[0],
                sharded.drop_sql(root)]
    return [*seen, *ddl]


def test_every_statement_matches_the_snapshot(chdb_url: str) -> None:
    with mx.FeatureGraph.isolated():
        store = mx.get_store(chdb_url)
        assert isinstance(store, ClickHouseStore)
        text = "".join(f"{_normalised(s)};\n" for s in _workflow(store))
    if os.environ.get("METAXY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert text.splitlines() == expected.splitlines(), \
        "statements changed: review the diff, rerun with METAXY_UPDATE_SNAPSHOTS=1"
