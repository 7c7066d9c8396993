"""Progress bars: only on a terminal, never in --format json or piped output."""

from __future__ import annotations

import io

from rich.console import Console

from metaxy import api
from metaxy.render import progress_bar
from tests.cli.conftest import run, run_json
from tests.cli.test_commands import KEYS


def _terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=100), buf


def test_status_and_plan_report_every_feature_in_order(project: api.Project,
                                                       populated: str) -> None:
    store = project.store(populated)
    seen: list[str] = []
    api.status(project, store, progress=seen.append)
    order = [str(k) for k in project.graph.topological_order()]
    assert seen == order and sorted(seen) == sorted(KEYS)
    seen.clear()
    api.run_plan(project, store, progress=seen.append)
    assert seen == order


def test_bar_on_a_terminal_only() -> None:
    out, buf = _terminal()
    with progress_bar(out, 3, "status") as tick:
        assert tick is not None
        for key in ("a/x", "b/y", "c/z"):
            tick(key)
    assert "status" in buf.getvalue() and "3/3" in buf.getvalue()
    plain = Console(file=io.StringIO())  # a pipe / file: not a terminal
    with progress_bar(plain, 3, "status") as tick:
        assert tick is None
    with progress_bar(_terminal()[0], 3, "status", enabled=False) as tick:  # --format json
        assert tick is None


def test_json_output_stays_clean(populated: str) -> None:
    data = run_json("plan", "--store", populated)
    assert [f["feature"] for f in data["features"]] == KEYS
    assert "done)" not in run("status", "--store", populated).stdout  # no bar in a pipe


def test_demo_shows_pipeline_progress_on_a_terminal(tmp_path: object) -> None:
    from metaxy.demo import run_demo

    out, buf = _terminal()
    report = run_demo(f"duckdb:///{tmp_path}/demo.duckdb", 10, out)
    text = buf.getvalue()
    assert "run-1: computing features" in text and "planning" in text
    assert report.processed(2) == dict.fromkeys(KEYS, 0)
