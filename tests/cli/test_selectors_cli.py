"""Issue 19 item 2 at the CLI: ``--select`` / ``--exclude`` on ``list``, ``status`` and ``plan``
(DuckDB and PostgreSQL), combined with the ``--exit-code`` gate."""

from __future__ import annotations

from metaxy import api
from tests.cli.conftest import one_line_error, run, run_json
from tests.cli.test_ci_gate import _make_transcripts_stale


def test_list_select_and_exclude() -> None:
    data = run_json("list", "--select", "+speech/keywords")
    assert [f["key"] for f in data["features"]] == ["media/video", "speech/transcript",
                                                    "speech/keywords"]
    data = run_json("list", "--select", "speech/*", "--exclude", "speech/summary")
    assert [f["key"] for f in data["features"]] == ["speech/transcript", "speech/keywords"]


def test_status_and_plan_select(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)
    status = run_json("status", "--select", "speech/transcript+", "--store", populated)
    assert [f["feature"] for f in status["features"]] == ["speech/transcript", "speech/keywords"]
    assert status["needs_work"] is True
    plan = run("plan", "--select", "vision/*", "--exit-code", "--format", "json", "--store",
               populated)
    assert plan.exit_code == 0 and '"vision/faces"' in plan.stdout
    gated = run("plan", "--select", "+speech/keywords", "--exclude", "media/*", "--exit-code",
                "--store", populated, ok=False)
    assert gated.exit_code == 2 and "speech/keywords" in gated.stdout
    assert "media/video" not in gated.stdout


def test_a_bad_selector_is_one_line(populated: str) -> None:
    line = one_line_error(run("status", "--select", "speech/nope", "--store", populated,
                              ok=False))
    assert "selector 'speech/nope' matches no feature" in line


def _push_bumped(project: api.Project, url: str) -> None:
    """Push a snapshot in which speech/transcript had another code version: the code now
    differs from the last pushed snapshot in that feature only."""
    from metaxy.migrations.snapshots import push

    bumped = api.with_code_versions(project.graph, {"speech/transcript": {"text": "0"}})
    store = project.store(url)
    with store.open("w"):
        push(store, bumped, project.config.project)


def test_state_modified_compares_with_the_last_pushed_snapshot(project: api.Project,
                                                               populated: str) -> None:
    line = one_line_error(run("list", "--select", "state:modified", "--store", populated,
                              ok=False))
    assert "holds none of project" in line and "metaxy push" in line
    run("push", "--store", populated)
    assert run_json("list", "--select", "state:modified", "--store", populated)["features"] == []
    _push_bumped(project, populated)
    keys = [f["key"] for f in run_json("list", "--select", "state:modified", "--store",
                                       populated)["features"]]
    assert keys == ["speech/transcript"]
    keys = [f["feature"] for f in run_json("status", "--select", "state:modified+", "--exclude",
                                           "speech/summary", "--store", populated)["features"]]
    assert keys == ["speech/transcript", "speech/keywords"]
    # from Python
    store = project.store(populated)
    assert api.modified_features(project, store) == ["speech/transcript"]
    assert api.select_features(project, ["1+state:modified+1"], store=store) == [
        "media/video", "speech/transcript", "speech/keywords"]
    try:
        api.select_features(project, ["state:modified"])
    except api.ApiError as e:
        assert "needs a store" in str(e)
    else:
        raise AssertionError("state:modified without a store must fail")


def test_resolve_select(project: api.Project, populated: str) -> None:
    _make_transcripts_stale(project, populated)
    doc = run_json("resolve", "--select", "+speech/keywords", "--store", populated)
    # the root media/video is skipped (its increment needs samples from Python)
    assert [f["feature"] for f in doc["features"]] == ["speech/transcript", "speech/keywords"]
    assert doc["features"][0]["counts"]["stale"] == 2
    line = one_line_error(run("resolve", "--select", "speech/*", "-o", "x.parquet", "--store",
                              populated, ok=False))
    assert "--output writes one feature's increment; 3 selected" in line


def test_graph_render_select() -> None:
    mermaid = run("graph", "render", "-f", "mermaid", "--select", "speech/transcript+").stdout
    assert '"speech/keywords"' in mermaid and '"media/video"' not in mermaid
    assert "-->" in mermaid  # the edges between selected features stay
    data = run_json("graph", "render", "--select", "vision/*")
    assert [f["key"] for f in data["features"]] == ["vision/faces"]
