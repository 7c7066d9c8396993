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
    extend = "dev"                     # start from [stores.dev]
    fallback = ["prod"]

    [stores.ci]
    url = "${METAXY_CI_URL:-duckdb:///ci.duckdb}"   # environment interpolation (and .env)

Interpolation, ``.env``, ``extend`` and the wording of unknown keys: :mod:`metaxy.config_sources`.
``metaxy --config PATH`` (any command) reads that file: :func:`use_config_file`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
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
    #: local feature modules imported besides the installed packages' entry points (no install)
    entrypoints: tuple[str, ...] = ()
    #: folders (relative to the configuration file) searched first for the ``entrypoints``
    entrypoint_paths: tuple[str, ...] = (".",)
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
            shown = _redact_bare(target)
            raise ConfigError(f"unknown store '{shown}' (configured stores: {known})"
                              f"{_url_hint(shown)}")
        return self.stores[target]

    def redacted(self) -> dict[str, Any]:
        """The configuration as data with every secret replaced by ``***``: passwords in URLs
        (the default ``store`` too) and secret-looking store options (see :func:`is_secret_key`)."""
        data = self.model_dump(mode="json")
        if data.get("store"):
            data["store"] = redact_url(data["store"])
        for store in data.get("stores", {}).values():
            store["url"] = redact_url(store["url"])
            store["options"] = redact_options(store.get("options", {}))
        return data


_SECRET_KEY = re.compile(r"pass|pwd|secret|token|api_?key|access_?key|account_?key|private|"
                         r"credential|auth", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """Whether an option of that name holds a secret (``password``, ``api_key``, ``token``...)."""
    return bool(_SECRET_KEY.search(name))


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Store options with the value of every secret-looking key replaced by ``***`` (nested
    tables too) and passwords in URL-valued options redacted."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if is_secret_key(str(key)):
            out[key] = "***"
        elif isinstance(value, Mapping):
            out[key] = redact_options(value)
        elif isinstance(value, str):
            out[key] = redact_url(value)
        else:
            out[key] = value
    return out


_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


_BARE_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):/*(?P<rest>.*)$")


def _redact_bare(target: str) -> str:
    """``user:pw@host/db`` (a URL without ``scheme://``) -> ``user:***@host/db``."""
    return re.sub(r":[^:@/]*@", ":***@", target)


def _url_hint(target: str) -> str:
    """How to write ``target`` as a store URL, when it looks like a mistyped one."""
    bare = _BARE_SCHEME.match(target)
    slash_after_scheme = bare is not None and target[len(bare["scheme"]) + 1:].startswith("/")
    if "@" in target:
        if slash_after_scheme:
            return "; a store URL is scheme://user@host/... (two slashes after the colon)"
        return f"; a store URL needs a scheme, e.g. postgresql://{target}"
    if bare is not None and bare["rest"] and not re.match(r"^[A-Za-z]:[\\/]", target):
        scheme, rest = bare["scheme"], bare["rest"]  # duckdb:/x, duckdb:x, sqlite:/tmp/x.db
        return (f"; a store URL is scheme:///path: {scheme}:///{rest} (relative) or "
                f"{scheme}:////{rest} (absolute)")
    if "/" in target or "\\" in target or target.endswith((".duckdb", ".db", ".sqlite")):
        scheme = "sqlite" if target.endswith((".db", ".sqlite")) else "duckdb"
        return f"; a store URL needs a scheme, e.g. {scheme}:///{target}"
    return ""


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db`` (also ``?password=``)."""
    url = _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", url)


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("metaxy_config_file", default=None)


@contextlib.contextmanager
def use_config_file(path: Path | str | None) -> Iterator[None]:
    """Within the block, the configuration is read from ``path`` (``metaxy --config PATH``);
    ``None`` changes nothing. It wins over ``METAXY_CONFIG`` and the lookup."""
    if path is None:
        yield
        return
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {file}: no such file")
    token = _CONFIG_FILE.set(file)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


def find_config_file(start: Path | None = None) -> Path | None:
    """The configuration file in use: ``--config``, ``METAXY_CONFIG``, else the nearest
    ``metaxy.toml`` (or ``pyproject.toml`` with ``[tool.metaxy]``) from ``start`` upwards."""
    chosen = _CONFIG_FILE.get()
    if chosen is not None:
        return chosen
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


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for name, key in (("METAXY_PROJECT", "project"), ("METAXY_STORE", "store"),
                      ("METAXY_HASH_ALGORITHM", "hash_algorithm")):
        if environ.get(name):
            env[key] = environ[name]
    if environ.get("METAXY_HASH_LENGTH"):
        try:
            env["hash_length"] = int(environ["METAXY_HASH_LENGTH"])
        except ValueError as e:
            raise ConfigError(f"METAXY_HASH_LENGTH must be an integer, got "
                              f"{environ['METAXY_HASH_LENGTH']!r}") from e
    return env


def load_config(path: Path | str | None = None) -> MetaxyConfig:
    """Read the configuration (see the module docstring) and apply ``METAXY_*`` overrides."""
    from metaxy.config_sources import environment, interpolate, resolve_extends

    file = Path(path) if path is not None else find_config_file()
    source = str(file) if file is not None else "configuration"
    data: dict[str, Any] = {}
    if file is not None:
        raw = _read_toml(file)
        data = raw.get("tool", {}).get("metaxy", {}) if file.name == "pyproject.toml" else raw
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [tool.metaxy] must be a table")
    env = environment(file)
    data = interpolate(data, env, source)
    if "stores" in data:
        data["stores"] = resolve_extends(data["stores"], source)
    data = {**data, **_env_overrides(env)}
    if "path" in data:  # set by metaxy from the file's location, never by the file
        raise ConfigError(_config_error_text(source, "extra_forbidden", ("path",), ""))
    try:
        return MetaxyConfig(**data, path=file.resolve() if file else None)
    except ValidationError as e:
        errors = e.errors()  # an unknown key first: a typo (urll) also makes "url" missing
        first = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        raise ConfigError(_config_error_text(source, first["type"], first["loc"],
                                             first["msg"])) from e


def _config_error_text(source: str, kind: str, loc: tuple[Any, ...], message: str) -> str:
    """One line naming the key; unknown and missing keys in metaxy's words, not pydantic's."""
    from metaxy.config_sources import unknown_key_message

    in_store = len(loc) >= 2 and loc[0] == "stores"
    if kind == "extra_forbidden":
        allowed = ([*StoreConfig.model_fields, "extend"] if in_store and len(loc) == 3
                   else [k for k in MetaxyConfig.model_fields if k != "path"])
        return unknown_key_message(source, loc, allowed)
    key = ".".join(str(p) for p in loc)
    if kind == "missing":
        return f"{source}: missing key '{key}'"
    return f"{source}: '{key}': {message}"
