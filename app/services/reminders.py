"""Reminders: one message per confirmed registration, `Event.reminder_hours_before` hours
before the start (24 by default, 0 for none).

Each reminder carries a dedup key, ``reminder:<registration>:<start>``, unique in the outbox:
however many workers run `flask mail reminders` at once, the database accepts one row per
key. On PostgreSQL the due events are also locked (SKIP LOCKED) so concurrent runs split the
work instead of colliding; on SQLite the write lock serialises them. Moving the event
changes the key, so participants are reminded of the new time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.database import SessionLike, write_transaction
from app.models import Event, OutboxMessage, Registration
from app.models.enums import EventStatus, MessageKind, RegistrationStatus
from app.orm import utcnow
from app.services.invitations import personal_join_url
from app.services.messages import queue_message

# The largest reminder_hours_before the database allows (two weeks).
MAX_REMINDER_HOURS = 336


def reminder_key(registration: Registration, event: Event) -> str:
    return f"reminder:{registration.id}:{int(event.starts_at.timestamp())}"


def reminder_due_at(event: Event) -> datetime:
    return event.starts_at - timedelta(hours=event.reminder_hours_before)


def queue_due_reminders(session: SessionLike, *, now: datetime | None = None) -> int:
    """Queue the reminders that are due and not yet queued; the number queued.

    Someone confirmed after the reminder time (a late sign-up, a late promotion) already
    has everything in their confirmation and gets no reminder on top.
    """
    now = now or utcnow()
    try:
        with write_transaction(session):
            return _queue(session, now)
    except IntegrityError:
        # Another run queued some of these between our check and our insert; its rows
        # stand, and the next run picks up whatever is still missing.
        return 0


def _queue(session: SessionLike, now: datetime) -> int:
    events = session.execute(
        select(Event)
        .where(
            Event.status == EventStatus.PUBLISHED,
            Event.reminder_hours_before > 0,
            Event.starts_at > now,
            Event.starts_at <= now + timedelta(hours=MAX_REMINDER_HOURS),
        )
        .order_by(Event.starts_at, Event.id)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    queued = 0
    for event in events:
        due_at = reminder_due_at(event)
        if now < due_at:
            continue
        registrations = session.execute(
            select(Registration)
            .where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.CONFIRMED,
                Registration.confirmed_at <= due_at,
            )
            .order_by(Registration.id)
        ).scalars().all()
        keys = {reminder_key(registration, event): registration for registration in registrations}
        done = set(session.execute(
            select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(list(keys)))
        ).scalars())
        for key, registration in keys.items():
            if key in done:
                continue
            message = queue_message(session, MessageKind.REMINDER, registration,
                                    join_link=personal_join_url(registration))
            message.dedup_key = key
            queued += 1
    return queued
