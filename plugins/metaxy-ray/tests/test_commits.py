"""Group commit (:mod:`metaxy_ray.commits`) with threads, no store: batches handed in together
commit together, a failed group hands every batch back, a key already waiting is not queued
twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import polars as pl
from metaxy_ray.commits import GroupCommitter, Outcome, Pending

LONG = 30.0


def frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": list(range(n))})


def submit_all(committer: GroupCommitter, batches: list[tuple[int, str]]) -> list[Pending]:
    """Each batch from its own task (announced, still computing: never blocked)."""
    for _, key in batches:
        committer.enter(key)
    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(lambda b: committer.submit(frame(b[0]), b[1], b[1]), batches))


def test_a_group_of_max_batches_commits_without_waiting() -> None:
    groups: list[list[str]] = []
    committer = GroupCommitter(lambda g: groups.append([p.key for p in g]), max_rows=10**6,
                               max_batches=4, in_flight=2, max_wait_s=LONG)
    done = submit_all(committer, [(3, "a"), (4, "b"), (5, "c"), (6, "d")])
    assert [p.outcome for p in done] == [Outcome.COMMITTED] * 4
    assert committer.commits == 1 and sorted(groups[0]) == ["a", "b", "c", "d"]


def test_a_group_reaching_max_rows_commits_without_waiting() -> None:
    groups: list[int] = []
    committer = GroupCommitter(lambda g: groups.append(sum(p.frame.height for p in g)),
                               max_rows=10, max_batches=100, in_flight=2, max_wait_s=LONG)
    committer.enter("t")  # a task still computing: without max_rows the batch would wait
    done = committer.submit(frame(12), "big", "t")
    assert done.outcome is Outcome.COMMITTED and groups == [12]


def test_a_batch_of_no_known_task_commits_at_once() -> None:
    groups: list[int] = []
    committer = GroupCommitter(lambda g: groups.append(len(g)), max_rows=10**6,
                               max_batches=100, in_flight=2, max_wait_s=LONG)
    assert committer.submit(frame(2), "a").outcome is Outcome.COMMITTED and groups == [1]


def test_the_group_commits_once_every_known_task_is_blocked() -> None:
    groups: list[list[str]] = []
    committer = GroupCommitter(lambda g: groups.append(sorted(p.key for p in g)),
                               max_rows=10**6, max_batches=100, in_flight=2, max_wait_s=LONG)
    committer.enter("t1")
    committer.enter("t2")
    with ThreadPoolExecutor(3) as pool:
        # t1 sends two batches (its in-flight limit: blocked); t2 one, then says it is done
        futures = [pool.submit(committer.submit, frame(1), k, "t1") for k in ("a", "b")]
        futures.append(pool.submit(committer.submit, frame(1), "c", "t2"))
        committer.leave("t2", 1)
        assert [f.result().outcome for f in futures] == [Outcome.COMMITTED] * 3
    assert groups == [["a", "b", "c"]]


def test_a_silent_task_holds_the_group_back_at_most_max_wait() -> None:
    groups: list[int] = []
    committer = GroupCommitter(lambda g: groups.append(len(g)), max_rows=10**6,
                               max_batches=100, in_flight=2, max_wait_s=0.05)
    committer.enter("computing")  # never sends (slow, or its process died)
    committer.enter("t")
    assert committer.submit(frame(1), "a", "t").outcome is Outcome.COMMITTED and groups == [1]


def test_a_failed_group_hands_each_batch_back() -> None:
    def fail(group: list[Pending]) -> None:
        raise ValueError(f"refused {len(group)}")

    committer = GroupCommitter(fail, max_rows=10**6, max_batches=2, in_flight=2,
                               max_wait_s=LONG)
    both = submit_all(committer, [(1, "a"), (1, "b")])
    # several batches: each is tried alone by its caller (the error may be another batch's)
    assert [(p.outcome, p.error) for p in both] == [(Outcome.FAILED, None)] * 2
    alone = GroupCommitter(fail, max_rows=1, max_batches=2, in_flight=2, max_wait_s=LONG)
    one = alone.submit(frame(1), "a")
    # the batch alone: its error is kept, so that it is not tried a second time
    assert one.outcome is Outcome.FAILED and str(one.error) == "refused 1"


def test_a_key_already_committing_is_not_queued_again() -> None:
    release = threading.Event()
    started = threading.Event()
    seen: list[str] = []

    def slow(group: list[Pending]) -> None:
        seen.extend(p.key for p in group)
        started.set()
        assert release.wait(LONG)

    committer = GroupCommitter(slow, max_rows=1, max_batches=1, in_flight=2, max_wait_s=LONG)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(committer.submit, frame(1), "k")
        assert started.wait(LONG)
        second = pool.submit(committer.submit, frame(1), "k")  # a retried call, same batch
        for _ in range(3000):  # until the second call waits for the first batch's commit
            if committer.callers == 2:
                break
            threading.Event().wait(0.01)
        assert committer.callers == 2
        release.set()
        assert first.result().outcome is Outcome.COMMITTED
        assert second.result().outcome is Outcome.DUPLICATE
    assert seen == ["k"] and committer.commits == 1


def test_the_wait_is_bounded_by_the_previous_commit() -> None:
    now = [0.0]
    committer = GroupCommitter(lambda g: None, max_rows=10**6, max_batches=100, in_flight=2,
                               max_wait_s=LONG, min_wait_s=0.1, clock=lambda: now[0])
    committer.enter("slow")  # computing, never blocked
    committer.enter("t")
    committer._first_at, committer._waiting = 0.0, [Pending(frame(1), "a", task="t")]
    assert committer._due() == LONG  # no commit seen yet: up to max_wait_s
    committer._last_commit_s = 0.5
    assert committer._due() == 0.5  # no longer than the transaction a wait could save
    committer._last_commit_s = 0.01
    assert committer._due() == 0.1  # but min_wait_s


def test_the_first_group_waits_for_the_expected_tasks() -> None:
    groups: list[list[str]] = []
    committer = GroupCommitter(lambda g: groups.append(sorted(p.key for p in g)),
                               max_rows=10**6, max_batches=100, in_flight=1, max_wait_s=LONG,
                               expected_tasks=2)
    committer.enter("t1")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(committer.submit, frame(1), "a", "t1")  # blocked, but alone
        for _ in range(3000):
            if committer.callers == 1:
                break
            threading.Event().wait(0.01)
        committer.enter("t2")  # Ray started the second task later
        second = pool.submit(committer.submit, frame(1), "b", "t2")
        assert first.result().outcome is second.result().outcome is Outcome.COMMITTED
    assert groups == [["a", "b"]]
