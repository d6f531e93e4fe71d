"""Check-in at the door, one row per entry, and the tally of visitors who never registered."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import StrEnum, db_enum
from app.models.registration import Registration
from app.orm import utcnow


class CheckInMethod(StrEnum):
    QR = "qr"
    SEARCH = "search"
    MANUAL = "manual"  # the check-in code typed in, when the camera cannot read it


class CheckIn(db.Model):  # type: ignore[name-defined]
    """One entry through the door on one day (Tokyo); undoing marks the row, never deletes it.

    The database allows one entry per registration and day that has not been undone, and
    one row per client nonce, so a retried POST or a second scanner cannot add a second one.
    """

    __tablename__ = "check_ins"
    __table_args__ = (
        Index(
            "uq_check_ins_registration_day_active",
            "registration_id",
            "day",
            unique=True,
            sqlite_where=text("undone_at IS NULL"),
            postgresql_where=text("undone_at IS NULL"),
        ),
        # undone_by_id may become NULL when the account is deleted; undone_at stays.
        CheckConstraint("undone_by_id IS NULL OR undone_at IS NOT NULL", name="undone_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date)
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_in_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    method: Mapped[CheckInMethod] = mapped_column(db_enum(CheckInMethod))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    undone_at: Mapped[datetime | None]
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    registration: Mapped[Registration] = relationship()

    @property
    def is_active(self) -> bool:
        return self.undone_at is None


class VisitorTally(db.Model):  # type: ignore[name-defined]
    """Anonymous visitors per event and day; changed only by a conditional UPDATE."""

    __tablename__ = "visitor_tallies"
    __table_args__ = (
        UniqueConstraint("event_id", "day", name="uq_visitor_tallies_event_day"),
        CheckConstraint("count >= 0", name="count_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
