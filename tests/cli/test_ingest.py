"""``metaxy ingest``: root samples from Parquet / CSV files, through the real entry point."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from metaxy import api, demo
from metaxy import columns as C
from tests.cli.conftest import one_line_error, run, run_json

N = 6


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'ingest.duckdb'}"


def _parquet(tmp_path: Path, samples: pl.DataFrame, name: str = "videos.parquet") -> str:
    path = tmp_path / name
    samples.write_parquet(path)
    return str(path)


def _csv(tmp_path: Path, samples: pl.DataFrame, name: str = "videos.csv") -> str:
    """The same samples with the per-field inputs as plain checksum columns."""
    path = tmp_path / name
    inputs = pl.col(C.INPUT_BY_FIELD)
    samples.with_columns(checksum_audio=inputs.struct.field("audio"),
                         checksum_frames=inputs.struct.field("frames")) \
        .drop(C.INPUT_BY_FIELD).write_csv(path)
    return str(path)


def _stored(project: api.Project, store: str) -> pl.DataFrame:
    st = project.store(store)
    with st.open("r"):
        return st.read("media/video", with_history=True)


def test_parquet_ingest_is_incremental(tmp_path: Path, store: str,
                                       project: api.Project) -> None:
    samples = demo.make_samples(N)
    path = _parquet(tmp_path, samples)
    first = run_json("ingest", "media/video", path, "--store", store)
    assert (first["new"], first["stale"], first["unchanged"], first["written"]) == (N, 0, 0, N)
    assert first["inputs"] == {"audio": C.INPUT_BY_FIELD, "frames": C.INPUT_BY_FIELD}
    assert _stored(project, store).height == N

    again = run_json("ingest", "media/video", path, "--store", store)
    assert (again["new"], again["stale"], again["unchanged"], again["written"]) == (0, 0, N, 0)
    assert _stored(project, store).height == N  # nothing appended

    # one sample's audio checksum changes: exactly that sample, in that field, is written again
    changed = _parquet(tmp_path, demo.make_samples(N, audio_rev={2: 1}), "changed.parquet")
    third = run_json("ingest", "media/video", changed, "--store", store)
    assert (third["new"], third["stale"], third["unchanged"], third["written"]) == (0, 1, N - 1, 1)
    assert third["stale_fields"] == {"audio": 1}
    history = _stored(project, store)
    assert history.height == N + 1
    assert history.filter(pl.col("video_id") == demo.video_id(2)).height == 2


def test_text_output_and_dry_run(tmp_path: Path, store: str, project: api.Project) -> None:
    path = _parquet(tmp_path, demo.make_samples(N))
    out = run("ingest", "media/video", path, "--store", store, "--dry-run").stdout
    assert f"media/video: {N} new, 0 stale, 0 unchanged, 0 orphaned" in out
    assert f"would write {N} row(s)" in out
    st = project.store(store)
    with st.open("r"):
        assert not st.has_feature("media/video")
    out = run("ingest", "media/video", path, "--store", store).stdout
    assert f"wrote {N} row(s)" in out


def test_orphaned_samples_are_only_reported(tmp_path: Path, store: str,
                                            project: api.Project) -> None:
    run("ingest", "media/video", _parquet(tmp_path, demo.make_samples(N)), "--store", store)
    fewer = _parquet(tmp_path, demo.make_samples(N - 2), "fewer.parquet")
    data = run_json("ingest", "media/video", fewer, "--store", store)
    assert (data["orphaned"], data["unchanged"], data["written"]) == (2, N - 2, 0)
    assert _stored(project, store).height == N  # orphans are not deleted


def test_csv_with_input_mapping(tmp_path: Path, store: str, project: api.Project) -> None:
    samples = demo.make_samples(N)
    csv = _csv(tmp_path, samples)
    data = run_json("ingest", "media/video", csv, "--input", "checksum_audio=audio",
                    "-i", "checksum_frames=frames", "--store", store)
    assert (data["new"], data["written"]) == (N, N)
    assert data["inputs"] == {"audio": "checksum_audio", "frames": "checksum_frames"}
    # mapped columns give the same provenance as the struct column: the parquet is unchanged
    again = run_json("ingest", "media/video", _parquet(tmp_path, samples), "--store", store)
    assert (again["unchanged"], again["written"]) == (N, 0)
    stored = _stored(project, store).sort("video_id")
    assert stored["fps"].dtype == pl.Int64  # CSV text cast to the model's types
    assert stored["fps"].to_list() == samples.sort("video_id")["fps"].to_list()


def test_csv_without_inputs_uses_the_content_hash(tmp_path: Path, store: str) -> None:
    samples = demo.make_samples(N)
    csv = _csv(tmp_path, samples)
    data = run_json("ingest", "media/video", csv, "--store", store)
    assert data["inputs"] == {"audio": "(content hash)", "frames": "(content hash)"}
    assert data["ignored_columns"] == ["checksum_audio", "checksum_frames"]
    assert data["written"] == N
    # a user column changes in one row: that sample is stale in every field
    edited = samples.with_columns(
        pl.when(pl.col("video_id") == demo.video_id(0)).then(pl.lit(999.0))
        .otherwise(pl.col("duration_s")).alias("duration_s"))
    again = run_json("ingest", "media/video", _csv(tmp_path, edited, "edited.csv"),
                     "--store", store)
    assert (again["stale"], again["unchanged"], again["written"]) == (1, N - 1, 1)
    assert again["stale_fields"] == {"audio": 1, "frames": 1}


def test_partial_mapping_falls_back_to_the_content_hash(tmp_path: Path, store: str) -> None:
    csv = _csv(tmp_path, demo.make_samples(N))
    data = run_json("ingest", "media/video", csv, "-i", "checksum_audio=audio",
                    "--store", store)
    assert data["inputs"] == {"audio": "checksum_audio", "frames": "(content hash)"}
    assert data["written"] == N


@pytest.mark.parametrize(("args", "expected"), [
    (["media/chunk", "{csv}"], "'media/chunk' is not a root feature"),
    (["media/video", "{csv}", "-i", "checksum_audio=nope"], "has no field 'nope'"),
    (["media/video", "{csv}", "-i", "missing_col=audio"], "the file has no column 'missing_col'"),
    (["media/video", "{csv}", "-i", "checksum_audio"], "expected COLUMN=FIELD"),
    (["media/video", "{noid}"], "id column 'video_id' of feature 'media/video' is missing"),
    (["media/video", "{dir}/nope.parquet"], "no such file"),
    (["media/video", "{bad}"], "cannot read"),
    (["media/video", "{dir}/videos.json"], "unsupported file type '.json'"),
    (["media/vide", "{csv}"], "media/vide"),
])
def test_errors_are_one_line(tmp_path: Path, store: str, args: list[str],
                             expected: str) -> None:
    csv = _csv(tmp_path, demo.make_samples(3))
    noid = tmp_path / "noid.csv"
    noid.write_text("path,duration_s\n/a,1.0\n", encoding="utf-8")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file")
    (tmp_path / "videos.json").write_text("{}", encoding="utf-8")
    argv = [a.format(csv=csv, noid=noid, bad=bad, dir=tmp_path) for a in args]
    line = one_line_error(run("ingest", *argv, "--store", store, ok=False))
    assert expected in line
