"""Calendar invitations, downloads and feeds, built from Tsudoi's models.

The iCalendar itself (escaping, folding, VTIMEZONE, exhibitions as RRULE + EXDATE) is
app/engines/calendar.py; this module decides what goes into it. docs/email.md explains the
choices for people running Tsudoi.

UID
    One per registration, ``registration-<id>@<domain>``: the invitation, every update and
    the cancellation of that participant share it, and the manage page's download and the
    participant's personal feed use it too, so a re-import updates instead of duplicating.
    Not the event's UID: a participant who cancels and registers again gets a fresh UID
    (Google ignores a REQUEST for a UID it has already seen cancelled), and one mailbox
    holding two registrations (a secretary registering colleagues) keeps two entries. The
    public event download and feed use ``event-<id>@<domain>``, a separate entry. The
    domain comes from CALENDAR_UID_DOMAIN or PUBLIC_BASE_URL and must never change.

SEQUENCE
    ``Event.calendar_sequence``, raised by :func:`bump_calendar_sequence` in the transaction
    that changes the event's time or place. A REQUEST carries it; a CANCEL carries it plus
    one, which is higher than every REQUEST that can exist for that event's UIDs, so Google
    and Outlook accept the cancellation whatever was sent before.

ORGANIZER and replies
    CALENDAR_ORGANIZER (default: MAIL_FROM's address), normally a no-reply mailbox. The
    attendee is ``PARTSTAT=ACCEPTED; RSVP=FALSE``: registering was the answer, so clients
    file the event without asking and send no reply; changes and cancellation go through
    the manage link in the description and in URL.

Who gets one
    Only confirmed participants (confirmation, promotion, lottery won; later updates while
    confirmed). A CANCEL goes only to registrations that received a REQUEST: on
    cancellation, and when an organiser moves a confirmed participant back to the waiting
    list. The join link (CONFERENCE, and LOCATION when there is no
    venue) only reaches participants who take part online, and it is their personal link
    /j/<token>, which records attendance and leads to the organiser's meeting URL.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager, object_session

from app.database import SessionLike
from app.engines.calendar import (
    Attendee,
    CalendarEvent,
    DailyHours,
    Organizer,
    build_feed,
    build_invitation,
    google_calendar_url,
    outlook_calendar_url,
)
from app.models import Event, OutboxMessage, Registration
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    MessageKind,
    RegistrationStatus,
)
from app.services.attendance import join_token
from app.services.catalog import EventFilters
from app.services.errors import NotFound
from app.services.tokens import manage_token

log = logging.getLogger(__name__)

Method = Literal["REQUEST", "CANCEL"]

REQUEST_KINDS = frozenset({
    MessageKind.CONFIRMATION,
    MessageKind.PROMOTED,
    MessageKind.LOTTERY_WON,
    MessageKind.EVENT_CHANGED,
    # The description gains the group: an update of the same entry (same UID).
    MessageKind.GROUP_ASSIGNED,
})
CANCEL_KINDS = frozenset({
    MessageKind.CANCELLED_BY_PARTICIPANT,
    MessageKind.CANCELLED_BY_ORGANIZER,
    MessageKind.EVENT_CANCELLED,
})

# Past events stay in the public feed this long, so subscribers keep what they attended.
PUBLIC_FEED_HISTORY = timedelta(days=90)
# DTSTAMP of an empty feed: any fixed instant keeps the output (and its ETag) stable.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BreakoutInfo:
    """The participant's breakout group, for the description once groups are published."""

    group: str
    facilitator: str = ""
    room: str = ""


@dataclass(frozen=True)
class CalendarLinks:
    google: str
    outlook: str
    microsoft365: str


@dataclass(frozen=True)
class CalendarDocument:
    """An .ics file and the time it last changed (for Last-Modified)."""

    data: bytes
    last_modified: datetime


# --------------------------------------------------------------------------- #
# Identity, sequence, organizer
# --------------------------------------------------------------------------- #


def uid_domain() -> str:
    configured = current_app.config.get("CALENDAR_UID_DOMAIN")
    if configured:
        return str(configured)
    return urlsplit(str(current_app.config["PUBLIC_BASE_URL"])).hostname or "tsudoi.localhost"


