"""Sign-ups waiting for their address to be confirmed (events with `confirm_email_address`).

A pending sign-up is not a registration: it holds no seat, is in no list or figure, and
becomes a registration only when the link e-mailed to the address is used (see
app/services/email_confirmation.py). Only the hash of the link's token is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.event import Event
from app.orm import JSONType, utcnow


class PendingSignup(db.Model):  # type: ignore[name-defined]
    __tablename__ = "pending_signups"
    __table_args__ = (
        # One pending sign-up per address and event: submitting again replaces it, so only
        # the newest link works.
        UniqueConstraint("event_id", "email_normalized",
                         name="uq_pending_signups_event_email"),
        CheckConstraint("length(token_hash) = 64", name="token_hash_length"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        # `flask privacy purge` deletes the expired ones.
        Index("ix_pending_signups_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email_normalized: Mapped[str] = mapped_column(String(254))
    # The validated sign-up form (RegistrationInput, enums as their values), personal data.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    language: Mapped[str] = mapped_column(String(5), default="ja")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    event: Mapped[Event] = relationship()

    def __repr__(self) -> str:
        return f"<PendingSignup {self.id} event={self.event_id}>"
