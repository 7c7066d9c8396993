"""The docs stay true: their Python snippets run, and the CLI reference matches the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metaxy.cli import reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("page", ["quickstart.md", "concepts.md"])
def test_python_snippets_run(page: str) -> None:
    blocks = _python_blocks(DOCS / page)
    assert blocks, f"{page} has no python block"
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for i, block in enumerate(blocks):  # one script: later blocks use earlier names
        code = compile(block, f"{page}[block {i}]", "exec")
        exec(code, namespace)


def test_cli_reference_is_current() -> None:
    expected = reference_markdown()
    actual = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/cli.md is stale: run `python -m metaxy.cli > docs/cli.md`"
    for command in ("list", "describe", "status", "plan", "explain", "resolve", "delete",
                    "graph render", "config show", "demo"):
        assert f"## `metaxy {command}`" in actual
