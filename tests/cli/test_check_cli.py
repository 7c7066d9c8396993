"""``metaxy check`` and ``metaxy push --accept`` through the real entry point (issue 18 item 1).

The project's features come from a throwaway package whose code the test rewrites between runs
(``load_project`` is pointed at it), on an embedded DuckDB store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy import api
from tests.cli.conftest import one_line_error, run
from tests.unit.codeguard_pkg import COMPUTE, FEATURES, CodePackage

LOGIC = COMPUTE.replace("+ SUFFIX", "+ SUFFIX + SUFFIX")


@pytest.fixture
def pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CodePackage]:
    (tmp_path / "metaxy.toml").write_text(
        f'project = "guarded"\nstore = "dev"\n[stores.dev]\n'
        f'url = "duckdb:///{tmp_path / "store.duckdb"}"\n', encoding="utf-8")
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    p = CodePackage(tmp_path / "code")
    state: dict[str, mx.FeatureGraph] = {"graph": p.load()}

    def load_project(config: mx.MetaxyConfig | None = None, *,
                     strict: bool = True) -> api.Project:
        return api.Project(config or mx.load_config(), state["graph"])

    monkeypatch.setattr("metaxy.api.load_project", load_project)
    p.state = state  # type: ignore[attr-defined]
    yield p
    p.close()


def _change(pkg: CodePackage, **kwargs: str) -> None:
    pkg.state["graph"] = pkg.load(**kwargs)  # type: ignore[attr-defined]


def test_check_passes_until_the_code_changes(pkg: CodePackage) -> None:
    first = json.loads(run("check", "--format", "json").stdout)
    assert first["ok"] and [f["status"] for f in first["fields"]] == ["new"]
    assert "recorded code of guard/doc:text (new)" in run("push").stdout
    assert "1 guarded field(s), 0 changed" in run("check").stdout

    _change(pkg, compute=LOGIC)
    text = run("check", ok=False)
    assert text.exit_code == 1
    assert "metaxy push --accept guard/doc:text" in " ".join(text.stdout.split())
    doc = json.loads(run("check", "--format", "json", ok=False).stdout)
    assert doc["ok"] is False and doc["failures"] == 1
    (field,) = doc["fields"]
    assert (field["feature"], field["field"], field["status"]) == ("guard/doc", "text",
                                                                   "changed")
    assert field["function"] == f"{pkg.name}.compute.make_text"
    assert field["file"].endswith("compute.py") and field["line"] > 0
    assert "bump the field's code_version" in field["message"]

    error = one_line_error(run("push", ok=False))
    assert "guard/doc" in error and "metaxy push --accept guard/doc:text" in error

    accepted = json.loads(run("push", "--accept", "guard/doc:text", "--format", "json").stdout)
    assert [(c["field"], c["status"]) for c in accepted["code"]] == [("text", "accepted")]
    assert json.loads(run("check", "--format", "json").stdout)["ok"] is True


def test_check_without_a_push(pkg: CodePackage) -> None:
    """A store that never saw a push: nothing to compare with, so nothing fails."""
    result = run("check")
    assert "not recorded yet" in result.stdout


def test_revision_prints_the_rename_warning(pkg: CodePackage) -> None:
    """Item 4 through the CLI: a renamed column is proposed as alter_column, with a warning on
    stderr and in the JSON document."""
    import polars as pl

    from metaxy import columns as C

    graph = pkg.state["graph"]  # type: ignore[attr-defined]
    store = api.Project(mx.load_config(), graph).store()
    with store.open("w"):
        samples = pl.DataFrame({"doc_id": ["d1"], "text": ["kept"], C.INPUT_BY_FIELD: [
            {"text": "t1", "size": "s1"}]})
        store.write("guard/doc", store.resolve_update("guard/doc", samples=samples).new)
    run("push")
    run("migrations", "init")
    _change(pkg, features=FEATURES.replace("    text: str | None = None",
                                           "    body: str | None = None"))
    result = run("migrations", "revision", "--autogenerate", "-m", "rename text",
                 "--format", "json")
    assert "warning: feature 'guard/doc': column 'text' was removed and 'body' added" \
        in " ".join(result.stderr.split())
    doc = json.loads(result.stdout)
    assert len(doc["warnings"]) == 1 and "new_column_name='body'" in doc["warnings"][0]
    source = Path(doc["path"]).read_text(encoding="utf-8")
    assert "op.alter_column('guard__doc', 'text', new_column_name='body')" in source
    run("migrations", "upgrade")
    renamed = api.Project(mx.load_config(), pkg.state["graph"]).store()  # type: ignore[attr-defined]
    with renamed:
        assert renamed.read("guard/doc")["body"].to_list() == ["kept"]
