"""The in-memory engine (``memory://``) against the SQL engines: same increments, same hashes.

Every scenario runs the same steps on ``memory://``, ``duckdb:///:memory:`` and
``sqlite:///:memory:`` (each store writes back its *own* increments, so hashes travel through the
data of each backend) and compares, step by step, the new / stale / orphaned sets, the stale-field
lists, every provenance hash and the status counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import FilterError, HashConfigMismatchError, MetaxyError, StoreModeError
from metaxy.hashing import HashSettings, enc, python_hash
from metaxy.store.base import Increment, MetadataStore
from metaxy.store.duckdb import DuckDBStore
from metaxy.store.memory import MemoryStore, drop_named
from metaxy.store.sqlite import SQLiteStore

URLS = ("memory://", "duckdb:///:memory:", "sqlite:///:memory:")
MD5 = HashSettings()


pytestmark = pytest.mark.usefixtures("no_metaxy_env")  # metaxy.testing.pytest_plugin


@pytest.fixture(scope="module")
def teams() -> mx.FeatureGraph:
    """The example teams, loaded into a graph of their own."""
    return mx.load_features(mx.FeatureGraph())


def make_store(url: str, graph: mx.FeatureGraph, settings: HashSettings = MD5) -> MetadataStore:
    cls = {"memory": MemoryStore, "duckdb": DuckDBStore, "sqlite": SQLiteStore}[url.split(":")[0]]
    return cls(url, graph=graph, hash_settings=settings)


VOLATILE = (C.ROW_ID, C.CREATED_AT, C.UPDATED_AT, C.DELETED_AT)  # differ by write, not by engine


def normalised(inc: Any, keys: list[str]) -> dict[str, Any]:
    """An increment as plain sorted rows (every column but row ids and timestamps) + schemas."""
    out: dict[str, Any] = {}
    for part in ("new", "stale", "orphaned"):
        df: pl.DataFrame = getattr(inc, part)
        out[part + "_schema"] = dict(df.schema)
        df = df.drop([c for c in VOLATILE if c in df.columns])
        out[part] = df.sort(keys).to_dicts()
    return out


def ids(rows: list[dict[str, Any]], key: str) -> set[Any]:
    return {r[key] for r in rows}


Step = Callable[[MetadataStore, mx.FeatureGraph], dict[str, Any]]


def run_everywhere(graph: mx.FeatureGraph, steps: list[Step],
                   settings: HashSettings = MD5) -> list[list[dict[str, Any]]]:
    """Run ``steps`` on every backend; return, per step, the observation of each backend."""
    results: list[list[dict[str, Any]]] = [[] for _ in steps]
    for url in URLS:
        store = make_store(url, graph, settings)
        with store.open("w"):
            for i, step in enumerate(steps):
                results[i].append(step(store, graph))
    return results


def assert_same(results: list[list[dict[str, Any]]]) -> None:
    for i, per_backend in enumerate(results):
        first = per_backend[0]
        for url, other in zip(URLS[1:], per_backend[1:], strict=True):
            assert other == first, f"step {i}: {URLS[0]} and {url} disagree"


# ---------------------------------------------------------------------- the example teams
VIDEO_SAMPLES = pl.DataFrame({
    "video_id": ["a", "b", "c", "Z"],
    "path": ["/a", "/b", "/c", "/z"],
    "duration_s": [10.0, 20.0, 5.0, 1.0],
    # non-ASCII input: the encoding counts characters, in every engine alike
    "metaxy_input_by_field": [{"audio": "ha", "frames": "fa"}, {"audio": "hé€", "frames": "fb"},
                              {"audio": "hc", "frames": None}, {"audio": "", "frames": "fz"}],
})


def resolve(store: MetadataStore, graph: mx.FeatureGraph, key: str, *, samples: Any = None,
            where: Any = None, write: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
            ) -> dict[str, Any]:
    feature = graph.get(key)
    inc = store.resolve_update(feature, samples=samples, where=where)
    assert isinstance(inc, Increment)
    keys = list(store.plan(feature).key_columns)
    obs: dict[str, Any] = {"increment": normalised(inc, keys),
                           "status": store.status(feature, samples=samples, where=where)}
    if write is not None:
        todo = inc.to_process()  # type: ignore[union-attr]
        if todo.height:
            store.write(feature, write(todo))
    return obs


def write_back(df: pl.DataFrame) -> pl.DataFrame:
    return df


def chunks_of(spec: dict[str, list[int]], dv_override: dict[tuple[str, int], str] | None = None,
              ) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Expand parent rows of a chunk increment into children (chunk ids per video)."""
    def expand(parents: pl.DataFrame) -> pl.DataFrame:
        table = pl.DataFrame({"video_id": list(spec), "chunk_id": list(spec.values())}) \
            .explode("chunk_id")
        rows = parents.join(table, on="video_id")
        if dv_override:
            over = pl.DataFrame({"video_id": [k[0] for k in dv_override],
                                 "chunk_id": [k[1] for k in dv_override],
                                 "__dv": list(dv_override.values())})
            rows = rows.join(over, on=["video_id", "chunk_id"], how="left").with_columns(
                pl.struct(audio=pl.coalesce(
                    "__dv", pl.col(C.PROVENANCE_BY_FIELD).struct.field("audio")))
                .alias(C.DATA_VERSION_BY_FIELD)).drop("__dv")
        return rows
    return expand


