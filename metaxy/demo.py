"""The main job: the example pipeline end to end, then incrementality in action.

``metaxy demo`` (what ``./scripts/main.sh`` runs):

1. starts from an empty embedded DuckDB file (``.metaxy/demo.duckdb`` beside ``metaxy.toml``;
   deleted and recreated, so every run prints the same numbers);
2. discovers the example teams (``media``, ``speech``, ``vision``) through their entry points;
3. ingests synthetic root samples for ``media/video`` (deterministic descriptors; the per-field
   input is a checksum of the "audio track" and the "frames");
4. computes every downstream feature from its increment in topological order, with a trivial
   deterministic computation per feature, and writes the rows back (they carry the provenance);
5. changes a few sources (3 videos get a new audio track, 2 videos new frames) and bumps the
   ``code_version`` of ``vision/faces:faces``; prints the plan; runs again (only the affected
   samples are recomputed) and a third time (nothing is).

How the code_version bump is made: a real team would edit ``code_version="2"`` in its package and
re-install it. The demo must not edit installed packages, so it builds a *copy* of the graph with
the bumped field (:func:`metaxy.api.with_code_versions`) and opens the store with that graph; the
store resolves features by key, so the copy behaves exactly like the edited package would.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from metaxy import api
from metaxy import columns as C
from metaxy.graph import FeatureGraph
from metaxy.render import progress_bar
from metaxy.store.base import Increment, MetadataStore

CHUNK_SECONDS = 10.0
AUDIO_CHANGED = (3, 17, 42)  # of 200 videos: whose audio track changes in the second run
FRAMES_CHANGED = (100, 150)  # of 200 videos: whose frames change in the second run
MIN_VIDEOS = 10


def changed_indexes(n: int) -> tuple[list[int], list[int]]:
    """The videos changed in the second run, scaled to ``n`` videos (distinct for n >= 10)."""
    return ([i * n // 200 for i in AUDIO_CHANGED], [i * n // 200 for i in FRAMES_CHANGED])
BUMP = {"vision/faces": {"faces": "2"}}
WORDS = ("alpha", "bravo", "camera", "delta", "echo", "forest", "guitar", "harbor", "island",
         "jungle", "kitchen", "lemon", "market", "night", "ocean", "piano", "river", "summer",
         "train", "valley", "window", "yellow", "zebra", "music")


def _h(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def video_id(i: int) -> str:
    return f"v{i:04d}"


def make_samples(n: int, audio_rev: dict[int, int] | None = None,
                 frames_rev: dict[int, int] | None = None) -> pl.DataFrame:
    """Synthetic root samples for ``media/video``: ids, descriptors and a checksum per field."""
    audio_rev, frames_rev = audio_rev or {}, frames_rev or {}
    rows = []
    for i in range(n):
        vid = video_id(i)
        rows.append({
            "video_id": vid,
            "path": f"s3://demo-bucket/videos/{vid}.mp4",
            "duration_s": float(20 + (i * 37) % 100),
            "fps": (24, 25, 30)[i % 3],
            C.INPUT_BY_FIELD: {
                "audio": _h(f"{vid}/audio/rev{audio_rev.get(i, 0)}"),
                "frames": _h(f"{vid}/frames/rev{frames_rev.get(i, 0)}"),
            },
        })
    return pl.DataFrame(rows)


# ---------------------------------------------------------------------- computations
def _pv(df: pl.DataFrame, fld: str) -> pl.Expr:
    return pl.col(C.PROVENANCE_BY_FIELD).struct.field(fld)


def _ids(df: pl.DataFrame, col: str = "video_id") -> list[Any]:
    return df.get_column(col).unique().to_list()


def compute_video(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    return inc  # root samples carry their descriptors already


def compute_chunk(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    """1:N: cut each video into fixed-length chunks; every child carries the parent's
    provenance."""
    n = (pl.col("duration_s") / CHUNK_SECONDS).ceil().cast(pl.Int64)
    return (inc.with_columns(pl.int_ranges(0, n).alias("chunk_id")).explode("chunk_id")
            .with_columns(start_s=pl.col("chunk_id") * CHUNK_SECONDS)
            .with_columns(end_s=pl.min_horizontal(pl.col("start_s") + CHUNK_SECONDS,
                                                  pl.col("duration_s")))
            .drop("duration_s"))


def _words(seed: str, n: int) -> str:
    return " ".join(WORDS[int(seed[2 * k:2 * k + 2], 16) % len(WORDS)] for k in range(n))


def compute_transcript(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    """A fake speech-to-text: words derived from the audio's provenance (changes with the audio)."""
    text = [_words(p, 6 + int(p[-1], 16) % 8)
            for p in inc.select(_pv(inc, "text")).to_series().to_list()]
    return inc.with_columns(text=pl.Series(text, dtype=pl.String)).with_columns(
        n_words=pl.col("text").str.split(" ").list.len().cast(pl.Int64))


