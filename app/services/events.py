"""Events from the organiser's side: create, change, publish, cancel and duplicate them; their
programme, breakout groups, custom questions and registration settings; who may work on them.

Every use case runs in one write transaction, checks the actor's right to change the event,
writes the audit log, and raises EventError naming the form field at fault. Participants
hear of a change of time or place, or of a cancellation, through `notify_registrants`,
in the same transaction as the change.
"""

from __future__ import annotations

import copy
import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote_plus

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from app import i18n
from app.database import SessionLike, write_transaction
from app.models import (
    AuditEntry,
    BreakoutGroup,
    BreakoutPreference,
    Event,
    EventMembership,
    EventPerson,
    Exhibitor,
    ProgrammeSession,
    Question,
    Registration,
    SeatPool,
    User,
)
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    MembershipRole,
    MessageKind,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    RegistrationStatus,
    SessionKind,
    SignupState,
    UserRole,
)
from app.orm import utcnow
from app.services.accounts import find_user
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.invitations import bump_calendar_sequence
from app.services.messages import queue_message
from app.services.permissions import PermissionDenied, load_event
from app.services.registration import (
    claim_seat,
    lock_pool,
    promote_from_waitlist,
    release_seat,
)

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
QUESTION_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_RANKS = 10
MAX_OPTION_LENGTH = 200
MAX_TEXT_ANSWER = 5000
# What participants are told about: a change of any of these is a change of time or place.
TIME_AND_PLACE = (
    "starts_at",
    "ends_at",
    "daily_opens_at",
    "daily_closes_at",
    "closed_dates",
    "format",
    "venue_name",
    "venue_address",
    "online_url",
)


class EventError(DomainError):
    code = "event_error"


# --- Inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDetails:
    """What the event form says; datetimes are aware, times and dates are Tokyo-local."""

    kind: EventKind
    format: EventFormat
    title: str
    starts_at: datetime
    ends_at: datetime
    slug: str = ""
    summary: str = ""
    body: str = ""
    themes: list[str] = field(default_factory=list)
    organizer_name: str = ""
    contact: str = ""
    website_url: str = ""
    venue_name: str = ""
    venue_address: str = ""
    online_url: str = ""
    daily_opens_at: time | None = None
    daily_closes_at: time | None = None
    closed_dates: list[date] = field(default_factory=list)


@dataclass(frozen=True)
class RegistrationSettings:
    registration_required: bool = True
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    registration_mode: RegistrationMode = RegistrationMode.FIRST_COME
    lottery_draw_at: datetime | None = None
    # [{"question": key, "any_of": [option, ...]}, ...], highest priority first.
    lottery_tiers: list[dict[str, Any]] = field(default_factory=list)
    waitlist_enabled: bool = True
    # Double opt-in: sign-ups count only once the e-mailed link is used.
    confirm_email_address: bool = False
    max_preference_ranks: int = 0
    # None: no limit. Modes the event does not offer are ignored.
    capacities: dict[AttendanceMode, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonInput:
    role: PersonRole
    name: str
    affiliation: str = ""
    title: str = ""


@dataclass(frozen=True)
class SessionInput:
    kind: SessionKind
    title: str
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    people: list[PersonInput] = field(default_factory=list)


@dataclass(frozen=True)
class GroupInput:
    name: str
    theme: str = ""
    facilitator_name: str = ""
    facilitator_affiliation: str = ""
    capacity: int | None = None
    room: str = ""
    session_id: int | None = None


@dataclass(frozen=True)
class QuestionInput:
    kind: QuestionKind
    label: str
    label_en: str = ""
    help_text: str = ""
    options: list[str] = field(default_factory=list)
    options_en: list[str] = field(default_factory=list)
    required: bool = False
    max_length: int | None = None
    # Answers are stored under the key, so it is chosen once, when the question is added.
    key: str = ""


# --- Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolFigures:
    mode: AttendanceMode
    capacity: int | None
    confirmed: int
    waitlisted: int
    lottery_pending: int
    not_drawn: int
    cancelled: int

    @property
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.confirmed, 0)


def event_figures(session: SessionLike, event: Event) -> list[PoolFigures]:
    """Registrations per attendance mode and status, beside each pool's capacity."""
    rows = session.execute(
        select(Registration.attendance_mode, Registration.status, func.count())
        .where(Registration.event_id == event.id)
        .group_by(Registration.attendance_mode, Registration.status)
    ).all()
    counts = {(mode, status): int(count) for mode, status, count in rows}
    modes = list(dict.fromkeys([*event.attendance_modes, *(mode for mode, _s in counts)]))
    figures = []
    for mode in modes:
        pool = event.pool_for(mode)
        figures.append(PoolFigures(
            mode=mode,
            capacity=pool.capacity if pool is not None else None,
            confirmed=counts.get((mode, RegistrationStatus.CONFIRMED), 0),
            waitlisted=counts.get((mode, RegistrationStatus.WAITLISTED), 0),
            lottery_pending=counts.get((mode, RegistrationStatus.LOTTERY_PENDING), 0),
            not_drawn=counts.get((mode, RegistrationStatus.NOT_DRAWN), 0),
            cancelled=counts.get((mode, RegistrationStatus.CANCELLED), 0),
        ))
    return figures