def team_steps() -> list[Step]:
    changed = VIDEO_SAMPLES.with_columns(
        pl.when(pl.col("video_id") == "a")
        .then(pl.struct(audio=pl.lit("ha2"), frames=pl.lit("fa")))
        .otherwise(pl.col("metaxy_input_by_field")).alias("metaxy_input_by_field"),
    ).filter(pl.col("video_id") != "c")
    changed = pl.concat([changed, pl.DataFrame({
        "video_id": ["d"], "path": ["/d"], "duration_s": [3.0],
        "metaxy_input_by_field": [{"audio": "hd", "frames": "fd"}]})], how="vertical_relaxed")
    # chunk ids 2 and 10: numeric order differs from string order, both engines must agree
    first_chunks = {"a": [10, 2, 0], "b": [0, 1], "c": [0], "Z": [5]}
    return [
        lambda s, g: resolve(s, g, "media/video", samples=VIDEO_SAMPLES, write=write_back),
        lambda s, g: resolve(s, g, "speech/transcript",
                             write=lambda df: df.with_columns(text=pl.lit("hello"))),
        lambda s, g: resolve(s, g, "vision/faces", write=write_back),
        lambda s, g: resolve(s, g, "media/chunk", write=chunks_of(
            first_chunks, {("b", 1): "content-b1"})),
        lambda s, g: resolve(s, g, "speech/summary", write=write_back),
        lambda s, g: resolve(s, g, "speech/keywords", write=write_back),
        # everything is up to date now
        lambda s, g: resolve(s, g, "media/video", samples=VIDEO_SAMPLES),
        *[(lambda key: lambda s, g: resolve(s, g, key))(k) for k in (
            "speech/transcript", "media/chunk", "speech/summary")],
        # change a's audio, drop c, add d
        lambda s, g: resolve(s, g, "media/video", samples=changed, write=write_back),
        lambda s, g: resolve(s, g, "speech/transcript"),
        lambda s, g: resolve(s, g, "vision/faces"),
        lambda s, g: resolve(s, g, "speech/summary"),  # chunks not rewritten yet
        # re-chunk a with one chunk fewer; d gets chunks; c's chunks stay orphaned
        lambda s, g: resolve(s, g, "media/chunk", write=chunks_of(
            {"a": [2, 0], "d": [0, 1]})),
        lambda s, g: {"deleted": s.delete(g.get("media/chunk"),
                                          g.get("media/chunk").video_id == "c")},  # type: ignore[attr-defined]
        lambda s, g: resolve(s, g, "speech/summary"),
        # soft-delete video b: downstream sees it orphaned
        lambda s, g: {"deleted": s.delete(g.get("media/video"),
                                          g.get("media/video").video_id == "b")},  # type: ignore[attr-defined]
        lambda s, g: resolve(s, g, "speech/transcript"),
        lambda s, g: resolve(s, g, "media/chunk"),
        lambda s, g: resolve(s, g, "speech/summary", where=sa.column("video_id").in_(["a", "b"])),
    ]


