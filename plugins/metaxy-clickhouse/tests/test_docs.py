"""The Python snippets of docs/how-to/clickhouse.md run, in order, as one script (chDB in a
temporary directory; the server store is only compiled, never connected).

They live here rather than in core's doc tests: core's tests never import a plugin."""

from __future__ import annotations

from pathlib import Path

from metaxy.testing.docs import run_doc_snippets

DOC = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "clickhouse.md"


def test_clickhouse_page_snippets_run() -> None:
    namespace = run_doc_snippets(DOC, min_blocks=3)
    assert namespace["store"].backend == "clickhouse"  # type: ignore[attr-defined]
    table = namespace["Video"].__table__  # type: ignore[attr-defined]
    created = namespace["server"].create_table_sql(table)  # type: ignore[attr-defined]
    assert "ReplicatedMergeTree ORDER BY (`video_id`, `metaxy_updated_at`)" in created
    local, dist = namespace["sharded"].create_table_statements(table)  # type: ignore[attr-defined]
    assert "`docs__video_local`" in local and "cityHash64(`video_id`)" in dist
