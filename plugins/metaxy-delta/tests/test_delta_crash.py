"""A writer SIGKILLed in the middle of its writes (RELIABILITY case 1 on Delta): each write is
one Delta commit, so the table holds whole batches only (a batch committed just before the kill,
unreported, included) and takes writes again; after ``optimize`` no data file remains that no
commit references (a killed write's uncommitted files, when the kill lands in that window)."""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable
from mxdelta_helpers import item_graph, item_samples

import metaxy as mx

pytestmark = [pytest.mark.slow]

BATCH = 20_000
HERE = Path(__file__).parent


def _wait_for(proc: subprocess.Popen[str], line: str, timeout: float = 120.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            got = proc.stdout.readline()
            if got.strip() == line:
                return
            if got == "" and proc.poll() is not None:
                break
    proc.kill()
    pytest.fail(f"writer never printed {line!r}: {proc.stderr.read() if proc.stderr else ''}")


def test_kill_during_writes_keeps_whole_commits(delta_url: str) -> None:
    code = f"from mxdelta_helpers import write_until_killed; " \
           f"write_until_killed({delta_url!r}, {BATCH})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    env.pop("METAXY_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(proc, "committed 1")
    time.sleep(random.uniform(0.0, 0.3))  # somewhere in the next write
    proc.kill()
    proc.wait(timeout=30)
    assert proc.stdout is not None
    printed = 2 + sum(1 for line in proc.stdout.read().splitlines() if line.startswith("committed"))

    graph, item = item_graph()
    store = mx.get_store(delta_url, graph=graph, config=mx.MetaxyConfig())
    with store.open("w"):
        history = store.read(item, with_history=True)
        assert history.height % BATCH == 0  # whole commits only
        assert printed * BATCH <= history.height <= (printed + 1) * BATCH  # + one unreported
        assert history.select("grp", "item").n_unique() == history.height
        batches = history.height // BATCH
        assert store.status(item, samples=item_samples(0, batches, 10)).new == 10
        store.write(item, item_samples(0, batches, 10))  # the store takes writes again
        store.optimize(item)  # compacts, and vacuums the files no commit references
    table = DeltaTable(store.table_uri(item.spec().key.table_name))  # type: ignore[attr-defined]
    on_disk = {p.name for p in Path(table.table_uri.removeprefix("file://")).glob("*.parquet")}
    assert on_disk == {Path(f).name for f in table.file_uris()}
