"""Run a documentation page's Python snippets, in order, as one script.

Doc pages are tested by executing them: a snippet that stops working fails the suite. Core's
tests run core's pages; each plugin's tests run its own page (core's tests never import a plugin).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    """The bodies of the page's fenced ``python`` blocks, in order."""
    return _PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))


def run_doc_snippets(page: Path, *, replace: Mapping[str, str] | None = None,
                     min_blocks: int = 1) -> dict[str, object]:
    """Execute the page's Python blocks in one namespace (later blocks use earlier names) and
    return that namespace, for the caller's assertions.

    ``replace`` swaps text in the blocks before they run (a documented URL for a test one);
    each old text must occur in some block, so a stale replacement fails instead of silently
    running the page against the documented URL. Blocks are compiled without this module's
    ``__future__`` flags (string annotations would change what some snippets do), and each is
    named ``<page>[block i]`` in tracebacks.
    """
    blocks = python_blocks(page)
    if len(blocks) < min_blocks:
        raise AssertionError(f"{page}: {len(blocks)} python block(s), expected at least "
                             f"{min_blocks}")
    for old in replace or {}:
        if not any(old in block for block in blocks):
            raise AssertionError(f"{page}: {old!r} is in none of its python blocks")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(blocks):
        for old, new in (replace or {}).items():
            block = block.replace(old, new)
        exec(compile(block, f"{page.name}[block {i}]", "exec", dont_inherit=True), namespace)
    return namespace
