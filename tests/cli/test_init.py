"""Issue 19 item 4: ``metaxy init team-x`` writes a working team package (the generated test
passes), and ``entrypoints`` in the configuration loads local modules without an install."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy import api
from tests.cli.conftest import one_line_error, run, run_json


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder; the features the CLI loads go into an isolated graph and the
    imported local modules and sys.path entries are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    with mx.FeatureGraph.isolated():
        yield tmp_path
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("team_x", "local_feats"):
            del sys.modules[name]


def test_init_writes_a_package_whose_test_passes(fresh: Path) -> None:
    doc = run_json("init", "team-x")
    assert doc["feature_key"] == "x/example" and doc["module"] == "team_x.features"
    assert doc["config"] == str(fresh / "metaxy.toml")
    pyproject = (fresh / "team-x" / "pyproject.toml").read_text()
    assert '[project.entry-points."metaxy.features"]' in pyproject
    assert 'features = "team_x.features"' in pyproject
    # metaxy.toml lists the module: `metaxy list` shows the feature without an install
    keys = [f["key"] for f in run_json("list", "--store", "memory://")["features"]]
    assert "x/example" in keys
    # the generated test passes (its own pytest run, as the team would run it)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=fresh / "team-x", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    line = one_line_error(run("init", "team-x", ok=False))
    assert "exists already" in line


def test_init_keeps_an_existing_configuration(fresh: Path) -> None:
    (fresh / "metaxy.toml").write_text('project = "mine"\n')
    result = run("init", "team-audio")
    assert (fresh / "metaxy.toml").read_text() == 'project = "mine"\n'
    assert "pip install -e" in result.stdout and "entrypoints" in result.stdout
    assert (fresh / "team-audio" / "team_audio" / "features.py").is_file()
    line = one_line_error(run("init", "Team X", ok=False))
    assert "team name 'Team X'" in line


def test_entrypoints_load_local_modules(fresh: Path) -> None:
    (fresh / "src").mkdir()
    (fresh / "src" / "local_feats.py").write_text(
        "import metaxy as mx\n\n\n"
        "class Doc(mx.Feature, table=True, spec=mx.FeatureSpec(\n"
        "        key='local/doc', id_columns=['doc_id'],\n"
        "        fields=[mx.FieldSpec(key='text', code_version='1')])):\n"
        "    doc_id: str\n")
    (fresh / "metaxy.toml").write_text(
        'entrypoints = ["local_feats"]\nentrypoint_paths = ["src"]\n')
    project = api.load_project()
    assert "local/doc" in [str(k) for k in project.graph.keys]
    assert project.config.entrypoints == ("local_feats",)
    # not part of an installed distribution: `list` names the module instead of a package
    row = next(r for r in run_json("list", "--store", "memory://")["features"]
               if r["key"] == "local/doc")
    assert (row["package"], row["module"]) == (None, "local_feats")
    assert "local_feats" in run("list", "--store", "memory://").stdout
    (fresh / "metaxy.toml").write_text('entrypoints = ["no_such_module"]\n')
    line = one_line_error(run("list", ok=False))
    assert "entrypoints: cannot import module 'no_such_module'" in line
