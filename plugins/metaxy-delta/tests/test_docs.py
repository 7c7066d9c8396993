"""The Python snippets of docs/how-to/delta.md run, in order, as one script (local Delta
roots in temporary directories).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "delta.md"


def test_delta_page_snippets_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_delta"}
    for i, block in enumerate(blocks):
        code = compile(block, f"delta.md[block {i}]", "exec", dont_inherit=True)
        exec(code, namespace)
    assert namespace["store"].backend == "delta"  # type: ignore[attr-defined]
