"""The Python snippets of docs/how-to/ray.md run, in order, as one script, on the session's Ray
cluster and a fresh PostgreSQL database (issue 17 item 4).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "ray.md"
DOC_URL = "postgresql://postgres@127.0.0.1:5432/metaxy_ray"


@pytest.mark.xdist_group("ray")  # the Ray tests share one worker, one cluster (conftest.py)
@pytest.mark.usefixtures("ray_cluster", "teams", "no_metaxy_env")
def test_ray_page_snippets_run(postgres_url: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 3 and DOC_URL in blocks[0]
    namespace: dict[str, object] = {"__name__": "docs_ray"}
    for i, block in enumerate(blocks):
        code = compile(block.replace(DOC_URL, postgres_url), f"ray.md[block {i}]", "exec",
                       dont_inherit=True)
        exec(code, namespace)
    assert namespace["second"] == {"media/chunk": 3, "speech/transcript": 3, "vision/faces": 0}
