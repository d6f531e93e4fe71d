"""A participant's registration for an event, and their ranked breakout preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    OrganizationType,
    RegistrationStatus,
    db_enum,
)
from app.models.event import BreakoutGroup, Event, InvalidTransition
from app.orm import JSONType, utcnow

_ACTIVE_SQL = "status IN ({})".format(", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES))


class Registration(db.Model):  # type: ignore[name-defined]
    __tablename__ = "registrations"
    __table_args__ = (
        # One active registration per person and event; cancelled ones may repeat.
        Index(
            "uq_registrations_event_email_active",
            "event_id",
            "email_normalized",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_registrations_event_status", "event_id", "status", "attendance_mode"),
        Index("ix_registrations_waitlist", "event_id", "attendance_mode", "waitlist_seq"),
        CheckConstraint(
            "status <> 'waitlisted' OR waitlist_seq IS NOT NULL", name="waitlisted_has_seq"
        ),
        CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_time"
        ),
        CheckConstraint("length(manage_token_hash) = 64", name="token_hash_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    status: Mapped[RegistrationStatus] = mapped_column(db_enum(RegistrationStatus))
    attendance_mode: Mapped[AttendanceMode] = mapped_column(db_enum(AttendanceMode))
    name: Mapped[str] = mapped_column(String(100))
    furigana: Mapped[str] = mapped_column(String(100))
    # Folded for search and sorting: hiragana, no spaces.
    furigana_key: Mapped[str] = mapped_column(String(100), index=True)
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    organization_name: Mapped[str] = mapped_column(String(200), default="")
    organization_type: Mapped[OrganizationType] = mapped_column(db_enum(OrganizationType))
    prefecture_code: Mapped[str] = mapped_column(String(2))
    municipality_code: Mapped[str] = mapped_column(String(5))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    language: Mapped[str] = mapped_column(String(5), default="ja")
    waitlist_seq: Mapped[int | None] = mapped_column(Integer)
    lottery_tier: Mapped[int | None] = mapped_column(Integer)
    # The manage link's token is an HMAC of this key under SECRET_KEY: the database alone
    # cannot open anyone's registration, yet every later message can carry the same link.
    manage_key: Mapped[str] = mapped_column(String(64))
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    consented_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()
    preferences: Mapped[list[BreakoutPreference]] = relationship(
        back_populates="registration",
        cascade="all, delete-orphan",
        order_by="BreakoutPreference.rank",
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    # Changes of state. Seats are the services' business: each of these is called once the
    # seat pool has been settled (a seat claimed, handed on or released) in the same
    # transaction, and the service queues the message that tells the person.

    def confirm(self, now: datetime) -> None:
        """A seat is theirs: from the waiting list, or from the lottery."""
        if self.status not in (RegistrationStatus.WAITLISTED, RegistrationStatus.LOTTERY_PENDING,
                               RegistrationStatus.NOT_DRAWN):
            raise InvalidTransition(f"{self!r} cannot be confirmed")
        self.status = RegistrationStatus.CONFIRMED
        self.confirmed_at = now

    def waitlist(self, seq: int) -> None:
        """To the waiting list, at place `seq` of the event's queue (the database checks
        that every waiting registration has one)."""
        if not self.is_active:
            raise InvalidTransition(f"{self!r} cannot wait: it is cancelled")
        self.status = RegistrationStatus.WAITLISTED
        self.waitlist_seq = seq
        self.confirmed_at = None

    def not_drawn(self) -> None:
        """The lottery gave them no seat, and there is no waiting list to join."""
        if self.status is not RegistrationStatus.LOTTERY_PENDING:
            raise InvalidTransition(f"{self!r} was not in the lottery")
        self.status = RegistrationStatus.NOT_DRAWN

    def cancel(self, now: datetime) -> None:
        if not self.is_active:
            raise InvalidTransition(f"{self!r} is not active")
        self.status = RegistrationStatus.CANCELLED
        self.cancelled_at = now

    def __repr__(self) -> str:
        return f"<Registration {self.id} {self.status}>"


class BreakoutPreference(db.Model):  # type: ignore[name-defined]
    __tablename__ = "breakout_preferences"
    __table_args__ = (
        UniqueConstraint("registration_id", "rank", name="uq_breakout_preferences_rank"),
        UniqueConstraint("registration_id", "group_id", name="uq_breakout_preferences_group"),
        CheckConstraint("rank >= 1", name="rank_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE")
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("breakout_groups.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)

    registration: Mapped[Registration] = relationship(back_populates="preferences")
    group: Mapped[BreakoutGroup] = relationship()
