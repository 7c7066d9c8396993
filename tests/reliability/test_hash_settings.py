"""A store remembers its sample-hash settings and refuses other ones (issue 7 item 13; B6 16).

Comparing md5:32 provenance with md5:16 (a prefix) or sha256 would silently report every sample
stale, or worse, hide real changes; the store records ``algorithm:length`` on first write and a
reader configured otherwise gets ``HashConfigMismatchError`` before anything is compared.
"""

from __future__ import annotations

from typing import Any

import pytest

from metaxy.errors import HashConfigMismatchError
from tests.reliability.faultlib import items, make_store

MISMATCHES = [("md5", 16), ("sha256", 32), ("sha256", 64)]


def test_reader_with_other_hash_settings_is_refused(any_url: str, features: Any) -> None:
    item, derived = features
    writer = make_store(any_url, hash_algorithm="md5", hash_length=32)
    with writer.open("w"):
        writer.write(item, items(range(4)))
    for algorithm, length in MISMATCHES:
        for mode in ("r", "w"):
            other = make_store(any_url, hash_algorithm=algorithm, hash_length=length)
            with pytest.raises(HashConfigMismatchError) as info:
                with other.open(mode):  # type: ignore[arg-type]
                    other.resolve_update(derived)
            message = str(info.value)
            assert "md5:32" in message and f"{algorithm}:{length}" in message
            assert other.mode is None
    with writer:  # the recorded setting still works, nothing was written by the refused ones
        assert writer.read(item, with_history=True).height == 4
        assert writer.resolve_update(derived).new.height == 4


def test_settings_recorded_by_the_first_writer(any_url: str, features: Any) -> None:
    item, _ = features
    first = make_store(any_url, hash_algorithm="sha256", hash_length=64)
    with first.open("w"):
        first.write(item, items(range(2)))
    with pytest.raises(HashConfigMismatchError, match="sha256:64"):
        with make_store(any_url).open("w"):
            pass
    with make_store(any_url, hash_algorithm="sha256", hash_length=64) as store:
        assert store.read(item).height == 2