def registration_uid(registration: Registration) -> str:
    return f"registration-{registration.id}@{uid_domain()}"


def event_uid(event: Event) -> str:
    return f"event-{event.id}@{uid_domain()}"


def bump_calendar_sequence(event: Event) -> int:
    """Raise the event's SEQUENCE; call in the write transaction that changes time or place.

    An SQL increment, not ``+= 1`` in Python, so two concurrent edits both count.
    """
    session = object_session(event)
    if session is None:
        raise ValueError("bump_calendar_sequence needs an event loaded in a session")
    event.calendar_sequence = Event.calendar_sequence + 1
    session.flush()
    return event.calendar_sequence


def _cancel_sequence(event: Event) -> int:
    return event.calendar_sequence + 1


@dataclass(frozen=True)
class InvitationHistory:
    """The invitations already queued for one registration (from the outbox)."""

    requests: int = 0
    cancels: int = 0
    # Nothing was ever sent about it: no invitation and no breakout group either.
    new_registration: bool = False


def invitation_history(registration: Registration) -> InvitationHistory:
    session = object_session(registration)
    if session is None or registration.id is None:
        return InvitationHistory()
    method = OutboxMessage.payload["calendar"]["method"].as_string()
    counts: dict[str | None, int] = dict(session.execute(
        select(method, func.count())
        .where(OutboxMessage.registration_id == registration.id, method.is_not(None))
        .group_by(method)
    ).all())
    return InvitationHistory(int(counts.get("REQUEST", 0)), int(counts.get("CANCEL", 0)))


def registration_sequence(event: Event, *, cancelled: bool, cancels: int) -> int:
    """SEQUENCE of a registration's entry, given the CANCELs it has had (this one included).

    ``event.calendar_sequence + 2 × cancels`` for a live entry, one less once cancelled: so
    an organiser who moves someone to the waiting list (CANCEL) and confirms them again
    (REQUEST) produces rising numbers on the same UID, and every bump of the event still
    raises them all.
    """
    if not cancelled:
        return event.calendar_sequence + 2 * cancels
    if cancels:
        return event.calendar_sequence + 2 * cancels - 1
    return _cancel_sequence(event)


def organizer_for(event: Event) -> Organizer:
    mailbox = current_app.config.get("CALENDAR_ORGANIZER") or current_app.config["MAIL_FROM"]
    display_name, address = parseaddr(str(mailbox))
    return Organizer(address, event.organizer_name or display_name or "Tsudoi")


def public_url(path: str) -> str:
    """An absolute link for mail and calendars, which have no request to build it from."""
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


def feed_token(registration: Registration) -> str:
    """The personal feed's secret: derived like the manage token, but it cannot manage.

    Calendar services fetch the feed from their servers and keep its address, so it must
    not be the manage link.
    """
    return manage_token(registration.manage_key, purpose="feed")


def personal_join_url(registration: Registration) -> str:
    """The participant's own join link (app.services.attendance), not the meeting URL: it
    records attendance, and works unchanged when the organiser sets or changes the URL."""
    return public_url(f"/j/{join_token(registration)}")


# --------------------------------------------------------------------------- #
# Models -> CalendarEvent
# --------------------------------------------------------------------------- #


def _venue(event: Event) -> str | None:
    if not event.venue_name:
        return event.venue_address or None
    if event.venue_address:
        return f"{event.venue_name} ({event.venue_address})"
    return event.venue_name


def _daily_hours(event: Event) -> DailyHours | None:
    if event.daily_opens_at is None or event.daily_closes_at is None:
        return None
    return DailyHours(
        opens=event.daily_opens_at,
        closes=event.daily_closes_at,
        closed_dates=frozenset(date.fromisoformat(day) for day in event.closed_dates or []),
    )


def _takes_part_online(registration: Registration) -> bool:
    return (
        registration.status is RegistrationStatus.CONFIRMED
        and registration.attendance_mode is AttendanceMode.ONLINE
    )


