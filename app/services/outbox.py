"""Delivery of queued messages: claim, send outside the transaction, record the outcome.

Life cycle of an outbox row::

    pending --claim--> sending --accepted--> sent
       ^                  |  \\--refused for good, or attempts used up--> parked
       |                  |                                                 |
       +----failed: backoff with jitter (next_attempt_at)                    |
       +----claim older than MAIL_CLAIM_TIMEOUT_SECONDS (worker died)        |
       +----an administrator presses "retry" in /console/outbox <-----------+

* Claiming is SELECT ... LIMIT n FOR UPDATE SKIP LOCKED, then UPDATE ... SET status =
  'sending' ... RETURNING for exactly those ids, in one transaction: on PostgreSQL two
  workers skip each other's rows, on SQLite the write lock (BEGIN IMMEDIATE) serialises the
  claims. Either way a row is claimed by one worker only. Not the one-statement form
  UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED): PostgreSQL may run
  that subquery again for every row it updates, and as rows the statement already changed
  count as locked, each run yields the next n rows (a LIMIT 3 claim took all 20 in a test).
* Sending happens after the claim committed, so no transaction (and no lock) is held while
  talking to a slow server; each outcome is then written in its own short transaction,
  conditional on the row still being claimed by this worker.
* A message is marked sent only after the server accepted it. The one window left is a
  worker dying between acceptance and that write: the claim then expires and the message
  goes again, with the same Message-ID (see mailer.message_id). Exactly-once over SMTP does
  not exist; this keeps "at least once" to that window.
* A sign-up's first message is queued unrendered (app/services/messages.py): the claim
  renders the oldest such rows first, in its transaction, so no row is ever claimed
  without its text.
* Messages to one registration go out in the order they were queued: a message waits while
  an older one to the same registration is pending or being sent. A cancellation must not
  overtake the invitation it cancels (Google ignores a CANCEL for an event it never saw,
  then files the late REQUEST).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from app.database import SessionLike, write_transaction
from app.models import OutboxMessage, User
from app.models.enums import OutboxStatus
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.mailer import DeliveryError, Outgoing, Sender
from app.services.messages import render_queued

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, PARKED = (
    OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.PARKED
)


class OutboxError(DomainError):
    code = "outbox_error"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=6)
    claim_timeout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        return cls(
            max_attempts=int(config["MAIL_MAX_ATTEMPTS"]),
            base_delay=timedelta(seconds=float(config["MAIL_RETRY_BASE_SECONDS"])),
            max_delay=timedelta(seconds=float(config["MAIL_RETRY_MAX_SECONDS"])),
            claim_timeout=timedelta(seconds=float(config["MAIL_CLAIM_TIMEOUT_SECONDS"])),
        )

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """Exponential in the number of attempts, capped, times 0.5–1.0 ("equal jitter"), so
        messages that failed together during an outage do not all come back at once."""
        exponential = min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        return exponential * (0.5 + jitter / 2)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    parked: int = 0
    released: int = 0  # claimed but not tried: server unreachable, or the worker stopping
    reclaimed: int = 0  # stale claims of dead workers, put back
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.parked + self.released


def worker_name() -> str:
    """Unique per call: threads of one process must not share a claim."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"[:100]


_SNAPSHOT = (
    OutboxMessage.id,
    OutboxMessage.kind,
    OutboxMessage.recipient,
    OutboxMessage.language,
    OutboxMessage.subject,
    OutboxMessage.body_text,
    OutboxMessage.payload,
    OutboxMessage.created_at,
    OutboxMessage.attempts,
)


