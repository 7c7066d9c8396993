"""Items 11 and 13: numeric store options are validated in one place, fallback cycles refused.

``lock_timeout = nan`` (valid TOML) made a locked DuckDB open retry forever; a fallback cycle
``a -> b -> a`` in metaxy.toml was a RecursionError.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import duckdb
import pytest

import metaxy as mx
from metaxy.config import load_config
from metaxy.errors import ConfigError
from metaxy.store.options import NUMERIC_OPTIONS


def _config(tmp_path: Path, options: str, url: str | None = None) -> Path:
    url = url or f"duckdb:///{tmp_path / 'x.duckdb'}"
    path = tmp_path / "metaxy.toml"
    path.write_text(f'store = "dev"\n[stores.dev]\nurl = "{url}"\n'
                    f"[stores.dev.options]\n{options}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("option, value", [
    ("lock_timeout", "nan"), ("lock_timeout", "inf"), ("lock_timeout", "-1"),
    ("lock_timeout", "1e9"), ("lock_timeout", "true"), ("lock_timeout", '"30"'),
    ("threads", "0"), ("threads", "2.5"), ("threads", "nan"),
    ("connect_timeout", "0"), ("connect_timeout", "nan"), ("copy_chunk_rows", "-inf"),
    ("copy_chunk_rows", "0"), ("hash_length", "nan"),
])
def test_invalid_numeric_option_names_option_store_and_value(tmp_path: Path, option: str,
                                                             value: str) -> None:
    config = load_config(_config(tmp_path, f"{option} = {value}"))
    with pytest.raises(ConfigError) as info:
        mx.get_store(config=config)
    message = str(info.value)
    assert f"option {option} = " in message and "store 'dev'" in message
    parsed = tomllib.loads(f"v = {value}")["v"]
    assert f"option {option} = {parsed!r} is invalid" in message


def test_python_options_are_checked_too(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'y.duckdb'}"
    with pytest.raises(ConfigError, match=f"store '{url}': option lock_timeout = nan"):
        mx.get_store(url, config=load_config(_config(tmp_path, "")), lock_timeout=math.nan)


@pytest.mark.parametrize("option", sorted(NUMERIC_OPTIONS))
def test_valid_values_pass(tmp_path: Path, option: str) -> None:
    spec = NUMERIC_OPTIONS[option]
    from metaxy.store.options import check_option

    check_option("'s'", option, int(spec.low))
    check_option("'s'", option, int(spec.high))


def test_nan_lock_timeout_does_not_retry_forever(tmp_path: Path) -> None:
    """The reported symptom: another process holds the file; opening must end (it is refused)."""
    db = tmp_path / "x.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('holding', flush=True); time.sleep(120)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        config = load_config(_config(tmp_path, "lock_timeout = nan", f"duckdb:///{db}"))
        errors: list[BaseException] = []

        def attempt() -> None:
            try:
                with mx.get_store(config=config).open("w"):
                    pass
            except Exception as e:  # any error ends the attempt; hanging is the bug
                errors.append(e)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(15)
        assert not thread.is_alive(), "opening a locked file with lock_timeout = nan never ended"
        assert isinstance(errors[0], ConfigError) and "lock_timeout = nan" in str(errors[0])
    finally:
        holder.kill()
        holder.wait()


def _cycle_config(tmp_path: Path, chain: dict[str, list[str]]) -> Path:
    lines = ['store = "a"']
    for name, fallback in chain.items():
        fb = ", ".join(f'"{f}"' for f in fallback)
        lines += [f"[stores.{name}]", f'url = "duckdb:///{tmp_path / name}.duckdb"',
                  f"fallback = [{fb}]"]
    path = tmp_path / "metaxy.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chain, cycle", [
    ({"a": ["b"], "b": ["a"]}, "'a' -> 'b' -> 'a'"),
    ({"a": ["a"]}, "'a' -> 'a'"),
    ({"a": ["b"], "b": ["c"], "c": ["b"]}, "'b' -> 'c' -> 'b'"),
])
def test_fallback_cycle_is_a_config_error(tmp_path: Path, chain: dict[str, list[str]],
                                          cycle: str) -> None:
    config = load_config(_cycle_config(tmp_path, chain))
    with pytest.raises(ConfigError, match=f"store fallbacks form a cycle: {cycle}"):
        mx.get_store(config=config)


def test_shared_fallback_is_not_a_cycle(tmp_path: Path) -> None:
    """a -> b, a -> c, b -> c: c is reached twice but there is no cycle."""
    config = load_config(_cycle_config(tmp_path, {"a": ["b", "c"], "b": ["c"], "c": []}))
    store = mx.get_store(config=config)
    assert len(store.fallback) == 2 and len(store.fallback[0].fallback) == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_duckdb_store_built_directly_refuses_nan_lock_timeout(tmp_path: Path,
                                                              value: float) -> None:
    from metaxy.errors import StoreError
    from metaxy.store.duckdb import DuckDBStore

    with pytest.raises(StoreError, match="lock_timeout must be a finite number >= 0"):
        DuckDBStore(f"duckdb:///{tmp_path / 'z.duckdb'}", lock_timeout=value)


def test_unknown_option_is_named(tmp_path: Path) -> None:
    """A typo was the backend constructor's TypeError (a raw Python error on the CLI)."""
    from metaxy.errors import StoreOptionError

    config = load_config(_config(tmp_path, "lock_timout = 5"))
    with pytest.raises(StoreOptionError, match="store 'dev': unknown option 'lock_timout' for "
                                               "the duckdb backend"):
        mx.get_store(config=config)
