"""The outbox's doorbell: a Redis list that wakes mail workers as soon as a message is queued.

The database stays the queue and the source of truth: a message is a row, written in the
same transaction as the change it reports, and workers claim rows (app/services/outbox.py).
Redis only carries a signal, "something was queued", so that a worker waiting for its next
poll looks at once. Losing a signal costs at most one poll interval; a signal with nothing
behind it costs one empty claim. That is why every Redis error here is logged and ignored.

* ``ring()`` runs after COMMIT of a transaction that inserted outbox rows (never before:
  the woken worker must see the row; never after a rollback). It LPUSHes a token and
  LTRIMs the list to a few entries, so a burst of sign-ups with no worker running cannot
  grow it.
* ``wait(timeout, stop)`` blocks in BLPOP, in slices of at most a second so a stopping
  worker (SIGTERM sets `stop`) ends promptly, then empties the list: one wake-up covers
  every commit made before it, since the claim that follows sees all of them. A commit made
  after the emptying pushes a new token. With several workers, each token wakes one
  of them; whoever is busy finds the token when it next waits.
* Without ``REDIS_URL`` the doorbell is silent and ``wait`` is ``stop.wait(timeout)``: the
  worker polls every `--interval` seconds, as it always did.

No Flask here beyond the edges: ``init_app`` reads the app's settings, and the commit hook
finds the app's doorbell through ``current_app``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from app.database import SessionLike, after_write_turn

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

DEFAULT_KEY = "tsudoi:outbox:ready"
# More tokens than this carry no more information than one: "look at the outbox".
MAX_TOKENS = 16
# Short: a ring runs inside a request, after its commit.
SOCKET_TIMEOUT_SECONDS = 0.5
# BLPOP is cut into slices this long so that `stop` is noticed within about a second.
WAIT_SLICE_SECONDS = 1.0
# After a failed ring, requests skip Redis for this long instead of each paying the timeout
# while Redis is unreachable; workers poll meanwhile.
RING_COOLDOWN_SECONDS = 10.0
WARNING_INTERVAL_SECONDS = 60.0

EXTENSION_KEY = "tsudoi.job_signal"
# session.info flag: this transaction inserted outbox rows.
QUEUED_MARK = "tsudoi.outbox_queued"


class Doorbell:
    """One per process (the app keeps it in `app.extensions`); thread-safe.

    `url=None` makes a silent doorbell: `ring` does nothing, `wait` just waits.
    """

    def __init__(self, url: str | None, *, key: str = DEFAULT_KEY, cap: int = MAX_TOKENS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.key = key
        self.cap = cap
        self._clock = clock
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None  # for ring: short socket timeout
        self._waiter: redis.Redis | None = None  # for BLPOP: a timeout above one slice
        self._ring_paused_until = 0.0
        self._warned_at: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    # -- the web side ---------------------------------------------------------------------

    def ring(self) -> bool:
        """Tell a waiting worker that something was queued; False if Redis was not told."""
        if not self.url or self._clock() < self._ring_paused_until:
            return False
        import redis

        try:
            pipe = self._redis(blocking=False).pipeline(transaction=False)
            pipe.lpush(self.key, "1")
            pipe.ltrim(self.key, 0, self.cap - 1)
            pipe.execute()
        except redis.RedisError as error:
            self._ring_paused_until = self._clock() + RING_COOLDOWN_SECONDS
            self._warn("ring", error)
            return False
        return True

    # -- the worker side ------------------------------------------------------------------

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Wait up to `timeout` seconds for a ring; True if woken by one.

        Returns early, with False, when `stop` is set. If Redis fails, the rest of the
        timeout is waited out on `stop` alone: the worker falls back to polling.
        """
        if not self.url:
            stop.wait(timeout)
            return False
        import redis

        deadline = self._clock() + timeout
        while not stop.is_set():
            remaining = deadline - self._clock()
            # BLPOP's timeout 0 means "for ever": never let a rounding error get there.
            if remaining < 0.01:
                return False
            try:
                waiter = self._redis(blocking=True)
                if waiter.blpop([self.key], timeout=min(WAIT_SLICE_SECONDS, remaining)):
                    # Every token pushed so far is answered by the claim that follows.
                    waiter.delete(self.key)
                    return True
            except redis.RedisError as error:
                self._warn("wait", error)
                stop.wait(max(deadline - self._clock(), 0.0))
                return False
        return False

    # -- plumbing -------------------------------------------------------------------------

    def _redis(self, *, blocking: bool) -> redis.Redis:
        """Built on first use (after a fork, never before), then shared by every thread."""
        with self._lock:
            client = self._waiter if blocking else self._client
            if client is None:
                client = self._connect(blocking)
                if blocking:
                    self._waiter = client
                else:
                    self._client = client
            return client

    def _connect(self, blocking: bool) -> redis.Redis:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        assert self.url
        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_timeout=WAIT_SLICE_SECONDS + 1.0 if blocking else SOCKET_TIMEOUT_SECONDS,
            # No retries: the library's default (three, with backoff) would hold a request
            # for seconds while Redis is unreachable. The pool already replaces a connection
            # that Redis closed (a restart) when it hands it out.
            retry=Retry(NoBackoff(), 0),
        )

    def _warn(self, action: str, error: Exception) -> None:
        """At most once a minute: a Redis outage must not flood the log."""
        now = self._clock()
        with self._lock:
            if self._warned_at is not None and now - self._warned_at < WARNING_INTERVAL_SECONDS:
                return
            self._warned_at = now
        # The error names the host and port, never a message or an address.
        log.warning("job signal: Redis %s failed (%s: %s); mail workers poll until it is "
                    "back", action, type(error).__name__, error)

    def close(self) -> None:
        with self._lock:
            for client in (self._client, self._waiter):
                if client is not None:
                    client.close()
            self._client = self._waiter = None


