"""Delivery of queued messages. For now the development backend prints them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from app.database import SessionLike, write_transaction
from app.models import OutboxMessage
from app.models.enums import OutboxStatus
from app.orm import utcnow

Backend = Callable[[OutboxMessage], None]


def deliver_pending(session: SessionLike, backend: Backend, limit: int = 100) -> int:
    """Hand due messages to the backend; each is marked sent only after it was accepted."""
    delivered = 0
    with write_transaction(session):
        messages = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
        for message in messages:
            backend(message)
            message.status = OutboxStatus.SENT
            message.sent_at = utcnow()
            message.attempts += 1
            delivered += 1
    return delivered
