"""``metaxy graph render -o graph.html``: the feature graph as one self-contained HTML page.

The page needs no network: the layout is computed here and written as inline SVG, the styles and
the few lines of JavaScript (a click on a feature fills the side panel) are inline too, and the
data the panel shows is embedded as JSON. Every feature is a box listing its fields; edges run
between fields (the field-level dependencies). A box is coloured by the feature's status in the
store: stale, new, orphaned, up to date, or grey when the counts are unknown (a root feature, or
no store to read).

Layout: a feature's column is the length of the longest upstream path to it (roots in column 0);
within a column, features keep the graph's topological order.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.graph import FeatureGraph
    from metaxy.store.base import Status

CHAR_W = 7.2  # px per character of the 12px monospace font
ROW_H = 20
HEAD_H = 26
COL_GAP = 90
ROW_GAP = 28
PAD = 20

COLOURS = {
    "stale": "#f4b942",
    "new": "#6aa9f4",
    "orphaned": "#e8736c",
    "up_to_date": "#7cc68d",
    "unknown": "#c9ccd1",
}
LEGEND = {"up_to_date": "up to date", "new": "new", "stale": "stale", "orphaned": "orphaned",
          "unknown": "counts unknown"}


def status_class(row: Status | None) -> str:
    """The colour class of a feature: ``stale`` > ``new`` > ``orphaned`` > ``up_to_date``;
    ``unknown`` without counts."""
    if row is None or row.new is None:
        return "unknown"
    for name in ("stale", "new", "orphaned"):
        if getattr(row, name):
            return name
    return "up_to_date"


@dataclass
class _Box:
    key: str
    fields: list[str]
    x: float
    y: float
    w: float

    @property
    def h(self) -> float:
        return HEAD_H + ROW_H * len(self.fields)

    def field_y(self, name: str) -> float:
        return self.y + HEAD_H + ROW_H * self.fields.index(name) + ROW_H / 2


def _layout(graph: FeatureGraph, keys: list[str]) -> dict[str, _Box]:
    chosen = set(keys)
    depth: dict[str, int] = {}
    for key in keys:  # topological order: parents first
        ups = [str(u) for u in graph.upstream(key) if str(u) in chosen]
        depth[key] = 1 + max((depth[u] for u in ups), default=-1)
    columns: dict[int, list[str]] = {}
    for key in keys:
        columns.setdefault(depth[key], []).append(key)
    boxes: dict[str, _Box] = {}
    x = float(PAD)
    for col in sorted(columns):
        labels = {k: [str(f.key) for f in graph.spec(k).fields] for k in columns[col]}
        width = max(len(t) for k in columns[col] for t in [k, *(f"{f}  v0000" for f in labels[k])])
        w = width * CHAR_W + 24
        y = float(PAD + 30)  # below the legend
        for key in columns[col]:
            boxes[key] = _Box(key, labels[key], x, y, w)
            y += boxes[key].h + ROW_GAP
        x += w + COL_GAP
    return boxes


def _edges(graph: FeatureGraph, boxes: dict[str, _Box]) -> list[tuple[str, str, str, str]]:
    """(parent feature, parent field, child feature, child field) between drawn features."""
    out = []
    for key, box in boxes.items():
        for name in box.fields:
            for fk, pk in graph.field_parents(key, name):
                if str(fk) in boxes:
                    out.append((str(fk), str(pk), key, name))
    return out


def _details(graph: FeatureGraph, keys: list[str],
             statuses: dict[str, Status]) -> dict[str, Any]:
    versions = versions_of(graph)
    data: dict[str, Any] = {}
    for key in keys:
        spec = graph.spec(key)
        st = statuses.get(key)
        counts: dict[str, int | None] | None = None
        if st is not None:
            counts = {"up_to_date": st.up_to_date, "new": st.new, "stale": st.stale,
                      "orphaned": st.orphaned, "stored": st.stored}
        data[key] = {
            "status": status_class(st),
            "counts": counts,
            "feature_version": versions.feature_version(key),
            "definition_version": versions.definition_version(key),
            "upstream": [str(u) for u in graph.upstream(key)],
            "fields": [{"key": str(f.key), "code_version": f.code_version,
                        "version": versions.field_version(key, f.key),
                        "parents": [f"{fk}:{pk}" for fk, pk in graph.field_parents(key, f.key)]}
                       for f in spec.fields],
        }
    return data


def _svg(graph: FeatureGraph, boxes: dict[str, _Box], statuses: dict[str, Status]) -> str:
    e = html.escape
    width = max((b.x + b.w for b in boxes.values()), default=0) + PAD
    height = max((b.y + b.h for b in boxes.values()), default=0) + PAD
    width = max(width, 620)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">']
    x = float(PAD)
    for cls, label in LEGEND.items():  # the legend, one swatch per colour
        parts.append(f'<rect class="swatch" x="{x:.0f}" y="{PAD}" width="14" height="14" '
                     f'fill="{COLOURS[cls]}"/><text x="{x + 19:.0f}" y="{PAD + 12}">'
                     f"{e(label)}</text>")
        x += 30 + len(label) * CHAR_W
    for pf, pk, cf, ck in _edges(graph, boxes):
        a, b = boxes[pf], boxes[cf]
        x1, y1, x2, y2 = a.x + a.w, a.field_y(pk), b.x, b.field_y(ck)
        mid = (x1 + x2) / 2
        parts.append(f'<path class="edge" data-from="{e(pf)}:{e(pk)}" data-to="{e(cf)}:{e(ck)}" '
                     f'd="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
                     f'{x2:.1f},{y2:.1f}"/>')
    for key, box in boxes.items():
        cls = status_class(statuses.get(key))
        parts.append(f'<g class="feature status-{cls}" data-key="{e(key)}" '
                     f'data-status="{cls}" tabindex="0">')
        parts.append(f'<rect class="box" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
                     f'height="{box.h:.1f}" rx="6" fill="{COLOURS[cls]}"/>')
        parts.append(f'<text class="title" x="{box.x + 10:.1f}" y="{box.y + 17:.1f}">'
                     f"{e(key)}</text>")
        spec = graph.spec(key)
        for f in spec.fields:
            fy = box.field_y(str(f.key))
            parts.append(f'<rect class="field" data-field="{e(str(f.key))}" x="{box.x + 4:.1f}" '
                         f'y="{fy - ROW_H / 2 + 1:.1f}" width="{box.w - 8:.1f}" '
                         f'height="{ROW_H - 2}" rx="3"/>')
            parts.append(f'<text x="{box.x + 10:.1f}" y="{fy + 4:.1f}">{e(str(f.key))}  '
                         f'v{e(f.code_version)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; display: flex; color: #222; }
main { flex: 1; overflow: auto; padding: 8px; }
aside { width: 360px; border-left: 1px solid #ddd; padding: 12px 16px; background: #fafafa;
        min-height: 100vh; overflow-wrap: anywhere; }
svg text { font: 12px monospace; pointer-events: none; }
svg .title { font-weight: bold; }
.feature { cursor: pointer; }
.feature .box { stroke: #555; stroke-width: 1; }
.feature.selected .box { stroke: #000; stroke-width: 3; }
.field { fill: #fff; fill-opacity: 0.75; }
.edge { fill: none; stroke: #667; stroke-width: 1.3; opacity: 0.7; }
.edge.lit { stroke: #000; stroke-width: 2.2; opacity: 1; }
table { border-collapse: collapse; } td, th { padding: 2px 8px 2px 0; text-align: left; }
code { font-size: 12px; }
"""