SILENT = Doorbell(None)


# --------------------------------------------------------------------------- #
# Ringing after commit
# --------------------------------------------------------------------------- #


def mark_queued(session: SessionLike) -> None:
    """Ring after this transaction commits. Inserts of OutboxMessage through the session
    (ORM objects, `session.execute(insert(OutboxMessage), ...)`) mark it by themselves; call
    this for rows written some other way, e.g. on `session.connection()`."""
    session.info[QUEUED_MARK] = True


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    from app.models import OutboxMessage

    # session.new still lists what this flush inserted.
    if any(isinstance(instance, OutboxMessage) for instance in session.new):
        session.info[QUEUED_MARK] = True


def _do_orm_execute(state: ORMExecuteState) -> None:
    from app.models import OutboxMessage

    # insert(OutboxMessage) and insert(OutboxMessage.__table__) through session.execute;
    # the ORM's statement carries an annotated copy of the table, hence the name.
    table = getattr(state.statement, "table", None) if state.is_insert else None
    if getattr(table, "name", None) == OutboxMessage.__tablename__:
        state.session.info[QUEUED_MARK] = True


def note_queued(session: SessionLike) -> None:
    """Outbox rows were inserted on the session's connection, where no session hook sees them."""
    session.info[QUEUED_MARK] = True


def _after_commit(session: Session) -> None:
    # Also sent when a SAVEPOINT is released: the real COMMIT is still to come.
    if session.in_nested_transaction() or not session.info.get(QUEUED_MARK):
        return
    session.info.pop(QUEUED_MARK, None)
    ring_committed()


def ring_committed() -> None:
    """Ring for outbox rows just committed outside a session's transaction (or by it)."""
    if has_app_context():
        # On SQLite the commit may end inside a writer's turn: ring once it is over, so a
        # slow Redis never keeps the other writers waiting.
        doorbell = doorbell_for(current_app)
        after_write_turn(doorbell.ring)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction is over (committed, rolled back or closed): forget the mark,
    # so rows that were rolled back never ring. A rolled-back SAVEPOINT keeps it: rows
    # queued before it still stand (at worst one ring finds nothing).
    if transaction.parent is None:
        session.info.pop(QUEUED_MARK, None)


_LISTENERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("after_flush", _after_flush),
    ("do_orm_execute", _do_orm_execute),
    ("after_commit", _after_commit),
    ("after_transaction_end", _after_transaction_end),
)


def listen(target: Any) -> None:
    """Attach the commit hooks to a session, session class, sessionmaker or scoped_session
    (once: attaching twice would ring twice)."""
    for name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)


def init_app(app: Flask) -> None:
    """With REDIS_URL: give the app its doorbell and ring after commits that queue mail."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    from app.extensions import db

    app.extensions[EXTENSION_KEY] = Doorbell(
        str(url), key=str(app.config.get("JOB_SIGNAL_KEY") or DEFAULT_KEY))
    # db.session is shared by every app in the process; the hook looks up the doorbell of
    # the app whose context it runs in, and does nothing for apps without one.
    listen(db.session)


def doorbell_for(app: Flask) -> Doorbell:
    doorbell = app.extensions.get(EXTENSION_KEY)
    return doorbell if isinstance(doorbell, Doorbell) else SILENT
