"""Every distribution of the repository declares a lower bound for each dependency, and the
root ``dev`` extra installs the tools the checks run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECTS = sorted([ROOT / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml"),
                     *ROOT.glob("teams_example/*/pyproject.toml")])
LOWER_BOUND = re.compile(r"^[A-Za-z0-9_.\-]+(\[[^\]]+\])?\s*(>=|==|~=)\s*\d")


def _requirements(path: Path) -> list[str]:
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [*project.get("dependencies", []), *(r for group in extras for r in group)]


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dependency_has_a_lower_bound(path: Path) -> None:
    missing = [r for r in _requirements(path) if not LOWER_BOUND.match(r)]
    assert not missing, f"{path.relative_to(ROOT)}: no lower bound for {missing}"


def test_dev_extra_has_the_test_and_lint_tools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=~\[ ]", r)[0] for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "hypothesis", "ruff", "mypy"} <= names


def test_the_bound_check_catches_a_bare_name() -> None:
    assert not LOWER_BOUND.match("metaxy") and not LOWER_BOUND.match("dagster<2")
    assert LOWER_BOUND.match("psycopg[binary]>=3.1") and LOWER_BOUND.match("metaxy>=0.1")
