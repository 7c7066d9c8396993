"""Rendering of API results: JSON documents (``--format json`` of every command), rich tables and
progress bars for terminals, and the graph as text, Mermaid or DOT."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.api import Cause, Explanation, RunPlanRow, Status
    from metaxy.graph import FeatureGraph
    from metaxy.keys import FeatureKey

GRAPH_FORMATS = ("text", "mermaid", "dot")


def plain(value: Any) -> Any:
    """``value`` as JSON values: dataclasses as objects, tuples as lists, keys as strings,
    anything else that is not a JSON scalar (paths, timestamps) as its ``str``; recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def print_json(data: Any) -> None:
    """Write ``data`` (see :func:`plain`) to stdout as one indented JSON document."""
    sys.stdout.write(json.dumps(plain(data), indent=2) + "\n")


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def status_table(rows: list[Status], title: str = "status") -> Table:
    # min_width: a title (the store URL) wider than a small table would wrap in it
    table = Table(title=title, title_justify="left", min_width=len(title))
    for col in ("feature", "up to date", "new", "stale", "orphaned"):
        table.add_column(col, justify="left" if col == "feature" else "right")
    for r in rows:
        if r.root and r.new is None:
            table.add_row(r.feature, f"{_n(r.stored)} stored", "-", "-", "-")
            continue
        style = "yellow" if r.needs_work else None
        table.add_row(r.feature, _n(r.up_to_date), _n(r.new), _n(r.stale), _n(r.orphaned),
                      style=style)
    if any(r.root and r.new is None for r in rows):
        # a root's new/stale counts need its inputs, which only the caller has
        table.caption = "-: a root's inputs decide: metaxy ingest --dry-run"
        table.caption_justify = "left"
    return table


def run_plan_table(rows: list[RunPlanRow], title: str = "plan") -> Table:
    """One line per feature (counts now) and one per field: stale now, or stale once its
    upstream is recomputed (the cascade the static field dependencies predict)."""
    table = Table(title=title, title_justify="left", title_style="bold", min_width=len(title))
    table.add_column("feature")
    table.add_column("now", justify="right")
    table.add_column("per field")
    for r in rows:
        st = r.status
        if st.root and st.new is None:
            now = f"{_n(st.stored)} stored"
        else:
            parts = [f"{v} {k}" for k, v in (("new", st.new), ("stale", st.stale),
                                              ("orphaned", st.orphaned)) if v]
            now = ", ".join(parts) or r.note or "up to date"
        lines = [f"{f}: {n} stale" for f, n in r.stale_fields.items()]
        lines += [f"{f}: after {', '.join(p)}" for f, p in r.cascade.items()]
        if r.cascade_samples is not None:
            lines.append(f"cascade: up to {r.cascade_samples} more sample(s) "
                         "(upper bound through lineage)")
        table.add_row(r.feature, now, "\n".join(lines),
                      style="yellow" if r.needs_work else "dim")
    return table


def explain_tree(ex: Explanation) -> Tree:
    sample = ", ".join(f"{k}={v}" for k, v in ex.sample.items())
    colour = {"stale": "yellow", "new": "cyan", "orphaned": "red"}.get(ex.state, "green")
    label = f"[bold]{ex.feature}[/] {sample}: [{colour}]{ex.state.replace('_', ' ')}[/]"
    if ex.stale_fields:
        label += f" (stale fields: {', '.join(ex.stale_fields)})"
    tree = Tree(label)
    for c in ex.causes:
        _add_cause(tree, c)
    return tree


def _add_cause(node: Tree, cause: Cause) -> None:
    child = node.add(f"[magenta]{cause.kind}[/]: {cause.message}", highlight=False)
    for c in cause.causes:
        _add_cause(child, c)


