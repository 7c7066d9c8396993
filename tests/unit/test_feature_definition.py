"""Defining feature classes: the spec= keyword, storage columns, isolation, definition errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy.errors import (
    DuplicateFeatureError,
    FeatureDefinitionError,
    InvalidKeyError,
)

from .conftest import assert_names, define, defined_path, state


def test_spec_keyword_arrives(graph: mx.FeatureGraph) -> None:
    spec = mx.FeatureSpec(key="media/video", id_columns=["video_id"], fields=["audio", "frames"])

    class Video(mx.Feature, table=True, spec=spec):
        video_id: str
        duration: float | None = None

    assert Video.spec() is spec
    assert Video.__table__.name == "media__video"  # type: ignore[attr-defined]
    assert graph.get("media/video") is Video
    assert graph.keys == [mx.FeatureKey("media/video")]


def test_spec_may_be_given_as_a_dict(graph: mx.FeatureGraph) -> None:
    class Video(mx.Feature, table=True, spec={"key": "media/video", "id_columns": ["video_id"]}):
        video_id: str

    assert Video.spec() == mx.FeatureSpec(key="media/video", id_columns=["video_id"])


def test_table_has_user_system_and_per_field_columns(graph: mx.FeatureGraph) -> None:
    video = define("media/video", fields=["audio", "frames"],
                   columns={"sample_id": str, "fps": int | None})
    table: sa.Table = video.__table__  # type: ignore[attr-defined]
    columns = set(table.c.keys())
    assert {"sample_id", "fps", "metaxy_row_id", "metaxy_provenance", "metaxy_data_version",
            "metaxy_pv__audio", "metaxy_dv__audio", "metaxy_pv__frames",
            "metaxy_dv__frames"} <= columns
    assert [c.name for c in table.primary_key] == ["metaxy_row_id"]
    assert table.metadata is graph.sa_registry.metadata


def test_same_table_in_two_graphs(graph: mx.FeatureGraph) -> None:
    tables = []
    for _ in range(2):
        with mx.FeatureGraph().use() as g:
            cls = define("media/video")
            assert g.get("media/video") is cls
            tables.append(cls.__table__)  # type: ignore[attr-defined]
    assert tables[0] is not tables[1]
    assert tables[0].name == tables[1].name == "media__video"
    assert "media__video" not in graph.sa_registry.metadata.tables  # the active graph


def test_intermediate_base_without_table_needs_no_spec(graph: mx.FeatureGraph) -> None:
    class Base(mx.Feature):
        sample_id: str

    class Child(Base, table=True, spec=mx.FeatureSpec(key="t/child", id_columns=["sample_id"])):
        pass

    assert graph.keys == [mx.FeatureKey("t/child")]
    assert "sample_id" in Child.__table__.c  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ definition errors
# Each error names the feature key and the class; the graph keeps no trace of the failed class.


def test_invalid_key_in_spec(graph: mx.FeatureGraph, request: pytest.FixtureRequest) -> None:
    define("t/ok")
    before = state(graph)
    with pytest.raises(FeatureDefinitionError) as err:
        class Bad(mx.Feature, table=True, spec={"key": "Media/Video", "id_columns": ["i"]}):
            i: str
    assert isinstance(err.value.__cause__, InvalidKeyError)
    assert_names(err.value, key="Media/Video",
                 class_path=f"{__name__}.{request.function.__name__}.<locals>.Bad")
    assert state(graph) == before


def test_invalid_key_in_feature_spec_object() -> None:
    # The spec is built before the class statement runs, so only the key can be named.
    with pytest.raises(InvalidKeyError, match="'Media/Video'"):
        mx.FeatureSpec(key="Media/Video", id_columns=["i"])


def test_invalid_field_key(graph: mx.FeatureGraph) -> None:
    with pytest.raises(FeatureDefinitionError, match="'Audio'") as err:
        define("t/bad", fields=["Audio"], name="BadField")
    assert err.value.class_path is None  # raised while building the spec, before the class


@pytest.mark.parametrize("column", ["metaxy_provenance", "metaxy_mine", "spec"])
def test_reserved_column(graph: mx.FeatureGraph, column: str) -> None:
    define("t/ok")
    before = state(graph)
    with pytest.raises(FeatureDefinitionError, match=f"'{column}'") as err:
        define("t/bad", columns={"sample_id": str, column: str}, name="Reserved")
    assert_names(err.value, key="t/bad", class_path=defined_path("Reserved"))
    assert state(graph) == before


def test_id_column_not_in_model(graph: mx.FeatureGraph) -> None:
    define("t/ok")
    before = state(graph)
    with pytest.raises(FeatureDefinitionError, match="id column 'video_id'") as err:
        define("t/bad", id_columns=["video_id"], columns={"sample_id": str}, name="NoId")
    assert_names(err.value, key="t/bad", class_path=defined_path("NoId"))
    assert state(graph) == before
    # The name is free again: a corrected definition maps cleanly (no stale mapper).
    fixed = define("t/bad", id_columns=["video_id"], columns={"video_id": str}, name="NoId")
    assert graph.get("t/bad") is fixed


def test_table_without_spec(graph: mx.FeatureGraph, request: pytest.FixtureRequest) -> None:
    before = state(graph)
    with pytest.raises(FeatureDefinitionError, match="needs spec=") as err:
        class NoSpec(mx.Feature, table=True):
            i: str
    assert_names(err.value, key=None,
                 class_path=f"{__name__}.{request.function.__name__}.<locals>.NoSpec")
    assert state(graph) == before


def test_spec_without_table(graph: mx.FeatureGraph) -> None:
    with pytest.raises(FeatureDefinitionError, match="only allowed together with table=True"):
        class NotATable(mx.Feature, spec=mx.FeatureSpec(key="t/x", id_columns=["i"])):
            i: str
    assert len(graph) == 0


def test_field_dep_on_feature_that_is_not_a_dependency(graph: mx.FeatureGraph) -> None:
    up = define("t/up", name="Up")
    define("t/other", name="Other")
    before = state(graph)
    fields = [mx.FieldSpec(key="x", deps=[mx.FieldDep(feature="t/other")])]
    with pytest.raises(FeatureDefinitionError, match="'t/other', which is not among") as err:
        define("t/bad", deps=[up], fields=fields, name="Bad")
    assert_names(err.value, key="t/bad", class_path=defined_path("Bad"))
    assert state(graph) == before


def test_unsupported_column_type(graph: mx.FeatureGraph) -> None:
    define("t/ok")
    before = state(graph)
    with pytest.raises(FeatureDefinitionError, match="SQLModel rejected") as err:
        define("t/bad", columns={"sample_id": str, "tags": list[str]}, name="Tags")
    assert_names(err.value, key="t/bad", class_path=defined_path("Tags"))
    assert state(graph) == before


def test_duplicate_feature_key(graph: mx.FeatureGraph, request: pytest.FixtureRequest) -> None:
    first = define("t/dup", name="First")
    before = state(graph)
    with pytest.raises(DuplicateFeatureError) as err:
        class Second(mx.Feature, table=True, spec=mx.FeatureSpec(key="t/dup", id_columns=["i"])):
            i: str
    second_path = f"{__name__}.{request.function.__name__}.<locals>.Second"
    assert_names(err.value, key="t/dup", class_path=second_path)
    assert defined_path("First") in str(err.value)
    assert state(graph) == before
    assert graph.get("t/dup") is first