def test_example_teams_identical_on_every_engine(teams: mx.FeatureGraph) -> None:
    results = run_everywhere(teams, team_steps())
    assert_same(results)
    # ...and the scenario really exercised every kind of outcome
    first = [r[0] for r in results]
    video0, video1 = first[0]["increment"], first[10]["increment"]
    assert ids(video0["new"], "video_id") == {"a", "b", "c", "Z"}
    assert ids(video1["new"], "video_id") == {"d"}
    assert ids(video1["orphaned"], "video_id") == {"c"}
    assert [r["metaxy_stale_fields"] for r in video1["stale"]] == [["audio"]]
    assert ids(first[11]["increment"]["stale"], "video_id") == {"a"}  # transcript: audio only
    assert first[12]["status"].needs_work and not first[12]["increment"]["stale"]  # faces
    assert first[13]["status"].stale == 0  # summary waits for the chunks
    chunk = first[14]["increment"]
    assert ids(chunk["stale"], "video_id") == {"a"} and ids(chunk["new"], "video_id") == {"d"}
    assert first[15]["deleted"] == 1  # c's single chunk
    summary = first[16]["increment"]
    assert ids(summary["stale"], "video_id") == {"a"}
    assert ids(summary["new"], "video_id") == {"d"}
    assert ids(summary["orphaned"], "video_id") == {"c"}
    transcript = first[18]["increment"]
    assert ids(transcript["orphaned"], "video_id") == {"b"}
    assert ids(transcript["new"], "video_id") == {"d"}
    chunk = first[19]["increment"]
    assert ids(chunk["orphaned"], "video_id") == {"b"}
    assert ids(chunk["new"], "video_id") == {"c"}
    restricted = first[20]["increment"]  # where= keeps a and b only
    assert ids(restricted["stale"], "video_id") == {"a"}
    assert not restricted["new"] and not restricted["orphaned"]
    for step in (6, 7, 8, 9):
        assert not first[step]["status"].needs_work


def test_other_hash_settings_identical(teams: mx.FeatureGraph) -> None:
    results = run_everywhere(teams, team_steps()[:6], HashSettings("sha256", 20))
    assert_same(results)
    prov = results[0][0]["increment"]["new"][0][C.PROVENANCE]
    assert len(prov) == 20


# ---------------------------------------------------------------------- reference recipe
def test_reference_recipe_pins_field_hashes(teams: mx.FeatureGraph) -> None:
    """Root, 1:1 and N:1 field hashes recomputed in plain Python from the documented recipe."""
    store = MemoryStore("memory://", graph=teams)
    steps = team_steps()[:5]
    with store.open("w"):
        for step in steps:
            step(store, teams)
        videos = store.read("media/video")
        chunks = store.read("media/chunk")
        transcript = store.resolve_update("speech/transcript").new  # type: ignore[union-attr]
        assert transcript.height == 0
        stored_t = store.read("speech/transcript")
        summaries = store.read("speech/summary")
    H = lambda s: python_hash(MD5, s)  # noqa: E731

    def video_field(vid: str, field: str) -> str:
        value = VIDEO_SAMPLES.filter(pl.col("video_id") == vid)["metaxy_input_by_field"][0][field]
        return H(enc(f"media/video:{field}") + enc("1")
                 + ("~" if value is None else enc(value)))

    for vid in ("a", "b", "c", "Z"):
        row = videos.filter(pl.col("video_id") == vid).row(0, named=True)
        audio, frames = video_field(vid, "audio"), video_field(vid, "frames")
        assert row[C.PROVENANCE_BY_FIELD] == {"audio": audio, "frames": frames}
        assert row[C.PROVENANCE] == H(enc("audio") + enc(audio) + enc("frames") + enc(frames))
        t = stored_t.filter(pl.col("video_id") == vid).row(0, named=True)
        text = H(enc("speech/transcript:text") + enc("1") + enc("media/video:audio") + enc(audio))
        assert t[C.PROVENANCE_BY_FIELD] == {"text": text}
    # N:1: members' data versions concatenated in (video_id, chunk_id) order, chunk_id numeric
    members = chunks.filter(pl.col("video_id") == "a").sort("chunk_id")
    assert members["chunk_id"].to_list() == [0, 2, 10]
    agg = H("".join(enc(r["audio"]) for r in members[C.DATA_VERSION_BY_FIELD].to_list()))
    summary = summaries.filter(pl.col("video_id") == "a").row(0, named=True)
    assert summary[C.PROVENANCE_BY_FIELD]["summary"] == H(
        enc("speech/summary:summary") + enc("1") + enc("media/chunk:audio") + enc(agg))
    # the overridden data version of chunk (b, 1) is what summary b hashes
    b_dvs = chunks.filter(pl.col("video_id") == "b").sort("chunk_id")[C.DATA_VERSION_BY_FIELD]
    assert [d["audio"] for d in b_dvs.to_list()][1] == "content-b1"
    agg_b = H("".join(enc(d["audio"]) for d in b_dvs.to_list()))
    summary_b = summaries.filter(pl.col("video_id") == "b").row(0, named=True)
    assert summary_b[C.PROVENANCE_BY_FIELD]["summary"] == H(
        enc("speech/summary:summary") + enc("1") + enc("media/chunk:audio") + enc(agg_b))


