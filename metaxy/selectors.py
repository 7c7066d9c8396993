"""Graph selectors in dbt's syntax: which features a command looks at (``--select``/``--exclude``).

A selector is one or more terms, separated by spaces or commas; the selection is their union:

* ``speech/transcript``: that feature; ``speech/*``: every key matching the glob;
* ``+key``: the feature and all its ancestors (upstream); ``2+key``: ancestors up to 2 hops;
* ``key+``: the feature and all its descendants (downstream); ``key+1``: up to 1 hop;
* ``+key+``: both.

``--exclude`` uses the same syntax and removes its selection. The result keeps the graph's
topological order. A term that matches no feature is a :class:`SelectorError` naming it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from metaxy.errors import SelectorError
from metaxy.graph import FeatureGraph
from metaxy.keys import FeatureKey

_TERM = re.compile(r"^(?:(?P<up>\d*)\+)?(?P<key>[^+]+?)(?:\+(?P<down>\d*))?$")


def _terms(selectors: Iterable[str]) -> list[str]:
    return [t for s in selectors for t in re.split(r"[\s,]+", s.strip()) if t]


def _walk(graph: FeatureGraph, start: FeatureKey, depth: int | None, upward: bool) -> set[str]:
    """Keys reachable from ``start`` within ``depth`` hops (``None``: any), ``start`` included."""
    seen = {str(start)}
    frontier = [start]
    hops = 0
    while frontier and (depth is None or hops < depth):
        nxt: list[FeatureKey] = []
        for key in frontier:
            for other in (graph.upstream(key) if upward else graph.downstream(key)):
                if str(other) not in seen:
                    seen.add(str(other))
                    nxt.append(other)
        frontier, hops = nxt, hops + 1
    return seen


def _depth(text: str | None) -> int | None:
    return None if not text else int(text)


def _term_keys(graph: FeatureGraph, term: str, keys: Sequence[FeatureKey]) -> set[str]:
    match = _TERM.match(term)
    if match is None:
        raise SelectorError(f"selector {term!r}: expected [N]+key[+N], e.g. +speech/transcript+, "
                            "2+media/chunk, speech/*")
    pattern = match["key"]
    hits = [k for k in keys if fnmatch.fnmatchcase(str(k), pattern)]
    if not hits:
        known = ", ".join(str(k) for k in keys)
        raise SelectorError(f"selector {term!r} matches no feature (features: {known})")
    out: set[str] = set()
    for key in hits:
        out.add(str(key))
        if match["up"] is not None:
            out |= _walk(graph, key, _depth(match["up"]), upward=True)
        if match["down"] is not None:
            out |= _walk(graph, key, _depth(match["down"]), upward=False)
    return out


def select(graph: FeatureGraph, include: Sequence[str] | None = None,
           exclude: Sequence[str] | None = None) -> list[FeatureKey]:
    """The features selected by ``include`` (default: all) minus ``exclude``, in topological order.

    Args:
        graph: the feature graph.
        include: selectors (see the module docstring); ``None`` or empty selects every feature.
        exclude: selectors whose features are removed from the selection.

    Raises:
        SelectorError: a malformed term, or a term that matches no feature.
    """
    order = graph.topological_order()
    terms = _terms(include or [])
    chosen = ({k for t in terms for k in _term_keys(graph, t, order)} if terms
              else {str(k) for k in order})
    for term in _terms(exclude or []):
        chosen -= _term_keys(graph, term, order)
    return [k for k in order if str(k) in chosen]
