"""Concurrent appenders on PostgreSQL, the feature's table not yet created (issue 7 item 4).

Eight processes open the store, wait at a barrier (a file appearing), then each appends 1,000
distinct samples. Table creation must be serialised (a raw ``CREATE TABLE IF NOT EXISTS`` race
fails with ``UniqueViolation`` on ``pg_type``): every process succeeds and exactly 8,000 rows land.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.reliability.faultlib import Child, make_store

WRITERS = 8
PER_WRITER = 1_000


def test_eight_processes_append_to_a_new_feature(pg_url: str, tmp_path: Path,
                                                  features: Any) -> None:
    item, derived = features
    barrier = tmp_path / "go"
    children = [Child("append", pg_url, str(i * PER_WRITER), str(PER_WRITER), str(barrier))
                for i in range(WRITERS)]
    try:
        for child in children:
            child.expect("ready")
        barrier.touch()
        results = [child.finish(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    for code, err in results:
        assert code == 0, err
    with make_store(pg_url) as store:
        history = store.read(item, with_history=True)
        assert history.height == WRITERS * PER_WRITER
        assert history["sample_id"].n_unique() == WRITERS * PER_WRITER
        latest = store.read(item)
        assert latest.height == WRITERS * PER_WRITER
        assert store.resolve_update(derived).new.height == WRITERS * PER_WRITER
