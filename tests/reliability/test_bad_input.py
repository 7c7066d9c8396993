"""Bad frames, bad configurations, unreachable servers (issue 7 item 10).

Each bad input gives one clear ``MetaxyError`` naming what is wrong, and nothing is written.
Documented write policy (metaxy/store/frames.py): duplicate ids within one write are *rejected*;
columns that are not model columns are *dropped*.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.config import load_config
from metaxy.errors import (
    ConfigError,
    InvalidFrameError,
    MetaxyError,
    StoreConnectionError,
    StoreError,
    StoreNotFoundError,
)
from tests.reliability.faultlib import (
    SECRET,
    items,
    make_store,
    open_error,
    postgres_plugin_missing,
)

NAN = float("nan")
BAD_FRAMES: dict[str, tuple[dict[str, Any], str]] = {
    "null id": ({"sample_id": ["a", None], "value": [1, 2]}, "sample_id"),
    "missing id": ({"value": [1]}, "sample_id"),
    "duplicate id": ({"sample_id": ["a", "b", "a"], "value": [1, 2, 3]}, "sample_id"),
    "string into int": ({"sample_id": ["a", "b"], "value": ["1", "x"]}, "value"),
    "fraction into int": ({"sample_id": ["a", "b"], "value": [1.0, 1.5]}, "value"),
    "list into int": ({"sample_id": ["a"], "value": [[1]]}, "value"),
    "NaN provenance": ({"sample_id": ["a"], "value": [1],
                        "metaxy_provenance_by_field": [{"default": NAN}]}, "metaxy_pv__default"),
    "empty provenance": ({"sample_id": ["a"], "value": [1],
                          "metaxy_provenance_by_field": [{"default": ""}]},
                         "metaxy_pv__default"),
    "null provenance": ({"sample_id": ["a", "b"], "value": [1, 2],
                         "metaxy_provenance_by_field": [{"default": "h"}, {"default": None}]},
                        "metaxy_pv__default"),
    "provenance not a struct": ({"sample_id": ["a"], "value": [1],
                                 "metaxy_provenance_by_field": ["h"]},
                                "metaxy_provenance_by_field"),
    "provenance for no field": ({"sample_id": ["a"], "value": [1],
                                 "metaxy_provenance_by_field": [{"other": "h"}]},
                                "metaxy_provenance_by_field"),
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_frame_is_rejected_whole(case: str, tmp_path: Path, features: Any) -> None:
    item, _ = features
    data, column = BAD_FRAMES[case]
    store = make_store(f"duckdb:///{tmp_path / 'bad.duckdb'}")
    with store.open("w"):
        store.write(item, items(["kept"]))
        with pytest.raises(InvalidFrameError) as info:
            store.write(item, pl.DataFrame(data, strict=False))
        err = info.value
        assert err.feature_key == "rel/item"
        assert err.column is not None and column in err.column
        assert "rel/item" in str(err) and column in str(err)
        assert store.read(item, with_history=True)["sample_id"].to_list() == ["kept"]


def test_bad_frames_on_every_backend(any_url: str, features: Any) -> None:
    item, derived = features
    store = make_store(any_url)
    with store.open("w"):
        for data, _ in BAD_FRAMES.values():
            with pytest.raises(InvalidFrameError):
                store.write(item, pl.DataFrame(data, strict=False))
        assert not store.has_feature(item)  # not even the table was created
        store.write(item, items(range(3)))
        inc = store.resolve_update(derived)
        with pytest.raises(InvalidFrameError, match="provenance"):  # non-root without provenance
            store.write(derived, inc.new.select("sample_id"))
        with pytest.raises(InvalidFrameError, match="duplicate"):
            store.write(derived, pl.concat([inc.new, inc.new.head(1)]))
        assert store.read(derived, with_history=True).height == 0
        assert store.read(item, with_history=True).height == 3


def test_unknown_columns_are_dropped(any_url: str, features: Any) -> None:
    item, _ = features
    store = make_store(any_url)
    with store.open("w"):
        extra = items(["a"]).with_columns(junk=pl.lit(1), metaxy_stale_fields=pl.lit("x"))
        store.write(item, extra)
        out = store.read(item)
    assert "junk" not in out.columns and "metaxy_stale_fields" not in out.columns
    assert out["sample_id"].to_list() == ["a"]


# ---------------------------------------------------------------------------------- configs
CONFIGS = {
    "truncated": 'project = "p"\n[stores.dev\nurl = "duckdb:///x.duckdb"\n',
    "unterminated string": 'project = "p\n',
    "binary garbage": "\x00\x01\x02\xff\xfe garbage ]]]",
    "wrong type": 'project = "p"\nhash_length = "thirty-two"\n',
    "unknown key": 'project = "p"\nstorez = 1\n',
    "store without url": 'project = "p"\n[stores.dev]\nfallback = []\n',
    "bad project name": 'project = "p; DROP TABLE x"\n',
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_corrupt_config_gives_config_error(case: str, tmp_path: Path) -> None:
    path = tmp_path / "metaxy.toml"
    path.write_bytes(CONFIGS[case].encode("utf-8", errors="surrogateescape"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_config_environment_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_config()
    monkeypatch.delenv("METAXY_CONFIG")
    monkeypatch.setenv("METAXY_HASH_LENGTH", "abc")
    with pytest.raises(ConfigError, match="METAXY_HASH_LENGTH"):
        load_config(None)
    monkeypatch.delenv("METAXY_HASH_LENGTH")
    with pytest.raises(ConfigError, match=r"unknown store 'nope'"):
        mx.get_store("nope", config=mx.MetaxyConfig())


# ---------------------------------------------------------------------------------- stores
@pytest.mark.parametrize("suffix", ["duckdb", "sqlite"])
def test_corrupt_database_file(tmp_path: Path, suffix: str, features: Any) -> None:
    path = tmp_path / f"corrupt.{suffix}"
    garbage = os.urandom(16384)
    path.write_bytes(garbage)
    for mode in ("r", "w"):
        store = make_store(f"{suffix}:///{path}")
        with pytest.raises(StoreError) as info:
            with store.open(mode):  # type: ignore[arg-type]
                pass
        assert str(path) in str(info.value)
        assert store.mode is None
    assert path.read_bytes() == garbage  # nothing written


def test_unreachable_server_is_one_clear_error(features: Any) -> None:
    url = f"postgresql://metaxy:{SECRET}@127.0.0.1:1/nowhere"
    error: BaseException
    if postgres_plugin_missing():
        with pytest.raises(StoreNotFoundError) as info:
            make_store(url)
        error = info.value
    else:
        outcome = open_error(make_store(url))
        assert isinstance(outcome, StoreConnectionError), repr(outcome)
        error = outcome
    assert isinstance(error, MetaxyError)
    assert "127.0.0.1" in str(error)
    assert SECRET not in str(error)
