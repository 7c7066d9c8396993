"""What a new user meets in the first minutes: the papercuts found by a first-use trial.

Each test pins one fix: errors printed verbatim on one line (also for the migration commands),
hints that say how to fix the mistake, a note when no ``metaxy.toml`` is found, tables that do
not cut feature keys or versions.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from metaxy import api, demo
from metaxy.errors import PluginLoadError, describe_exception
from metaxy.plugins import EntryPointRef
from metaxy.versions import versions_of
from tests.cli.conftest import N, one_line_error, run, run_json

NOTE = "note: no metaxy.toml"


# ---------------------------------------------------------------------- error lines
def test_error_text_in_brackets_is_printed_verbatim() -> None:
    """Rich markup in a message ('[b]', pydantic's '[type=...]') must not be eaten as a style."""
    line = one_line_error(run("describe", "x/[b]y", ok=False))
    assert "'x/[b]y'" in line and "'[b]y'" in line


def test_migration_command_errors_are_one_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """alembic's CommandError (an unknown revision) was a full traceback."""
    (tmp_path / "metaxy.toml").write_text(
        f'project = "trial"\nstore = "dev"\n[stores.dev]\nurl = "duckdb:///{tmp_path}/m.duckdb"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    run("migrations", "init")
    for args in (["migrations", "stamp", "nosuchrev"], ["migrations", "downgrade", "nosuchrev"]):
        line = one_line_error(run(*args, ok=False))
        assert "Can't locate revision identified by 'nosuchrev'" in line
        assert "--debug" not in line  # a user error, not a crash


def test_unknown_feature_suggests_the_close_key() -> None:
    line = one_line_error(run("describe", "speech/transcrpt", ok=False))
    assert "unknown feature 'speech/transcrpt'; did you mean 'speech/transcript'?" in line
    line = one_line_error(run("describe", "zzz/nothing", ok=False))
    assert "did you mean" not in line and "known features: media/chunk" in line


def test_store_path_without_scheme_gets_a_url_hint() -> None:
    line = one_line_error(run("status", "--store", "/tmp/x.duckdb", ok=False))
    assert "unknown store '/tmp/x.duckdb'" in line
    assert "a store URL needs a scheme, e.g. duckdb:////tmp/x.duckdb" in line
    line = one_line_error(run("status", "--store", "prod", ok=False))
    assert "scheme" not in line


def test_resolve_on_a_root_feature_says_to_pass_samples_from_python(store_url: str) -> None:
    line = one_line_error(run("resolve", "media/video", "--store", store_url, ok=False))
    assert "'media/video' is a root feature" in line
    assert "store.resolve_update('media/video', samples=frame)" in line


def test_explain_an_unknown_sample_says_it_is_not_found(project: api.Project,
                                                        populated: str) -> None:
    result = run("explain", "speech/transcript", "v9999", "--store", populated,
                 "--format", "json", ok=False)
    assert result.exit_code == 1  # a wrong id is an error for scripts (tests/cli/test_ci_gate.py)
    [out] = json.loads(result.stdout)
    assert out["state"] == "unknown"
    [cause] = out["causes"]
    assert cause["kind"] == "not_found"
    assert "no upstream sample for video_id=v9999 in media/video" in cause["message"]
    # a real sample of the same store is still explained as before
    [ok] = run_json("explain", "speech/transcript", demo.make_samples(N)["video_id"][0],
                    "--store", populated)
    assert ok["state"] == "up_to_date" and ok["causes"] == []


# ---------------------------------------------------------------------- configuration
def test_without_a_config_file_commands_say_which_defaults_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("list")
    assert NOTE in result.stderr and "project 'default'" in result.stderr
    assert "duckdb:///.metaxy/metaxy.duckdb" in result.stderr
    assert result.stdout.strip()  # the command itself still works
    assert NOTE not in run("config", "show").stderr  # it prints `path: None` itself


def test_with_a_config_file_there_is_no_note() -> None:
    assert NOTE not in run("list").stderr


# ---------------------------------------------------------------------- output
def test_list_never_cuts_feature_keys_or_versions(project: api.Project) -> None:
    out = run("list").stdout  # 80 columns: not a terminal
    assert "…" not in out
    versions = versions_of(project.graph)
    for key in project.graph.topological_order():
        assert str(key) in out
        assert versions.feature_version(key) in out
        for version in versions.field_versions(key).values():
            assert version in out


def test_cleanup_lists_only_features_with_rows_to_drop(project: api.Project,
                                                       populated: str) -> None:
    store = project.store(populated)
    demo.run_pipeline(store, project.graph, demo.make_samples(N, audio_rev={1: 1}), "again")
    out = run("cleanup", "--dry-run", "--older-than", "2999-01-01", "--store", populated).stdout
    listed = [line.split(":")[0] for line in out.splitlines() if ": would drop" in line]
    assert "media/video" in listed and "vision/faces" not in listed  # frames did not change
    assert "0 row(s)" not in out
    data = run_json("cleanup", "--dry-run", "--older-than", "2999-01-01", "--store", populated)
    assert len(data["features"]) == len(project.graph)  # JSON keeps every feature


# ---------------------------------------------------------------------- migration commands
def test_migration_commands_take_the_short_store_option_and_have_help(store_url: str) -> None:
    assert "recorded: project" in run("push", "-s", store_url).stdout
    assert "no changes" in run("graph", "diff", "-s", store_url).stdout
    for sub in ("heads", "history"):
        help_text = run("migrations", sub, "--help").stdout
        assert "revision" in help_text.split("Options")[0].split(sub, 1)[1]
    assert "``" not in run("migrations", "--help").stdout


# ---------------------------------------------------------------------- team package errors
def test_a_team_package_with_an_invalid_spec_names_the_file_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic's dump of the input (and its docs link) was the error line."""
    module = tmp_path / "trial_broken_team.py"
    module.write_text("import metaxy as mx\n\n"
                      "SPEC = mx.FeatureSpec(key='a/b', id_columns=['x'],\n"
                      "                      deps=[mx.FeatureDep(feature='a/b')])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="features", value="trial_broken_team",
                                       group="metaxy.features")
    with pytest.raises(PluginLoadError) as info:
        EntryPointRef("team-broken", "features", "trial_broken_team", ep).load()
    message = str(info.value)
    assert "of package team-broken failed to load: invalid FeatureSpec: " in message
    assert "a feature cannot depend on itself" in message
    assert f"(at {module}:3)" in message
    assert "input_value" not in message and "errors.pydantic.dev" not in message


def test_describe_exception_keeps_ordinary_errors() -> None:
    try:
        json.loads("{")
    except ValueError as e:
        text = describe_exception(e)
    assert text.startswith("JSONDecodeError: Expecting property name")
    assert f"(at {__file__}:" in text
