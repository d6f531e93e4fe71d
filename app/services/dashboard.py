"""The organizer's overview: their events with live figures and what needs doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.database import SessionLike
from app.models import Event, Registration, User
from app.models.enums import RegistrationMode, RegistrationStatus, SignupState
from app.services.permissions import visible_events


@dataclass(frozen=True)
class EventSummary:
    event: Event
    state: SignupState
    confirmed: int
    waitlisted: int
    lottery_pending: int
    lottery_due: bool

    @property
    def needs_action(self) -> bool:
        return self.lottery_due or self.waitlisted > 0


def summaries(session: SessionLike, user: User, now: datetime) -> list[EventSummary]:
    events = list(session.execute(visible_events(user)).scalars())
    counts: dict[tuple[int, RegistrationStatus], int] = {}
    if events:
        rows = session.execute(
            select(Registration.event_id, Registration.status, func.count())
            .where(Registration.event_id.in_([event.id for event in events]))
            .group_by(Registration.event_id, Registration.status)
        ).all()
        counts = {(event_id, status): count for event_id, status, count in rows}
    result = []
    for event in events:
        lottery_due = (
            event.registration_mode is RegistrationMode.LOTTERY
            and event.lottery_drawn_at is None
            and event.lottery_draw_at is not None
            and event.lottery_draw_at <= now
        )
        result.append(EventSummary(
            event=event,
            state=event.signup_state(now),
            confirmed=counts.get((event.id, RegistrationStatus.CONFIRMED), 0),
            waitlisted=counts.get((event.id, RegistrationStatus.WAITLISTED), 0),
            lottery_pending=counts.get((event.id, RegistrationStatus.LOTTERY_PENDING), 0),
            lottery_due=lottery_due,
        ))
    return result
