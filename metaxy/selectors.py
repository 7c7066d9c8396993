"""Graph selectors in dbt's syntax: which features a command looks at (``--select``/``--exclude``).

A selector is one or more terms, separated by spaces or commas; the selection is their union:

* ``speech/transcript``: that feature; ``speech/*``: every key matching the glob;
* ``+key``: the feature and all its ancestors (upstream); ``2+key``: ancestors up to 2 hops;
* ``key+``: the feature and all its descendants (downstream); ``key+1``: up to 1 hop;
* ``+key+``: both.
* ``state:modified``: every feature whose definition differs from the last pushed snapshot (or
  that the snapshot does not hold), as dbt's ``state:modified`` compares with the last deployment;
  the graph operators apply to it too (``state:modified+``: with everything downstream).

``--exclude`` uses the same syntax and removes its selection. The result keeps the graph's
topological order. A term that matches no feature is a :class:`SelectorError` naming it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence

from metaxy.errors import SelectorError
from metaxy.graph import FeatureGraph
from metaxy.keys import FeatureKey

_TERM = re.compile(r"^(?:(?P<up>\d*)\+)?(?P<key>[^+]+?)(?:\+(?P<down>\d*))?$")
STATE_MODIFIED = "state:modified"

Modified = Callable[[], set[str]]
"""Returns the keys of the features modified since the last pushed snapshot (called at most
once, and only when a selector uses ``state:modified``)."""


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


class _State:
    """The modified features, computed on first use."""

    def __init__(self, modified: Modified | None) -> None:
        self._modified = modified
        self._keys: set[str] | None = None

    def keys(self, term: str) -> set[str]:
        if self._modified is None:
            raise SelectorError(f"selector {term!r}: {STATE_MODIFIED} compares with the last "
                                "pushed snapshot, which needs a store (give --store)")
        if self._keys is None:
            self._keys = self._modified()
        return self._keys


def _term_keys(graph: FeatureGraph, term: str, keys: Sequence[FeatureKey],
               state: _State) -> set[str]:
    match = _TERM.match(term)
    if match is None:
        raise SelectorError(f"selector {term!r}: expected [N]+key[+N], e.g. +speech/transcript+, "
                            "2+media/chunk, speech/*, state:modified+")
    pattern = match["key"]
    if pattern == STATE_MODIFIED:  # may select nothing: an unchanged graph is no error
        modified = state.keys(term)
        hits = [k for k in keys if str(k) in modified]
    elif pattern.startswith("state:"):
        raise SelectorError(f"selector {term!r}: the only state selector is {STATE_MODIFIED}")
    else:
        hits = [k for k in keys if fnmatch.fnmatchcase(str(k), pattern)]
    if not hits and pattern != STATE_MODIFIED:
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
           exclude: Sequence[str] | None = None,
           modified: Modified | None = None) -> list[FeatureKey]:
    """The features selected by ``include`` (default: all) minus ``exclude``, in topological order.

    Args:
        graph: the feature graph.
        include: selectors (see the module docstring); ``None`` or empty selects every feature.
        exclude: selectors whose features are removed from the selection.
        modified: the features modified since the last pushed snapshot, for
            ``state:modified`` (without it, that selector is an error).

    Raises:
        SelectorError: a malformed term, a term that matches no feature (``state:modified`` may
            match none), or ``state:modified`` without ``modified``.
    """
    order = graph.topological_order()
    state = _State(modified)
    terms = _terms(include or [])
    chosen = ({k for t in terms for k in _term_keys(graph, t, order, state)} if terms
              else {str(k) for k in order})
    for term in _terms(exclude or []):
        chosen -= _term_keys(graph, term, order, state)
    return [k for k in order if str(k) in chosen]
