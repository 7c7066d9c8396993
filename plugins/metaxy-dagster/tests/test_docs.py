"""The Python snippets of docs/dagster.md run, in order, as one script (issue 18 item 6).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy.testing.docs import run_doc_snippets

DOC = Path(__file__).resolve().parents[3] / "docs" / "dagster.md"


@pytest.mark.usefixtures("no_metaxy_env")
def test_dagster_page_snippets_run() -> None:
    # run without this module's `from __future__ import annotations`: string annotations
    # are refused by Dagster for `context`
    namespace = run_doc_snippets(DOC, min_blocks=5)
    assert namespace["result"] is not None
