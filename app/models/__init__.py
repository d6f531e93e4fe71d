"""Every model, imported so that Alembic and the app see the whole schema."""

from app.models.api_token import ApiToken
from app.models.attendance import AttendanceImport, AttendanceRecord, AttendanceSettings
from app.models.breakouts import BreakoutAssignment, BreakoutRound
from app.models.checkin import CheckIn, VisitorTally
from app.models.event import (
    BreakoutGroup,
    Event,
    EventMedia,
    EventPerson,
    Exhibitor,
    ProgrammeSession,
    Question,
    SeatPool,
)
from app.models.lottery import LotteryDraw
from app.models.outbox import OutboxMessage
from app.models.pending import PendingSignup
from app.models.registrants import ImportBatch
from app.models.registration import BreakoutPreference, Registration
from app.models.user import AuditEntry, EventMembership, User

__all__ = [
    "ApiToken",
    "AttendanceImport",
    "AttendanceRecord",
    "AttendanceSettings",
    "AuditEntry",
    "BreakoutAssignment",
    "BreakoutGroup",
    "BreakoutPreference",
    "BreakoutRound",
    "CheckIn",
    "Event",
    "EventMedia",
    "EventMembership",
    "EventPerson",
    "Exhibitor",
    "ImportBatch",
    "LotteryDraw",
    "OutboxMessage",
    "PendingSignup",
    "ProgrammeSession",
    "Question",
    "Registration",
    "SeatPool",
    "User",
    "VisitorTally",
]
