"""Organizer accounts, their part in each event, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import MembershipRole, UserRole, db_enum
from app.models.event import BreakoutGroup, Event
from app.orm import JSONType, utcnow


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored normalised
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[UserRole] = mapped_column(db_enum(UserRole), default=UserRole.ORGANIZER)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the session id: bumping it (password change) signs out every other session.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    memberships: Mapped[list[EventMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class EventMembership(db.Model):  # type: ignore[name-defined]
    """Who may work on an event; a viewer may be limited to one breakout group's roster."""

    __tablename__ = "event_memberships"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_event_memberships_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MembershipRole] = mapped_column(db_enum(MembershipRole))
    breakout_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("breakout_groups.id", ondelete="SET NULL")
    )

    event: Mapped[Event] = relationship()
    user: Mapped[User] = relationship(back_populates="memberships")
    breakout_group: Mapped[BreakoutGroup | None] = relationship()


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """Who changed what, and when. Details name records by id, never by personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_event_at", "event_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship()
