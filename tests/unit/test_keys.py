"""Feature/field key grammar and the one-to-one key -> SQL identifier mapping (SPEC §1)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import metaxy as mx
from metaxy.errors import InvalidKeyError
from metaxy.keys import MAX_IDENTIFIER_BYTES

IDENTIFIER = re.compile(r"[a-z0-9_]+")
PREFIXES = ("metaxy_pv__", "metaxy_dv__")

_chars = "abcdefghijklmnopqrstuvwxyz0123456789_-"
_part = st.text(alphabet=_chars, min_size=1, max_size=70)
_first = st.builds(lambda head, rest: head + rest,
                   st.sampled_from("abcdefghijklmnopqrstuvwxyz_"),
                   st.text(alphabet=_chars, max_size=70))
key_strings = st.builds(lambda first, rest: "/".join([first, *rest]),
                        _first, st.lists(_part, max_size=4))

# Pairs that a naive rendering (join with '_', replace '-', truncate) would map to one name.
TRICKY = [
    ("a-b", "a_b"),
    ("a_/b", "a/_b"),
    ("a/b", "a__b"),
    ("a/b", "a_b"),
    ("a__b", "a___b"),
    ("a/b_c", "a_b/c"),
    ("x" * 200, "x" * 199),
    ("x" * 200, "x" * 200 + "/y"),
    ("p" * 63 + "a", "p" * 63 + "b"),
    ("p" * 63, "p" * 63 + "_"),
    ("p" * 40 + "/" + "q" * 30, "p" * 40 + "/" + "q" * 31),
    ("_a", "a"),
    ("a-", "a_"),
]


def _check_identifier(name: str) -> None:
    assert IDENTIFIER.fullmatch(name), name
    assert name == name.lower()
    assert len(name.encode()) <= MAX_IDENTIFIER_BYTES


@pytest.mark.parametrize("text", ["media/video", "a", "_private/x-y", "a1/2b/c_d-e", "a/-"])
def test_valid_keys_round_trip(text: str) -> None:
    key = mx.FeatureKey(text)
    assert key.to_string() == str(key) == text
    assert mx.FeatureKey(key) == key == mx.FeatureKey(text.split("/"))
    assert mx.FieldKey(text).to_string() == text


@pytest.mark.parametrize(
    "text", ["", "Media/video", "media//video", "/media", "media/", "1media", "-a", "a b", "a/é",
             "a.b"],
)
@pytest.mark.parametrize("cls", [mx.FeatureKey, mx.FieldKey])
def test_invalid_keys_are_rejected(cls: type[mx.FeatureKey], text: str) -> None:
    with pytest.raises(InvalidKeyError):
        cls(text)


def test_keys_are_immutable_ordered_and_hashable() -> None:
    key = mx.FeatureKey("b/a")
    with pytest.raises(AttributeError):
        key.parts = ("x",)  # type: ignore[misc]
    assert sorted([mx.FeatureKey("b"), mx.FeatureKey("a/z"), mx.FeatureKey("a")]) == [
        mx.FeatureKey("a"), mx.FeatureKey("a/z"), mx.FeatureKey("b")]
    assert len({mx.FeatureKey("a/b"), mx.FeatureKey("a/b")}) == 1
    assert mx.FeatureKey("a") != mx.FieldKey("a")


def test_plain_keys_render_readably() -> None:
    assert mx.FeatureKey("media/video").table_name == "media__video"
    assert mx.FieldKey("audio").column("metaxy_pv__") == "metaxy_pv__audio"


@pytest.mark.parametrize(("a", "b"), TRICKY)
def test_tricky_pairs_get_distinct_table_names(a: str, b: str) -> None:
    ta, tb = mx.FeatureKey(a).table_name, mx.FeatureKey(b).table_name
    assert ta != tb
    _check_identifier(ta)
    _check_identifier(tb)


@given(st.lists(key_strings, min_size=2, max_size=8, unique=True))
@example([a for pair in TRICKY for a in pair])
def test_table_name_is_one_to_one_lowercase_and_short(texts: list[str]) -> None:
    texts = list(dict.fromkeys(texts))
    names = [mx.FeatureKey(t).table_name for t in texts]
    for name in names:
        _check_identifier(name)
    assert len(set(names)) == len(names)


@given(st.lists(key_strings, min_size=2, max_size=8, unique=True), st.sampled_from(PREFIXES))
@example([a for pair in TRICKY for a in pair], "metaxy_pv__")
def test_field_column_is_one_to_one_lowercase_and_short(texts: list[str], prefix: str) -> None:
    texts = list(dict.fromkeys(texts))
    names = [mx.FieldKey(t).column(prefix) for t in texts]
    for name in names:
        _check_identifier(name)
        assert name.startswith(prefix)
    assert len(set(names)) == len(names)


@given(st.text(alphabet="abc", min_size=1, max_size=5),
       st.lists(st.text(alphabet="xy_-", min_size=1, max_size=3), min_size=2, max_size=2,
                unique=True))
def test_keys_sharing_a_63_byte_prefix_stay_distinct(stem: str, tails: list[str]) -> None:
    prefix = (stem * 64)[:63]
    a, b = (mx.FeatureKey(prefix + t) for t in tails)
    assert a.table_name != b.table_name
