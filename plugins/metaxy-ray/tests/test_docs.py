"""The Python snippets of docs/how-to/ray.md run, in order, as one script, on the session's Ray
cluster and a fresh PostgreSQL database (issue 17 item 4).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy.testing.docs import run_doc_snippets

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "ray.md"
DOC_URL = "postgresql://postgres@127.0.0.1:5432/metaxy_ray"


@pytest.mark.xdist_group("ray")  # the Ray tests share one worker, one cluster (conftest.py)
@pytest.mark.usefixtures("ray_cluster", "teams", "no_metaxy_env")
def test_ray_page_snippets_run(postgres_url: str) -> None:
    namespace = run_doc_snippets(DOC, replace={DOC_URL: postgres_url}, min_blocks=3)
    assert namespace["second"] == {"media/chunk": 3, "speech/transcript": 3, "vision/faces": 0}
