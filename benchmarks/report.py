"""Render benchmark JSON files (``benchmarks.run --json``) as Markdown tables for the docs.

    .venv/bin/python -m benchmarks.report out.json [more.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STEPS = ("write", "limit_write", "limit_write_pk", "append", "limit_append", "limit_append_pk",
         "append_more", "resolve_new", "write_leaf", "write_leaf_more", "write_10pct",
         "resolve_stale", "limit_resolve", "limit_resolve_full", "status")


def _cell(step: dict[str, Any] | None) -> str:
    if step is None:
        return ""
    return f"{step['median_s']:.3f} ({step['min_s']:.3f}-{step['max_s']:.3f})"


def _peak(step: dict[str, Any]) -> str:
    """The process's peak RSS during the step (absent from runs before it was recorded)."""
    return f"{step['rss_peak_mib_max']:.0f}" if "rss_peak_mib_max" in step else ""


def markdown(docs: list[dict[str, Any]]) -> str:
    lines = ["| backend | scenario | N | depth | step | rows | median s (min-max) | RSS +MiB "
             "| process RSS MiB | ratio | old ratio |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for doc in docs:
        for res in doc["results"]:
            s = res["summary"]
            head = (f"| {res['backend']} | {res['scenario']} | {res['n']:,} "
                    f"| {res.get('depth', 2)} ")
            if not s["ok"]:
                lines.append(head + f"| ERROR | | {s['errors'][0][:80]} | | | | |")
                continue
            for name in STEPS:
                st = s["steps"].get(name)
                if st is None:
                    continue
                ratio = f"**{st['ratio']:.2f}x**" if "ratio" in st else ""
                old = f"{st['ratio_old']:.2f}x" if "ratio_old" in st else ""
                lines.append(head + f"| {name} | {st['rows']:,} | {_cell(st)} "
                             f"| {st['rss_mib_max']:.0f} | {_peak(st)} | {ratio} | {old} |")
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    docs = [json.loads(Path(p).read_text()) for p in paths]
    print(markdown(docs))
    for doc in docs:
        if doc.get("static"):
            st = doc["static"]
            print(f"\nStatic graph work, {st['features']} features: graph build + versions "
                  f"{st['graph_and_versions_s']:.3f} s; class creation "
                  f"{st['class_creation_s']:.2f} s; `import metaxy` {st['import_s']:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