_SCRIPT = """
const DATA = JSON.parse(document.getElementById('metaxy-data').textContent);
const panel = document.getElementById('details');
function esc(s) { const d = document.createElement('span'); d.textContent = String(s);
                  return d.innerHTML; }
function show(key) {
  const f = DATA.features[key];
  document.querySelectorAll('.feature').forEach(
    g => g.classList.toggle('selected', g.dataset.key === key));
  document.querySelectorAll('.edge').forEach(p => p.classList.toggle('lit',
    p.dataset.to.startsWith(key + ':') || p.dataset.from.startsWith(key + ':')));
  let h = '<h2 id="d-key">' + esc(key) + '</h2><p>status: <b id="d-status">'
        + esc(f.status.replace(/_/g, ' ')) + '</b></p>';
  if (f.counts) {
    h += '<table id="d-counts">';
    for (const [k, v] of Object.entries(f.counts)) {
      if (v !== null) h += '<tr><th>' + esc(k.replace(/_/g, ' ')) + '</th><td data-count="'
                          + esc(k) + '">' + esc(v) + '</td></tr>';
    }
    h += '</table>';
  }
  if (f.status === 'unknown') h += '<p id="d-note">no new / stale counts: '
                                   + esc(DATA.no_counts) + '</p>';
  h += '<p>feature version <code id="d-feature-version">' + esc(f.feature_version)
     + '</code><br>definition <code>' + esc(f.definition_version) + '</code></p>';
  if (f.upstream.length) h += '<p>upstream: ' + f.upstream.map(esc).join(', ') + '</p>';
  h += '<table id="d-fields"><tr><th>field</th><th>code</th><th>version</th></tr>';
  for (const x of f.fields) {
    h += '<tr><td>' + esc(x.key) + '</td><td>' + esc(x.code_version) + '</td><td><code>'
       + esc(x.version) + '</code></td></tr>';
    if (x.parents.length) h += '<tr><td colspan="3">&larr; ' + x.parents.map(esc).join(', ')
                             + '</td></tr>';
  }
  panel.innerHTML = h + '</table>';
}
document.querySelectorAll('.feature').forEach(g => {
  g.addEventListener('click', () => show(g.dataset.key));
  g.addEventListener('keydown', ev => { if (ev.key === 'Enter') show(g.dataset.key); });
});
"""


def render_html(graph: FeatureGraph, keys: list[str] | None = None,
                statuses: list[Status] | None = None, *, title: str = "metaxy graph",
                source: str = "") -> str:
    """The page (see the module docstring) for ``keys`` (default: every feature).

    Args:
        graph: the feature graph.
        keys: the features to draw, in topological order; edges from features left out are
            not drawn.
        statuses: the features' counts (``metaxy status``); missing ones are grey.
        title: the page title.
        source: where the counts come from (shown on the page), e.g. the store.
    """
    keys = keys if keys is not None else [str(k) for k in graph.topological_order()]
    by_key = {s.feature: s for s in statuses or []}
    boxes = _layout(graph, keys)
    no_counts = (f"a root feature: {source} cannot tell new samples from stored ones"
                 if by_key else "no store was read")
    data = {"features": _details(graph, keys, by_key), "source": source, "no_counts": no_counts}
    # inside <script>, "</" would end the element: JSON allows escaping "/" as "\/"
    payload = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    e = html.escape
    heading = f"{e(title)}" + (f" <small>status of {e(source)}</small>" if source else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title>\n<style>{_STYLE}</style></head>\n<body>\n"
        f"<main><h1>{heading}</h1>\n{_svg(graph, boxes, by_key)}\n</main>\n"
        "<aside id=\"details\"><p>Click a feature for its counts and versions.</p></aside>\n"
        f"<script type=\"application/json\" id=\"metaxy-data\">{payload}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )
