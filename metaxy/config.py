"""Configuration: ``metaxy.toml`` or ``[tool.metaxy]`` in ``pyproject.toml``, then ``METAXY_*``.

Lookup: ``METAXY_CONFIG`` (a file path) if set, else the nearest ``metaxy.toml`` or
``pyproject.toml`` with a ``[tool.metaxy]`` table, walking up from the working directory.
Environment overrides: ``METAXY_PROJECT``, ``METAXY_STORE`` (a store name or URL),
``METAXY_HASH_ALGORITHM``, ``METAXY_HASH_LENGTH``.

Example::

    project = "media"
    store = "dev"                      # the default store

    [stores.dev]
    url = "duckdb:///.metaxy/dev.duckdb"

    [stores.prod]
    url = "postgresql://metaxy@db:5432/metaxy"
    fallback = []                      # read-only stores consulted for missing upstreams

    [stores.dev_over_prod]
    url = "duckdb:///dev.duckdb"
    fallback = ["prod"]
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metaxy.errors import ConfigError

DEFAULT_STORE_URL = "duckdb:///.metaxy/metaxy.duckdb"


class StoreConfig(BaseModel):
    """One named store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    fallback: tuple[str, ...] = ()
    options: dict[str, Any] = Field(default_factory=dict)


class MetaxyConfig(BaseModel):
    """The resolved configuration of a project."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    project: str = "default"
    store: str | None = None
    stores: dict[str, StoreConfig] = Field(default_factory=dict)
    hash_algorithm: str = "md5"
    hash_length: int = 32
    migrations_dir: str = "migrations"
    packages: tuple[str, ...] | None = None
    path: Path | None = None

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError(f"project name {value!r} may only contain letters, digits, _ . -")
        return value

    @property
    def root(self) -> Path:
        """The folder of the configuration file (the working directory without one)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def store_config(self, name_or_url: str | None = None) -> StoreConfig:
        """The store named (or given as a URL); the default store when ``None``."""
        target = name_or_url or self.store
        if target is None:
            return StoreConfig(url=DEFAULT_STORE_URL)
        if "://" in target:
            return StoreConfig(url=target)
        if target not in self.stores:
            known = ", ".join(sorted(self.stores)) or "none configured"
            hint = ""
            if "/" in target or "\\" in target or target.endswith((".duckdb", ".db", ".sqlite")):
                scheme = "sqlite" if target.endswith((".db", ".sqlite")) else "duckdb"
                hint = f"; a store URL needs a scheme, e.g. {scheme}:///{target}"
            raise ConfigError(f"unknown store '{target}' (configured stores: {known}){hint}")
        return self.stores[target]

    def redacted(self) -> dict[str, Any]:
        """The configuration as data with every password replaced by ``***``."""
        data = self.model_dump(mode="json")
        for store in data.get("stores", {}).values():
            store["url"] = redact_url(store["url"])
        return data


_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db`` (also ``?password=``)."""
    url = _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", url)


def find_config_file(start: Path | None = None) -> Path | None:
    explicit = os.environ.get("METAXY_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"METAXY_CONFIG points to {path}, which is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "metaxy.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "tool" in _read_toml(pyproject) and \
                "metaxy" in _read_toml(pyproject)["tool"]:
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e


def _env_overrides() -> dict[str, Any]:
    env: dict[str, Any] = {}
    for name, key in (("METAXY_PROJECT", "project"), ("METAXY_STORE", "store"),
                      ("METAXY_HASH_ALGORITHM", "hash_algorithm")):
        if os.environ.get(name):
            env[key] = os.environ[name]
    if os.environ.get("METAXY_HASH_LENGTH"):
        try:
            env["hash_length"] = int(os.environ["METAXY_HASH_LENGTH"])
        except ValueError as e:
            raise ConfigError(f"METAXY_HASH_LENGTH must be an integer, got "
                              f"{os.environ['METAXY_HASH_LENGTH']!r}") from e
    return env


def load_config(path: Path | str | None = None) -> MetaxyConfig:
    """Read the configuration (see the module docstring) and apply ``METAXY_*`` overrides."""
    file = Path(path) if path is not None else find_config_file()
    data: dict[str, Any] = {}
    if file is not None:
        raw = _read_toml(file)
        data = raw.get("tool", {}).get("metaxy", {}) if file.name == "pyproject.toml" else raw
    data = {**data, **_env_overrides()}
    try:
        return MetaxyConfig(**data, path=file.resolve() if file else None)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{file or 'configuration'}: '{loc}': {first['msg']}") from e
