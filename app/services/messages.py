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
from app.models import OutboxMessage, Registration
from app.models.enums import MessageKind
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
    }


def manage_url(registration: Registration) -> str:
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/r/{manage_token(registration.manage_key)}"


def queue_message(
    session: SessionLike, kind: MessageKind, registration: Registration, **context: Any
) -> OutboxMessage:
    event = registration.event
    with force_locale(registration.language):
        subject = f"[{event.title}] {_subjects()[kind]}"
        body = render_template(
            f"emails/{kind.value}.txt",
            registration=registration,
            event=event,
            manage_url=manage_url(registration),
            language=registration.language,
            **context,
        )
    message = OutboxMessage(
        kind=kind,
        event_id=event.id,
        registration_id=registration.id,
        recipient=registration.email,
        language=registration.language,
        subject=subject[:300],
        body_text=body,
        payload={"status": registration.status.value},
    )
    session.add(message)
    return message
