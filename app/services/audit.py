"""The audit log: written in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from app.database import SessionLike
from app.models import AuditEntry, User


def record(
    session: SessionLike,
    actor: User | None,
    action: str,
    target: Any,
    *,
    event_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=getattr(target, "id", None),
        event_id=event_id,
        details=details or {},
    )
    session.add(entry)
    return entry
