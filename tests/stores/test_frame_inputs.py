"""``write``, ``resolve_update(samples=)`` and ``api.ingest`` accept a pyarrow Table and a pandas
DataFrame as well as a Polars frame (issue 18 item 6), on every backend; results stay Polars and
the hashes are the ones the Polars frame gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy import api
from metaxy import columns as C
from metaxy.errors import InvalidFrameError
from metaxy.testing.pytest_plugin import make_store

SAMPLES = pl.DataFrame({
    "doc_id": ["a", "b"], "size": [1, 2],
    C.INPUT_BY_FIELD: [{"default": "h1"}, {"default": "h2"}],
})


def _pandas(df: pl.DataFrame) -> Any:
    pytest.importorskip("pandas")
    return df.to_pandas()


CONVERTERS: dict[str, Callable[[pl.DataFrame], Any]] = {
    "pyarrow": lambda df: df.to_arrow(),
    "pandas": _pandas,
}


@pytest.fixture
def doc() -> Iterator[type[mx.Feature]]:
    with mx.FeatureGraph.isolated() as graph:
        class Doc(mx.Feature, table=True,
                  spec=mx.FeatureSpec(key="frames/doc", id_columns=["doc_id"])):
            doc_id: str
            size: int | None = None

        Doc.graph = graph  # type: ignore[attr-defined]
        yield Doc


def _stored(store: mx.MetadataStore, feature: type[mx.Feature]) -> pl.DataFrame:
    return store.read(feature).select("doc_id", "size", C.PROVENANCE).sort("doc_id")


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_samples_and_write_accept_arrow_and_pandas(store_url: str, doc: type[mx.Feature],
                                                   kind: str) -> None:
    convert = CONVERTERS[kind]
    store = make_store(store_url)
    with store.open("w"):
        expected = store.resolve_update(doc, samples=SAMPLES)
        inc = store.resolve_update(doc, samples=convert(SAMPLES))
        assert isinstance(inc.new, pl.DataFrame)
        assert inc.new.sort("doc_id").equals(expected.new.sort("doc_id"))  # type: ignore[union-attr]
        assert store.write(doc, convert(inc.new)) == 2  # type: ignore[arg-type]
        stored = _stored(store, doc)
    assert stored["size"].to_list() == [1, 2]
    assert stored[C.PROVENANCE].to_list() == \
        expected.new.sort("doc_id")[C.PROVENANCE].to_list()  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_ingest_accepts_arrow_and_pandas(store_url: str, doc: type[mx.Feature],
                                         kind: str) -> None:
    project = api.Project(mx.MetaxyConfig(), doc.graph)  # type: ignore[attr-defined]
    store = make_store(store_url, doc.graph)  # type: ignore[attr-defined]
    result = api.ingest(project, store, "frames/doc", CONVERTERS[kind](SAMPLES))
    assert (result.samples, result.new, result.written) == (2, 2, 2)
    again = api.ingest(project, store, "frames/doc", CONVERTERS[kind](SAMPLES))
    assert (again.new, again.stale, again.written) == (0, 0, 0)


def test_an_unreadable_object_is_refused_by_name(store_url: str, doc: type[mx.Feature]) -> None:
    store = make_store(store_url)
    with store.open("w"), pytest.raises(InvalidFrameError) as info:
        store.write(doc, object())
    assert "frames/doc" in str(info.value) and "builtins.object" in str(info.value)
