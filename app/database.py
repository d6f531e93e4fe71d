"""Engine set-up and the write transaction every state-changing service runs in."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: writers then queue per process only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, scoped_session

SQLITE_BUSY_TIMEOUT_MS = 30_000

# Services accept the request's scoped session as well as a plain one.
SessionLike = Session | scoped_session[Any]


def configure_engine(engine: Engine) -> None:
    """On SQLite: WAL, a busy timeout, foreign keys, and BEGIN under our control.

    pysqlite opens transactions lazily and only before DML, which lets two writers both
    read a stale count and then collide; we emit BEGIN ourselves so a write transaction
    can start IMMEDIATE and hold the write lock from its first statement.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


# Per thread: how many writer turns it holds, and what waits for the last one to end.
_turns = threading.local()


def after_write_turn(action: Callable[[], object]) -> None:
    """Run `action` when this thread's SQLite writer turn ends, or now if it holds none.

    For work that follows a commit but must not keep the other writers waiting (a network
    call: waking the mail workers through Redis).
    """
    if getattr(_turns, "held", 0):
        _turns.after.append(action)
    else:
        action()


def _turn_taken() -> None:
    if not getattr(_turns, "held", 0):
        _turns.held, _turns.after = 0, []
    _turns.held += 1


def _turn_given_back() -> None:
    _turns.held -= 1
    if _turns.held:
        return
    actions, _turns.after = _turns.after, []
    for action in actions:
        action()


class SQLiteWriterQueue:
    """Writers of one SQLite file take turns in the kernel, not in SQLite's busy handler.

    SQLite lets one writer in at a time; the others poll, sleeping 1 to 100 ms between
    tries, so under a burst of sign-ups most of the wait is sleep after the lock is free
    already, and the unluckiest wait longest. Here a writer first takes a thread lock (its
    worker's other threads) and an flock on a file beside the database (the other worker
    processes); both wake the next writer as soon as the previous one commits. SQLite's own
    lock still decides; writers outside `write_transaction` simply poll as before. The
    kernel drops an flock when its process dies, so a killed worker blocks nobody.
    """

    def __init__(self, database_path: str) -> None:
        self.lock_path = database_path + "-writers.lock"
        self._thread_lock = threading.Lock()
        self._local = threading.local()
        self._descriptor: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # Opened per process: after a fork, a shared open file would share the lock too.
        if self._descriptor is None or self._pid != os.getpid():
            self._descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._descriptor

    @contextmanager
    def turn(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:  # already this thread's turn
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        taken = False
        try:
            with self._thread_lock:
                descriptor = self._file() if fcntl is not None else None
                if descriptor is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                self._local.depth = 1
                _turn_taken()
                taken = True
                try:
                    yield
                finally:
                    self._local.depth = 0
                    if descriptor is not None:
                        fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            if taken:  # after both locks are released: the next writer is already in
                _turn_given_back()


_writer_queues: dict[str, SQLiteWriterQueue] = {}
_writer_queues_lock = threading.Lock()


def writer_turn(engine: Engine) -> AbstractContextManager[None]:
    """The writers' queue of a SQLite file, for a write transaction outside a session."""
    queue = _writer_queue(engine)
    return queue.turn() if queue is not None else nullcontext()


def _writer_queue(bind: Engine | Connection) -> SQLiteWriterQueue | None:
    url = bind.engine.url if hasattr(bind, "engine") else None
    if url is None or url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    path = os.path.abspath(url.database)
    with _writer_queues_lock:
        queue = _writer_queues.get(path)
        if queue is None:
            queue = _writer_queues[path] = SQLiteWriterQueue(path)
        return queue


def end_read_transaction(session: SessionLike) -> Session:
    """End the transaction the session has open (reads only, by then): on SQLite it would
    keep its snapshot, and miss what is written next. Returns the session itself."""
    real_session = session() if isinstance(session, scoped_session) else session
    if real_session.in_transaction():
        session.commit()
    return real_session


@contextmanager
def write_transaction(session: SessionLike) -> Iterator[Session]:
    """One short transaction that takes the write lock up front (SQLite) and commits once.

    Any read transaction the request had open is ended first: decisions must rest on rows
    read inside this transaction. What was read before it may stand in for them only once a
    read inside has shown it unchanged (as `register()` does with the event's `updated_at`).
    """
    real_session = end_read_transaction(session)
    queue = _writer_queue(real_session.get_bind())
    with queue.turn() if queue is not None else nullcontext():
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield real_session
            session.commit()
        except BaseException:
            session.rollback()
            raise