@contextlib.contextmanager
def progress_bar(out: Console, total: int, what: str,
                 enabled: bool = True) -> Iterator[Callable[[str], None] | None]:
    """A transient rich progress bar on a terminal; ``None`` (no bar) otherwise.

    The callback is called with a feature key each time one is done. Pipes, files and
    ``--format json`` get no bar (``enabled=False``), so machine output stays clean.
    """
    if not enabled or not out.is_terminal or out.quiet or total < 1:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=out,
                  transient=True) as bar:
        task = bar.add_task(what, total=total)

        def tick(feature: str) -> None:
            bar.update(task, advance=1, description=f"{what} ({feature} done)")

        yield tick


# ---------------------------------------------------------------------- graph
def render_graph(graph: FeatureGraph, fmt: str = "text", keys: list[str] | None = None) -> str:
    """The feature graph with fields and field-level edges, as ``text``, ``mermaid`` or ``dot``.

    ``keys`` (topological order) draws only those features, and only the edges between them
    (``text`` still names every upstream)."""
    order = graph.topological_order()
    if keys is not None:
        chosen = set(keys)
        order = [k for k in order if str(k) in chosen]
    if fmt == "mermaid":
        return _mermaid(graph, order)
    if fmt == "dot":
        return _dot(graph, order)
    return _text(graph, order)


def _node_id(key: object) -> str:
    return str(key).replace("/", "__").replace("-", "_")


def _text(graph: FeatureGraph, order: list[FeatureKey]) -> str:
    versions = versions_of(graph)
    lines = []
    for key in order:
        spec = graph.spec(key)
        lineage = ", ".join(
            f"{d.feature}" + (f" ({d.lineage.kind} on {', '.join(d.lineage.on)})"
                              if d.lineage.kind != "identity" else "")
            for d in spec.deps)
        lines.append(f"{key}  [{versions.feature_version(key)}]"
                     + (f"  <- {lineage}" if lineage else "  (root)"))
        for f in spec.fields:
            parents = ", ".join(f"{fk}:{pk}" for fk, pk in graph.field_parents(key, f.key))
            lines.append(f"    {f.key} v{f.code_version}"
                         + (f"  <- {parents}" if parents else ""))
    return "\n".join(lines)


def _mermaid(graph: FeatureGraph, order: list[FeatureKey]) -> str:
    """One subgraph per feature holding its fields; edges run between fields (field-level deps).

    Node ids are positional (``f2_0`` = field 0 of feature 2), so no key can clash with another
    or with Mermaid syntax; the keys appear only in quoted labels.
    """
    ids = {key: f"f{i}" for i, key in enumerate(order)}
    field_ids = {(key, f.key): f"{ids[key]}_{j}"
                 for key in order for j, f in enumerate(graph.spec(key).fields)}
    lines = ["flowchart LR"]
    for key in order:
        lines.append(f'    subgraph {ids[key]}["{key}"]')
        lines += [f'        {field_ids[(key, f.key)]}["{f.key} v{f.code_version}"]'
                  for f in graph.spec(key).fields]
        lines.append("    end")
    for key in order:
        spec = graph.spec(key)
        for f in spec.fields:
            for fk, pk in graph.field_parents(key, f.key):
                if fk not in ids:
                    continue  # not selected
                kind = spec.dep(fk).lineage.kind
                label = "" if kind == "identity" else f"|{kind}|"
                lines.append(f"    {field_ids[(fk, pk)]} -->{label} {field_ids[(key, f.key)]}")
    return "\n".join(lines)


def _dot(graph: FeatureGraph, order: list[FeatureKey]) -> str:
    lines = ["digraph metaxy {", "    rankdir=LR;", "    node [shape=record];"]
    for key in order:
        spec = graph.spec(key)
        ports = "|".join(f"<{_node_id(f.key)}> {f.key} v{f.code_version}" for f in spec.fields)
        lines.append(f'    {_node_id(key)} [label="{{{key}|{ports}}}"];')
    for key in order:
        for f in graph.spec(key).fields:
            for fk, pk in graph.field_parents(key, f.key):
                if fk not in order:
                    continue  # not selected
                lines.append(f"    {_node_id(fk)}:{_node_id(pk)} -> "
                             f"{_node_id(key)}:{_node_id(f.key)};")
    lines.append("}")
    return "\n".join(lines)
