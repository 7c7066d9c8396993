"""Where configuration values come from before they are validated (:mod:`metaxy.config`).

* ``${VAR}`` and ``${VAR:-default}`` in any string value of ``metaxy.toml`` are replaced by the
  environment variable (``$${`` writes a literal ``${``). A variable that is unset (or empty,
  as in the shell) without a default is a :class:`ConfigError` naming the key and the variable.
* A ``.env`` file beside the configuration file supplies variables the process environment
  does not set (the process environment wins). It is read, never exported: the variables feed
  the interpolation and the ``METAXY_*`` overrides only, so loading a configuration has no side
  effect on ``os.environ``.
* ``[stores.NAME] extend = "other"`` starts from another store definition: its keys are the
  defaults, ``options`` are merged key by key. A cycle of ``extend`` is an error naming it.
* Unknown keys are reported by name with the keys allowed there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from metaxy.errors import ConfigError

_VAR = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_BAD_VAR = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


def environment(config_file: Path | None) -> dict[str, str]:
    """The variables a configuration sees: ``.env`` beside ``config_file``, then ``os.environ``."""
    values: dict[str, str] = {}
    if config_file is not None:
        dotenv = config_file.parent / ".env"
        if dotenv.is_file():
            from dotenv import dotenv_values

            values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
    return {**values, **os.environ}


def interpolate(data: Any, env: Mapping[str, str], source: str, path: str = "") -> Any:
    """``data`` (parsed TOML) with ``${VAR}`` / ``${VAR:-default}`` replaced in every string."""
    if isinstance(data, dict):
        return {k: interpolate(v, env, source, f"{path}.{k}" if path else str(k))
                for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, source, f"{path}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data
    bad = _BAD_VAR.search(data.replace("$${", ""))
    if bad is not None:
        raise ConfigError(f"{source}: '{path}': malformed variable reference at "
                          f"{data[bad.start():bad.start() + 20]!r}: use ${{NAME}} or "
                          "${NAME:-default}")

    def value(match: re.Match[str]) -> str:
        name = match["name"]
        if name is None:  # $${ -> a literal ${
            return "${"
        found = env.get(name)
        if found:
            return found
        if match["default"] is not None:
            return match["default"]
        raise ConfigError(f"{source}: '{path}': environment variable {name} is not set "
                          f"(set it, put it in .env, or write ${{{name}:-default}})")

    return _VAR.sub(value, data)


def resolve_extends(stores: Any, source: str) -> Any:
    """``stores`` with every ``extend = "other"`` replaced by the merged definition."""
    if not isinstance(stores, dict):
        return stores
    resolved: dict[str, Any] = {}

    def merged(name: str, chain: tuple[str, ...]) -> Any:
        if name in resolved:
            return resolved[name]
        own = stores[name]
        if not isinstance(own, dict) or "extend" not in own:
            resolved[name] = own
            return own
        parent = own["extend"]
        if not isinstance(parent, str):
            raise ConfigError(f"{source}: 'stores.{name}.extend' must be a store name")
        if parent in chain or parent == name:
            cycle = " -> ".join((*chain, name, parent)[(*chain, name).index(parent):])
            raise ConfigError(f"{source}: 'stores.{name}.extend': cycle of extend ({cycle})")
        if parent not in stores:
            known = ", ".join(sorted(stores)) or "none"
            raise ConfigError(f"{source}: 'stores.{name}.extend': no store '{parent}' to "
                              f"extend (stores: {known})")
        base = merged(parent, (*chain, name))
        child = {k: v for k, v in own.items() if k != "extend"}
        out = {**(base if isinstance(base, dict) else {}), **child}
        if isinstance(base, dict) and isinstance(base.get("options"), dict) and \
                isinstance(child.get("options"), dict):
            out["options"] = {**base["options"], **child["options"]}
        resolved[name] = out
        return out

    for name in stores:
        merged(name, ())
    return {name: resolved[name] for name in stores}


def unknown_key_message(source: str, loc: Iterable[Any], allowed: Iterable[str]) -> str:
    """``metaxy.toml: unknown key 'stores.dev.urll' (allowed in [stores.dev]: url, ...)``."""
    parts = [str(p) for p in loc]
    table = ".".join(parts[:-1])
    where = f"[{table}]" if table else "the top level"
    return (f"{source}: unknown key '{'.'.join(parts)}' (allowed in {where}: "
            f"{', '.join(sorted(allowed))})")