def describe(
    event: Event,
    *,
    manage_url: str | None = None,
    join_url: str | None = None,
    breakout: BreakoutInfo | None = None,
) -> str:
    """DESCRIPTION, in the current locale: summary, join link, breakout group, manage link.

    ``breakout`` is for the issue that publishes group assignments: pass the participant's
    group and every later invitation names it.
    """
    parts = [event.summary] if event.summary else []
    if join_url:
        parts.append(_("Join online:") + "\n" + join_url)
    if breakout is not None:
        lines = [_("Your discussion group: %(group)s", group=breakout.group)]
        if breakout.facilitator:
            lines.append(_("Facilitator: %(name)s", name=breakout.facilitator))
        if breakout.room:
            lines.append(_("Room: %(room)s", room=breakout.room))
        parts.append("\n".join(lines))
    if manage_url:
        parts.append(_("Your registration page (view, change or cancel):") + "\n" + manage_url)
    return "\n\n".join(parts)


def _calendar_event(
    event: Event,
    *,
    uid: str,
    sequence: int,
    description: str,
    url: str,
    location: str | None,
    conference_url: str | None,
    cancelled: bool,
) -> CalendarEvent:
    return CalendarEvent(
        uid=uid,
        sequence=sequence,
        title=event.title,
        description=description,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        organizer=organizer_for(event),
        timezone=event.timezone,
        location=location,
        url=url,
        conference_url=conference_url,
        conference_label=_("Join online"),
        status="CANCELLED" if cancelled else "CONFIRMED",
        categories=tuple(event.themes or ()),
        last_modified=event.updated_at,
        daily_hours=_daily_hours(event),
    )


def public_calendar_event(event: Event) -> CalendarEvent:
    """The event as anyone may see it: no attendee, no join link."""
    cancelled = event.status is EventStatus.CANCELLED
    return _calendar_event(
        event,
        uid=event_uid(event),
        sequence=_cancel_sequence(event) if cancelled else event.calendar_sequence,
        description=event.summary,
        url=public_url(f"/events/{event.slug}"),
        location=_venue(event),
        conference_url=None,
        cancelled=cancelled,
    )


def published_breakout(registration: Registration) -> BreakoutInfo | None:
    """The group of the latest published round this participant has been told about."""
    # Imported here: app.services.breakouts queues messages, which import this module.
    from app.services.breakouts import facilitator_text, published_seats

    session = object_session(registration)
    seats = published_seats(session, registration) if session is not None else []
    if not seats:
        return None
    group = seats[-1].group
    return BreakoutInfo(group=group.name, facilitator=facilitator_text(group), room=group.room)


def personal_calendar_event(
    registration: Registration,
    *,
    manage_url: str | None,
    history: InvitationHistory | None = None,
    breakout: BreakoutInfo | None = None,
) -> CalendarEvent:
    """The event as this participant sees it, under the registration's UID.

    ``manage_url`` is None for the personal feed: calendar services keep feeds on their
    servers, and the manage link would let anyone holding the feed cancel. ``history``
    defaults to what the outbox holds.
    """
    event = registration.event
    # Only confirmed registrations are in a calendar; any other state takes them out.
    cancelled = (
        event.status is EventStatus.CANCELLED
        or registration.status is not RegistrationStatus.CONFIRMED
    )
    online = _takes_part_online(registration) and not cancelled
    join_url = personal_join_url(registration) if online else None
    if breakout is None and not cancelled and not (history and history.new_registration):
        breakout = published_breakout(registration)
    return _calendar_event(
        event,
        uid=registration_uid(registration),
        sequence=registration_sequence(
            event, cancelled=cancelled,
            cancels=(history or invitation_history(registration)).cancels),
        description=describe(event, manage_url=manage_url, join_url=join_url,
                             breakout=breakout),
        url=manage_url or public_url(f"/events/{event.slug}"),
        # Online participants get the join link as LOCATION (the engine puts it there).
        location=None if online else _venue(event),
        conference_url=join_url,
        cancelled=cancelled,
    )


def _attendee(registration: Registration) -> Attendee:
    return Attendee(registration.email, registration.name)


