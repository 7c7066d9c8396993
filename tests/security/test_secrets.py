"""A password in a store URL never leaks (issue 7 item 11; B6 case 20).

Checked artefacts: ``repr(store)``, ``store.display()``, error messages and their whole chain of
causes (unreachable server), log records at DEBUG, ``MetaxyConfig.redacted()``, and the CLI's
``config show`` output when that command exists.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

import metaxy as mx
from metaxy.config import load_config, redact_url
from metaxy.errors import MetaxyError
from tests.reliability.faultlib import SECRET, make_store, open_error, postgres_plugin_missing

URLS = [
    f"postgresql://metaxy:{SECRET}@127.0.0.1:1/nowhere",
    f"postgresql+psycopg://metaxy:{SECRET}@127.0.0.1:1/nowhere?sslmode=disable",
    f"postgresql://metaxy@127.0.0.1:1/nowhere?password={SECRET}&application_name=x",
]


def _chain(error: BaseException) -> str:
    """Every message and traceback line of an exception and its causes/contexts."""
    return "".join(traceback.format_exception(error))


@pytest.mark.parametrize("url", URLS)
def test_redact_url(url: str) -> None:
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert "***" in redacted
    assert "127.0.0.1" in redacted


@pytest.mark.parametrize("url", URLS)
def test_password_absent_from_repr_display_errors_and_logs(
        url: str, caplog: pytest.LogCaptureFixture, features: Any) -> None:
    reason = postgres_plugin_missing()
    if reason is not None:
        with pytest.raises(MetaxyError) as info:
            make_store(url)
        assert SECRET not in _chain(info.value)
        pytest.skip(f"store repr/connection part needs the plugin: {reason}")
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "metaxy", "psycopg"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    store = make_store(url)
    assert SECRET not in repr(store)
    assert SECRET not in store.display()
    assert SECRET not in str(store)
    error = open_error(store)
    assert isinstance(error, MetaxyError), error
    assert SECRET not in _chain(error)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args)


def test_password_absent_from_config_and_cli(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "metaxy.toml"
    config_file.write_text(
        'project = "p"\nstore = "prod"\n'
        f'[stores.prod]\nurl = "postgresql://metaxy:{SECRET}@db.example:5432/metaxy"\n',
        encoding="utf-8",
    )
    config = load_config(config_file)
    assert SECRET not in str(config.redacted())
    assert config.store_config("prod").url.endswith("/metaxy")  # the real URL is kept for use

    from typer.testing import CliRunner

    from metaxy.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("METAXY_CONFIG", str(config_file))
    runner = CliRunner()
    commands = {c.name for c in app.registered_commands}
    groups = {g.name: g for g in app.registered_groups}
    if "config" not in groups and "config" not in commands:
        pytest.skip("the CLI has no `metaxy config show` command yet")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "db.example" in result.output
    for fmt in ("json", "text"):
        result = runner.invoke(app, ["config", "show", "--format", fmt])
        if result.exit_code == 0:
            assert SECRET not in result.output


def test_password_absent_from_store_not_found(features: Any) -> None:
    url = f"nosuchdb://metaxy:{SECRET}@host/db"
    with pytest.raises(MetaxyError) as info:
        mx.get_store(url, config=mx.MetaxyConfig())
    assert SECRET not in _chain(info.value)
    assert "***" in str(info.value)


# ---------------------------------------------------------------------- every CLI output (issue 19)
SECRET_CONFIG = f'''project = "p"
store = "postgresql://metaxy:{SECRET}@127.0.0.1:1/top"
[stores.prod]
url = "postgresql://metaxy:{SECRET}@127.0.0.1:1/metaxy"
options = {{ password = "{SECRET}", connect_timeout = 2 }}
[stores.query]
url = "postgresql://metaxy@127.0.0.1:1/metaxy?password={SECRET}"
[stores.interpolated]
extend = "prod"
url = "postgresql://metaxy:${{MX_TEST_SECRET}}@127.0.0.1:1/metaxy"
'''

CLI_PATHS = [
    ["config", "show"],
    ["config", "show", "--format", "json"],
    ["config", "show", "--store", "prod"],
    ["config", "show", "--store", "interpolated", "--format", "json"],
    ["config", "show", "--store", f"postgresql://u:{SECRET}@h/db"],
    ["status"],                                   # the default store: a URL with a password
    ["status", "--store", "prod", "--format", "json"],
    ["plan", "--store", "query"],
    ["explain", "speech/transcript", "v0001", "--store", "interpolated"],
    ["resolve", "speech/transcript", "--store", "prod"],
    ["status", "--store", f"postgresql://u:{SECRET}@127.0.0.1:1/x"],
    ["status", "--store", f"u:{SECRET}@127.0.0.1/x"],            # a URL without its scheme
    ["status", "--store", f"postgresql:/u:{SECRET}@127.0.0.1/x"],  # a garbled scheme
    ["status", "--store", f"nosuchdb://u:{SECRET}@127.0.0.1/x"],   # no backend
    ["list", "--store", "prod"],
    ["list", "--select", "state:modified", "--store", "prod"],
    ["graph", "render", "-f", "html", "--store", "interpolated"],
    ["delete", "media/video", "-w", "video_id = 'v1'", "--dry-run", "--store", "prod"],
    ["status", "--where", "video_id = 'v1'", "--select", "media/*", "--store", "query"],
]


@pytest.mark.parametrize("args", CLI_PATHS, ids=lambda a: " ".join(a)[:60])
def test_password_absent_from_every_cli_output(args: list[str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Passwords in URLs (configured, default, interpolated from the environment, given on the
    command line, garbled) and secret-looking store options never reach stdout, stderr, the
    exception of a failed command or a log record at DEBUG, in text and JSON."""
    from typer.testing import CliRunner

    from metaxy.cli import app

    config_file = tmp_path / "metaxy.toml"
    config_file.write_text(SECRET_CONFIG, encoding="utf-8")
    monkeypatch.setenv("MX_TEST_SECRET", SECRET)
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "metaxy", "psycopg"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    result = CliRunner().invoke(app, [*args, "--config", str(config_file)])
    assert result.stdout or result.stderr  # the command printed something: checked below
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert SECRET not in _chain(result.exception)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(record.args)
    if args[:2] == ["config", "show"]:
        assert result.exit_code == 0, result.stderr
        assert "***" in result.stdout
