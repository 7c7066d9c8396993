"""Every command through the real entry point, text and --format json, on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from metaxy import api, demo
from tests.cli.conftest import N, run, run_json

KEYS = ["media/video", "media/chunk", "speech/transcript", "speech/keywords", "speech/summary",
        "vision/faces"]


def test_list_json_is_topological(project: api.Project) -> None:
    data = run_json("list")
    keys = [f["key"] for f in data["features"]]
    assert sorted(keys) == sorted(KEYS)
    assert keys.index("media/video") < keys.index("media/chunk") < keys.index("speech/summary")
    assert data["project_version"] == project.version
    assert "media/video" in run("list").stdout


def test_describe(project: api.Project) -> None:
    data = run_json("describe", "speech/summary")
    assert data["deps"] == [{"feature": "media/chunk", "lineage": "aggregation",
                             "on": ["video_id"], "columns": [], "optional": False}]
    assert data["fields"][0]["parents"] == ["media/chunk:audio"]
    assert [c["name"] for c in data["columns"]] == ["video_id", "summary", "n_chunks"]
    faces = run_json("describe", "vision/faces")
    assert faces["fields"][0]["parents"] == ["media/video:frames"]
    assert "aggregation on video_id" in run("describe", "speech/summary").stdout


def _mermaid_nodes(mermaid: str) -> dict[tuple[str, str], str]:
    nodes: dict[tuple[str, str], str] = {}
    feature = ""
    for line in mermaid.splitlines():
        text = line.strip()
        if text.startswith("subgraph "):
            feature = text.split('"')[1]
        elif text.endswith('"]') and "[" in text:
            node_id, label = text.split("[", 1)
            nodes[(feature, label.strip('"[]').split(" v")[0])] = node_id
    return nodes


def test_graph_render_formats() -> None:
    mermaid = run("graph", "render", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    node = _mermaid_nodes(mermaid)  # (feature, field) -> node id
    edges = {line.strip() for line in mermaid.splitlines() if "-->" in line}
    chunk, summary = node[("media/chunk", "audio")], node[("speech/summary", "summary")]
    assert f"{chunk} -->|aggregation| {summary}" in edges
    # field level: faces hangs off the video's frames only, the transcript off its audio only
    faces = node[("vision/faces", "faces")]
    assert f"{node[('media/video', 'frames')]} --> {faces}" in edges
    assert f"{node[('media/video', 'audio')]} --> {faces}" not in edges
    assert f"{node[('media/video', 'audio')]} --> {node[('speech/transcript', 'text')]}" in edges
    dot = run("graph", "render", "--format", "dot").stdout
    assert dot.startswith("digraph metaxy {")
    assert "media__video:frames -> vision__faces:faces;" in dot
    text = run("graph", "render").stdout
    assert "text v1  <- media/video:audio" in text
    data = run_json("graph", "render")
    assert len(data["features"]) == len(KEYS)


def test_status_and_plan_up_to_date(populated: str) -> None:
    data = run_json("status", "--store", populated)
    by = {f["feature"]: f for f in data["features"]}
    assert by["media/video"]["root"] and by["media/video"]["stored"] == N
    for key in KEYS[1:]:
        assert (by[key]["up_to_date"], by[key]["new"], by[key]["stale"]) == (N, 0, 0)
    text = run("status", "--store", populated).stdout
    assert f"{N} stored" in text  # a root: its stored count; the caption says what decides
    assert "-: a root's inputs decide: metaxy ingest --dry-run" in text
    only = run_json("status", "speech/summary", "vision/faces", "--store", populated)
    assert [f["feature"] for f in only["features"]] == ["speech/summary", "vision/faces"]
    plan = run_json("plan", "--store", populated)
    assert all(not p["stale_fields"] and not p["cascade"] for p in plan["features"])
    assert "speech/summary" in run("plan", "--store", populated).stdout


def test_plan_shows_stale_fields_and_cascade(project: api.Project, populated: str) -> None:
    store = project.store(populated)
    with store.open("w"):
        inc = store.resolve_update("media/video",
                                   samples=demo.make_samples(N, audio_rev={1: 1, 2: 1}))
        store.write("media/video", inc.to_process())  # type: ignore[union-attr]
    plan = {p["feature"]: p for p in run_json("plan", "--store", populated)["features"]}
    assert plan["speech/transcript"]["stale_fields"] == {"text": 2}
    assert plan["media/chunk"]["stale_fields"] == {"audio": 2}
    assert plan["vision/faces"]["stale_fields"] == {}  # frames untouched
    assert plan["speech/keywords"]["cascade"] == {"keywords": ["speech/transcript:text"]}
    assert plan["speech/summary"]["cascade"] == {"summary": ["media/chunk:audio"]}
    assert plan["vision/faces"]["cascade"] == {}
    status = {f["feature"]: f for f in run_json("status", "--store", populated)["features"]}
    assert status["speech/transcript"]["stale"] == 2


def test_resolve_outputs(populated: str, tmp_path: Path) -> None:
    run("delete", "speech/keywords", "--where", "video_id in ('v0001', 'v0002')", "--yes",
        "--store", populated)
    data = run_json("resolve", "speech/keywords", "--store", populated)
    assert data["counts"] == {"new": 2, "stale": 0, "orphaned": 0}
    assert sorted(r["video_id"] for r in data["rows"]) == ["v0001", "v0002"]
    assert {r["metaxy_status"] for r in data["rows"]} == {"new"}
    parquet = tmp_path / "inc.parquet"
    run("resolve", "speech/keywords", "-o", str(parquet), "--store", populated)
    assert pl.read_parquet(parquet).get_column("video_id").sort().to_list() == ["v0001", "v0002"]
    csv = tmp_path / "inc.csv"
    out = run_json("resolve", "speech/keywords", "--output", str(csv), "--store", populated)
    assert out["output"] == str(csv) and "rows" not in out
    assert pl.read_csv(csv).height == 2


def test_delete_soft_and_hard(project: api.Project, populated: str) -> None:
    soft = run_json("delete", "vision/faces", "--where", "video_id == 'v0003' or n_faces > 99",
                    "--yes",
                    "--store", populated)
    assert soft == {"feature": "vision/faces", "matched": 1, "deleted": 1, "hard": False,
                    "dry_run": False}
    store = project.store(populated)
    with store:
        assert store.read("vision/faces").height == N - 1
        history = store.read("vision/faces", with_history=True, include_deleted=True)
        assert history.height == N + 1  # the tombstone is appended, history stays
    hard = run_json("delete", "vision/faces", "--where", "video_id in ('v0003', 'v0004')",
                    "--hard", "--yes", "--store", populated)
    assert hard["deleted"] >= 2
    with store:
        history = store.read("vision/faces", with_history=True, include_deleted=True)
        assert set(history.get_column("video_id")) == {f"v{i:04d}" for i in range(N)} - {
            "v0003", "v0004"}


def test_config_show_redacts_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "metaxy.toml"
    cfg.write_text('project = "p"\nstore = "prod"\n[stores.prod]\n'
                   'url = "postgresql://bob:s3cr3t@db:5432/meta"\n')
    monkeypatch.setenv("METAXY_CONFIG", str(cfg))
    data = run_json("config", "show")
    assert data["stores"]["prod"]["url"] == "postgresql://bob:***@db:5432/meta"
    assert data["default_store_url"] == "postgresql://bob:***@db:5432/meta"
    text = run("config", "show").stdout
    assert "s3cr3t" not in text and "bob:***@db" in text


def test_entry_point_subprocess(tmp_path: Path) -> None:
    """The installed console script works (not only the in-process runner)."""
    import json
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("metaxy")
    done = subprocess.run([str(exe), "list", "--format", "json"], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["features"]) == len(KEYS)
    bad = subprocess.run([str(exe), "describe", "no/such"], capture_output=True, text=True,
                         check=False, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "unknown feature 'no/such'" in bad.stderr
    dbg = subprocess.run([str(exe), "describe", "no/such", "--debug"], capture_output=True,
                         text=True, check=False, timeout=120)
    assert dbg.returncode != 0 and "Traceback" in dbg.stderr
