"""Messages to participants are rendered in their language and queued in the outbox.

They are written in the caller's transaction, so a message exists exactly when the change
it reports was committed; sending happens later and can never make a sign-up fail.

A sign-up's first message is queued *unrendered* (`queue_signup_message`): the row holds the
registration's state at sign-up, and the mail worker renders text and invitation when it
claims the row (`render_queued`). Rendering is most of a sign-up's CPU, and when a popular
event opens the web workers should only take seats; the mail trails the burst by seconds.
Anything queued later for the same registration renders the earlier row first, so the
invitation history it reads is complete and the first message is written as of sign-up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.database import SessionLike
from app.models import Event, OutboxMessage, Registration
from app.models.enums import MessageKind, OutboxStatus, RegistrationStatus
from app.orm import utcnow
from app.services.invitations import InvitationHistory, invitation_attachment
from app.services.tokens import manage_token

log = logging.getLogger(__name__)


def _subjects() -> dict[MessageKind, str]:
    return {
        MessageKind.CONFIRMATION: _("Registration confirmed"),
        MessageKind.WAITLISTED: _("You are on the waiting list"),
        MessageKind.LOTTERY_ENTERED: _("Your lottery entry has been received"),
        MessageKind.PROMOTED: _("A seat has become free: your registration is confirmed"),
        MessageKind.LOTTERY_WON: _("Lottery result: you have a seat"),
        MessageKind.LOTTERY_NOT_DRAWN: _("Lottery result"),
        MessageKind.CANCELLED_BY_PARTICIPANT: _("Your registration has been cancelled"),
        MessageKind.MANAGE_LINK: _("Your registration link"),
        MessageKind.REGISTRATION_UPDATED: _("Your registration has been updated"),
        MessageKind.CANCELLED_BY_ORGANIZER: _("Your registration has been cancelled by the "
                                              "organiser"),
        MessageKind.ANNOUNCEMENT: _("A message from the organiser"),
        MessageKind.REMINDER: _("Reminder: the event starts soon"),
        MessageKind.GROUP_ASSIGNED: _("Your discussion group"),
        MessageKind.EVENT_CHANGED: _("The event has changed"),
        MessageKind.EVENT_CANCELLED: _("The event has been cancelled"),
        MessageKind.EMAIL_VERIFICATION: _("Please confirm your email address"),
    }


def manage_url(registration: Registration) -> str:
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/r/{manage_token(registration.manage_key)}"


def _subject_line(event: Event, subject: str) -> str:
    """The event's title first, as Japanese mail does it: 【title】subject; [title] subject."""
    return _("[%(event)s] %(subject)s", event=event.title, subject=subject)


def _compose(
    kind: MessageKind, registration: Registration, *, subject: str | None,
    history: InvitationHistory | None, context: dict[str, Any],
) -> tuple[str, str, dict[str, Any]]:
    """Subject, text and payload of a message about `registration`, in its language."""
    event = registration.event
    link = manage_url(registration)
    with force_locale(registration.language):
        subject = _subject_line(event, subject or str(_subjects()[kind]))
        body = render_template(
            f"emails/{kind.value}.txt",
            registration=registration,
            event=event,
            manage_url=link,
            language=registration.language,
            **context,
        )
    payload: dict[str, Any] = {"status": registration.status.value}
    # The invitation is fixed now, like the text: a later change queues its own message.
    invitation = invitation_attachment(kind, registration, manage_url=link, now=utcnow(),
                                       breakout=context.get("breakout_info"), history=history)
    if invitation is not None:
        payload["calendar"] = invitation
    return subject[:300], body, payload


def queue_message(
    session: SessionLike, kind: MessageKind, registration: Registration, *,
    subject: str | None = None, **context: Any
) -> OutboxMessage:
    """`subject` replaces the kind's own subject (an organizer's announcement)."""
    if registration.id is not None:
        render_queued(session, registration_id=registration.id)
    subject, body, payload = _compose(kind, registration, subject=subject, history=None,
                                      context=context)
    message = OutboxMessage(
        kind=kind,
        event_id=registration.event.id,
        registration_id=registration.id,
        recipient=registration.email,
        language=registration.language,
        subject=subject,
        body_text=body,
        payload=payload,
    )
    session.add(message)
    return message


# --------------------------------------------------------------------------- #
# A registration's first message: queued now, rendered by the mail worker
# --------------------------------------------------------------------------- #

_UNRENDERED = "unrendered"  # the payload key of a row still to be rendered


def signup_message_kind(status: RegistrationStatus) -> MessageKind:
    """The first message of a registration with this status."""
    return {
        RegistrationStatus.CONFIRMED: MessageKind.CONFIRMATION,
        RegistrationStatus.WAITLISTED: MessageKind.WAITLISTED,
        RegistrationStatus.LOTTERY_PENDING: MessageKind.LOTTERY_ENTERED,
    }[status]


