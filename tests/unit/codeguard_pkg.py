"""A throwaway team package on ``sys.path`` whose code a test rewrites (the code under guard).

Each :meth:`CodePackage.load` is one state of the code: the files are (re)written, every module of
the package is dropped from ``sys.modules`` and imported again into a fresh graph, as a new
process running ``metaxy check`` would see them.
"""

from __future__ import annotations

import importlib
import linecache
import sys
import textwrap
import uuid
from pathlib import Path
from types import ModuleType

import metaxy as mx
from metaxy.discovery import import_module

FEATURES = '''
import metaxy as mx


class Doc(mx.Feature, table=True, spec=mx.FeatureSpec(
    key="guard/doc", id_columns=["doc_id"],
    fields=[mx.FieldSpec(key="text", code_version="{text_version}"),
            mx.FieldSpec(key="size", code_version="1")],
)):
    doc_id: str
    text: str | None = None
'''

COMPUTE = '''
from {pkg} import helpers
from {pkg}.features import Doc

SUFFIX = "!"


@Doc.computes("text")
def make_text(rows):
    """Clean every row and mark it."""
    return [helpers.clean(r) + SUFFIX for r in rows]
'''

HELPERS = '''
def clean(value):
    return _strip(value).upper()


def _strip(value):
    return _deeper(value).strip()


def _deeper(value):
    return value
'''


class CodePackage:
    """A package ``cg_<random>`` with ``features.py``, ``compute.py`` and ``helpers.py``."""

    def __init__(self, root: Path) -> None:
        self.name = f"cg_{uuid.uuid4().hex[:10]}"
        self.dir = root / self.name
        self.dir.mkdir(parents=True)
        (self.dir / "__init__.py").write_text("", encoding="utf-8")
        self.root = str(root)
        if self.root not in sys.path:
            sys.path.insert(0, self.root)

    def load(self, *, compute: str = COMPUTE, helpers: str = HELPERS,
             text_version: str = "1", features: str = FEATURES) -> mx.FeatureGraph:
        """Write the sources and import them into a fresh graph; returns the graph."""
        sources = {"features": features.format(text_version=text_version),
                   "compute": compute.replace("{pkg}", self.name),
                   "helpers": helpers}
        for module, source in sources.items():
            (self.dir / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.purge()
        linecache.clearcache()
        importlib.invalidate_caches()
        graph = mx.FeatureGraph()
        import_module(f"{self.name}.features", graph)
        import_module(f"{self.name}.compute", graph)
        return graph

    def module(self, name: str) -> ModuleType:
        return sys.modules[f"{self.name}.{name}"]

    def purge(self) -> None:
        for name in [m for m in sys.modules if m == self.name or m.startswith(self.name + ".")]:
            del sys.modules[name]

    def close(self) -> None:
        """Drop the package's modules and its folder from ``sys.path`` (end of a test)."""
        self.purge()
        if self.root in sys.path:
            sys.path.remove(self.root)

