"""The Python snippets of docs/dagster.md run, in order, as one script (issue 18 item 6).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "dagster.md"


@pytest.mark.usefixtures("no_metaxy_env")
def test_dagster_page_snippets_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_dagster"}
    for i, block in enumerate(blocks):
        # dont_inherit: this module's `from __future__ import annotations` would turn the
        # snippets' annotations into strings, which Dagster refuses for `context`
        exec(compile(block, f"dagster.md[block {i}]", "exec", dont_inherit=True), namespace)
    assert namespace["result"] is not None