def _stamp(*moments: datetime | None) -> datetime:
    return max((moment for moment in moments if moment is not None), default=_EPOCH)


# --------------------------------------------------------------------------- #
# Invitations (mail) and the manage page's download
# --------------------------------------------------------------------------- #


def in_calendar(registration: Registration) -> bool:
    """Whether the participant's calendar should hold the event now."""
    return (
        registration.status is RegistrationStatus.CONFIRMED
        and registration.event.status is not EventStatus.CANCELLED
    )


def invitation_method(
    kind: MessageKind, registration: Registration, history: InvitationHistory
) -> Method | None:
    """REQUEST, CANCEL or nothing for a message about this registration.

    A CANCEL goes only to someone who had an invitation (confirmed now or when cancelled,
    or sent a REQUEST before: moving someone back to the waiting list clears
    `confirmed_at`), and "waitlisted" is one when an organiser did exactly that.
    """
    if kind in REQUEST_KINDS:
        return "REQUEST" if in_calendar(registration) else None
    had_invitation = registration.confirmed_at is not None or history.requests > 0
    if (kind in CANCEL_KINDS or kind is MessageKind.WAITLISTED) and had_invitation:
        return "CANCEL"
    return None


def invitation_attachment(
    kind: MessageKind,
    registration: Registration,
    *,
    manage_url: str,
    now: datetime,
    breakout: BreakoutInfo | None = None,
    history: InvitationHistory | None = None,
) -> dict[str, Any] | None:
    """The outbox payload's "calendar" entry, fixed at queue time like the message text.

    `breakout` is the group being announced, before the assignment is marked as told.
    `history` is read from the outbox unless given (a brand-new registration has none).

    A message never fails to be queued because of its invitation: an event the engine
    refuses (say, a zero-length event) is logged and mailed without one.
    """
    if history is None:
        history = invitation_history(registration)
    method = invitation_method(kind, registration, history)
    if method is None:
        return None
    if method == "CANCEL":  # counted with the CANCEL being queued
        history = InvitationHistory(history.requests, history.cancels + 1,
                                    history.new_registration)
    with force_locale(registration.language):
        calendar_event = personal_calendar_event(registration, manage_url=manage_url,
                                                 history=history, breakout=breakout)
    try:
        data = build_invitation(calendar_event, _attendee(registration), method, dtstamp=now)
    except ValueError:
        log.exception("calendar: no invitation for registration %s", registration.id)
        return None
    return {
        "method": method,
        "uid": calendar_event.uid,
        "sequence": calendar_event.sequence,
        "ics": data.decode("utf-8"),
    }


def invitation_download(registration: Registration, *, manage_url: str) -> CalendarDocument:
    """The personal invitation for the manage page; NotFound unless confirmed."""
    if not in_calendar(registration):
        raise NotFound(_l("There is no calendar entry for this registration."))
    with force_locale(registration.language):
        calendar_event = personal_calendar_event(registration, manage_url=manage_url)
    stamp = _stamp(registration.event.updated_at, registration.updated_at)
    try:
        data = build_invitation(calendar_event, _attendee(registration), "REQUEST",
                                dtstamp=stamp)
    except ValueError:
        log.exception("calendar: no download for registration %s", registration.id)
        raise NotFound(_l("There is no calendar entry for this registration.")) from None
    return CalendarDocument(data, stamp)


def links_for(calendar_event: CalendarEvent, *, include_conference_link: bool) -> CalendarLinks:
    return CalendarLinks(
        google=google_calendar_url(calendar_event,
                                   include_conference_link=include_conference_link),
        outlook=outlook_calendar_url(calendar_event,
                                     include_conference_link=include_conference_link),
        microsoft365=outlook_calendar_url(calendar_event,
                                          include_conference_link=include_conference_link,
                                          work_account=True),
    )


# --------------------------------------------------------------------------- #
# Public download and feeds
# --------------------------------------------------------------------------- #


