"""Configuration: metaxy.toml, [tool.metaxy] in pyproject.toml, METAXY_* overrides, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy.config import DEFAULT_STORE_URL, StoreConfig, find_config_file, load_config, redact_url
from metaxy.errors import ConfigError

METAXY_TOML = """
project = "media"
store = "dev"
hash_length = 16

[stores.dev]
url = "duckdb:///dev.duckdb"

[stores.prod]
url = "postgresql://metaxy:s3cret@db:5432/metaxy"

[stores.dev_over_prod]
url = "duckdb:///mine.duckdb"
fallback = ["prod"]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder that is the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_metaxy_toml_is_found_from_a_subfolder(project: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "metaxy.toml").write_text(METAXY_TOML)
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    config = load_config()
    assert config.path == project / "metaxy.toml"
    assert config.root == project
    assert config.project == "media"
    assert config.hash_length == 16
    assert config.store_config() == StoreConfig(url="duckdb:///dev.duckdb")
    assert config.store_config("dev_over_prod").fallback == ("prod",)
    assert config.store_config("sqlite:///x.db").url == "sqlite:///x.db"


def test_tool_metaxy_in_pyproject(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.metaxy]\n'
                                            'project = "from_pyproject"\n')
    assert load_config().project == "from_pyproject"


def test_pyproject_without_tool_metaxy_is_skipped(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config_file() is None
    config = load_config()
    assert config.project == "default" and config.path is None
    assert config.store_config().url == DEFAULT_STORE_URL


def test_environment_overrides(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "metaxy.toml").write_text(METAXY_TOML)
    monkeypatch.setenv("METAXY_PROJECT", "override")
    monkeypatch.setenv("METAXY_STORE", "prod")
    monkeypatch.setenv("METAXY_HASH_ALGORITHM", "xxhash64")
    monkeypatch.setenv("METAXY_HASH_LENGTH", "8")
    config = load_config()
    assert (config.project, config.store, config.hash_algorithm, config.hash_length) == (
        "override", "prod", "xxhash64", 8)
    assert config.store_config().url.startswith("postgresql://")


def test_metaxy_config_points_to_a_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = project / "elsewhere.toml"
    other.write_text('project = "explicit"\n')
    (project / "metaxy.toml").write_text(METAXY_TOML)
    monkeypatch.setenv("METAXY_CONFIG", str(other))
    assert load_config().project == "explicit"
    monkeypatch.setenv("METAXY_CONFIG", str(project / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_config()


def test_corrupt_toml_names_the_file(project: Path) -> None:
    (project / "metaxy.toml").write_text('project = "unterminated\n')
    with pytest.raises(ConfigError, match=r"metaxy\.toml: invalid TOML"):
        load_config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('projekt = "typo"\n', "'projekt'"),
        ('project = "has space"\n', "'project'"),
        ('[stores.dev]\nurl = "memory://"\nfalback = []\n', "'stores.dev.falback'"),
    ],
)
def test_invalid_values_name_file_and_key(project: Path, text: str, message: str) -> None:
    (project / "metaxy.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config()
    assert "metaxy.toml" in str(err.value)


def test_bad_hash_length_in_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METAXY_HASH_LENGTH", "long")
    with pytest.raises(ConfigError, match="METAXY_HASH_LENGTH"):
        load_config()


def test_unknown_store_name(project: Path) -> None:
    (project / "metaxy.toml").write_text(METAXY_TOML)
    with pytest.raises(ConfigError, match=r"unknown store 'staging'.*dev, dev_over_prod, prod"):
        load_config().store_config("staging")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://metaxy:s3cret@db:5432/metaxy", "postgresql://metaxy:***@db:5432/metaxy"),
        ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql://:s3cret@h/db", "postgresql://:***@h/db"),
        ("postgresql://metaxy@db/metaxy", "postgresql://metaxy@db/metaxy"),
        ("postgresql://h/db?sslmode=require&password=s3cret&x=1",
         "postgresql://h/db?sslmode=require&password=***&x=1"),
        ("duckdb:///path/with:colon@x.duckdb", "duckdb:///path/with:colon@x.duckdb"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_redacted_config_hides_passwords(project: Path) -> None:
    (project / "metaxy.toml").write_text(METAXY_TOML)
    data = load_config().redacted()
    assert "s3cret" not in str(data)
    assert data["stores"]["prod"]["url"] == "postgresql://metaxy:***@db:5432/metaxy"