def active_registrant_count(session: SessionLike, event_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event_id, Registration.status.in_(ACTIVE_STATUSES))
    ).scalar_one())


def answer_counts(session: SessionLike, event_id: int) -> Counter[str]:
    """How many registrations answered each question key."""
    counts: Counter[str] = Counter()
    for answers in session.execute(
        select(Registration.answers).where(Registration.event_id == event_id)
    ).scalars():
        counts.update(key for key, value in (answers or {}).items() if value not in ("", []))
    return counts


def recent_changes(session: SessionLike, event_id: int, limit: int = 10) -> list[AuditEntry]:
    return list(session.execute(
        select(AuditEntry).where(AuditEntry.event_id == event_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    ).scalars())


def members(session: SessionLike, event_id: int) -> list[EventMembership]:
    return list(session.execute(
        select(EventMembership).join(User, User.id == EventMembership.user_id)
        .where(EventMembership.event_id == event_id).order_by(User.email)
    ).scalars())


def map_url(address: str) -> str:
    """A map search for the address: every phone opens it in its map app."""
    return "https://www.google.com/maps/search/?api=1&query=" + quote_plus(address)


def preview_state(event: Event, now: datetime) -> SignupState:
    """The sign-up state a draft will have once published (its preview shows it)."""
    if event.status is EventStatus.DRAFT:
        return event.signup_state_once_published(now)
    return event.signup_state(now)


def publication_problems(event: Event, now: datetime) -> list[Any]:
    """What stops a draft from being published, as messages for the organiser."""
    problems: list[Any] = []
    if event.format is not EventFormat.ONLINE and not event.venue_name:
        problems.append(_l("Please give the venue before publishing."))
    if event.ends_at <= now:
        problems.append(_l("This event is already over."))
    if event.lottery_open and event.lottery_draw_at is not None and event.lottery_draw_at <= now:
        problems.append(_l("The date of the lottery draw has passed. Please choose a later "
                           "one in the registration settings."))
    return problems


# --- Notifications --------------------------------------------------------------------------


def notify_registrants(session: SessionLike, event: Event, kind: MessageKind,
                       **context: Any) -> int:
    """Queue `kind` to every active registrant (confirmed, waitlisted, in the lottery).

    The one place where a change of the event reaches its participants: later work (calendar
    updates) extends this function rather than each caller.
    """
    if kind is MessageKind.EVENT_CHANGED:
        # Calendars replace an entry only for a higher SEQUENCE; queue_message then attaches
        # the updated REQUEST (or, for EVENT_CANCELLED, a CANCEL) to confirmed registrants.
        bump_calendar_sequence(event)
    registrations = session.execute(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status.in_(ACTIVE_STATUSES))
        .order_by(Registration.id)
    ).scalars().all()
    for registration in registrations:
        queue_message(session, kind, registration, **context)
    return len(registrations)


def _hours(opens: time | None, closes: time | None) -> str:
    if opens is None or closes is None:
        return "—"
    return f"{opens:%H:%M}–{closes:%H:%M}"


def _format_label(value: EventFormat) -> str:
    return {
        EventFormat.IN_PERSON: pgettext("event format", "At a venue"),
        EventFormat.ONLINE: pgettext("event format", "Online"),
        EventFormat.HYBRID: _("At a venue and online"),
    }[value]