# ---------------------------------------------------------------------- optional deps, filters
@pytest.fixture(scope="module")
def small() -> Iterator[mx.FeatureGraph]:
    """An isolated graph: two roots, a downstream with an optional and a filtered dependency."""
    with mx.FeatureGraph().use() as graph:
        class Left(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="memtest/left", id_columns=["sample_id"])):
            sample_id: str
            score: int | None = None

        class Extra(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="memtest/extra", id_columns=["sid"],
                fields=[mx.FieldSpec(key="default", code_version="3"), mx.FieldSpec(key="x")])):
            sid: str
            label: str | None = None

        class Joined(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="memtest/joined", id_columns=["sample_id"],
                deps=[mx.FeatureDep(feature=Left, filters=[Left.score >= 5]),  # type: ignore[arg-type]
                      mx.FeatureDep(feature=Extra, optional=True, rename={"sid": "sample_id"})],
                fields=[mx.FieldSpec(key="default"), mx.FieldSpec(key="y", deps="all")])):
            sample_id: str
            score: int | None = None
            label: str | None = None

        assert Joined.spec().deps[1].optional
        yield graph


def left_samples(scores: dict[str, int | None]) -> pl.DataFrame:
    return pl.DataFrame({"sample_id": list(scores), "score": list(scores.values()),
                         "metaxy_input_by_field": [{"default": f"in-{k}"} for k in scores]},
                        schema_overrides={"score": pl.Int64})


def extra_samples(keys: list[str], x: str = "x") -> pl.DataFrame:
    return pl.DataFrame({"sid": keys, "label": [f"L{k}" for k in keys],
                         "metaxy_input_by_field": [{"default": k, "x": x + k} for k in keys]})


def small_steps() -> list[Step]:
    scores = {"s1": 9, "s2": 5, "s3": 1, "s4": None, "s5": 7}
    return [
        lambda s, g: resolve(s, g, "memtest/left", samples=left_samples(scores), write=write_back),
        lambda s, g: resolve(s, g, "memtest/extra", samples=extra_samples(["s1"]),
                             write=write_back),
        lambda s, g: resolve(s, g, "memtest/joined", write=write_back),
        # the optional upstream appears for s2 (missing marker -> value), and changes for s1
        lambda s, g: resolve(s, g, "memtest/extra", samples=extra_samples(["s1", "s2"], "x2"),
                             write=write_back),
        lambda s, g: resolve(s, g, "memtest/joined"),
        # s1 drops below the dependency filter: orphaned downstream
        # (same input, so its provenance is unchanged: write the new row directly)
        lambda s, g: {"written": s.write("memtest/left", left_samples({"s1": 2}))},
        lambda s, g: resolve(s, g, "memtest/joined"),
        lambda s, g: resolve(s, g, "memtest/joined",
                             where=sa.or_(sa.column("score") > 6,
                                          sa.column("sample_id").in_(["s1", "s2"]))),
        lambda s, g: {"read": s.read("memtest/joined", where=sa.column("label").is_(None))
                      .sort("sample_id").select("sample_id", C.PROVENANCE).to_dicts()},
    ]


def test_optional_deps_and_filters_identical(small: mx.FeatureGraph) -> None:
    results = run_everywhere(small, small_steps())
    assert_same(results)
    first = [r[0] for r in results]
    joined = first[2]["increment"]
    assert ids(joined["new"], "sample_id") == {"s1", "s2", "s5"}  # score >= 5 (null excluded)
    stale = {r["sample_id"]: r[C.STALE_FIELDS] for r in first[4]["increment"]["stale"]}
    # s1: only y depends on extra.x; s2: extra appeared, the missing marker became a value
    assert stale == {"s1": ["y"], "s2": ["default", "y"]}
    assert ids(first[6]["increment"]["orphaned"], "sample_id") == {"s1"}
    assert ids(first[7]["increment"]["orphaned"], "sample_id") == {"s1"}
    assert ids(first[7]["increment"]["stale"], "sample_id") == {"s2"}
    assert first[7]["status"].up_to_date == 1  # s5
    assert [r["sample_id"] for r in first[8]["read"]] == ["s2", "s5"]


def test_missing_optional_marker_differs_from_empty(small: mx.FeatureGraph) -> None:
    """A missing optional upstream enters the hash as '~', distinct from an empty data version."""
    store = MemoryStore("memory://", graph=small)
    with store.open("w"):
        store.write("memtest/left", left_samples({"s1": 9, "s2": 9}))
        store.write("memtest/extra", extra_samples(["s1"]))
        inc = store.resolve_update("memtest/joined").new  # type: ignore[union-attr]
        left = store.read("memtest/left").sort("sample_id")
    H = lambda s: python_hash(MD5, s)  # noqa: E731
    row = inc.filter(pl.col("sample_id") == "s2").row(0, named=True)
    left_dv = left[C.DATA_VERSION_BY_FIELD][1]["default"]
    expected = H(enc("memtest/joined:y") + enc("1")
                 + enc("memtest/extra:default") + "~" + enc("memtest/extra:x") + "~"
                 + enc("memtest/left:default") + enc(left_dv))
    assert row[C.PROVENANCE_BY_FIELD]["y"] == expected


