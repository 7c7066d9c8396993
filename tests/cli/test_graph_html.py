"""Issue 19 item 5: ``metaxy graph render -o graph.html``, a self-contained page, checked in a
real headless browser (Debian's ``chromium``, driven by Playwright): no network request, one box
per feature coloured by its status, one edge per field-level dependency, and a click on a feature
shows its counts and versions. Outside CI the browser test skips when chromium is missing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from metaxy import api, demo
from metaxy.render_html import COLOURS
from metaxy.testing.backends import skip_or_fail
from metaxy.versions import versions_of
from tests.cli.conftest import N, run
from tests.cli.test_ci_gate import _make_transcripts_stale


def _page_data(path: Path) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="metaxy-data">(.*?)</script>',
                      path.read_text(), re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_page_carries_each_backends_counts(project: api.Project, populated: str,
                                               tmp_path: Path) -> None:
    _make_transcripts_stale(project, populated)
    out = tmp_path / "graph.html"
    run("graph", "render", "-o", str(out), "--store", populated)
    features = _page_data(out)["features"]
    assert features["speech/transcript"]["status"] == "stale"
    assert features["speech/transcript"]["counts"]["stale"] == 2
    assert features["vision/faces"]["status"] == "up_to_date"
    assert features["media/video"]["status"] == "unknown"  # a root: no counts without samples
    assert "http://" not in out.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_without_a_store_file_the_page_has_no_counts(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    result = run("graph", "render", "-o", str(out), "--select", "speech/*", "--store",
                 f"duckdb:///{tmp_path / 'missing.duckdb'}")
    assert "the page shows no counts" in result.stderr
    features = _page_data(out)["features"]
    assert sorted(features) == ["speech/keywords", "speech/summary", "speech/transcript"]
    assert {f["status"] for f in features.values()} == {"unknown"}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_or_fail("chromium is not installed (Debian: apt-get install chromium; .ci/run "
                     "installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    assert path is not None
    return path


def test_the_page_in_a_headless_browser(project: api.Project, tmp_path: Path) -> None:
    browser_path = _chromium()
    from playwright.sync_api import sync_playwright

    url = f"duckdb:///{tmp_path / 'g.duckdb'}"
    demo.run_pipeline(project.store(url), project.graph, demo.make_samples(N), "fixture")
    _make_transcripts_stale(project, url)
    page_file = tmp_path / "graph.html"
    run("graph", "render", "-o", str(page_file), "--store", url)
    graph = project.graph
    n_edges = sum(1 for k in graph.keys for f in graph.spec(k).fields
                  for _ in graph.field_parents(k, f.key))
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("http*://**/*", lambda route: route.abort())  # no network at view time
            page.goto(page_file.as_uri())
            assert page.locator("g.feature").count() == len(graph.keys)
            assert page.locator("path.edge").count() == n_edges
            edge = page.locator('path.edge[data-from="media/video:audio"]'
                                '[data-to="speech/transcript:text"]')
            box = edge.bounding_box()
            assert box is not None and box["width"] > 20  # drawn between the two columns
            fill = page.eval_on_selector('g[data-key="speech/transcript"] rect.box',
                                         "e => getComputedStyle(e).fill")
            r, g, b = (int(COLOURS["stale"][i:i + 2], 16) for i in (1, 3, 5))
            assert fill == f"rgb({r}, {g}, {b})"
            assert page.get_attribute('g[data-key="vision/faces"]', "data-status") == \
                "up_to_date"
            page.click('g[data-key="speech/transcript"]')
            assert page.text_content("#d-key") == "speech/transcript"
            assert page.text_content("#d-status") == "stale"
            assert page.text_content('td[data-count="stale"]') == "2"
            assert page.text_content('td[data-count="up_to_date"]') == str(N - 2)
            assert page.text_content("#d-feature-version") == \
                versions_of(graph).feature_version("speech/transcript")
            assert page.locator("path.edge.lit").count() == 2  # audio in, text out
            page.click('g[data-key="media/video"]')
            assert page.text_content('td[data-count="stored"]') == str(N)
            assert "a root feature" in (page.text_content("#d-note") or "")
            assert len(page.screenshot()) > 10_000  # something was painted
        finally:
            browser.close()
    assert errors == []
    assert requests == [page_file.as_uri()]
