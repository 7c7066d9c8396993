"""``with store:`` and ``with store.open(...)`` nest on every backend (issue 12).

The store used to keep one context slot for ``with store:``: a nested ``with store:`` replaced it,
so the outer block's exit re-exited the finished inner context and the store was never closed.
"""

from __future__ import annotations

import pytest

from metaxy.testing.pytest_plugin import StoreFactory


def test_nested_with_store_closes_at_the_outer_exit(store_url: str,
                                                    store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with store as outer:
        assert outer is store and store.mode == "r"
        with store as inner:
            assert inner is store and store.mode == "r"
        assert store.mode == "r", "the inner `with store:` closed the store of the outer block"
        with store:
            with store:
                assert store.mode == "r"
            assert store.mode == "r"
        assert store.mode == "r"
    assert store.mode is None, "the outer `with store:` left the store open"


def test_with_store_mixes_with_open(store_url: str, store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with store.open("w"):
        with store:
            assert store.mode == "w"
            with store.open("r"):
                assert store.mode == "w"
        assert store.mode == "w"
    assert store.mode is None
    with store:
        with store.open("r"), store:
            assert store.mode == "r"
        assert store.mode == "r"
    assert store.mode is None
    # and the store opens again afterwards
    with store.open("w"):
        assert store.mode == "w"
    assert store.mode is None


def test_nested_with_store_closes_after_an_exception(store_url: str,
                                                     store_factory: StoreFactory) -> None:
    store = store_factory(store_url)
    with pytest.raises(RuntimeError, match="boom"), store:
        with store:
            raise RuntimeError("boom")
    assert store.mode is None
    with store.open("w"):  # nothing was left half-open
        assert store.mode == "w"
