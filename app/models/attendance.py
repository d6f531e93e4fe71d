"""Who actually came: join-link clicks, imported Zoom/Teams reports, marks by hand.

Check-ins at the door are not copied here: app.models.checkin is read directly, so undoing
a check-in changes the figures at once. What counts as "attended" is decided in one place,
app.services.attendance.attended_registrations, from these rows and the event's minimum
duration; nothing is stored as a verdict, so changing the minimum re-evaluates everything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import StrEnum, db_enum
from app.models.registration import Registration
from app.models.user import User
from app.orm import utcnow


class AttendanceSource(StrEnum):
    JOIN_LINK = "join_link"  # the participant opened /j/<token>
    ZOOM = "zoom"  # a row of an imported Zoom meeting or webinar report
    TEAMS = "teams"  # a row of an imported Teams attendance report
    MANUAL = "manual"  # an organizer marked the person as present


REPORT_SOURCES = (AttendanceSource.ZOOM, AttendanceSource.TEAMS)


class MatchMethod(StrEnum):
    """How an imported row was tied to a registration (NULL: it was not)."""

    EMAIL = "email"
    NAME = "name"
    MANUAL = "manual"


class ImportStatus(StrEnum):
    PENDING = "pending"  # uploaded and parsed, waiting for the organizer's decision
    ACCEPTED = "accepted"
    REPLACED = "replaced"  # a later download of the same meeting took its place


class ReportKind(StrEnum):
    ZOOM_MEETING = "zoom_meeting"
    ZOOM_WEBINAR = "zoom_webinar"
    TEAMS = "teams"


class AttendanceSettings(db.Model):  # type: ignore[name-defined]
    """Per event: how long someone must have been in the meeting to count as attended.

    A table of its own rather than a column on `events`, so that this feature's schema lives
    beside it; an event without a row has a minimum of 0 (any time in the meeting counts).
    """

    __tablename__ = "attendance_settings"
    __table_args__ = (
        CheckConstraint("min_minutes BETWEEN 0 AND 1440", name="min_minutes_range"),
    )

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    min_minutes: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AttendanceImport(db.Model):  # type: ignore[name-defined]
    """One uploaded report: staged while pending, then the origin of its records.

    The file's SHA-256 is unique per event, so the same download cannot be imported twice;
    `meeting_key` (meeting id or title, and start time) lets a fresh download of the same
    meeting replace the earlier one instead of adding its minutes a second time.
    """

    __tablename__ = "attendance_imports"
    __table_args__ = (
        UniqueConstraint("event_id", "sha256", name="uq_attendance_imports_event_sha256"),
        Index("ix_attendance_imports_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The import's address in URLs: random, so that staged files cannot be enumerated.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[ImportStatus] = mapped_column(
        db_enum(ImportStatus), default=ImportStatus.PENDING)
    kind: Mapped[ReportKind] = mapped_column(db_enum(ReportKind))
    shape: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    meeting_key: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300), default="")
    meeting_started_at: Mapped[datetime | None]
    # The uploaded bytes while pending (parsed again on acceptance); emptied once accepted,
    # since the records then hold everything that is needed.
    content: Mapped[bytes] = mapped_column(LargeBinary)
    people: Mapped[int] = mapped_column(Integer)  # merged records in the report
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))

    uploaded_by: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])


class AttendanceRecord(db.Model):  # type: ignore[name-defined]
    """Evidence that someone was there; one registration may have several.

    Join-link and manual rows always name a registration (at most one of each per
    registration, so repeated clicks update a row instead of adding one); imported rows
    come from an import and may stay unmatched (a guest, the host), keeping the name and
    address as the report wrote them.
    """

    __tablename__ = "attendance_records"
    __table_args__ = (
        Index(
            "uq_attendance_records_registration_source",
            "registration_id",
            "source",
            unique=True,
            sqlite_where=text("source IN ('join_link', 'manual')"),
            postgresql_where=text("source IN ('join_link', 'manual')"),
        ),
        Index("ix_attendance_records_event_source", "event_id", "source", "registration_id"),
        CheckConstraint(
            "(source IN ('zoom', 'teams')) = (import_id IS NOT NULL)", name="import_source"),
        CheckConstraint(
            "source IN ('zoom', 'teams') OR registration_id IS NOT NULL",
            name="direct_has_registration"),
        CheckConstraint(
            "source NOT IN ('zoom', 'teams') OR (registration_id IS NULL) = (matched_by IS NULL)",
            name="import_match_method"),
        CheckConstraint("matched_by IS NULL OR source IN ('zoom', 'teams')",
                        name="match_method_only_for_imports"),
        CheckConstraint("seconds IS NULL OR seconds >= 0", name="seconds_nonnegative"),
        CheckConstraint("joins >= 0", name="joins_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("attendance_imports.id", ondelete="CASCADE"), index=True)
    source: Mapped[AttendanceSource] = mapped_column(db_enum(AttendanceSource))
    matched_by: Mapped[MatchMethod | None] = mapped_column(db_enum(MatchMethod))
    first_join: Mapped[datetime | None]
    last_leave: Mapped[datetime | None]
    # Exact seconds in the meeting (a report's union of intervals); NULL when unknown
    # (a join link says when someone opened the meeting, not how long they stayed).
    seconds: Mapped[int | None] = mapped_column(Integer)
    # Clicks of the join link, or report rows merged into this record.
    joins: Mapped[int] = mapped_column(Integer, default=1)
    raw_name: Mapped[str] = mapped_column(String(200), default="")
    raw_email: Mapped[str] = mapped_column(String(254), default="")
    # host, co_host, panelist, presenter or attendee, as the report said; "" if it did not.
    role: Mapped[str] = mapped_column(String(20), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration | None] = relationship()
