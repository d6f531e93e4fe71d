"""Who may see or change an event: one place for every console page and API call."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from app.database import SessionLike
from app.models import Event, EventMembership, User
from app.models.enums import MembershipRole
from app.services.errors import DomainError, NotFound


class PermissionDenied(DomainError):
    code = "permission_denied"


def membership(session: SessionLike, user: User, event_id: int) -> EventMembership | None:
    return session.execute(
        select(EventMembership).where(
            EventMembership.event_id == event_id, EventMembership.user_id == user.id
        )
    ).scalar_one_or_none()


def event_role(session: SessionLike, user: User, event_id: int) -> MembershipRole | None:
    if user.is_admin:
        return MembershipRole.ORGANIZER
    found = membership(session, user, event_id)
    return found.role if found is not None else None


def load_event(session: SessionLike, user: User, event_id: int, *, edit: bool = False) -> Event:
    """The event if `user` may see it (and change it, with edit=True).

    Raises NotFound when the user has no part in it, so that its existence is not revealed,
    and PermissionDenied when a viewer asks to change it.
    """
    event = session.get(Event, event_id)
    role = event_role(session, user, event_id) if event is not None else None
    if event is None or role is None:
        raise NotFound(_l("This event does not exist."))
    if edit and role is not MembershipRole.ORGANIZER:
        raise PermissionDenied(_l("You may view this event but not change it."))
    return event


def visible_events(user: User) -> Select[Any]:
    query = select(Event).order_by(Event.starts_at.desc(), Event.id)
    if user.is_admin:
        return query
    return query.join(EventMembership, EventMembership.event_id == Event.id).where(
        EventMembership.user_id == user.id
    )
