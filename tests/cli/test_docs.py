"""The docs stay true: their Python snippets run, their links resolve, and the CLI reference
matches the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from metaxy.cli_reference import reference_markdown
from metaxy.testing.docs import python_blocks, run_doc_snippets

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HOW_TO = sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "how-to").glob("*.md")
                if p.name != "index.md")
#: Pages whose blocks need the PostgreSQL server: the literal URL is swapped for a fresh database.
PG_PAGES = {"how-to/postgresql.md": "postgresql://postgres@127.0.0.1:5432/metaxy_docs"}
#: Pages whose blocks need a plugin: that plugin's tests run them (core's tests import no plugin).
PLUGIN_PAGES = {"how-to/ray.md": "plugins/metaxy-ray/tests/test_docs.py",
                "how-to/delta.md": "plugins/metaxy-delta/tests/test_docs.py",
                "how-to/clickhouse.md": "plugins/metaxy-clickhouse/tests/test_docs.py"}


@pytest.mark.parametrize("page", ["quickstart.md", "concepts.md", "migrations.md",
                                  *[p for p in HOW_TO if p not in PG_PAGES | PLUGIN_PAGES]])
def test_python_snippets_run(page: str) -> None:
    run_doc_snippets(DOCS / page)


@pytest.mark.parametrize("page", sorted(PG_PAGES))
def test_postgres_snippets_run(page: str, postgres_url: str) -> None:
    run_doc_snippets(DOCS / page, replace={PG_PAGES[page]: postgres_url})


def test_how_to_guides_exist() -> None:
    assert set(HOW_TO) == {"how-to/team-package.md", "how-to/backend-plugin.md",
                           "how-to/postgresql.md", "how-to/migrate-after-refactor.md",
                           "how-to/sqlmodel-app.md", "how-to/ci.md", "how-to/ray.md",
                           "how-to/delta.md", "how-to/clickhouse.md",
                           "how-to/dev-branch.md"}
    for page, test in PLUGIN_PAGES.items():
        assert Path(page).name in (ROOT / test).read_text(encoding="utf-8"), (page, test)
    index = (DOCS / "how-to" / "index.md").read_text(encoding="utf-8")
    for page in HOW_TO:
        assert f"({Path(page).name})" in index


def test_backend_plugin_guide_passes_the_conformance_suite(tmp_path: Path) -> None:
    """The guide's toy backend and its conformance test class, run by pytest as written."""
    blocks = python_blocks(DOCS / "how-to" / "backend-plugin.md")
    backend = next(b for b in blocks if "class ToyDuckStore" in b)
    suite = next(b for b in blocks if "StoreConformanceTests" in b)
    (tmp_path / "test_toyduck.py").write_text(
        backend + "\nfrom metaxy.plugins import get_plugin_manager\n" + suite, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-k", "cleanup or resolve or delete or write or lazy or lock", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("page", ["../README.md", "index.md", "quickstart.md", "concepts.md",
                                  "how-to/index.md", *HOW_TO])
def test_relative_links_resolve(page: str) -> None:
    path = (DOCS / page).resolve()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{page}: broken link {target}"


def test_cli_reference_is_current() -> None:
    expected = reference_markdown()
    actual = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/cli.md is stale: run `python -m metaxy.cli > docs/cli.md`"
    for command in ("list", "describe", "status", "plan", "explain", "resolve", "delete",
                    "cleanup", "graph render", "config show", "demo"):
        assert f"## `metaxy {command}`" in actual
