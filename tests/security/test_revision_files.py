"""Item 16: revision files stay inside versions/ and stay Python, whatever the id and message.

``--rev-id /abs/path`` or ``../../escape`` wrote outside ``versions/``; a ``-m`` message with
``\"\"\"`` (or a trailing backslash, a NUL...) produced a file that is not Python, after which
every migrations command failed with ``SyntaxError``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy.errors import MigrationError
from metaxy.migrations import api as mig
from tests.cli.conftest import one_line_error, run
from tests.migrations.conftest import PROJECT, populate, setup_migration


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rev_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def migrations(tmp_path: Path) -> Any:
    code = mx.load_features(mx.FeatureGraph())
    return setup_migration(f"duckdb:///{tmp_path / 'store.duckdb'}", code, tmp_path)[3]


@pytest.mark.parametrize("rev_id", ["ABSOLUTE", "../../escape", "a/b", "..", "a.b", "a-b",
                                    "", "x" * 65, "a b", "a\x00b", "é"])
def test_bad_revision_ids_are_refused(migrations: Any, tmp_path: Path, rev_id: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    rev_id = str(outside / "path") if rev_id == "ABSOLUTE" else rev_id  # an absolute path
    before = sorted(p for p in tmp_path.rglob("*") if p.suffix == ".py")
    with pytest.raises(MigrationError, match=r"revision id .* is invalid"):
        migrations.revision("m", rev_id=rev_id)
    assert sorted(p for p in tmp_path.rglob("*") if p.suffix == ".py") == before
    assert not list(outside.iterdir())


MESSAGES = ['say """hi"""', 'ends with a backslash \\', "\\", '"', '""""', "a\\nb",
            "nul \x00 byte", "cr\r\nlf", "line\u2028sep", "${upgrades} <% x %>", "'''",
            "tab\there", "", "  spaced  "]


def _check_message(m: Any, message: str) -> None:
    path = m.revision(message)
    assert path.parent == m.directory / "versions"
    module = _load(path)  # importable: no SyntaxError
    assert module.__doc__ is not None
    assert module.__doc__.split("\n\nRevision ID:")[0] == message
    m.script().get_revision(module.revision)  # every command parses the whole directory


def test_hostile_messages_give_importable_revisions(migrations: Any) -> None:
    for message in MESSAGES:
        _check_message(migrations, message)
    assert len(list(migrations.script().walk_revisions())) == len(MESSAGES)


def test_any_message_gives_an_importable_revision(migrations: Any) -> None:
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=80))
    def check(message: str) -> None:
        _check_message(migrations, message)

    check()


def test_cli_refuses_an_escaping_rev_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    (tmp_path / "metaxy.toml").write_text(
        f'project = "{PROJECT}"\nstore = "dev"\n[stores.dev]\nurl = "{url}"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    code = mx.load_features(mx.FeatureGraph())
    store = mx.get_store(url, graph=code)
    populate(store, code)
    mig.push(store, code, PROJECT)
    run("migrations", "init")
    line = one_line_error(run("migrations", "revision", "-m", "x", "--rev-id", "../../escape",
                              ok=False))
    assert "revision id '../../escape' is invalid" in line
    assert not list(tmp_path.parent.glob("escape*"))
    ok = run("migrations", "revision", "-m", 'quote """ and \\', "--rev-id", "abc_123")
    assert "abc_123" in ok.stdout
    assert "abc_123" in run("migrations", "history").stdout