_INSERT_MESSAGE = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)
_RESTATE_MESSAGE = (
    update(OutboxMessage.__table__)
    .where(OutboxMessage.__table__.c.id == bindparam("message"))
    .values(kind=bindparam("new_kind"), payload=bindparam("new_payload"))
)


def queue_signup_message(
    session: SessionLike, registration_id: int, event_id: int, recipient: str, language: str,
    status: RegistrationStatus, confirmed_at: datetime | None,
) -> int:
    """The first message of a registration just inserted, to be rendered by the mail worker;
    returns its id.

    The row records what the text depends on and may have changed by the time it is
    rendered: the status and the moment the seat was confirmed.
    """
    kind, payload = _signup_message(status, confirmed_at)
    return int(session.execute(_INSERT_MESSAGE, {
        "kind": kind, "event_id": event_id, "registration_id": registration_id,
        "recipient": recipient, "language": language, "subject": "", "body_text": "",
        "payload": payload}).scalar_one())


def restate_signup_message(
    session: SessionLike, message_id: int, status: RegistrationStatus,
    confirmed_at: datetime | None,
) -> None:
    """The unrendered first message as of the registration's status now (a sign-up that
    found no seat and waits instead)."""
    kind, payload = _signup_message(status, confirmed_at)
    session.execute(_RESTATE_MESSAGE, {"message": message_id, "new_kind": kind,
                                       "new_payload": payload})


def _signup_message(
    status: RegistrationStatus, confirmed_at: datetime | None,
) -> tuple[MessageKind, dict[str, Any]]:
    return signup_message_kind(status), {
        "status": status.value,
        _UNRENDERED: {"confirmed_at": confirmed_at.isoformat() if confirmed_at else None},
    }


class _AsQueued:
    """A registration as it was when its message was queued (status and confirmation);
    everything else, names and event included, as it is now."""

    def __init__(self, registration: Registration, state: dict[str, Any], status: str) -> None:
        self._registration = registration
        self.status = RegistrationStatus(status)
        confirmed_at = state.get("confirmed_at")
        self.confirmed_at = datetime.fromisoformat(confirmed_at) if confirmed_at else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registration, name)


def is_unrendered(message: OutboxMessage) -> bool:
    return _UNRENDERED in (message.payload or {})


def render_queued(
    session: SessionLike, *, registration_id: int | None = None, limit: int | None = None,
    skip_locked: bool = False,
) -> int:
    """Render unrendered messages still waiting to be sent (all of them, one registration's,
    or the oldest `limit`); call inside a write transaction. Returns how many were rendered.

    `skip_locked`: rows another worker is rendering are left to it (PostgreSQL).
    """
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.subject == "")
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=skip_locked)
    )
    if registration_id is not None:
        query = query.where(OutboxMessage.registration_id == registration_id)
    rendered = 0
    for message in session.execute(query).scalars():
        if not is_unrendered(message):
            continue
        registration = (session.get(Registration, message.registration_id)
                        if message.registration_id is not None else None)
        if registration is None:  # its data was deleted: there is nobody to write to
            session.delete(message)
            continue
        as_queued = cast(Registration, _AsQueued(
            registration, message.payload[_UNRENDERED], message.payload["status"]))
        try:
            message.subject, message.body_text, message.payload = _compose(
                message.kind, as_queued, subject=None,
                history=InvitationHistory(new_registration=True), context={})
        except SQLAlchemyError:
            raise  # the transaction is broken: nothing here can be kept
        except Exception as error:
            # One message that cannot be written must not stop every batch after it: it is
            # parked, still unrendered, and "retry" in /console/outbox writes it again.
            log.exception("outbox: message %s could not be written", message.id)
            message.status = OutboxStatus.PARKED
            message.last_error = f"could not be written: {type(error).__name__}: {error}"[:2000]
            continue
        rendered += 1
    return rendered


def queue_message_to_address(
    session: SessionLike, kind: MessageKind, event: Event, recipient: str, language: str,
    **context: Any
) -> OutboxMessage:
    """A message about `event` to an address that has no registration (yet): the link that
    confirms a sign-up's address. The template gets `event` and `language` and `context`."""
    with force_locale(language):
        subject = _subject_line(event, str(_subjects()[kind]))
        body = render_template(f"emails/{kind.value}.txt", event=event, language=language,
                               **context)
    message = OutboxMessage(kind=kind, event_id=event.id, registration_id=None,
                            recipient=recipient, language=language, subject=subject[:300],
                            body_text=body, payload={})
    session.add(message)
    return message
