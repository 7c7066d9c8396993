"""Named locks on an object-store root: a lock object created only if absent (obstore's
conditional put). Tested on ``delta+file://`` (the object-store code path over local files, as
``object_store`` runs it for S3, GCS and Azure)."""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
from pathlib import Path

import pytest
from metaxy_delta.object_lock import lock_key, object_store
from mxdelta_helpers import item_graph, item_samples, locked_section

import metaxy as mx
from metaxy.errors import StoreError, StoreLockedError
from metaxy.migrations import api
from metaxy.testing.processes import run_concurrently

NAME = "metaxy-test"


@pytest.fixture
def object_url(tmp_path: Path) -> str:
    return f"delta+file:///{tmp_path}/root"  # four slashes: an absolute path


def _store(url: str) -> mx.MetadataStore:
    return mx.get_store(url, graph=mx.FeatureGraph(), config=mx.MetaxyConfig())


def _plant(url: str, tmp_path: Path, **holder: object) -> Path:
    """A lock object as another holder would have left it."""
    path = tmp_path / "root" / lock_key(NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"token": "theirs", "since": "2026-12-04T00:00:00+00:00",
                                **holder}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_processes_hold_the_lock_one_at_a_time(object_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    run_concurrently(locked_section, [(object_url, w, str(log)) for w in range(3)])
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 18  # 3 workers x 3 sections, each an enter and its own exit
    for enter, leave in zip(lines[0::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "exit " + enter.split()[1]
    assert not (tmp_path / "root" / lock_key(NAME)).exists()  # released


def test_a_held_lock_times_out_naming_its_holder(object_url: str, tmp_path: Path) -> None:
    _plant(object_url, tmp_path, host="elsewhere.example", pid=4242)
    with _store(object_url).open("r") as store, \
            pytest.raises(StoreLockedError, match=r"process 4242 on elsewhere\.example") as info:
        with store.lock(NAME, timeout=0.3):
            pass
    assert lock_key(NAME) in str(info.value)
    assert f"metaxy break-lock '{NAME}'" in str(info.value)


def test_break_lock_removes_a_dead_holders_lock(object_url: str, tmp_path: Path) -> None:
    path = _plant(object_url, tmp_path, host="elsewhere.example", pid=4242)
    with _store(object_url).open("r") as store:
        assert (store.break_lock(NAME) or {})["pid"] == 4242
        assert not path.exists()
        assert store.break_lock(NAME) is None
        with store.lock(NAME, timeout=0):
            assert path.exists()


def test_a_crashed_holder_on_this_host_is_taken_over(object_url: str, tmp_path: Path) -> None:
    gone = mp.get_context("spawn").Process(target=int)
    gone.start()
    gone.join()
    _plant(object_url, tmp_path, host=socket.gethostname(), pid=gone.pid)
    with _store(object_url).open("r") as store, store.lock(NAME, timeout=5):
        holder = json.loads((tmp_path / "root" / lock_key(NAME)).read_text(encoding="utf-8"))
        assert holder["token"] != "theirs"


def test_a_lock_taken_away_while_held_is_an_error(object_url: str, tmp_path: Path) -> None:
    with _store(object_url).open("r") as store, \
            pytest.raises(StoreError, match="taken from this process"):
        with store.lock(NAME, timeout=0):
            store.break_lock(NAME)


def test_push_runs_on_an_object_root(object_url: str) -> None:
    """A snapshot push takes the store's lock: on an object root it was refused before."""
    graph, item = item_graph()
    store = mx.get_store(object_url, graph=graph, config=mx.MetaxyConfig())
    with store.open("w"):
        store.write(item, item_samples(0, 0, 5))
    first = api.push(store, graph, "dlt")
    assert first.created and first.n_features == 1
    assert not api.push(store, graph, "dlt").created  # recorded once


def test_local_root_locks_need_no_breaking(tmp_path: Path) -> None:
    with _store(f"delta:///{tmp_path}/root").open("r") as store, \
            pytest.raises(StoreError, match="nothing to break"):
        store.break_lock(NAME)


def test_options_only_delta_rs_knows_are_left_out() -> None:
    built = object_store("s3://bucket/prefix", {
        "AWS_S3_LOCKING_PROVIDER": "dynamodb", "aws_region": "us-east-1",
        "aws_access_key_id": "key", "aws_secret_access_key": "secret"})
    assert "bucket" in repr(built)


def test_cli_break_lock_removes_the_lock_object(object_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metaxy.cli import app

    path = _plant(object_url, tmp_path, host="elsewhere.example", pid=4242)
    done = CliRunner().invoke(app, ["break-lock", NAME, "--store", object_url, "--yes",
                                    "-f", "json"])
    assert done.exit_code == 0, done.output
    said = json.loads(done.stdout)
    assert said["removed"] and said["holder"]["pid"] == 4242 and not path.exists()
    again = CliRunner().invoke(app, ["break-lock", NAME, "--store", object_url, "--yes"])
    assert again.exit_code == 0 and "nobody held" in again.stdout


def _chain(error: BaseException | None) -> str:
    """The text of an error and of every exception it was raised from or during."""
    texts = []
    while error is not None:
        texts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\n".join(texts)


SECRET = "sup3r-s3cret-v4lue"


def _denied(*args: object, **kwargs: object) -> None:
    raise OSError(f"403 Forbidden: signature for key {SECRET} does not match")


def _secret_store(tmp_path: Path) -> mx.MetadataStore:
    return mx.get_store(f"delta+file:///{tmp_path}/root", graph=mx.FeatureGraph(),
                        config=mx.MetaxyConfig(), storage_options={"AWS_SECRET_ACCESS_KEY": SECRET})


@pytest.mark.parametrize("failing", ["put", "delete"])  # taking the lock / releasing it
def test_object_store_errors_of_the_lock_mask_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import obstore

    store = _secret_store(tmp_path)
    with store.open("r"):
        monkeypatch.setattr(obstore, failing, _denied)
        with pytest.raises(StoreError) as caught:
            with store.lock(NAME, timeout=1):
                pass
    assert SECRET not in _chain(caught.value) and "***" in str(caught.value)


def test_break_lock_masks_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import obstore

    _plant("", tmp_path)
    store = _secret_store(tmp_path)
    with store.open("r"):
        monkeypatch.setattr(obstore, "delete", _denied)
        with pytest.raises(StoreError) as caught:
            store.break_lock(NAME)
    assert SECRET not in _chain(caught.value) and "***" in str(caught.value)


def test_errors_inside_a_held_object_lock_pass_unchanged(object_url: str) -> None:
    store = _store(object_url)
    with store.open("r"):
        with pytest.raises(KeyError, match="mine"):
            with store.lock(NAME, timeout=1):
                raise KeyError("mine")
        with store.lock(NAME, timeout=1):  # released by the failed block
            pass