def public_event_download(event: Event) -> CalendarDocument:
    """The event page's "add to calendar" file; NotFound if the engine refuses the event."""
    try:
        data = build_feed([public_calendar_event(event)], event.title, event.updated_at)
    except ValueError:
        log.exception("calendar: no download for event %s", event.id)
        raise NotFound(_l("There is no calendar entry for this event.")) from None
    return CalendarDocument(data, event.updated_at)


def public_feed(
    session: SessionLike, filters: EventFilters, now: datetime, *, name: str
) -> CalendarDocument:
    """Published (and cancelled) events, upcoming and of the last 90 days, by kind/format."""
    query = (
        select(Event)
        .where(Event.status != EventStatus.DRAFT, Event.ends_at >= now - PUBLIC_FEED_HISTORY)
        .order_by(Event.starts_at, Event.id)
    )
    if filters.kind is not None:
        query = query.where(Event.kind == filters.kind)
    if filters.online is not None:
        wanted = EventFormat.ONLINE if filters.online else EventFormat.IN_PERSON
        query = query.where(Event.format.in_([wanted, EventFormat.HYBRID]))
    events = list(session.execute(query).scalars())
    return _feed(
        [public_calendar_event(event) for event in events],
        name=name,
        stamp=_stamp(*(event.updated_at for event in events)),
        include_conference_links=False,
    )


def public_feed_name(kind: EventKind | None) -> str:
    if kind is None:
        return _("Tsudoi events")
    labels = {
        EventKind.EXHIBITION: _("Tsudoi exhibitions"),
        EventKind.LECTURE: _("Tsudoi lectures"),
        EventKind.FESTIVAL: _("Tsudoi festivals"),
        EventKind.OTHER: _("Tsudoi events"),
    }
    return labels[kind]


def registration_for_feed(session: SessionLike, registration_id: int, token: str) -> Registration:
    """The registration a personal feed link belongs to; NotFound for any wrong pair."""
    registration = session.get(Registration, registration_id)
    # Compared in constant time: the id is guessable, the token must not be.
    if registration is None or not hmac.compare_digest(
        hashlib.sha256(token.encode()).digest(),
        hashlib.sha256(feed_token(registration).encode()).digest(),
    ):
        raise NotFound(_l("This link is not valid. Please use the link in your latest email."))
    return registration


def personal_feed(session: SessionLike, registration: Registration) -> CalendarDocument:
    """Every registration made with this address: confirmed ones, and cancelled ones that
    had been confirmed (marked cancelled, so subscribed calendars drop them)."""
    registrations = list(
        session.execute(
            select(Registration)
            .join(Registration.event)
            .where(
                Registration.email_normalized == registration.email_normalized,
                Event.status != EventStatus.DRAFT,
                or_(
                    Registration.status == RegistrationStatus.CONFIRMED,
                    and_(
                        Registration.status == RegistrationStatus.CANCELLED,
                        Registration.confirmed_at.is_not(None),
                    ),
                ),
            )
            .options(contains_eager(Registration.event))
            .order_by(Event.starts_at, Registration.id)
        ).scalars()
    )
    with force_locale(registration.language):
        events = [personal_calendar_event(r, manage_url=None) for r in registrations]
        name = _("My Tsudoi registrations")
    stamp = _stamp(*(r.updated_at for r in registrations),
                   *(r.event.updated_at for r in registrations))
    return _feed(events, name=name, stamp=stamp, include_conference_links=True)


def _feed(
    events: list[CalendarEvent], *, name: str, stamp: datetime, include_conference_links: bool
) -> CalendarDocument:
    def build(chosen: list[CalendarEvent]) -> bytes:
        return build_feed(chosen, name, stamp, include_conference_links=include_conference_links)

    try:
        return CalendarDocument(build(events), stamp)
    except ValueError:
        # One event the engine refuses (a zero-length event, say) must not take the whole
        # feed down for every subscriber: find it, log it, leave it out.
        usable = [event for event in events if _buildable(build, event)]
        return CalendarDocument(build(usable), stamp)


def _buildable(build: Callable[[list[CalendarEvent]], bytes], event: CalendarEvent) -> bool:
    try:
        build([event])
    except ValueError:
        log.exception("calendar: leaving %s out of a feed", event.uid)
        return False
    return True
