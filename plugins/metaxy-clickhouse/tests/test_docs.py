"""The Python snippets of docs/how-to/clickhouse.md run, in order, as one script (chDB in a
temporary directory; the server store is only compiled, never connected).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "clickhouse.md"


def test_clickhouse_page_snippets_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "docs_clickhouse"}
    for i, block in enumerate(blocks):
        code = compile(block, f"clickhouse.md[block {i}]", "exec", dont_inherit=True)
        exec(code, namespace)
    assert namespace["store"].backend == "clickhouse"  # type: ignore[attr-defined]
    table = namespace["Video"].__table__  # type: ignore[attr-defined]
    created = namespace["server"].create_table_sql(table)  # type: ignore[attr-defined]
    assert "ReplicatedMergeTree ORDER BY (`video_id`, `metaxy_updated_at`)" in created
    local, dist = namespace["sharded"].create_table_statements(table)  # type: ignore[attr-defined]
    assert "`docs__video_local`" in local and "cityHash64(`video_id`)" in dist