class ChangeSummary:
    """The changed time and place, old → new, written in the language of each message.

    Messages are rendered under each participant's locale, and Jinja turns this object into
    text only then, so one summary serves Japanese and English registrants alike.
    """

    def __init__(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        self.before = before
        self.after = after
        self.changed = [name for name in TIME_AND_PLACE if before[name] != after[name]]

    def __bool__(self) -> bool:
        return bool(self.changed)

    def __str__(self) -> str:
        old, new, lines = self.before, self.after, []
        if {"starts_at", "ends_at"} & set(self.changed):
            lines.append(_("Date and time: %(old)s → %(new)s",
                           old=i18n.format_period(old["starts_at"], old["ends_at"]),
                           new=i18n.format_period(new["starts_at"], new["ends_at"])))
        if {"daily_opens_at", "daily_closes_at"} & set(self.changed):
            lines.append(_("Opening hours: %(old)s → %(new)s",
                           old=_hours(old["daily_opens_at"], old["daily_closes_at"]),
                           new=_hours(new["daily_opens_at"], new["daily_closes_at"])))
        if "closed_dates" in self.changed:
            days = "、".join(i18n.format_local_date(date.fromisoformat(day))
                            for day in new["closed_dates"]) or "—"
            lines.append(_("Closed days: %(days)s", days=days))
        if "format" in self.changed:
            lines.append(_("How to take part: %(old)s → %(new)s",
                           old=_format_label(old["format"]), new=_format_label(new["format"])))
        if {"venue_name", "venue_address"} & set(self.changed):
            lines.append(_("Venue: %(old)s → %(new)s",
                           old=" ".join(filter(None, [old["venue_name"], old["venue_address"]]))
                           or "—",
                           new=" ".join(filter(None, [new["venue_name"], new["venue_address"]]))
                           or "—"))
        if "online_url" in self.changed:
            # The link itself is only for confirmed participants: it stays on their page.
            lines.append(_("The link to join online has changed. Please use the link on your "
                           "registration page."))
        return "\n".join(lines)


# --- Events ---------------------------------------------------------------------------------


def _slug_base(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
    # Japanese titles leave little or nothing readable: better event-<id> than "2025".
    return base if len(base) >= 3 and re.search(r"[a-z]", base) else ""


def _slug_taken(session: SessionLike, slug: str, event_id: int | None) -> bool:
    query = select(Event.id).where(Event.slug == slug)
    if event_id is not None:
        query = query.where(Event.id != event_id)
    return session.execute(query).first() is not None


def _unique_slug(session: SessionLike, base: str, event: Event) -> str:
    base = base or f"event-{event.id}"
    candidate, number = base, 1
    while _slug_taken(session, candidate, event.id):
        number += 1
        candidate = f"{base[:72]}-{number}"
    return candidate


def _check_details(data: EventDetails) -> None:
    if not data.title.strip():
        raise EventError(_l("Please enter the title."), field="title")
    if data.slug and not SLUG_PATTERN.match(data.slug):
        raise EventError(_l("Please use lower-case letters, digits and hyphens only, "
                            "like tokyo-expo-2025."), field="slug")
    if data.ends_at <= data.starts_at:
        raise EventError(_l("The end must be after the start."), field="ends_at")
    if (data.daily_opens_at is None) != (data.daily_closes_at is None):
        target = "daily_closes_at" if data.daily_closes_at is None else "daily_opens_at"
        raise EventError(_l("Please give both the opening and the closing time, or neither."),
                         field=target)
    if data.daily_opens_at and data.daily_closes_at and (
            data.daily_closes_at <= data.daily_opens_at):
        raise EventError(_l("The closing time must be after the opening time."),
                         field="daily_closes_at")
    first = data.starts_at.astimezone(i18n.TOKYO).date()
    last = data.ends_at.astimezone(i18n.TOKYO).date()
    for day in data.closed_dates:
        if not first <= day <= last:
            raise EventError(_l("%(day)s is not a day of the event.", day=day.isoformat()),
                             field="closed_dates")


def _apply_details(event: Event, data: EventDetails) -> list[str]:
    """Copy the form's values onto the event; the names of the fields that changed."""
    values: dict[str, Any] = {
        "kind": data.kind,
        "format": data.format,
        "title": data.title.strip(),
        "summary": data.summary.strip(),
        "body": data.body.strip(),
        "themes": [theme.strip() for theme in data.themes if theme.strip()],
        "organizer_name": data.organizer_name.strip(),
        "contact": data.contact.strip(),
        "website_url": data.website_url.strip(),
        "venue_name": data.venue_name.strip(),
        "venue_address": data.venue_address.strip(),
        "online_url": data.online_url.strip(),
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "daily_opens_at": data.daily_opens_at,
        "daily_closes_at": data.daily_closes_at,
        "closed_dates": sorted({day.isoformat() for day in data.closed_dates}),
    }
    changed = []
    for name, value in values.items():
        if getattr(event, name, None) != value:
            setattr(event, name, value)
            changed.append(name)
    return changed


def _sync_pools(session: SessionLike, event: Event) -> None:
    """One seat pool per attendance mode the format offers."""
    wanted = event.attendance_modes
    for pool in list(event.seat_pools):
        if pool.mode in wanted:
            continue
        still_registered = session.execute(
            select(func.count()).select_from(Registration).where(
                Registration.event_id == event.id, Registration.attendance_mode == pool.mode,
                Registration.status.in_(ACTIVE_STATUSES))
        ).scalar_one()
        if still_registered:
            raise EventError(_l("People are registered to take part in a way this format no "
                                "longer offers. Cancel their registrations first."),
                             field="format")
        event.seat_pools.remove(pool)
    for mode in wanted:
        if event.pool_for(mode) is None:
            event.seat_pools.append(SeatPool(mode=mode, capacity=None, taken=0))


def _event_for_change(session: SessionLike, actor: User, event_id: int, *,
                      cancelled_ok: bool = False) -> Event:
    event = load_event(session, actor, event_id, edit=True)
    if event.status is EventStatus.CANCELLED and not cancelled_ok:
        raise EventError(_l("This event has been cancelled and can no longer be changed."))
    return event


def _time_and_place(event: Event) -> dict[str, Any]:
    return {name: copy.copy(getattr(event, name)) for name in TIME_AND_PLACE}


def create_event(session: SessionLike, actor: User, data: EventDetails) -> Event:
    """A new draft; its creator becomes its organiser. Seats are unlimited until set."""
    if actor.role is UserRole.VIEWER:
        raise PermissionDenied(_l("Viewers cannot create events."))
    _check_details(data)
    try:
        with write_transaction(session):
            if data.slug and _slug_taken(session, data.slug, None):
                raise EventError(_l("Another event already uses this address."), field="slug")
            # A placeholder until the id, which an untitled slug is made of, is known.
            event = Event(status=EventStatus.DRAFT, slug="new-" + secrets.token_hex(8))
            _apply_details(event, data)
            _sync_pools(session, event)
            session.add(event)
            session.flush()
            event.slug = data.slug or _unique_slug(session, _slug_base(data.title), event)
            session.add(EventMembership(event=event, user_id=actor.id,
                                        role=MembershipRole.ORGANIZER))
            record(session, actor, "event.create", event, event_id=event.id,
                   details={"kind": event.kind.value, "format": event.format.value})
    except IntegrityError:  # a concurrent creation took the same address
        raise EventError(_l("Another event already uses this address."), field="slug") from None
    return event


def _check_fits(event: Event) -> None:
    """The programme inside the event, the draw before it."""
    for item in event.sessions:
        if item.starts_at < event.starts_at or item.ends_at > event.ends_at:
            raise EventError(_l("The programme session “%(title)s” would fall outside the "
                                "event's times. Please change the programme first.",
                                title=item.title), field="ends_at")
    if event.lottery_draw_at is not None and event.lottery_draw_at >= event.starts_at:
        raise EventError(_l("The lottery draw must be before the event. Please change the "
                            "draw date in the registration settings first."), field="starts_at")


def update_event(session: SessionLike, actor: User, event_id: int, data: EventDetails) -> Event:
    """Change the event's details; a change of time or place is e-mailed to its registrants.

    Moving the start moves the programme with it.
    """
    _check_details(data)
    try:
        with write_transaction(session):
            event = _event_for_change(session, actor, event_id)
            before = _time_and_place(event)
            old_start = event.starts_at
            slug_changed = False
            if data.slug and data.slug != event.slug:
                if event.status is not EventStatus.DRAFT:
                    raise EventError(_l("The address of a published event cannot change: "
                                        "links to it have been shared."), field="slug")
                if _slug_taken(session, data.slug, event.id):
                    raise EventError(_l("Another event already uses this address."),
                                     field="slug")
                event.slug = data.slug
                slug_changed = True
            changed = ["slug"] * slug_changed + _apply_details(event, data)
            if event.starts_at != old_start:
                shift = event.starts_at - old_start
                for item in event.sessions:
                    item.starts_at += shift
                    item.ends_at += shift
            _check_fits(event)
            _sync_pools(session, event)
            summary = ChangeSummary(before, _time_and_place(event))
            notified = 0
            if summary:
                notified = notify_registrants(session, event, MessageKind.EVENT_CHANGED,
                                              changes=summary)
            if changed:
                record(session, actor, "event.update", event, event_id=event.id,
                       details={"fields": changed, "notified": notified})
    except IntegrityError:
        raise EventError(_l("Another event already uses this address."), field="slug") from None
    return event


def publish_event(session: SessionLike, actor: User, event_id: int, *,
                  now: datetime | None = None) -> Event:
    now = now or utcnow()
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        if event.status is not EventStatus.DRAFT:
            raise EventError(_l("This event has already been published."))
        problems = publication_problems(event, now)
        if problems:
            raise EventError(problems[0])
        event.publish()
        record(session, actor, "event.publish", event, event_id=event.id)
    return event


def cancel_event(session: SessionLike, actor: User, event_id: int, reason: str) -> int:
    """Cancel the event and tell every active registrant why; the number told.

    Registrations keep their status, so the event's figures stay as they were.
    """
    reason = reason.strip()
    if not reason:
        raise EventError(_l("Please give the reason: it is sent to the registrants."),
                         field="reason")
    if len(reason) > 1000:
        raise EventError(_l("Please use at most %(max)d characters.", max=1000), field="reason")
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id, cancelled_ok=True)
        if event.status is EventStatus.CANCELLED:
            raise EventError(_l("This event has already been cancelled."))
        event.cancel()
        notified = notify_registrants(session, event, MessageKind.EVENT_CANCELLED, reason=reason)
        record(session, actor, "event.cancel", event, event_id=event.id,
               details={"reason": reason, "notified": notified})
    return notified


_NOT_COPIED = {"id", "slug", "status", "created_at", "updated_at", "lottery_drawn_at",
               "waitlist_counter"}


def duplicate_event(session: SessionLike, actor: User, event_id: int) -> Event:
    """A draft copy: details, settings, programme, people, groups, questions and empty seat
    pools; no registrations, and only the actor as its organiser."""
    with write_transaction(session):
        original = _event_for_change(session, actor, event_id, cancelled_ok=True)
        copy_ = Event(status=EventStatus.DRAFT, slug="new-" + secrets.token_hex(8))
        for attribute in inspect(Event).column_attrs:
            if attribute.key not in _NOT_COPIED:
                setattr(copy_, attribute.key, copy.deepcopy(getattr(original, attribute.key)))
        copy_.seat_pools = [SeatPool(mode=pool.mode, capacity=pool.capacity, taken=0)
                            for pool in original.seat_pools]
        sessions: dict[int, ProgrammeSession] = {}
        for item in original.sessions:
            sessions[item.id] = ProgrammeSession(
                event=copy_, kind=item.kind, position=item.position, title=item.title,
                description=item.description, starts_at=item.starts_at, ends_at=item.ends_at)
        for person in original.people:
            EventPerson(event=copy_, session=sessions.get(person.session_id or 0),
                        role=person.role, position=person.position, name=person.name,
                        affiliation=person.affiliation, title=person.title)
        for group in original.breakout_groups:
            BreakoutGroup(event=copy_, session=sessions.get(group.session_id or 0),
                          position=group.position, name=group.name, theme=group.theme,
                          facilitator_name=group.facilitator_name,
                          facilitator_affiliation=group.facilitator_affiliation,
                          capacity=group.capacity, room=group.room)
        for question in original.questions:
            Question(event=copy_, key=question.key, position=question.position,
                     kind=question.kind, label=question.label, label_en=question.label_en,
                     help_text=question.help_text, options=list(question.options),
                     options_en=list(question.options_en), required=question.required,
                     max_length=question.max_length)
        for exhibitor in original.exhibitors:
            Exhibitor(event=copy_, position=exhibitor.position, name=exhibitor.name,
                      municipality_code=exhibitor.municipality_code)
        session.add(copy_)
        session.flush()
        copy_.slug = _unique_slug(session, original.slug, copy_)
        session.add(EventMembership(event=copy_, user_id=actor.id,
                                    role=MembershipRole.ORGANIZER))
        record(session, actor, "event.duplicate", copy_, event_id=copy_.id,
               details={"from_event": original.id})
    return copy_


# --- Registration settings ------------------------------------------------------------------


def _check_settings(session: SessionLike, event: Event, data: RegistrationSettings) -> None:
    opens, closes = data.registration_opens_at, data.registration_closes_at
    if opens and closes and closes <= opens:
        raise EventError(_l("Registration must close after it opens."),
                         field="registration_closes_at")
    if not 0 <= data.max_preference_ranks <= MAX_RANKS:
        raise EventError(_l("Please enter a number from 0 to %(max)d.", max=MAX_RANKS),
                         field="max_preference_ranks")
    if data.registration_mode is not event.registration_mode and session.execute(
            select(Registration.id).where(Registration.event_id == event.id).limit(1)
    ).first() is not None:
        raise EventError(_l("People have already registered: the way places are given "
                            "can no longer change."), field="registration_mode")
    if data.registration_mode is RegistrationMode.LOTTERY:
        draw = data.lottery_draw_at
        if draw is None:
            raise EventError(_l("Please give the date of the draw."), field="lottery_draw_at")
        if event.lottery_drawn_at is not None and draw != event.lottery_draw_at:
            raise EventError(_l("The lottery has been drawn; its date can no longer change."),
                             field="lottery_draw_at")
        if draw >= event.starts_at:
            raise EventError(_l("The draw must be before the event."), field="lottery_draw_at")
        if opens and draw <= opens:
            raise EventError(_l("The draw must be after registration opens."),
                             field="lottery_draw_at")
        _check_tiers(event, data.lottery_tiers)
    for mode, capacity in data.capacities.items():
        if capacity is not None and capacity < 0:
            raise EventError(_l("Please enter 0 or more, or leave empty for no limit."),
                             field=f"capacity_{mode.value}")


def _check_tiers(event: Event, tiers: list[dict[str, Any]]) -> None:
    questions = {question.key: question for question in event.questions}
    for number, rule in enumerate(tiers, start=1):
        question = questions.get(str(rule.get("question")))
        if question is None or question.kind is QuestionKind.TEXT:
            raise EventError(_l("Tier %(number)d: there is no choice question with the key "
                                "“%(key)s”.", number=number, key=rule.get("question")),
                             field="lottery_tiers")
        for option in rule.get("any_of", []):
            if option not in question.options:
                raise EventError(_l("Tier %(number)d: “%(option)s” is not an option of this "
                                    "question.", number=number, option=option),
                                 field="lottery_tiers")


def _fill_free_seats(session: SessionLike, event: Event, mode: AttendanceMode,
                     now: datetime) -> list[Registration]:
    """Promote people waiting, in order, while the pool has seats; call with the pool locked."""
    promoted = []
    while claim_seat(session, event.id, mode):
        registration = promote_from_waitlist(session, event.id, mode, now)
        if registration is None:
            release_seat(session, event.id, mode)
            break
        promoted.append(registration)
    return promoted


def update_registration_settings(
    session: SessionLike, actor: User, event_id: int, data: RegistrationSettings, *,
    now: datetime | None = None,
) -> list[Registration]:
    """Window, capacity per mode, waitlist or lottery, preference ranks.

    A capacity never goes below the seats already taken; raising it gives the new seats to
    the people waiting, in order. Returns those promoted.
    """
    now = now or utcnow()
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        _check_settings(session, event, data)
        changed = []
        for name in ("registration_required", "registration_opens_at",
                     "registration_closes_at", "registration_mode", "waitlist_enabled",
                     "confirm_email_address", "max_preference_ranks"):
            value = getattr(data, name)
            if getattr(event, name) != value:
                setattr(event, name, value)
                changed.append(name)
        lottery = data.registration_mode is RegistrationMode.LOTTERY
        draw_at = data.lottery_draw_at if lottery else None
        tiers = data.lottery_tiers if lottery else []
        if event.lottery_draw_at != draw_at:
            event.lottery_draw_at = draw_at
            changed.append("lottery_draw_at")
        if event.lottery_tiers != tiers:
            event.lottery_tiers = tiers
            changed.append("lottery_tiers")
        capacities: dict[str, int | None] = {}
        for mode in event.attendance_modes:
            pool = event.pool_for(mode)
            assert pool is not None  # every offered mode has a pool (_sync_pools)
            capacity = data.capacities.get(mode)
            lock_pool(session, event.id, mode)
            session.refresh(pool)
            if capacity is not None and capacity < pool.taken:
                raise EventError(_l("%(taken)d places are already confirmed: the capacity "
                                    "cannot be lower.", taken=pool.taken),
                                 field=f"capacity_{mode.value}")
            if pool.capacity != capacity:
                pool.capacity = capacity
                capacities[mode.value] = capacity
        session.flush()
        promoted: list[Registration] = []
        if not event.lottery_open:  # during a lottery, seats are given by the draw
            for mode in event.attendance_modes:
                promoted += _fill_free_seats(session, event, mode, now)
        if changed or capacities:
            record(session, actor, "event.settings", event, event_id=event.id,
                   details={"fields": changed, "capacities": capacities,
                            "promoted": [registration.id for registration in promoted]})
    return promoted


# --- Programme ------------------------------------------------------------------------------


def _check_session(event: Event, data: SessionInput) -> None:
    if not data.title.strip():
        raise EventError(_l("Please enter the title."), field="title")
    if data.ends_at <= data.starts_at:
        raise EventError(_l("The end must be after the start."), field="ends_at")
    if data.starts_at < event.starts_at:
        raise EventError(_l("The session cannot start before the event (%(when)s).",
                            when=i18n.format_local_datetime(event.starts_at)),
                         field="starts_at")
    if data.ends_at > event.ends_at:
        raise EventError(_l("The session cannot end after the event (%(when)s).",
                            when=i18n.format_local_datetime(event.ends_at)), field="ends_at")
    for person in data.people:
        if not person.name.strip():
            raise EventError(_l("Please enter the name."), field="people")


def _set_session_people(session: SessionLike, event: Event, item: ProgrammeSession,
                        people: list[PersonInput]) -> None:
    for old in list(item.people):
        item.people.remove(old)
        event.people.remove(old)  # an orphan now: deleted at flush
    for position, person in enumerate(people):
        session.add(EventPerson(event=event, session=item, role=person.role, position=position,
                                name=person.name.strip(), affiliation=person.affiliation.strip(),
                                title=person.title.strip()))


def _owned(item: Any, event: Event) -> Any:
    """A child record of this event, or NotFound: ids from one event never reach another."""
    if item is None or item.event_id != event.id:
        raise NotFound(_l("This item does not exist."))
    return item


def add_session(session: SessionLike, actor: User, event_id: int,
                data: SessionInput) -> ProgrammeSession:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        _check_session(event, data)
        item = ProgrammeSession(event=event, kind=data.kind, title=data.title.strip(),
                                description=data.description.strip(),
                                starts_at=data.starts_at, ends_at=data.ends_at,
                                position=len(event.sessions))
        session.add(item)
        session.flush()
        _set_session_people(session, event, item, data.people)
        record(session, actor, "programme.add", item, event_id=event.id)
    return item


def update_session(session: SessionLike, actor: User, event_id: int, session_id: int,
                   data: SessionInput) -> ProgrammeSession:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        item = _owned(session.get(ProgrammeSession, session_id), event)
        _check_session(event, data)
        item.kind = data.kind
        item.title = data.title.strip()
        item.description = data.description.strip()
        item.starts_at, item.ends_at = data.starts_at, data.ends_at
        _set_session_people(session, event, item, data.people)
        record(session, actor, "programme.update", item, event_id=event.id)
    return item


def remove_session(session: SessionLike, actor: User, event_id: int, session_id: int) -> None:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        item = _owned(session.get(ProgrammeSession, session_id), event)
        # Its speakers go with it; without this the ORM would keep them as event-wide people.
        _set_session_people(session, event, item, [])
        event.sessions.remove(item)
        record(session, actor, "programme.remove", item, event_id=event.id)


def add_person(session: SessionLike, actor: User, event_id: int,
               data: PersonInput) -> EventPerson:
    """A person of the whole event (the moderator, say), not of one session."""
    if not data.name.strip():
        raise EventError(_l("Please enter the name."), field="name")
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        person = EventPerson(event=event, session=None, role=data.role, name=data.name.strip(),
                             affiliation=data.affiliation.strip(), title=data.title.strip(),
                             position=len(event.people))
        session.add(person)
        session.flush()
        record(session, actor, "person.add", person, event_id=event.id,
               details={"role": data.role.value})
    return person


def remove_person(session: SessionLike, actor: User, event_id: int, person_id: int) -> None:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        person = _owned(session.get(EventPerson, person_id), event)
        if person.session is not None:
            person.session.people.remove(person)
        event.people.remove(person)
        record(session, actor, "person.remove", person, event_id=event.id)


# --- Breakout groups ------------------------------------------------------------------------


def _check_group(event: Event, data: GroupInput,
                 group_id: int | None) -> None:
    name = data.name.strip()
    if not name:
        raise EventError(_l("Please enter the name."), field="name")
    if any(group.name == name and group.id != group_id for group in event.breakout_groups):
        raise EventError(_l("Another group of this event has this name."), field="name")
    if data.capacity is not None and data.capacity < 0:
        raise EventError(_l("Please enter 0 or more, or leave empty for no limit."),
                         field="capacity")
    if data.session_id is not None and data.session_id not in {s.id for s in event.sessions}:
        raise EventError(_l("Please choose a session of this event."), field="session_id")


def _apply_group(group: BreakoutGroup, data: GroupInput) -> None:
    group.name = data.name.strip()
    group.theme = data.theme.strip()
    group.facilitator_name = data.facilitator_name.strip()
    group.facilitator_affiliation = data.facilitator_affiliation.strip()
    group.capacity = data.capacity
    group.room = data.room.strip()
    group.session_id = data.session_id


def add_group(session: SessionLike, actor: User, event_id: int,
              data: GroupInput) -> BreakoutGroup:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        _check_group(event, data, None)
        group = BreakoutGroup(event=event, position=len(event.breakout_groups))
        _apply_group(group, data)
        session.add(group)
        session.flush()
        record(session, actor, "group.add", group, event_id=event.id)
    return group


def update_group(session: SessionLike, actor: User, event_id: int, group_id: int,
                 data: GroupInput) -> BreakoutGroup:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        group = _owned(session.get(BreakoutGroup, group_id), event)
        _check_group(event, data, group.id)
        _apply_group(group, data)
        record(session, actor, "group.update", group, event_id=event.id)
    return group


def remove_group(session: SessionLike, actor: User, event_id: int, group_id: int) -> None:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        group = _owned(session.get(BreakoutGroup, group_id), event)
        chosen = session.execute(select(BreakoutPreference.id).where(
            BreakoutPreference.group_id == group.id).limit(1)).first()
        if chosen is not None:
            raise EventError(_l("Registrants have chosen this group: it cannot be removed."))
        # The database would set the limit to NULL, which would open every roster to them.
        limited = session.execute(select(EventMembership.id).where(
            EventMembership.breakout_group_id == group.id).limit(1)).first()
        if limited is not None:
            raise EventError(_l("A member's access is limited to this group. Remove that "
                                "member first."))
        event.breakout_groups.remove(group)
        record(session, actor, "group.remove", group, event_id=event.id)


# --- Custom questions -----------------------------------------------------------------------


def _clean_options(values: list[str]) -> list[str]:
    return [value.strip() for value in values if value.strip()]


def _check_question(data: QuestionInput) -> tuple[list[str], list[str]]:
    """The options to store (none for text questions), checked."""
    if not data.label.strip():
        raise EventError(_l("Please enter the question."), field="label")
    if data.kind is QuestionKind.TEXT:
        if data.max_length is not None and not 0 < data.max_length <= MAX_TEXT_ANSWER:
            raise EventError(_l("Please enter a number from 1 to %(max)d.", max=MAX_TEXT_ANSWER),
                             field="max_length")
        return [], []
    options, options_en = _clean_options(data.options), _clean_options(data.options_en)
    if len(options) < 2:
        raise EventError(_l("Please give at least two options, one per line."),
                         field="options")
    if len(set(options)) != len(options):
        raise EventError(_l("Each option must be different."), field="options")
    if any(len(option) > MAX_OPTION_LENGTH for option in options + options_en):
        raise EventError(_l("Please keep each option under %(max)d characters.",
                            max=MAX_OPTION_LENGTH), field="options")
    if options_en and len(options_en) != len(options):
        raise EventError(_l("Please give one English option for each option, in the same "
                            "order, or none."), field="options_en")
    return options, options_en


def _tier_options(event: Event, key: str) -> set[str]:
    return {option for rule in event.lottery_tiers if rule.get("question") == key
            for option in rule.get("any_of", [])}


def add_question(session: SessionLike, actor: User, event_id: int,
                 data: QuestionInput) -> Question:
    options, options_en = _check_question(data)
    if data.key and not QUESTION_KEY_PATTERN.match(data.key):
        raise EventError(_l("Please use lower-case letters, digits and underscores, starting "
                            "with a letter, like residence."), field="key")
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        keys = {question.key for question in event.questions}
        if data.key in keys:
            raise EventError(_l("Another question of this event has this key."), field="key")
        key = data.key or next(f"q{n}" for n in range(1, len(keys) + 2) if f"q{n}" not in keys)
        question = Question(event=event, key=key, position=len(event.questions),
                            kind=data.kind, label=data.label.strip(),
                            label_en=data.label_en.strip(), help_text=data.help_text.strip(),
                            options=options, options_en=options_en, required=data.required,
                            max_length=data.max_length if data.kind is QuestionKind.TEXT
                            else None)
        session.add(question)
        session.flush()
        record(session, actor, "question.add", question, event_id=event.id)
    return question


def update_question(session: SessionLike, actor: User, event_id: int, question_id: int,
                    data: QuestionInput) -> Question:
    """Answers are kept under the question's options: options that people chose, or that the
    lottery tiers use, cannot be removed, and an answered question keeps its kind."""
    options, options_en = _check_question(data)
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        question = _owned(session.get(Question, question_id), event)
        answers = [found.get(question.key) for found in session.execute(
            select(Registration.answers).where(Registration.event_id == event.id)).scalars()
            if found and found.get(question.key) not in (None, "", [])]
        if answers and data.kind is not question.kind:
            raise EventError(_l("People have answered this question: its type can no longer "
                                "change."), field="kind")
        chosen = {value for answer in answers
                  for value in (answer if isinstance(answer, list) else [answer])}
        if question.kind is not QuestionKind.TEXT:
            dropped = [option for option in question.options if option not in options]
            in_use = [option for option in dropped
                      if option in chosen or option in _tier_options(event, question.key)]
            if in_use:
                raise EventError(_l("These options have been chosen by registrants or are used "
                                    "by the lottery tiers, and cannot be removed: %(options)s",
                                    options="、".join(in_use)), field="options")
        question.kind = data.kind
        question.label = data.label.strip()
        question.label_en = data.label_en.strip()
        question.help_text = data.help_text.strip()
        question.options, question.options_en = options, options_en
        question.required = data.required
        question.max_length = data.max_length if data.kind is QuestionKind.TEXT else None
        record(session, actor, "question.update", question, event_id=event.id)
    return question


def remove_question(session: SessionLike, actor: User, event_id: int, question_id: int) -> None:
    """Answers already given stay in the registrations; only the question goes."""
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        question = _owned(session.get(Question, question_id), event)
        if any(rule.get("question") == question.key for rule in event.lottery_tiers):
            raise EventError(_l("The lottery tiers use this question. Change them in the "
                                "registration settings first."))
        event.questions.remove(question)
        for position, other in enumerate(event.questions):
            other.position = position
        record(session, actor, "question.remove", question, event_id=event.id,
               details={"key": question.key})


def move_question(session: SessionLike, actor: User, event_id: int, question_id: int,
                  offset: int) -> None:
    """Move a question up (-1) or down (+1) the form."""
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        question = _owned(session.get(Question, question_id), event)
        ordered = list(event.questions)
        index = ordered.index(question)
        target = max(0, min(len(ordered) - 1, index + offset))
        ordered.insert(target, ordered.pop(index))
        for position, item in enumerate(ordered):
            item.position = position
        record(session, actor, "question.move", question, event_id=event.id,
               details={"position": target})


# --- Members --------------------------------------------------------------------------------


def add_member(session: SessionLike, actor: User, event_id: int, email: str,
               role: MembershipRole, breakout_group_id: int | None = None) -> EventMembership:
    """Give an account access to the event; a viewer may be limited to one group's roster.

    Adding someone who is already a member changes their role.
    """
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id, cancelled_ok=True)
        user = find_user(session, email)
        if user is None:
            raise EventError(_l("There is no account with this email address. An administrator "
                                "can create one."), field="email")
        if role is MembershipRole.ORGANIZER and user.role is UserRole.VIEWER:
            raise EventError(_l("This account is a viewer account: it can only be given view "
                                "access."), field="role")
        if breakout_group_id is not None:
            if role is not MembershipRole.VIEWER:
                raise EventError(_l("Only viewers can be limited to one group."),
                                 field="breakout_group_id")
            if breakout_group_id not in {group.id for group in event.breakout_groups}:
                raise EventError(_l("Please choose a group of this event."),
                                 field="breakout_group_id")
        found = session.execute(select(EventMembership).where(
            EventMembership.event_id == event.id, EventMembership.user_id == user.id)
        ).scalar_one_or_none()
        if found is not None and found.role is MembershipRole.ORGANIZER and (
                role is not MembershipRole.ORGANIZER):
            _keep_an_organizer(session, event.id, found)
        action = "member.update" if found is not None else "member.add"
        membership = found or EventMembership(event_id=event.id, user_id=user.id)
        membership.role = role
        membership.breakout_group_id = breakout_group_id
        session.add(membership)
        session.flush()
        record(session, actor, action, membership, event_id=event.id,
               details={"user_id": user.id, "role": role.value,
                        "breakout_group_id": breakout_group_id})
    return membership


def _keep_an_organizer(session: SessionLike, event_id: int, leaving: EventMembership) -> None:
    others = session.execute(select(func.count()).select_from(EventMembership).where(
        EventMembership.event_id == event_id, EventMembership.role == MembershipRole.ORGANIZER,
        EventMembership.id != leaving.id)).scalar_one()
    if not others:
        raise EventError(_l("An event needs at least one organiser."))


def remove_member(session: SessionLike, actor: User, event_id: int, membership_id: int) -> None:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id, cancelled_ok=True)
        membership = _owned(session.get(EventMembership, membership_id), event)
        if membership.role is MembershipRole.ORGANIZER:
            _keep_an_organizer(session, event.id, membership)
        session.delete(membership)
        record(session, actor, "member.remove", membership, event_id=event.id,
               details={"user_id": membership.user_id})