def test_bad_filter_column_is_rejected(small: mx.FeatureGraph) -> None:
    store = MemoryStore("memory://", graph=small)
    with store.open("w"):
        store.write("memtest/left", left_samples({"s1": 9}))
        with pytest.raises(FilterError, match="nope"):
            store.resolve_update("memtest/joined", where=sa.column("nope") == 1)
        with pytest.raises(FilterError):
            store.read("memtest/left", where=sa.text("1=1"))


# ---------------------------------------------------------------------- the store itself
def test_get_store_builds_memory_store(teams: mx.FeatureGraph) -> None:
    store = mx.get_store("memory://", graph=teams)
    assert isinstance(store, MemoryStore)


def test_named_stores_share_data_and_hash_settings(teams: mx.FeatureGraph) -> None:
    drop_named("shared-test")
    try:
        a = MemoryStore("memory://shared-test", graph=teams)
        b = MemoryStore("memory://shared-test", graph=teams)
        private = MemoryStore("memory://", graph=teams)
        with a.open("w"):
            a.write("media/video", VIDEO_SAMPLES)
        with b:
            assert b.read("media/video").height == 4
            assert b.has_feature("media/video")
        with private:
            assert private.read("media/video").height == 0
            assert not private.has_feature("media/video")
        other = MemoryStore("memory://shared-test", graph=teams,
                            hash_settings=HashSettings("sha256", 32))
        with pytest.raises(HashConfigMismatchError, match="md5:32"), other.open("w"):
            pass
    finally:
        drop_named("shared-test")


def test_private_store_keeps_data_across_reopen(teams: mx.FeatureGraph) -> None:
    store = MemoryStore("memory://", graph=teams)
    with store.open("w"):
        store.write("media/video", VIDEO_SAMPLES)
    with store:
        assert store.read("media/video").height == 4
        with pytest.raises(StoreModeError):
            store.write("media/video", VIDEO_SAMPLES)


def test_history_soft_and_hard_delete(teams: mx.FeatureGraph) -> None:
    store = MemoryStore("memory://", graph=teams)
    video = teams.get("media/video")
    with store.open("w"):
        store.write(video, VIDEO_SAMPLES)
        store.write(video, VIDEO_SAMPLES.filter(pl.col("video_id") == "a")
                    .with_columns(path=pl.lit("/a2")))
        latest = store.read(video).sort("video_id")
        assert latest.filter(pl.col("video_id") == "a")["path"].to_list() == ["/a2"]
        assert store.read(video, with_history=True).height == 5
        assert store.delete(video, video.video_id == "b") == 1  # type: ignore[attr-defined]
        assert set(store.read(video)["video_id"]) == {"a", "c", "Z"}
        assert store.read(video, include_deleted=True).height == 4
        assert store.read(video, with_history=True).height == 6
        # hard delete removes every physical row of the chosen samples
        assert store.delete(video, video.video_id.in_(["a", "b"]), soft=False) == 4  # type: ignore[attr-defined]
        assert set(store.read(video, with_history=True)["video_id"]) == {"c", "Z"}


def test_invalid_write_leaves_nothing(teams: mx.FeatureGraph) -> None:
    store = MemoryStore("memory://", graph=teams)
    bad = pl.concat([VIDEO_SAMPLES, VIDEO_SAMPLES.head(1)])  # duplicate id
    with store.open("w"):
        with pytest.raises(MetaxyError):
            store.write("media/video", bad)
        assert not store.has_feature("media/video")
        assert store.read("media/video", with_history=True).height == 0


def test_lazy_increment_matches_eager(teams: mx.FeatureGraph) -> None:
    store = MemoryStore("memory://", graph=teams)
    with store.open("w"):
        eager = store.resolve_update("media/video", samples=VIDEO_SAMPLES)
        lazy = store.resolve_update("media/video", samples=VIDEO_SAMPLES, lazy=True)
        batches = list(lazy.new.iter_batches(3))  # type: ignore[union-attr]
        assert [b.height for b in batches] == [3, 1]
        assert lazy.collect().new.sort("video_id").equals(
            eager.new.sort("video_id"))  # type: ignore[union-attr]
