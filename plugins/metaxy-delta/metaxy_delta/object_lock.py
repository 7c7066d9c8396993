"""Named locks on an object store (S3, GCS, Azure): a lock object created only if absent.

An object store has no file lock, but it has conditional writes: ``put`` with ``mode="create"``
succeeds for exactly one of many concurrent writers (S3 since 2024, GCS, Azure; through
obstore, the Python binding of the same Rust ``object_store`` crate delta-rs uses). The lock
``name`` is the object ``<root>/_metaxy/locks/<name>.<digest>.lock``; its body says who holds it
(host, process id, a random token, when). Releasing deletes it, after checking that the token is
still ours.

A process that dies holding the lock leaves the object behind (no operating system releases
it, unlike a file lock). A waiter on the *same host* takes over a lock whose process is gone;
on another host it cannot know, so the error names the holder and the object, and
:func:`break_lock` (``metaxy break-lock NAME``) removes it once the holder is known to be dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from metaxy.errors import StoreError
from metaxy.store import lock_file_name, locked_error

LOCKS = "_metaxy/locks"
POLL_S = (0.05, 0.5)


def object_store(root: str, options: Mapping[str, str]) -> Any:
    """An obstore store for ``root`` (``s3://bucket/prefix``, ``file:///dir``, ...) with the
    store's ``storage_options``; options only delta-rs knows (its locking provider, say) are
    left out."""
    from obstore.exceptions import UnknownConfigurationKeyError
    from obstore.store import from_url

    config: dict[str, Any] = {k.lower(): v for k, v in options.items()}
    for _ in range(len(config) + 1):
        try:
            if root.startswith("file://"):  # a local root may not exist before its first write
                return from_url(root, mkdir=True)
            return from_url(root, config=config)  # type: ignore[call-overload]
        except UnknownConfigurationKeyError as e:
            unknown = [k for k in config if f"'{k}'" in str(e)]
            if not unknown:
                raise
            for key in unknown:
                del config[key]
    raise AssertionError("unreachable")


def lock_key(name: str) -> str:
    """The lock object of ``name``, relative to the store's root."""
    return f"{LOCKS}/{lock_file_name(name)}"


def _holder(store: Any, key: str) -> dict[str, Any] | None:
    """The body of the lock object (``None`` when it is gone)."""
    import obstore
    from obstore.exceptions import NotFoundError

    try:
        body = bytes(obstore.get(store, key).bytes())
    except (NotFoundError, FileNotFoundError):
        return None
    try:
        found = json.loads(body)
    except ValueError:
        return {"holder": f"an unreadable lock body {body[:60]!r}"}
    return found if isinstance(found, dict) else {"holder": repr(found)}


def _describe(holder: Mapping[str, Any]) -> str:
    if "pid" not in holder:
        return str(holder.get("holder", "someone"))
    return f"process {holder['pid']} on {holder.get('host')} since {holder.get('since')}"


def _process_gone(holder: Mapping[str, Any]) -> bool:
    """The holder ran on this host and its process no longer exists."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _delete_if(store: Any, key: str, token: str) -> bool:
    """Delete the lock object if it still carries ``token``."""
    import obstore

    found = _holder(store, key)
    if found is None or found.get("token") != token:
        return False
    obstore.delete(store, key)
    return True


@contextlib.contextmanager
def object_lock(store: Any, name: str, timeout: float | None, what: str,
                where: str) -> Iterator[None]:
    """Hold the lock ``name`` for the ``with`` block (``what`` names the store in errors,
    ``where`` is the root shown with the lock object's path)."""
    import obstore
    from obstore.exceptions import AlreadyExistsError

    key = lock_key(name)
    token = uuid.uuid4().hex
    body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": token,
                       "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            obstore.put(store, key, body, mode="create")
            break
        except AlreadyExistsError:
            holder = _holder(store, key)
            if holder is None:
                continue  # released meanwhile
            if _process_gone(holder) and _delete_if(store, key, str(holder.get("token"))):
                continue  # a crashed holder of this host: its lock is void
            if deadline is not None and time.monotonic() >= deadline:
                raise locked_error(what, name, timeout,
                                   f"{_describe(holder)} (lock object {where}/{key}; if that "
                                   f"process is gone, `metaxy break-lock '{name}'` removes "
                                   "it)") from None
            pause = random.uniform(*POLL_S)
            time.sleep(pause if deadline is None else
                       max(0.0, min(pause, deadline - time.monotonic())))
    try:
        yield
    finally:
        if not _delete_if(store, key, token):
            raise StoreError(f"{what}: the lock '{name}' was taken from this process while it "
                             f"held it (lock object {where}/{key} removed or replaced)")


def break_lock(store: Any, name: str) -> dict[str, Any] | None:
    """Remove the lock object of ``name`` whoever holds it; returns what it said (``None``
    when there was none). Only for a holder known to be dead: a live one loses its exclusion."""
    import obstore

    key = lock_key(name)
    found = _holder(store, key)
    if found is not None:
        obstore.delete(store, key)
    return found
