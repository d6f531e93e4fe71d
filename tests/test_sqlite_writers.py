"""SQLite writers take turns through the writer queue: one at a time across the threads of a
worker and across worker processes, and nobody is blocked by a writer that died."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from app.database import SQLiteWriterQueue

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")


def _hold_turn(lock_base: str, hold_seconds: float, log_path: str) -> None:
    queue = SQLiteWriterQueue(lock_base)
    with queue.turn():
        started = time.monotonic()
        time.sleep(hold_seconds)
        with open(log_path, "a") as log:
            log.write(f"{started} {time.monotonic()}\n")


def _overlaps(spans: list[tuple[float, float]]) -> bool:
    ordered = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ordered))


def test_threads_of_one_worker_take_turns(tmp_path: Path) -> None:
    queue = SQLiteWriterQueue(str(tmp_path / "tsudoi.sqlite3"))
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        with queue.turn():
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.005)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=write) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert Path(queue.lock_path).exists()


def test_a_nested_turn_of_the_same_thread_does_not_wait_for_itself(tmp_path: Path) -> None:
    queue = SQLiteWriterQueue(str(tmp_path / "tsudoi.sqlite3"))
    with queue.turn(), queue.turn():
        pass
    with queue.turn():  # and the turn was given back
        pass


def test_worker_processes_take_turns(tmp_path: Path) -> None:
    base, log = str(tmp_path / "tsudoi.sqlite3"), str(tmp_path / "spans.log")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hold_turn, args=(base, 0.2, log)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    spans = [tuple(map(float, line.split())) for line in Path(log).read_text().splitlines()]
    assert len(spans) == 3
    assert not _overlaps(spans)  # type: ignore[arg-type]


def test_a_killed_writer_blocks_nobody(tmp_path: Path) -> None:
    base, log = str(tmp_path / "tsudoi.sqlite3"), str(tmp_path / "spans.log")
    context = multiprocessing.get_context("fork")
    stuck = context.Process(target=_hold_turn, args=(base, 60, log))
    stuck.start()
    deadline = time.monotonic() + 5
    while not Path(base + "-writers.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # it holds the turn now
    stuck.kill()
    stuck.join(timeout=5)
    started = time.monotonic()
    with SQLiteWriterQueue(base).turn():
        pass
    assert time.monotonic() - started < 2


def test_work_after_a_commit_waits_for_the_end_of_the_turn(tmp_path: Path) -> None:
    from app.database import after_write_turn

    queue = SQLiteWriterQueue(str(tmp_path / "tsudoi.sqlite3"))
    done: list[str] = []

    def note(label: str) -> None:
        # Run once the turn is over: another writer could take it right now.
        free = queue._thread_lock.acquire(blocking=False)
        if free:
            queue._thread_lock.release()
        done.append(f"{label}, {'free' if free else 'held'}")

    after_write_turn(lambda: note("outside"))  # no turn held: at once
    with queue.turn():
        with queue.turn():
            after_write_turn(lambda: note("inner"))
        after_write_turn(lambda: note("last"))
        assert done == ["outside, free"]
    assert done == ["outside, free", "inner, free", "last, free"]
    with queue.turn():  # the turn was given back
        pass
