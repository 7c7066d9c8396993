"""Static graph work for 1,000 features (issue 6): import, class creation, graph + versions.

``python -m benchmarks.static`` prints one JSON object. ``import metaxy`` is timed in a fresh
interpreter; class creation (SQLModel tables + spec validation + registration) is reported apart
from the graph work measured against the target: validation, field/feature versions of every
feature and the project version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from typing import Any

import metaxy as mx


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import metaxy; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def define_features(n: int) -> tuple[mx.FeatureGraph, float]:
    """n features: 50 roots with 3 fields, the rest depending on 1-2 earlier ones."""
    t0 = time.perf_counter()
    with mx.FeatureGraph().use() as graph:
        for i in range(n):
            deps = [] if i < 50 else [f"static/f{i - 50}", f"static/f{(i * 7) % (i - 1)}"][
                : 1 + i % 2]
            deps = list(dict.fromkeys(deps))
            fields = [mx.FieldSpec(key=k, code_version=str(i % 3)) for k in ("a", "b", "c")]
            spec = mx.FeatureSpec(key=f"static/f{i}", id_columns=["sample_id"], fields=fields,
                                  deps=deps)

            def body(ns: dict[str, Any], i: int = i) -> None:
                ns.update({"__module__": __name__, "__qualname__": f"F{i}",
                           "__annotations__": {"sample_id": str, "value": str | None},
                           "value": None})

            types.new_class(f"F{i}", (mx.Feature,), {"table": True, "spec": spec}, body)
    return graph, time.perf_counter() - t0


def run(n: int = 1000) -> dict[str, float]:
    graph, create = define_features(n)
    t0 = time.perf_counter()
    graph.validate()
    validate = time.perf_counter() - t0
    versions = mx.versions_of(graph)
    for key in graph.keys:
        versions.field_versions(key)
        versions.feature_version(key)
    project = versions.project_version("bench")
    total = time.perf_counter() - t0
    assert len(project) > 0
    return {"features": n, "import_s": import_seconds(), "class_creation_s": create,
            "validate_s": validate, "graph_and_versions_s": total}


if __name__ == "__main__":
    json.dump(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000), sys.stdout)
    sys.stdout.write("\n")