def _reclaim_stale(session: SessionLike, policy: RetryPolicy, now: datetime) -> int:
    """Claims older than the timeout belong to dead workers: that try counts as an attempt."""
    stale = (OutboxMessage.status == SENDING, OutboxMessage.claimed_at < now - policy.claim_timeout)
    reason = "the worker stopped while sending (claim expired); the message may have gone out"
    parked = session.execute(
        update(OutboxMessage)
        .where(*stale, OutboxMessage.attempts + 1 >= policy.max_attempts)
        .values(status=PARKED, attempts=OutboxMessage.attempts + 1, last_error=reason)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    retried = session.execute(
        update(OutboxMessage)
        .where(*stale)
        .values(status=PENDING, attempts=OutboxMessage.attempts + 1, last_error=reason,
                next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(parked) + int(retried)


def _claim(
    session: SessionLike, worker: str, limit: int, now: datetime
) -> list[tuple[Outgoing, int]]:
    candidate, older = aliased(OutboxMessage), aliased(OutboxMessage)
    earlier_unsent = (
        select(older.id)
        .where(
            older.registration_id == candidate.registration_id,
            older.id < candidate.id,
            older.status.in_([PENDING, SENDING]),
        )
        .exists()
    )
    due = session.execute(
        select(candidate.id)
        # An unrendered row (its subject empty) waits for the next claim's rendering.
        .where(candidate.status == PENDING, candidate.next_attempt_at <= now,
               candidate.subject != "", ~earlier_unsent)
        .order_by(candidate.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    if not due:
        return []
    rows = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due), OutboxMessage.status == PENDING)
        .values(status=SENDING, claimed_at=now, claimed_by=worker)
        .returning(*_SNAPSHOT)
        .execution_options(synchronize_session=False)
    ).all()
    claimed = [
        (Outgoing(row.id, row.kind, row.recipient, row.language, row.subject, row.body_text,
                  dict(row.payload or {}), row.created_at), int(row.attempts))
        for row in rows
    ]
    return sorted(claimed, key=lambda item: item[0].id)


def claim_due(
    session: SessionLike, policy: RetryPolicy, *, worker: str, limit: int,
    now: datetime | None = None,
) -> tuple[list[tuple[Outgoing, int]], int]:
    """Take back stale claims, render sign-up messages queued unrendered, then claim up to
    `limit` due messages (with their attempts)."""
    now = now or utcnow()
    with write_transaction(session):
        reclaimed = _reclaim_stale(session, policy, now)
        render_queued(session, limit=limit, skip_locked=True)
        return _claim(session, worker, limit, now), reclaimed


def _finish(session: SessionLike, message_id: int, worker: str, **values: Any) -> bool:
    with write_transaction(session):
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING,
                   OutboxMessage.claimed_by == worker)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if not result.rowcount:  # type: ignore[attr-defined]
        log.warning("outbox: message %s was taken back from %s before it finished",
                    message_id, worker)
        return False
    return True


def deliver_pending(
    session: SessionLike,
    sender: Sender,
    *,
    policy: RetryPolicy | None = None,
    limit: int = 50,
    now: Callable[[], datetime] = utcnow,
    jitter: Callable[[], float] = random.random,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Claim due messages and hand them to `sender`; closes the sender at the end.

    When `stop` is set (SIGTERM), the message being sent is finished and recorded and the
    rest of the batch is put back at once, so a stopping worker leaves no claim behind.
    """
    policy = policy or RetryPolicy()
    worker = worker_name()
    report = DeliveryReport()
    batch, report.reclaimed = claim_due(session, policy, worker=worker, limit=limit, now=now())
    try:
        for position, (outgoing, attempts) in enumerate(batch):
            if stop is not None and stop.is_set():
                _release(session, batch[position:], worker, now(), "the worker stopped",
                         report)
                break
            try:
                sender.send(outgoing)
            except DeliveryError as error:
                retry_at = _record_failure(session, outgoing.id, worker, attempts + 1, error,
                                           policy, now(), jitter(), report)
                if error.connection:
                    _release(session, batch[position + 1:], worker, retry_at, str(error),
                             report)
                    break
            except Exception as error:  # a worker must outlive one broken message
                log.exception("outbox: message %s could not be sent", outgoing.id)
                _record_failure(session, outgoing.id, worker, attempts + 1,
                                DeliveryError(f"{type(error).__name__}: {error}"),
                                policy, now(), jitter(), report)
            else:
                if _finish(session, outgoing.id, worker, status=SENT, sent_at=now(),
                           attempts=attempts + 1, last_error=""):
                    report.sent += 1
    finally:
        sender.close()
    return report


def _record_failure(
    session: SessionLike, message_id: int, worker: str, attempts: int, error: DeliveryError,
    policy: RetryPolicy, now: datetime, jitter: float, report: DeliveryReport,
) -> datetime:
    reason = str(error)[:2000]
    report.errors.append(f"#{message_id}: {reason}")
    log.warning("outbox: message %s failed (attempt %s): %s", message_id, attempts, reason)
    retry_at = now + policy.delay(attempts, jitter)
    if error.permanent or attempts >= policy.max_attempts:
        if _finish(session, message_id, worker, status=PARKED, attempts=attempts,
                   last_error=reason):
            report.parked += 1
        return retry_at
    if _finish(session, message_id, worker, status=PENDING, attempts=attempts,
               last_error=reason, next_attempt_at=retry_at):
        report.retrying += 1
    return retry_at


def _release(
    session: SessionLike, rest: list[tuple[Outgoing, int]], worker: str, retry_at: datetime,
    reason: str, report: DeliveryReport,
) -> None:
    """Put back what this batch did not try: no attempt is counted against those."""
    for outgoing, _attempts in rest:
        if _finish(session, outgoing.id, worker, status=PENDING, next_attempt_at=retry_at,
                   last_error=f"not tried: {reason}"[:2000]):
            report.released += 1


# --------------------------------------------------------------------------- #
# The worker loop
# --------------------------------------------------------------------------- #


def run_worker(
    session: SessionLike,
    make_sender: Callable[[], Sender],
    stop: threading.Event,
    *,
    policy: RetryPolicy,
    batch: int = 50,
    poll_seconds: float = 2.0,
    between_batches: Callable[[], None] | None = None,
    on_report: Callable[[DeliveryReport], None] | None = None,
) -> None:
    """Deliver until `stop` is set; a full batch is followed at once by the next one.

    `between_batches` runs before each batch (the CLI queues due reminders there). A
    database outage is logged and waited out, never fatal. An idle worker looks again
    every `poll_seconds`: the outbox table is the queue, so a message committed meanwhile
    is found on the next look, whichever process wrote it.
    """

    while not stop.is_set():
        try:
            if between_batches is not None:
                between_batches()
            report = deliver_pending(session, make_sender(), policy=policy, limit=batch,
                                     stop=stop)
        except SQLAlchemyError:
            log.exception("outbox: database error; retrying in %s s", poll_seconds)
            session.rollback()
            stop.wait(poll_seconds)
            continue
        if on_report is not None and (report.claimed or report.reclaimed):
            on_report(report)
        if report.released:
            # The server could not be reached: wait the interval out, so that a stream of
            # sign-ups does not knock on a server that just turned the worker away.
            stop.wait(poll_seconds)
        elif report.claimed < batch:
            stop.wait(poll_seconds)


# --------------------------------------------------------------------------- #
# Administration
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class OutboxOverview:
    counts: dict[OutboxStatus, int]
    retrying: int  # pending after at least one failed attempt
    oldest_pending: datetime | None
    parked: list[OutboxMessage]
    failing: list[OutboxMessage]


def overview(session: SessionLike, *, limit: int = 100) -> OutboxOverview:
    counts = {status: 0 for status in OutboxStatus}
    for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        counts[status] = int(count)
    waiting = (OutboxMessage.status == PENDING, OutboxMessage.attempts > 0)
    retrying = session.execute(select(func.count(OutboxMessage.id)).where(*waiting)).scalar_one()
    oldest = session.execute(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == PENDING)
    ).scalar_one()
    parked = session.execute(
        select(OutboxMessage).where(OutboxMessage.status == PARKED)
        .order_by(OutboxMessage.id.desc()).limit(limit)
    ).scalars().all()
    failing = session.execute(
        select(OutboxMessage).where(*waiting).order_by(OutboxMessage.id).limit(limit)
    ).scalars().all()
    return OutboxOverview(counts, int(retrying), oldest, list(parked), list(failing))


def retry_parked(session: SessionLike, message_id: int, actor: User,
                 *, now: datetime | None = None) -> OutboxMessage:
    """An administrator sends a parked message again, with a fresh set of attempts."""
    now = now or utcnow()
    with write_transaction(session):
        message = session.get(OutboxMessage, message_id, populate_existing=True,
                              with_for_update=True)
        if message is None:
            raise NotFound(_l("This message does not exist."))
        if message.status is not PARKED:
            raise OutboxError(_l("Only parked messages can be retried."))
        record(session, actor, "outbox.retry", message, event_id=message.event_id,
               details={"attempts": message.attempts, "last_error": message.last_error[:200]})
        message.status = PENDING
        message.attempts = 0
        message.next_attempt_at = now
        message.claimed_at = None
        message.claimed_by = None
    return message
