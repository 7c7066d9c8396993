"""The Python snippets of docs/how-to/delta.md run, in order, as one script (local Delta
roots in temporary directories).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

from pathlib import Path

from metaxy.testing.docs import run_doc_snippets

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "delta.md"


def test_delta_page_snippets_run() -> None:
    namespace = run_doc_snippets(DOC, min_blocks=4)
    assert namespace["store"].backend == "delta"  # type: ignore[attr-defined]
