"""Messages to participants are rendered in their language and queued in the outbox.

They are written in the caller's transaction, so a message exists exactly when the change
it reports was committed; sending happens later and can never make a sign-up fail.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from app.database import SessionLike
from app.models import Event, OutboxMessage, Registration
from app.models.enums import MessageKind
from app.orm import utcnow
from app.services.invitations import InvitationHistory, invitation_attachment
from app.services.tokens import manage_token


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


def queue_message(
    session: SessionLike, kind: MessageKind, registration: Registration, *,
    subject: str | None = None, first_message: bool = False, **context: Any
) -> OutboxMessage:
    """`subject` replaces the kind's own subject (an organizer's announcement);
    `first_message` says the registration has had no message yet (no invitation history
    to look up)."""
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
    history = InvitationHistory(new_registration=True) if first_message else None
    invitation = invitation_attachment(kind, registration, manage_url=link, now=utcnow(),
                                       breakout=context.get("breakout_info"), history=history)
    if invitation is not None:
        payload["calendar"] = invitation
    message = OutboxMessage(
        kind=kind,
        event_id=event.id,
        registration_id=registration.id,
        recipient=registration.email,
        language=registration.language,
        subject=subject[:300],
        body_text=body,
        payload=payload,
    )
    session.add(message)
    return message


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
