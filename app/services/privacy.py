"""Personal data is kept only as long as it is needed, then anonymised; figures stay.

Two ways in:

* `purge_ended_events`: every event that ended more than the retention period ago
  (PRIVACY_RETENTION_DAYS, default 180) loses the personal data of its registrations and
  of its attendance reports (`flask privacy purge`, run daily);
* `delete_own_data`: a participant deletes their registration from the manage page; an
  active registration is cancelled first, so the seat goes to the next person waiting.

The purge also deletes the sign-ups that waited for their address to be confirmed and whose
link expired (app/services/email_confirmation.py), with the e-mails of such links.

Anonymising replaces name, furigana, e-mail, organisation name, free-text answers and the
manage key with neutral values; what the statistics need stays: status, attendance mode,
prefecture, municipality, organisation type, answers to choice questions, breakout
preferences, timestamps, check-ins and attendance minutes. The manage, feed and join links
are all derived from the manage key, so replacing it makes every link of the registration
dead. Each anonymised registration gets its own placeholder address,
``deleted-<id>@invalid``: the unique index on (event, e-mail) of active registrations holds,
and ``.invalid`` is a reserved domain that the sign-up form refuses, so no real address
looks like one. That placeholder also marks the row as done, which makes the purge
idempotent: a second run finds nothing left to do and writes no audit entry.

Messages in the outbox carry the same data: those not sent yet are deleted (nobody is to be
written to after asking to be forgotten), the others keep their subject and dates only.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, not_, or_, select, update

from app.database import SessionLike, write_transaction
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    Event,
    ImportBatch,
    OutboxMessage,
    Question,
    Registration,
)
from app.models.enums import MessageKind, OutboxStatus, QuestionKind
from app.orm import utcnow
from app.services import email_confirmation
from app.services.audit import record
from app.services.errors import NotFound
from app.services.registration import cancel_in_transaction
from app.services.tokens import new_manage_key, token_hash

DEFAULT_RETENTION_DAYS = 180
ANONYMOUS_NAME = "—"
PLACEHOLDER_DOMAIN = "@invalid"
SCRUBBED_RECIPIENT = "deleted" + PLACEHOLDER_DOMAIN
# Bulk updates go by primary key in chunks, so a 10,000-person event is a few statements.
CHUNK = 500
UNSENT = (OutboxStatus.PENDING, OutboxStatus.PARKED)


def placeholder_email(registration_id: int) -> str:
    return f"deleted-{registration_id}{PLACEHOLDER_DOMAIN}"


def is_anonymised(registration: Registration) -> bool:
    return registration.email_normalized == placeholder_email(registration.id)


@dataclass(frozen=True)
class PurgeCounts:
    registrations: int = 0
    attendance_records: int = 0  # names and addresses from Zoom/Teams reports
    messages: int = 0  # deleted (unsent) or emptied (sent)
    files: int = 0  # uploaded registrant lists and attendance reports
    pending_signups: int = 0  # sign-ups whose address was never confirmed, link expired

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    events: int  # events that had personal data left
    counts: PurgeCounts  # a dry run counts registrations only


def _not_anonymised() -> Any:
    return not_(Registration.email_normalized.like(f"deleted-%{PLACEHOLDER_DOMAIN}"))


def _choice_keys(session: SessionLike, event_id: int) -> set[str]:
    """Answers to choice questions are figures (how many chose what); free text may say
    anything about anyone, so it goes."""
    return set(session.execute(
        select(Question.key).where(
            Question.event_id == event_id,
            Question.kind.in_([QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE]),
        )
    ).scalars())


def _anonymous_values(registration_id: int, answers: dict[str, Any], choice_keys: set[str]
                      ) -> dict[str, Any]:
    email = placeholder_email(registration_id)
    return {
        "id": registration_id,
        "name": ANONYMOUS_NAME,
        "furigana": "",
        "furigana_key": "",
        "email": email,
        "email_normalized": email,
        "organization_name": "",
        "answers": {key: value for key, value in (answers or {}).items() if key in choice_keys},
        # A fresh random key and the hash of a token nobody holds: every link is dead.
        "manage_key": new_manage_key(),
        "manage_token_hash": token_hash(secrets.token_urlsafe(32)),
    }


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _scrub_messages(session: SessionLike, condition: Any) -> int:
    """Unsent messages go; sent ones keep their kind, subject and dates only."""
    deleted = session.execute(
        delete(OutboxMessage).where(condition, OutboxMessage.status.in_(UNSENT))
        .execution_options(synchronize_session=False))
    scrubbed = session.execute(
        update(OutboxMessage).where(condition)
        .values(recipient=SCRUBBED_RECIPIENT, body_text="", payload={}, last_error="")
        .execution_options(synchronize_session=False))
    return int(deleted.rowcount) + int(scrubbed.rowcount)  # type: ignore[attr-defined]


def _scrub_attendance(session: SessionLike, condition: Any) -> int:
    """Names and addresses as a Zoom or Teams report wrote them; the minutes stay."""
    result = session.execute(
        update(AttendanceRecord)
        .where(condition, or_(AttendanceRecord.raw_name != "", AttendanceRecord.raw_email != ""))
        .values(raw_name="", raw_email="")
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _anonymise(session: SessionLike, event_id: int, rows: Sequence[tuple[int, dict[str, Any]]]
               ) -> tuple[int, int]:
    """Anonymise these registrations of one event; returns (attendance rows, messages)."""
    if not rows:
        return 0, 0
    choice_keys = _choice_keys(session, event_id)
    session.execute(update(Registration), [
        _anonymous_values(registration_id, answers, choice_keys)
        for registration_id, answers in rows
    ])
    ids = [registration_id for registration_id, _answers in rows]
    attendance = messages = 0
    for chunk in _chunks(ids):
        attendance += _scrub_attendance(session, AttendanceRecord.registration_id.in_(chunk))
        messages += _scrub_messages(session, OutboxMessage.registration_id.in_(chunk))
    return attendance, messages


# --------------------------------------------------------------------------------------------
# The retention period: `flask privacy purge`
# --------------------------------------------------------------------------------------------


def _purge_event(session: SessionLike, event: Event) -> PurgeCounts:
    """One event, inside the caller's transaction."""
    rows = [(row.id, row.answers) for row in session.execute(
        select(Registration.id, Registration.answers)
        .where(Registration.event_id == event.id, _not_anonymised())
        .order_by(Registration.id))]
    attendance, messages = _anonymise(session, event.id, rows)
    # What is not tied to a registration: guests and hosts in imported reports, messages
    # whose registration is gone, and uploaded files still waiting for a decision.
    attendance += _scrub_attendance(session, AttendanceRecord.event_id == event.id)
    messages += _scrub_messages(session, (OutboxMessage.event_id == event.id)
                                & OutboxMessage.registration_id.is_(None)
                                & (OutboxMessage.recipient != SCRUBBED_RECIPIENT))
    staged = session.execute(
        update(AttendanceImport)
        .where(AttendanceImport.event_id == event.id, func.length(AttendanceImport.content) > 0)
        .values(content=b"").execution_options(synchronize_session=False))
    uploads = session.execute(
        delete(ImportBatch).where(ImportBatch.event_id == event.id)
        .execution_options(synchronize_session=False))
    files = int(staged.rowcount) + int(uploads.rowcount)  # type: ignore[attr-defined]
    return PurgeCounts(len(rows), attendance, messages, files)


