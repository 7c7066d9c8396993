"""Apps query feature tables with SQLModel sessions; ``mx.select_latest`` sees current rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlmodel import Session, select

import metaxy as mx
from tests.stores.conftest import backend_url


@pytest.fixture(params=("duckdb-file", "sqlite-file", "postgresql"))
def orm_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


def _samples(durations: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({
        "video_id": list(durations),
        "duration_s": list(durations.values()),
        "metaxy_input_by_field": [{"audio": f"a{v}", "frames": f"f{v}"}
                                  for v in durations.values()],
    })


def test_select_latest_sees_only_current_rows(orm_store_url: str) -> None:
    with mx.FeatureGraph().use() as graph:
        class Video(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="media/video", id_columns=["video_id"], fields=["audio", "frames"])):
            video_id: str
            duration_s: float | None = None

        store = mx.get_store(orm_store_url, graph=graph)
        with store.open("w"):
            first = _samples({"a": 5.0, "b": 20.0, "c": 30.0})
            store.write(Video, store.resolve_update(Video, samples=first).new)
            second = _samples({"a": 50.0, "b": 2.0, "c": 30.0})  # a and b change
            store.write(Video, store.resolve_update(Video, samples=second).stale)
            store.delete(Video, Video.video_id == "c")

            with Session(store.engine) as session:  # type: ignore[attr-defined]
                current = session.exec(mx.select_latest(Video)).all()
                long = session.exec(mx.select_latest(Video).where(Video.duration_s > 10)).all()
                history = session.exec(select(Video)).all()

    assert sorted((v.video_id, v.duration_s) for v in current) == [("a", 50.0), ("b", 2.0)]
    assert [(v.video_id, v.duration_s) for v in long] == [("a", 50.0)]
    # the table itself keeps every row: 3 first writes, 2 rewrites, 1 tombstone
    assert len(history) == 6
    assert all(isinstance(v, Video) for v in long)
