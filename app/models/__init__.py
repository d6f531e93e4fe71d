"""Every model, imported so that Alembic and the app see the whole schema."""

from app.models.event import (
    BreakoutGroup,
    Event,
    EventPerson,
    Exhibitor,
    ProgrammeSession,
    Question,
    SeatPool,
)
from app.models.lottery import LotteryDraw
from app.models.outbox import OutboxMessage
from app.models.registration import BreakoutPreference, Registration
from app.models.user import AuditEntry, EventMembership, User

__all__ = [
    "AuditEntry",
    "BreakoutGroup",
    "BreakoutPreference",
    "Event",
    "EventMembership",
    "EventPerson",
    "Exhibitor",
    "LotteryDraw",
    "OutboxMessage",
    "ProgrammeSession",
    "Question",
    "Registration",
    "SeatPool",
    "User",
]
