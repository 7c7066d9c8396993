"""The plugin's test backend ``postgresql`` (metaxy_postgres.testing): fresh databases, and
metaxy's skip-or-fail semantics when the server is unreachable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import metaxy_postgres.testing as pgt
import pytest

from metaxy.testing import backend_database, backends_under_test

UNREACHABLE = "postgresql://nobody:secret@127.0.0.1:1/none"


def test_the_plugin_declares_its_test_backend() -> None:
    backend = backends_under_test()["postgresql"]
    assert backend.fresh is pgt.fresh_store_url and backend.in_database


def test_unreachable_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(pgt, "DEFAULT_ADMIN_URL", UNREACHABLE)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="unreachable"):
        next(backend_database("postgresql", tmp_path))


def test_unreachable_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pgt, "DEFAULT_ADMIN_URL", UNREACHABLE)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unreachable") as err:
        next(backend_database("postgresql", tmp_path))
    assert "secret" not in str(err.value)


def test_importing_the_plugin_and_its_testing_module_imports_no_driver() -> None:
    code = ("import sys, metaxy_postgres, metaxy_postgres.testing; "
            "metaxy_postgres.metaxy_test_backends(); "
            "print(sorted(m for m in ('psycopg', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_fresh_database_is_empty_and_dropped_afterwards(pg_url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg"))
    try:
        with pgt.fresh_database(prefix="mx_probe_") as url:
            name = sa.make_url(url).database
            assert name is not None and name.startswith("mx_probe_")
            with admin.connect() as conn:
                assert conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                    {"n": name}).scalar() == 1
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": name}).scalar() is None
    finally:
        admin.dispose()