def compute_keywords(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    """The three longest distinct words of the transcript."""
    tr = store.feature("speech/transcript")
    texts = store.read(tr, where=tr.video_id.in_(_ids(inc))).select("video_id", "text")  # type: ignore[attr-defined]
    kw = texts.with_columns(keywords=pl.col("text").map_elements(
        lambda t: ",".join(sorted(set(t.split()), key=lambda w: (-len(w), w))[:3]),
        return_dtype=pl.String)).select("video_id", "keywords")
    return inc.join(kw, on="video_id", how="left")


def compute_summary(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    """N:1: one line per video, aggregated over its chunks."""
    ch = store.feature("media/chunk")
    chunks = store.read(ch, where=ch.video_id.in_(_ids(inc)))  # type: ignore[attr-defined]
    agg = chunks.group_by("video_id").agg(n_chunks=pl.len().cast(pl.Int64),
                                          seconds=pl.col("end_s").max())
    agg = agg.with_columns(summary=pl.format("{} chunks covering {} s", "n_chunks", "seconds"))
    return inc.join(agg.select("video_id", "summary", "n_chunks"), on="video_id", how="left")


def compute_faces(store: MetadataStore, inc: pl.DataFrame) -> pl.DataFrame:
    """A fake face detector: a count derived from the frames' provenance."""
    n = [int(p[:2], 16) % 5 for p in inc.select(_pv(inc, "faces")).to_series().to_list()]
    return inc.with_columns(n_faces=pl.Series(n, dtype=pl.Int64))


COMPUTE: dict[str, Callable[[MetadataStore, pl.DataFrame], pl.DataFrame]] = {
    "media/video": compute_video,
    "media/chunk": compute_chunk,
    "speech/transcript": compute_transcript,
    "speech/keywords": compute_keywords,
    "speech/summary": compute_summary,
    "vision/faces": compute_faces,
}


# ---------------------------------------------------------------------- one pipeline run
@dataclass
class FeatureRun:
    feature: str
    new: int
    stale: int
    orphaned: int
    rows_written: int

    @property
    def processed(self) -> int:
        return self.new + self.stale


@dataclass
class DemoReport:
    store: str
    n_videos: int
    runs: list[list[FeatureRun]] = field(default_factory=list)
    plan: list[api.RunPlanRow] = field(default_factory=list)
    explained: list[api.Explanation] = field(default_factory=list)
    seconds: float = 0.0

    def processed(self, run: int) -> dict[str, int]:
        return {r.feature: r.processed for r in self.runs[run]}


def run_pipeline(store: MetadataStore, graph: FeatureGraph, samples: pl.DataFrame,
                 run_id: str, progress: Callable[[str], None] | None = None) -> list[FeatureRun]:
    """Compute every feature from its increment, upstream first, and write the results.

    ``progress`` is called with each feature key once it is written (a progress bar)."""
    out = []
    with store.open("w"):
        for key in graph.topological_order():
            cls = graph.get(key)
            is_root = not cls.spec().deps
            inc = store.resolve_update(cls, samples=samples if is_root else None)
            assert isinstance(inc, Increment)
            todo = inc.to_process()
            written = 0
            if todo.height:
                rows = COMPUTE[str(key)](store, todo)
                written = store.write(cls, rows, materialization_id=run_id)
            out.append(FeatureRun(str(key), inc.new.height, inc.stale.height,
                                  inc.orphaned.height, written))
            if progress is not None:
                progress(str(key))
    return out


def demo_store_url(project: api.Project) -> str:
    return f"duckdb:///{(project.config.root / '.metaxy' / 'demo.duckdb').as_posix()}"


def _fresh(url: str) -> None:
    """Delete an embedded database file so the demo starts from an empty store."""
    scheme, sep, rest = url.partition(":///")
    if scheme in ("duckdb", "sqlite") and sep and rest and not rest.startswith(":memory:"):
        path = Path(rest)
        for p in (path, path.with_name(path.name + ".wal")):
            p.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)


def hint_store_option(store_arg: str | None, display: str) -> str:
    """``--store ...`` naming the store the demo really used, for the closing hint: the name
    given (a configured store), else its URL (passwords redacted), quoted for a shell."""
    import shlex

    if store_arg and "://" not in store_arg:
        return f"--store {shlex.quote(store_arg)}"
    return f"--store {shlex.quote(display)}"


def run_demo(store_url: str | None = None, n_videos: int = 200,
             console: Console | None = None) -> DemoReport:
    """Run the demo; returns the numbers it printed."""
    console = console or Console()
    start = time.perf_counter()
    project = api.load_project()
    url = store_url or demo_store_url(project)
    _fresh(url)
    store = project.store(url)
    report = DemoReport(store.display(), n_videos)
    graph = project.graph
    console.rule("[bold]metaxy demo")
    console.print(f"project [bold]{project.config.project}[/] @ {project.version}: "
                  f"{len(graph)} features from the example teams; store {store.display()}")

    samples = make_samples(n_videos)

    def run(st: MetadataStore, g: FeatureGraph, frame: pl.DataFrame, run_id: str) -> None:
        with progress_bar(console, len(g), f"{run_id}: computing features") as tick:
            report.runs.append(run_pipeline(st, g, frame, run_id, tick))

    run(store, graph, samples, "run-1")
    _print_run(console, "1. first run: every sample is new", report.runs[-1])

    if n_videos < MIN_VIDEOS:
        raise api.ApiError(f"the demo needs at least {MIN_VIDEOS} videos, got {n_videos}")
    audio, frames = changed_indexes(n_videos)
    changed = make_samples(n_videos, audio_rev=dict.fromkeys(audio, 1),
                           frames_rev=dict.fromkeys(frames, 1))
    bumped = api.with_code_versions(graph, BUMP)
    store2 = api.Project(project.config, bumped).store(url)
    console.print(
        f"\n[bold]2. changes:[/] new audio for {', '.join(video_id(i) for i in audio)}; "
        f"new frames for {', '.join(video_id(i) for i in frames)}; "
        "vision/faces:faces code_version 1 -> 2")
    with progress_bar(console, len(bumped), "planning") as tick:
        report.plan = api.run_plan(api.Project(project.config, bumped), store2,
                               samples={"media/video": changed}, progress=tick)
    from metaxy.render import run_plan_table

    console.print(run_plan_table(report.plan, title="plan (counts computed in the store)"))
    from metaxy.render import explain_tree

    report.explained = api.explain(api.Project(project.config, bumped), store2, "vision/faces",
                                   [video_id(frames[0])])
    console.print("why is that sample stale? ([cyan]metaxy explain vision/faces "
                  f"{video_id(frames[0])}[/])")
    console.print(explain_tree(report.explained[0]))
    run(store2, bumped, changed, "run-2")
    _print_run(console, "3. second run: only the affected samples", report.runs[-1])
    run(store2, bumped, changed, "run-3")
    total = sum(r.processed for r in report.runs[-1])
    console.print(f"\n[bold]4. third run:[/] {total} samples to compute - everything is up to "
                  "date.")
    report.seconds = time.perf_counter() - start
    used = escape(hint_store_option(store_url, report.store))
    console.print(f"\ndone in {report.seconds:.1f} s. Explore: [cyan]metaxy status {used}[/] "
                  "(vision/faces shows stale there: the store holds code_version 2, the "
                  f"installed package says 1), [cyan]metaxy explain vision/faces v0001 {used}[/], "
                  "[cyan]metaxy graph render --format mermaid[/].", soft_wrap=True)
    return report


def _print_run(console: Console, title: str, runs: list[FeatureRun]) -> None:
    table = Table(title=title, title_justify="left", title_style="bold")
    for col in ("feature", "new", "stale", "orphaned", "computed", "rows written"):
        table.add_column(col, justify="left" if col == "feature" else "right")
    for r in runs:
        table.add_row(r.feature, str(r.new), str(r.stale), str(r.orphaned), str(r.processed),
                      str(r.rows_written))
    console.print(table)
