"""Engine set-up and the write transaction every state-changing service runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
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
    read inside this transaction. On SQLite it begins IMMEDIATE, so writers queue for the
    file's lock (each waits up to the busy timeout) before reading what they decide on.
    """
    real_session = end_read_transaction(session)
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    try:
        yield real_session
        session.commit()
    except BaseException:
        session.rollback()
        raise
