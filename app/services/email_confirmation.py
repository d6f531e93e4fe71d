"""Confirmation of the e-mail address before a sign-up counts (double opt-in).

For an event with `confirm_email_address` on, a valid sign-up form creates no registration
and claims no seat: `request_confirmation` stores the validated form as a pending sign-up
and e-mails a link to the address. Only the link's owner can use it, which proves that the
address is theirs; `confirm_signup` then makes the registration as `register()` does, so the seat,
waiting list or lottery is decided at confirmation, and deletes the pending sign-up in the
same transaction.

* The link holds a 256-bit random token; only its SHA-256 is stored, like the manage links.
* Submitting the form again with the same address replaces the pending sign-up: a new token
  and a new e-mail, and the earlier link stops working.
* Links expire after EMAIL_CONFIRMATION_HOURS (default 24). Expired pending sign-ups are
  personal data with no purpose left: `flask privacy purge` deletes them
  (`purge_expired_pending_signups`), and empties the e-mails that carried their links.
* Opening the link (GET) changes nothing, because mail scanners fetch links; the page's
  button (POST, with a CSRF token) confirms.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.database import SessionLike, write_transaction
from app.models import Event, OutboxMessage, PendingSignup
from app.models.enums import AttendanceMode, MessageKind, OrganizationType, OutboxStatus
from app.orm import utcnow
from app.services.errors import DomainError, NotFound
from app.services.messages import queue_message_to_address
from app.services.registration import (
    MESSAGES,
    RegistrationError,
    RegistrationInput,
    SignupResult,
    add_registration,
    load_event_for_signup,
    refusal,
    send_manage_link_again,
)
from app.services.tokens import token_hash
from app.text import normalize_email

DEFAULT_HOURS = 24
# What e-mails of expired links become once purged (app.services.privacy uses the same).
SCRUBBED_RECIPIENT = "deleted@invalid"


class ConfirmationLinkInvalid(NotFound):
    """Unknown, already used, or replaced by a newer link: nothing tells these apart, since a
    used or replaced pending sign-up is deleted."""

    code = "confirmation_link_invalid"


class ConfirmationLinkExpired(DomainError):
    code = "confirmation_link_expired"


INVALID = _l("This confirmation link is not valid. It may have been used already, or "
             "replaced by a newer link if the form was sent again.")
EXPIRED = _l("This confirmation link has expired, so the registration was not completed.")


@dataclass(frozen=True)
class ConfirmationRequested:
    """What the "check your email" page says: where the link went and how long it works."""

    email: str
    expires_at: datetime
    hours: int


def confirmation_hours() -> int:
    return int(current_app.config.get("EMAIL_CONFIRMATION_HOURS", DEFAULT_HOURS))


def confirm_url(event: Event, token: str, language: str) -> str:
    # The language rides along: the page opens in the language of the form, wherever the
    # mail app opens the link.
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/events/{event.slug}/confirm/{token}?lang={language}"


# --- The stored form ------------------------------------------------------------------------


def payload_of(data: RegistrationInput) -> dict[str, Any]:
    """The sign-up as JSON: enums as their values."""
    return {name: value.value if isinstance(value, enum.Enum) else value
            for name, value in dataclasses.asdict(data).items()}


def input_of(payload: dict[str, Any]) -> RegistrationInput:
    """The sign-up back from JSON; keys the dataclass no longer has are dropped."""
    names = {item.name for item in dataclasses.fields(RegistrationInput)}
    values = {name: value for name, value in payload.items() if name in names}
    values["attendance_mode"] = AttendanceMode(values["attendance_mode"])
    values["organization_type"] = OrganizationType(values["organization_type"])
    return RegistrationInput(**values)


# --- Asking for the confirmation ------------------------------------------------------------


def _check_accepting(event: Event, data: RegistrationInput, now: datetime) -> None:
    """The checks of `register()` that the form's owner can act on now, rather than learn of
    only after following the link."""
    state = event.signup_state(now)
    if not state.accepts_signups:
        raise refusal(state)
    if data.attendance_mode not in event.attendance_modes:
        raise RegistrationError(MESSAGES["mode"], field="attendance_mode")


def _drop_unsent_links(session: SessionLike, event_id: int, recipient: str) -> None:
    """An earlier link still waiting in the outbox is dead once replaced: do not send it."""
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind == MessageKind.EMAIL_VERIFICATION,
            OutboxMessage.event_id == event_id,
            OutboxMessage.registration_id.is_(None),
            OutboxMessage.recipient == recipient,
            OutboxMessage.status == OutboxStatus.PENDING,
        ).execution_options(synchronize_session=False))


def request_confirmation(
    session: SessionLike, event_id: int, data: RegistrationInput, *,
    now: datetime | None = None,
) -> ConfirmationRequested:
    """Store the sign-up as pending and queue the e-mail with its confirmation link.

    An earlier pending sign-up of the same address for this event is replaced. Whether the
    address is registered already is not looked at here (the page must not tell): the
    confirmation answers that with the usual e-mail of the registration link.
    """
    now = now or utcnow()
    hours = confirmation_hours()
    expires_at = now + timedelta(hours=hours)
    email_normalized = normalize_email(data.email)
    recipient = data.email.strip()
    for attempt in range(2):
        token = secrets.token_urlsafe(32)
        try:
            with write_transaction(session):
                event_ = session.get(Event, event_id, populate_existing=True)
                if event_ is None:
                    raise NotFound(_l("This event does not exist."))
                _check_accepting(event_, data, now)
                pending = session.execute(
                    select(PendingSignup).where(
                        PendingSignup.event_id == event_id,
                        PendingSignup.email_normalized == email_normalized)
                ).scalar_one_or_none()
                if pending is None:
                    pending = PendingSignup(event_id=event_id, email_normalized=email_normalized)
                    session.add(pending)
                else:
                    _drop_unsent_links(session, event_id,
                                       str(pending.payload.get("email", "")).strip())
                pending.token_hash = token_hash(token)
                pending.payload = payload_of(data)
                pending.language = data.language
                pending.created_at = now
                pending.expires_at = expires_at
                session.flush()
                queue_message_to_address(
                    session, MessageKind.EMAIL_VERIFICATION, event_, recipient, data.language,
                    name=data.name, confirm_url=confirm_url(event_, token, data.language),
                    expires_at=expires_at, hours=hours)
        except IntegrityError:
            # The same address sent twice at once: the other request's row exists now, and
            # the second try replaces it.
            if attempt:
                raise
            continue
        break
    return ConfirmationRequested(email=recipient, expires_at=expires_at, hours=hours)


# --- Following the link ---------------------------------------------------------------------


def find_pending(session: SessionLike, token: str, *, event_id: int | None = None,
                 now: datetime | None = None) -> PendingSignup:
    """The pending sign-up of a link; raises ConfirmationLinkInvalid or ...Expired. Reads
    only (the page shown on GET)."""
    now = now or utcnow()
    if not token or len(token) > 100:
        raise ConfirmationLinkInvalid(INVALID)
    pending = session.execute(
        select(PendingSignup).where(PendingSignup.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if pending is None or (event_id is not None and pending.event_id != event_id):
        raise ConfirmationLinkInvalid(INVALID)
    if pending.expires_at <= now:
        raise ConfirmationLinkExpired(EXPIRED)
    return pending


def confirm_signup(session: SessionLike, token: str, *, event_id: int | None = None,
                   now: datetime | None = None) -> SignupResult:
    """Turn the pending sign-up of this link into a registration, as `register()` would.

    The link is taken (its row deleted) in the registration's own transaction: registration
    and deletion are committed together, or not at all. A link confirms once, and of two
    clicks at the same time the later finds it used. When the sign-up is refused (the event
    closed or filled up meanwhile), the pending sign-up stays until it expires, in case a
    place opens again.
    """
    now = now or utcnow()
    pending = find_pending(session, token, event_id=event_id, now=now)
    pending_id, hashed, target_event = pending.id, pending.token_hash, pending.event_id
    data = input_of(pending.payload)
    try:
        with write_transaction(session):
            _take_link(session, pending_id, hashed, now)
            event = load_event_for_signup(session, target_event)
            return add_registration(session, event, data, now)
    except IntegrityError:
        # The address was registered by another request between our look and our insert.
        with write_transaction(session):
            _take_link(session, pending_id, hashed, now)
            return send_manage_link_again(session, target_event, data.email)


def _take_link(session: SessionLike, pending_id: int, hashed: str, now: datetime) -> None:
    """Delete the pending sign-up if the link is still its own and valid; else refuse."""
    deleted = session.execute(
        delete(PendingSignup).where(
            PendingSignup.id == pending_id, PendingSignup.token_hash == hashed,
            PendingSignup.expires_at > now,
        ).execution_options(synchronize_session=False))
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise ConfirmationLinkInvalid(INVALID)


# --- Counting and purging -------------------------------------------------------------------


def pending_count(session: SessionLike, event_id: int, now: datetime | None = None) -> int:
    """Sign-ups of the event waiting for their address to be confirmed (links still valid)."""
    return int(session.execute(
        select(func.count()).select_from(PendingSignup).where(
            PendingSignup.event_id == event_id, PendingSignup.expires_at > (now or utcnow()))
    ).scalar_one())


def expired_count(session: SessionLike, now: datetime) -> int:
    return int(session.execute(
        select(func.count()).select_from(PendingSignup).where(PendingSignup.expires_at <= now)
    ).scalar_one())


def purge_expired_pending_signups(session: SessionLike, now: datetime) -> tuple[int, int]:
    """Delete expired pending sign-ups, and the unsent e-mails of links no longer valid;
    sent ones keep their kind, subject and dates only. Call inside a write transaction.
    Returns (pending sign-ups deleted, messages deleted or emptied)."""
    deleted = session.execute(
        delete(PendingSignup).where(PendingSignup.expires_at <= now)
        .execution_options(synchronize_session=False))
    # Every link of a message this old has expired, used or not: nothing in it is needed.
    old_links = ((OutboxMessage.kind == MessageKind.EMAIL_VERIFICATION)
                 & (OutboxMessage.created_at <= now - timedelta(hours=confirmation_hours()))
                 & (OutboxMessage.recipient != SCRUBBED_RECIPIENT))
    dropped = session.execute(
        delete(OutboxMessage).where(
            old_links, OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.PARKED]))
        .execution_options(synchronize_session=False))
    # One being sent right now is left for the next run.
    emptied = session.execute(
        update(OutboxMessage).where(old_links, OutboxMessage.status == OutboxStatus.SENT)
        .values(recipient=SCRUBBED_RECIPIENT, body_text="", payload={}, last_error="")
        .execution_options(synchronize_session=False))
    return (int(deleted.rowcount),  # type: ignore[attr-defined]
            int(dropped.rowcount) + int(emptied.rowcount))  # type: ignore[attr-defined]
