"""The declarative spec models: normalisation and the checks a spec makes alone (SPEC §2)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import metaxy as mx

from .conftest import define


def test_shorthands_are_normalised() -> None:
    spec = mx.FeatureSpec(
        key="a/b", id_columns="sample_id",
        fields=["x", mx.FieldSpec(key="y", code_version=2)],
        deps=["a/up", mx.FeatureDep(feature="a/other", rename={"z": "b", "a": "c"})],
    )
    assert spec.key == mx.FeatureKey("a/b")
    assert spec.id_columns == ("sample_id",)
    assert spec.field_keys == (mx.FieldKey("x"), mx.FieldKey("y"))
    assert spec.field("x").code_version == "1"
    assert spec.field("y").code_version == "2"
    assert [d.feature for d in spec.deps] == [mx.FeatureKey("a/up"), mx.FeatureKey("a/other")]
    assert spec.dep(mx.FeatureKey("a/other")).rename == (("a", "c"), ("z", "b"))
    assert spec.dep(mx.FeatureKey("a/other")).rename_map == {"a": "c", "z": "b"}
    assert spec.dep(mx.FeatureKey("a/up")).lineage == mx.Lineage.identity()


def test_default_field_is_named_default() -> None:
    spec = mx.FeatureSpec(key="a", id_columns=["i"])
    assert spec.field_keys == (mx.FieldKey("default"),)


def test_upstream_given_as_class_becomes_its_key(graph: mx.FeatureGraph) -> None:
    up = define("t/up")
    dep = mx.FeatureDep(feature=up)
    assert dep.feature == mx.FeatureKey("t/up")
    assert mx.FieldDep(feature=up, fields="default").fields == (mx.FieldKey("default"),)


def test_specs_are_frozen_and_forbid_unknown_options() -> None:
    spec = mx.FeatureSpec(key="a", id_columns=["i"])
    with pytest.raises(ValidationError):
        spec.key = mx.FeatureKey("b")  # type: ignore[misc]
    with pytest.raises(ValidationError, match="colums"):
        mx.FeatureDep(feature="a", colums=("x",))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id_columns": []}, "at least one column"),
        ({"id_columns": ["i", "i"]}, "repeat"),
        ({"fields": []}, "at least one field"),
        ({"fields": ["x", "x"]}, "declared twice"),
        ({"deps": ["t/up", "t/up"]}, "listed twice"),
        ({"deps": ["t/self"]}, "itself"),
    ],
)
def test_self_contradictory_specs_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        mx.FeatureSpec(**{"key": "t/self", "id_columns": ["i"], **kwargs})  # type: ignore[arg-type]


def test_empty_code_version_is_rejected() -> None:
    with pytest.raises(ValidationError, match="code_version"):
        mx.FieldSpec(key="x", code_version="")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: mx.Lineage(kind="identity", on=("a",)), "no 'on'"),
        (lambda: mx.Lineage.aggregation(on=[]), "at least one"),
        (lambda: mx.Lineage.expansion(on=()), "at least one"),
    ],
)
def test_lineage_checks_its_on_columns(make: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()  # type: ignore[operator]


def test_lineage_constructors() -> None:
    assert mx.Lineage.aggregation(on=["v"]) == mx.Lineage(kind="aggregation", on=("v",))
    assert mx.Lineage.expansion(on=["v"]).kind == "expansion"
