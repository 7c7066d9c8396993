"""``metaxy init team-x``: a new team package in one command.

Writes, under ``<folder>/team-x/``: a ``pyproject.toml`` declaring the package's
``metaxy.features`` entry point, the package ``team_x`` with one example root feature
(``features.py``), and a test that uses :mod:`metaxy.testing`. When no configuration file is
found, it also writes ``metaxy.toml`` naming the module in ``entrypoints`` (with the package's
folder in ``entrypoint_paths``), so ``metaxy list`` shows the feature before any ``pip install``.
Existing files are never overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from metaxy.errors import ApiError

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_team` wrote (``config`` is ``None`` when a configuration existed)."""

    name: str
    package: str
    module: str
    feature_key: str
    folder: str
    files: list[str]
    config: str | None
    next_steps: list[str] = field(default_factory=list)


def _names(name: str) -> tuple[str, str]:
    """(python package, key prefix) of a team name: ``team-x`` -> (``team_x``, ``x``)."""
    if not _NAME.match(name):
        raise ApiError(f"team name {name!r}: use lowercase letters, digits and single - or _ "
                       "between them, starting with a letter (e.g. team-vision)")
    package = name.replace("-", "_")
    prefix = re.sub(r"^team[-_]", "", name).replace("-", "_") or package
    return package, prefix


_PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "metaxy features of {name}"
requires-python = ">=3.11"
dependencies = ["metaxy>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# how `metaxy list` finds the features once the package is installed (pip install -e {name})
[project.entry-points."metaxy.features"]
features = "{package}.features"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
pythonpath = ["."]  # the tests import {package} without an install
'''

_FEATURES = '''"""Features of {name}: one example root feature to start from."""

from __future__ import annotations

import metaxy as mx


class Example(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="{prefix}/example",
        id_columns=["sample_id"],
        # bump a field's code_version when the code computing it changes its output
        fields=[mx.FieldSpec(key="content", code_version="1")],
    ),
):
    """An example sample: where it is stored. Rename it, then add your own features."""

    sample_id: str
    path: str | None = None
'''

_TEST = '''"""Tests of {name}'s features on a throw-away store (metaxy.testing)."""

from __future__ import annotations

import polars as pl

from {package}.features import Example
from metaxy.testing.frames import materialize, temporary_store


def _samples(content: str) -> pl.DataFrame:
    return pl.DataFrame({{
        "sample_id": ["a", "b"],
        "path": ["/data/a", "/data/b"],
        "metaxy_input_by_field": [{{"content": "a-1"}}, {{"content": content}}],
    }})


def test_new_samples_then_up_to_date_then_stale() -> None:
    with temporary_store() as store:
        assert store.resolve_update(Example, samples=_samples("b-1")).counts["new"] == 2
        materialize(store, Example, _samples("b-1"))
        assert store.resolve_update(Example, samples=_samples("b-1")).counts == {{
            "new": 0, "stale": 0, "orphaned": 0}}
        # sample b's content changed: only b is stale
        stale = store.resolve_update(Example, samples=_samples("b-2")).stale
        assert stale.get_column("sample_id").to_list() == ["b"]
'''

_CONFIG = '''# Written by `metaxy init {name}`. See docs/how-to/team-package.md.
project = "{project}"

# local feature modules, imported without installing their package (installed packages are
# found through their `metaxy.features` entry point)
entrypoints = ["{package}.features"]
entrypoint_paths = ["{name}"]
'''


def _config_file(folder: Path) -> Path | None:
    from metaxy.config import find_config_file

    return find_config_file(folder)


def init_team(name: str, folder: Path | str = ".") -> InitResult:
    """Write a team package skeleton ``<folder>/<name>/`` (see the module docstring).

    Raises:
        ApiError: an invalid name, or ``<folder>/<name>`` exists already.
    """
    package, prefix = _names(name)
    base = Path(folder).resolve()
    target = base / name
    if target.exists():
        raise ApiError(f"{target} exists already: choose another name or folder")
    files = {
        target / "pyproject.toml": _PYPROJECT.format(name=name, package=package),
        target / package / "__init__.py": f'"""{name}: metaxy features."""\n',
        target / package / "features.py": _FEATURES.format(name=name, prefix=prefix),
        target / "tests" / f"test_{package}.py": _TEST.format(name=name, package=package),
    }
    existing = _config_file(base)
    config = None
    steps = []
    if existing is None:
        config = base / "metaxy.toml"
        files[config] = _CONFIG.format(name=name, project=name, package=package)
        steps.append(f"metaxy list   (shows {prefix}/example through entrypoints in {config.name})")
    else:
        steps.append(f"pip install -e {target}   (or add \"{package}.features\" to entrypoints "
                     f"and \"{name}\" to entrypoint_paths in {existing})")
    steps.append(f"pytest {target / 'tests'}")
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ApiError(f"cannot write {e.filename}: {e.strerror}") from e
    return InitResult(name=name, package=package, module=f"{package}.features",
                      feature_key=f"{prefix}/example", folder=str(target),
                      files=[str(p) for p in files],
                      config=None if config is None else str(config), next_steps=steps)
