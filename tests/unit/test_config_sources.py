"""Issue 19 item 3: configuration that follows the environment. ``${VAR}`` / ``${VAR:-default}``
interpolation, ``.env`` beside the file, ``extend`` between store definitions, unknown keys named
with the allowed ones (no pydantic wording), and store-URL hints that are not garbled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaxy.config import MetaxyConfig, load_config, redact_options, use_config_file
from metaxy.config_sources import interpolate
from metaxy.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "metaxy.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- interpolation
def test_variables_and_defaults_are_interpolated(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MX_TEST_HOST", "db.internal")
    monkeypatch.delenv("MX_TEST_PORT", raising=False)
    config = load_config(write(tmp_path, '''
project = "p"
[stores.prod]
url = "postgresql://metaxy@${MX_TEST_HOST}:${MX_TEST_PORT:-5432}/metaxy"
fallback = ["${MX_TEST_FALLBACK:-dev}"]
options = { schema = "s_${MX_TEST_HOST}" }
[stores.dev]
url = "duckdb:///cost$${NOT_A_VAR}.duckdb"
'''))
    prod = config.stores["prod"]
    assert prod.url == "postgresql://metaxy@db.internal:5432/metaxy"
    assert prod.fallback == ("dev",)
    assert prod.options == {"schema": "s_db.internal"}
    assert config.stores["dev"].url == "duckdb:///cost${NOT_A_VAR}.duckdb"  # $${ escapes


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MX_TEST_NOPE", raising=False)
    path = write(tmp_path, '[stores.prod]\nurl = "postgresql://u:${MX_TEST_NOPE}@h/db"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "'stores.prod.url'" in message
    assert "environment variable MX_TEST_NOPE is not set" in message


def test_an_empty_variable_takes_the_default_as_in_the_shell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MX_TEST_EMPTY", "")
    config = load_config(write(tmp_path, 'project = "${MX_TEST_EMPTY:-fallback}"\n'))
    assert config.project == "fallback"


def test_a_malformed_reference_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'project': malformed variable reference"):
        load_config(write(tmp_path, 'project = "${oops"\n'))


@settings(max_examples=60)
@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=30))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert interpolate({"a": [text, {"b": text}]}, {}, "f") == {"a": [text, {"b": text}]}


@settings(max_examples=60)
@given(st.text(alphabet=st.characters(blacklist_characters="}$", codec="utf-8"), max_size=20),
       st.text(alphabet=st.characters(blacklist_characters="}$", codec="utf-8"), min_size=1,
               max_size=20))
def test_the_variable_wins_over_the_default(default: str, value: str) -> None:
    assert interpolate(f"x${{V:-{default}}}y", {"V": value}, "f") == f"x{value}y"
    assert interpolate(f"x${{V:-{default}}}y", {}, "f") == f"x{default}y"


# ---------------------------------------------------------------------- .env
def test_dotenv_beside_the_file_feeds_interpolation_and_overrides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MX_TEST_PW", "MX_TEST_ONLY_DOTENV"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("MX_TEST_PW=from-dotenv\nMX_TEST_ONLY_DOTENV=x\n"
                                   "METAXY_PROJECT=from_dotenv\n", encoding="utf-8")
    path = write(tmp_path, '[stores.prod]\nurl = "postgresql://u:${MX_TEST_PW}@h/db"\n')
    config = load_config(path)
    assert config.stores["prod"].url == "postgresql://u:from-dotenv@h/db"
    assert config.project == "from_dotenv"
    assert "MX_TEST_ONLY_DOTENV" not in os.environ  # read, never exported
    monkeypatch.setenv("MX_TEST_PW", "from-process")  # the process environment wins
    assert load_config(path).stores["prod"].url == "postgresql://u:from-process@h/db"


# ---------------------------------------------------------------------- extend
def test_a_store_extends_another(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '''
[stores.base]
url = "duckdb:///base.duckdb"
fallback = ["prod"]
options = { threads = 2, memory_limit = "1GB" }
[stores.prod]
url = "postgresql://h/db"
[stores.dev]
extend = "base"
options = { threads = 4 }
[stores.dev2]
extend = "dev"
url = "duckdb:///dev2.duckdb"
'''))
    dev, dev2 = config.stores["dev"], config.stores["dev2"]
    assert dev.url.endswith("base.duckdb") and dev.fallback == ("prod",)
    assert dev.options == {"threads": 4, "memory_limit": "1GB"}  # merged key by key
    assert dev2.url.endswith("dev2.duckdb") and dev2.options == dev.options


@pytest.mark.parametrize(("text", "cycle"), [
    ('[stores.a]\nextend = "a"\n', "a -> a"),
    ('[stores.a]\nextend = "b"\n[stores.b]\nextend = "a"\n', "a -> b -> a"),
    ('[stores.a]\nextend = "b"\n[stores.b]\nextend = "c"\n[stores.c]\nextend = "b"\nurl = "x://"\n',
     "b -> c -> b"),
])
def test_an_extend_cycle_is_named(tmp_path: Path, text: str, cycle: str) -> None:
    with pytest.raises(ConfigError, match=f"cycle of extend \\({cycle}\\)"):
        load_config(write(tmp_path, text))


def test_extending_an_unknown_store_lists_the_stores(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'stores.a.extend': no store 'nope' to extend "
                                          r"\(stores: a, b\)"):
        load_config(write(tmp_path, '[stores.a]\nextend = "nope"\n[stores.b]\nurl = "x://"\n'))


# ---------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize(("text", "expected"), [
    ('projekt = "p"\n', "unknown key 'projekt' (allowed in the top level: entrypoint_paths, "
                        "entrypoints, hash_algorithm, hash_length, migrations_dir, packages, "
                        "project, store, stores)"),
    ('[stores.dev]\nurll = "duckdb:///x"\n', "unknown key 'stores.dev.urll' (allowed in "
                                             "[stores.dev]: extend, fallback, options, url)"),
    ('path = "/elsewhere"\n', "unknown key 'path'"),
    ('[stores.dev]\nfallback = []\n', "missing key 'stores.dev.url'"),
])
def test_unknown_and_missing_keys_in_metaxys_words(tmp_path: Path, text: str,
                                                   expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert "Extra inputs" not in str(info.value) and "Field required" not in str(info.value)


# ---------------------------------------------------------------------- --config
def test_use_config_file_wins_over_metaxy_config(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write(tmp_path / "a", 'project = "a"\n')
    b = write(tmp_path / "b", 'project = "b"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(a))
    assert load_config().project == "a"
    with use_config_file(b):
        assert load_config().project == "b"
    assert load_config().project == "a"
    with pytest.raises(ConfigError, match=r"--config .*missing\.toml: no such file"), \
            use_config_file(tmp_path / "missing.toml"):
        pass


# ---------------------------------------------------------------------- hints and redaction
@pytest.mark.parametrize(("target", "hint"), [
    ("duckdb:/x", "a store URL is scheme:///path: duckdb:///x (relative) or duckdb:////x "
                  "(absolute)"),
    ("sqlite:data/x.db", "sqlite:///data/x.db (relative)"),
    ("/tmp/x.duckdb", "a store URL needs a scheme, e.g. duckdb:////tmp/x.duckdb"),
    ("u:pw@db/x", "a store URL needs a scheme, e.g. postgresql://u:***@db/x"),
    ("postgresql:/u:pw@db/x", "two slashes after the colon"),
])
def test_store_url_hints_are_not_garbled(target: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        MetaxyConfig().store_config(target)
    message = str(info.value)
    assert hint in message
    assert "duckdb:///duckdb:" not in message and ":pw@" not in message


def test_secret_looking_options_are_redacted() -> None:
    options = {"password": "p1", "api_key": "k", "AccessKey": "a", "sslmode": "require",
               "nested": {"token": "t", "dsn": "postgresql://u:p2@h/db"}, "threads": 2}
    out = redact_options(options)
    assert out == {"password": "***", "api_key": "***", "AccessKey": "***", "sslmode": "require",
                   "nested": {"token": "***", "dsn": "postgresql://u:***@h/db"}, "threads": 2}
