"""Graph diff between two snapshots (or a snapshot and the code), SPEC §8.

For every changed field version the diff says *why*: its own ``code_version`` changed, its set of
parent fields changed, and/or an upstream field's version changed -- in which case the ``path``
walks upstream to the field(s) that caused it (``speech/keywords:keywords <- speech/transcript:text
(code_version 1 -> 2)``).

Renderers: rich text (:func:`render_text`), JSON (:meth:`GraphDiff.to_json`), Mermaid and DOT.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from metaxy.migrations.snapshots import FeatureSnapshot, Snapshot


@dataclass(frozen=True)
class FieldChange:
    """A field whose version changed, and why."""

    feature: str
    field: str
    old_version: str
    new_version: str
    code_version: tuple[str, str] | None  # (old, new) when the field's own code version changed
    parents_changed: bool  # the set of parent fields changed (deps edited)
    upstream: tuple[str, ...]  # "feature:field" of parents whose version changed
    path: tuple[str, ...]  # from this field up to the root cause(s)

    @property
    def reason(self) -> str:
        parts = []
        if self.code_version:
            parts.append(f"code_version {self.code_version[0]} -> {self.code_version[1]}")
        if self.parents_changed:
            parts.append("field dependencies changed")
        if self.upstream:
            parts.append("upstream " + " <- ".join(self.path[1:]) if self.path else
                         "upstream " + ", ".join(self.upstream))
        return "; ".join(parts) or "version changed"


@dataclass(frozen=True)
class FeatureChange:
    key: str
    fields_added: tuple[str, ...]
    fields_removed: tuple[str, ...]
    fields_changed: tuple[FieldChange, ...]
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    columns_changed: tuple[str, ...]  # type or nullability changed
    definition_changed: bool
    old_feature_version: str
    new_feature_version: str

    @property
    def versions_changed(self) -> bool:
        return self.old_feature_version != self.new_feature_version


@dataclass(frozen=True)
class GraphDiff:
    old_version: str | None
    new_version: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[FeatureChange, ...]
    edges: tuple[tuple[str, str], ...] = field(default=())  # (upstream, downstream), new graph

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def feature(self, key: str) -> FeatureChange | None:
        return next((c for c in self.changed if c.key == key), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for change in data["changed"]:
            for fc, obj in zip(change["fields_changed"],
                               self.feature(change["key"]).fields_changed,  # type: ignore[union-attr]
                               strict=True):
                fc["reason"] = obj.reason
        return data


def _empty(project: str) -> Snapshot:
    return Snapshot(project, "", {})


def diff_snapshots(old: Snapshot | None, new: Snapshot) -> GraphDiff:
    """What changed from ``old`` to ``new`` (``old=None``: everything is added)."""
    base = old if old is not None else _empty(new.project)
    added = tuple(sorted(set(new.features) - set(base.features)))
    removed = tuple(sorted(set(base.features) - set(new.features)))
    changed: list[FeatureChange] = []
    for key in sorted(set(new.features) & set(base.features)):
        a, b = base.features[key], new.features[key]
        if a.definition_version == b.definition_version and a.feature_version == b.feature_version:
            continue
        changed.append(_feature_change(base, new, a, b))
    edges = tuple(sorted((str(d["feature"]), k) for k, f in new.features.items()
                         for d in f.spec.get("deps", [])))
    return GraphDiff(old.project_version if old is not None else None, new.project_version,
                     added, removed, tuple(changed), edges)


def _feature_change(old: Snapshot, new: Snapshot, a: FeatureSnapshot,
                    b: FeatureSnapshot) -> FeatureChange:
    fields_changed = []
    for name in sorted(set(a.fields) & set(b.fields)):
        if a.fields[name]["version"] != b.fields[name]["version"]:
            fields_changed.append(_field_change(old, new, b.key, name))
    acols = {c["name"]: c for c in a.columns}
    bcols = {c["name"]: c for c in b.columns}
    return FeatureChange(
        key=b.key,
        fields_added=tuple(sorted(set(b.fields) - set(a.fields))),
        fields_removed=tuple(sorted(set(a.fields) - set(b.fields))),
        fields_changed=tuple(fields_changed),
        columns_added=tuple(n for n in bcols if n not in acols),
        columns_removed=tuple(n for n in acols if n not in bcols),
        columns_changed=tuple(n for n in bcols if n in acols and bcols[n] != acols[n]),
        definition_changed=a.definition_version != b.definition_version,
        old_feature_version=a.feature_version,
        new_feature_version=b.feature_version,
    )


def _field_info(snap: Snapshot, feature: str, name: str) -> dict[str, Any] | None:
    fs = snap.features.get(feature)
    return fs.fields.get(name) if fs is not None else None


def _field_change(old: Snapshot, new: Snapshot, feature: str, name: str) -> FieldChange:
    a = _field_info(old, feature, name)
    b = _field_info(new, feature, name)
    assert a is not None and b is not None
    code = (a["code_version"], b["code_version"]) \
        if a["code_version"] != b["code_version"] else None
    parents_a = {tuple(p) for p in a["parents"]}
    parents_b = {tuple(p) for p in b["parents"]}
    upstream = []
    for pk, pf in sorted(parents_a & parents_b):
        pa, pb = _field_info(old, pk, pf), _field_info(new, pk, pf)
        if pa is not None and pb is not None and pa["version"] != pb["version"]:
            upstream.append(f"{pk}:{pf}")
    path = _path(old, new, feature, name) if upstream else ()
    return FieldChange(feature, name, a["version"], b["version"], code,
                       parents_a != parents_b, tuple(upstream), path)


def _path(old: Snapshot, new: Snapshot, feature: str, name: str) -> tuple[str, ...]:
    """From ``feature:name`` up the first changed parent, to a field changed for its own reason."""
    path = [f"{feature}:{name}"]
    seen = {(feature, name)}
    while True:
        a, b = _field_info(old, feature, name), _field_info(new, feature, name)
        if a is None or b is None:
            break
        if a["code_version"] != b["code_version"]:
            path[-1] += f" (code_version {a['code_version']} -> {b['code_version']})"
            break
        nxt = None
        for pk, pf in sorted({tuple(p) for p in a["parents"]} & {tuple(p) for p in b["parents"]}):
            pa, pb = _field_info(old, pk, pf), _field_info(new, pk, pf)
            if pa is not None and pb is not None and pa["version"] != pb["version"]:
                nxt = (pk, pf)
                break
        if nxt is None or nxt in seen:
            if {tuple(p) for p in a["parents"]} != {tuple(p) for p in b["parents"]}:
                path[-1] += " (field dependencies changed)"
            break
        seen.add(nxt)
        feature, name = nxt
        path.append(f"{feature}:{name}")
    return tuple(path)


# ---------------------------------------------------------------------------- renderers
def render_text(diff: GraphDiff) -> str:
    """Plain text with rich markup (``[green]`` ...); print it with a rich Console."""
    lines = [f"graph diff {diff.old_version or '(nothing pushed)'} -> {diff.new_version}"]
    if diff.is_empty:
        lines.append("  no changes")
    for key in diff.added:
        lines.append(f"  [green]+ {key}[/green] (new feature)")
    for key in diff.removed:
        lines.append(f"  [red]- {key}[/red] (removed feature)")
    for c in diff.changed:
        note = "" if c.versions_changed else " (definition only; versions unchanged)"
        lines.append(f"  [yellow]~ {c.key}[/yellow]{note}")
        for f in c.fields_added:
            lines.append(f"      [green]+ field {f}[/green]")
        for f in c.fields_removed:
            lines.append(f"      [red]- field {f}[/red]")
        for fc in c.fields_changed:
            lines.append(f"      ~ field {fc.field}: {fc.old_version} -> {fc.new_version} "
                         f"({fc.reason})")
        for col in c.columns_added:
            lines.append(f"      [green]+ column {col}[/green]")
        for col in c.columns_removed:
            lines.append(f"      [red]- column {col}[/red]")
        for col in c.columns_changed:
            lines.append(f"      ~ column {col}")
    return "\n".join(lines)


def render_json(diff: GraphDiff) -> str:
    return json.dumps(diff.to_json(), indent=2, sort_keys=True)


def _nodes(diff: GraphDiff) -> dict[str, str]:
    """feature key -> state (added, removed, changed, unchanged)."""
    state: dict[str, str] = {}
    for up, down in diff.edges:
        state.setdefault(up, "unchanged")
        state.setdefault(down, "unchanged")
    for c in diff.changed:
        state[c.key] = "changed" if c.versions_changed else "definition"
    for k in diff.added:
        state[k] = "added"
    for k in diff.removed:
        state[k] = "removed"
    return dict(sorted(state.items()))


def _node_id(key: str) -> str:
    return "f_" + "".join(ch if ch.isalnum() else "_" for ch in key)


def _label(diff: GraphDiff, key: str, newline: str) -> str:
    """The node label: the key, then one ``~field`` line per changed field."""
    change = diff.feature(key)
    if change is None or not change.fields_changed:
        return key
    return key + newline + newline.join(f"~{f.field}" for f in change.fields_changed)


def render_mermaid(diff: GraphDiff) -> str:
    colors = {"added": "#c8f7c5", "removed": "#f7c5c5", "changed": "#f7e7c5",
              "definition": "#e7e7f7", "unchanged": "#ffffff"}
    out = ["flowchart LR"]
    for key in _nodes(diff):
        out.append(f'    {_node_id(key)}["{_label(diff, key, "<br/>")}"]')
    for up, down in diff.edges:
        out.append(f"    {_node_id(up)} --> {_node_id(down)}")
    for key, state in _nodes(diff).items():
        out.append(f"    style {_node_id(key)} fill:{colors[state]}")
    return "\n".join(out)


def render_dot(diff: GraphDiff) -> str:
    colors = {"added": "palegreen", "removed": "lightpink", "changed": "khaki",
              "definition": "lavender", "unchanged": "white"}
    out = ["digraph metaxy {", "  rankdir=LR;", "  node [shape=box, style=filled];"]
    for key, state in _nodes(diff).items():
        label = _label(diff, key, "\\n")  # dot's line break inside a label
        out.append(f'  {_node_id(key)} [label="{label}", fillcolor={colors[state]}];')
    for up, down in diff.edges:
        out.append(f"  {_node_id(up)} -> {_node_id(down)};")
    out.append("}")
    return "\n".join(out)


RENDERERS = {"text": render_text, "json": render_json, "mermaid": render_mermaid,
             "dot": render_dot}
