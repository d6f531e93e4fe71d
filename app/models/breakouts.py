"""Rounds of breakout discussion and who sits in which group in each round.

A round is one discussion (a first one, then a reshuffle): the engine
(app.engines.breakouts) proposes an assignment, the organizer adjusts and publishes it.
The groups themselves are `BreakoutGroup` rows of the event; a round with a programme session
uses that session's groups (see app.services.breakouts.round_groups).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import StrEnum, db_enum
from app.models.event import BreakoutGroup, Event, ProgrammeSession
from app.models.registration import Registration
from app.orm import JSONType, utcnow


class RoundStatus(StrEnum):
    DRAFT = "draft"  # only organizers see the assignment
    PUBLISHED = "published"  # participants were told; their manage page shows the group


class AssignmentSource(StrEnum):
    SOLVER = "solver"
    MANUAL = "manual"  # moved by an organizer; such a seat is pinned


class BreakoutRound(db.Model):  # type: ignore[name-defined]
    __tablename__ = "breakout_rounds"
    __table_args__ = (
        UniqueConstraint("event_id", "number", name="uq_breakout_rounds_event_number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("penalty BETWEEN 0 AND 100", name="penalty_range"),
        CheckConstraint("status <> 'published' OR published_at IS NOT NULL",
                        name="published_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_sessions.id", ondelete="SET NULL"))
    status: Mapped[RoundStatus] = mapped_column(db_enum(RoundStatus), default=RoundStatus.DRAFT)
    # Attributes the solver spreads across groups: prefecture, org_type, organization, roundN.
    diversity: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Cost of each person above a group's fair share of an attribute value (see the engine).
    penalty: Mapped[int] = mapped_column(Integer, default=2)
    # From then on participants can no longer change their ranking.
    locked_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    session: Mapped[ProgrammeSession | None] = relationship()
    assignments: Mapped[list[BreakoutAssignment]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True)


class BreakoutAssignment(db.Model):  # type: ignore[name-defined]
    """One participant's seat in one round. Pinned seats are never moved by the solver, and
    neither is anyone already told their group (`notified_at`)."""

    __tablename__ = "breakout_assignments"
    __table_args__ = (
        UniqueConstraint("round_id", "registration_id",
                         name="uq_breakout_assignments_round_registration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("breakout_rounds.id", ondelete="CASCADE"))
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    # Removing a group frees its people: they become newcomers of the round.
    group_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_groups.id", ondelete="CASCADE"), index=True)
    pinned: Mapped[bool] = mapped_column(default=False)
    source: Mapped[AssignmentSource] = mapped_column(db_enum(AssignmentSource))
    notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    round: Mapped[BreakoutRound] = relationship(back_populates="assignments")
    registration: Mapped[Registration] = relationship()
    group: Mapped[BreakoutGroup] = relationship()
