"""Messages to participants, written in the same transaction as the change they report.

A worker claims due messages (status ``sending``, ``claimed_at``/``claimed_by``), sends them
outside any transaction and marks them ``sent`` only once the server accepted them; see
app/services/outbox.py for the life cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.enums import MessageKind, OutboxStatus, db_enum
from app.orm import JSONType, utcnow


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        # A unique index rather than a constraint: SQLite can add it without copying the table.
        Index("uq_outbox_messages_dedup_key", "dedup_key", unique=True),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(db_enum(MessageKind))
    status: Mapped[OutboxStatus] = mapped_column(
        db_enum(OutboxStatus), default=OutboxStatus.PENDING
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    # Facts the sender needs, fixed at queue time like the text: {"calendar": {"method",
    # "uid", "sequence", "ics"}} carries the invitation exactly as it was when queued.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Tries to hand the message to the mail server, the successful one included.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # Which worker holds (or last held) the message; a claim older than the timeout belongs
    # to a worker that died and is taken back.
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    # Messages that must exist at most once, whoever queues them (a reminder per
    # registration and start time); NULL for everything else.
    dedup_key: Mapped[str | None] = mapped_column(String(200))
