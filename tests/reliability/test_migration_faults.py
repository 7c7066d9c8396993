"""Migrations under concurrency and crashes on PostgreSQL (issue 7 items 5-7).

Runner A (a child) applies the example project's reconcile revision and parks right after the
reconcile appended its rows -- inside the migration's transaction, holding the advisory lock.
Runner B (another child) must fail clearly with ``StoreLockedError`` and change nothing. A is then
SIGKILLed mid-migration: nothing of it may remain; a rerun applies the revision exactly once, and
a second ``upgrade head`` is a no-op. (Single-process idempotency and resume-after-exception are
covered by tests/migrations/test_migrations.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import metaxy as mx
from tests.reliability.faultlib import Child


def _versions(store: Any) -> list[str]:
    from metaxy.migrations.state import VERSION_TABLE

    conn = store.conn
    if VERSION_TABLE not in sa.inspect(conn).get_table_names():
        conn.commit()
        return []
    rows = conn.execute(sa.select(sa.table(VERSION_TABLE, sa.column("version_num")))).all()
    conn.commit()
    return [r[0] for r in rows]


def test_concurrent_and_killed_upgrade(pg_url: str, tmp_path: Path) -> None:
    pytest.importorskip("alembic")
    from metaxy.migrations import api
    from tests.migrations.conftest import (
        PROJECT,
        bump_transcript,
        make_migrations,
        populate,
        variant,
    )

    code = mx.load_features(mx.FeatureGraph())
    populate(mx.get_store(pg_url, graph=code), code)
    assert api.push(mx.get_store(pg_url, graph=code), code, PROJECT).created
    new = variant(code, bump_transcript)
    store = mx.get_store(pg_url, graph=new)
    directory = tmp_path / "migrations"
    m = make_migrations(store, new, directory)
    m.init()
    path = m.revision("refactor", autogenerate=True)
    text = path.read_text()
    path.write_text(text.replace("# op.reconcile('speech/transcript')",
                                 "op.reconcile('speech/transcript')"))
    with store:
        history = store.read("speech/transcript", with_history=True).height
        assert store.status("speech/transcript").stale == 3

    a = Child("migrate", pg_url, str(directory), "park")
    try:
        a.expect("reconciled")
        b = Child("migrate", pg_url, str(directory), "run")
        code_b, err_b = b.finish(timeout=120)
        assert code_b == 0, err_b
    finally:
        a.kill()
    assert "locked:" in b.out and "another `metaxy migrations` run" in b.out, b.out
    with store:
        # data operations commit per feature (they are resumable, never reversed): A's
        # reconciled rows may stay, but the revision is not stamped
        partial = store.read("speech/transcript", with_history=True).height - history
        assert partial in (0, 2)
        assert _versions(store) == []
    assert m.current() == []

    report = m.upgrade("head")
    assert report.applied and report.rows_appended == 2 - partial
    with store:
        assert store.read("speech/transcript", with_history=True).height == history + 2
        assert len(_versions(store)) == 1
        assert store.status("speech/transcript").stale == 1  # c was stale before: stays stale
    again = m.upgrade("head")
    assert again.applied == [] and again.rows_appended == 0
    with store:
        assert store.read("speech/transcript", with_history=True).height == history + 2
        assert len(_versions(store)) == 1