def _pending_events(session: SessionLike, cutoff: datetime) -> list[Event]:
    """Ended before the cutoff with personal data left, cheap to ask every day."""
    has_people = select(Registration.id).where(
        Registration.event_id == Event.id, _not_anonymised()).exists()
    has_report_names = select(AttendanceRecord.id).where(
        AttendanceRecord.event_id == Event.id,
        or_(AttendanceRecord.raw_name != "", AttendanceRecord.raw_email != "")).exists()
    has_uploads = or_(
        select(ImportBatch.id).where(ImportBatch.event_id == Event.id).exists(),
        select(AttendanceImport.id).where(
            AttendanceImport.event_id == Event.id,
            func.length(AttendanceImport.content) > 0).exists(),
    )
    return list(session.execute(
        select(Event)
        .where(Event.ends_at < cutoff, or_(has_people, has_report_names, has_uploads))
        .order_by(Event.ends_at, Event.id)
    ).scalars())


def purge_ended_events(
    session: SessionLike, *, days: int = DEFAULT_RETENTION_DAYS, dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Anonymise the events that ended more than `days` ago, one transaction per event (a
    failure leaves the others done, and no lock is held for long). A dry run only counts."""
    if days < 0:
        raise ValueError("days must not be negative")
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    event_ids = [event.id for event in _pending_events(session, cutoff)]
    total = PurgeCounts()
    if dry_run:
        remaining = session.execute(
            select(func.count()).select_from(Registration)
            .where(Registration.event_id.in_(event_ids), _not_anonymised())).scalar_one()
        expired = email_confirmation.expired_count(session, now)
        session.rollback()
        return PurgeReport(cutoff, True, len(event_ids),
                           PurgeCounts(int(remaining), pending_signups=expired))
    # Unconfirmed sign-ups are kept only while their link works, whatever the event's dates.
    with write_transaction(session):
        pending, messages = email_confirmation.purge_expired_pending_signups(session, now)
    total += PurgeCounts(messages=messages, pending_signups=pending)
    for event_id in event_ids:
        with write_transaction(session):
            event = session.get(Event, event_id, populate_existing=True)
            if event is None or not event.ends_at < cutoff:  # deleted or moved meanwhile
                continue
            counts = _purge_event(session, event)
            if counts != PurgeCounts():
                record(session, None, "privacy.purge", event, event_id=event.id,
                       details={**asdict(counts), "retention_days": days})
        total += counts
    return PurgeReport(cutoff, False, len(event_ids), total)


# --------------------------------------------------------------------------------------------
# A participant deletes their own data
# --------------------------------------------------------------------------------------------


def delete_own_data(
    session: SessionLike, registration_id: int, *, now: datetime | None = None
) -> Registration | None:
    """Cancel (if still active) and anonymise one registration now, in one transaction.

    Returns the registration promoted from the waiting list into the freed seat, if any.
    No cancellation e-mail goes out: the address is gone with everything else.
    """
    now = now or utcnow()
    with write_transaction(session):
        registration = session.get(Registration, registration_id, populate_existing=True)
        if registration is None or is_anonymised(registration):
            raise NotFound(_l("This registration does not exist."))
        was = registration.status.value
        promoted = None
        if registration.is_active:
            promoted = cancel_in_transaction(
                session, registration, now, MessageKind.CANCELLED_BY_PARTICIPANT)
        session.flush()
        _anonymise(session, registration.event_id, [(registration.id, registration.answers)])
        record(session, None, "registration.delete_own_data", registration,
               event_id=registration.event_id, details={"status": was})
    return promoted
