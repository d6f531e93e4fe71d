"""An organizer's work on the registrants of one event: find, look at, edit, cancel, move
between the waiting list and the seats, add by hand, and write to a filtered set of them.

Seats follow the rules of app/services/registration.py, which these functions call rather
than repeat: a seat is claimed or handed on under the pool's lock, in the same transaction
as the change and the messages that report it. Every change is written to the audit log in
that transaction too, naming people by registration id, never by their personal data.

The list is built for events of 10,000 registrations: the filters and the count run in SQL,
one page of rows is loaded, and their breakout preferences come in one more query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import geo
from app.database import SessionLike, write_transaction
from app.models import AuditEntry, BreakoutPreference, Event, Registration, SeatPool, User
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    EventStatus,
    MessageKind,
    OrganizationType,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.messages import queue_message
from app.services.registration import (
    AddedByOrganizer,
    AddressTaken,
    RegistrationInput,
    SignupResult,
    add_registration,
    cancel_in_transaction,
    claim_seat,
    hand_on_seat,
    lock_pool,
    next_waitlist_seq,
)
from app.text import furigana_key, is_kana, normalize_email, normalize_furigana, normalize_spaces

MESSAGES = {
    "not_found": _l("This registration does not exist."),
    "event_not_found": _l("This event does not exist."),
    "event_cancelled": _l("This event has been cancelled."),
    "email_taken": _l("Another active registration for this event already uses this email "
                      "address."),
    "not_confirmed": _l("Only a confirmed registration can be moved to the waiting list."),
    "not_waiting": _l("Only a registration on the waiting list or not drawn in the lottery "
                      "can be confirmed."),
    "no_pool": _l("This event has no seats for this way of taking part."),
    "mode": _l("Please choose how you will take part."),
    "name": _l("Please enter your name."),
    "furigana": _l("Please enter the reading of your name."),
    "kana": _l("Please write your name's reading in hiragana or katakana."),
    "email": _l("Please enter your email address."),
    "email_syntax": _l("Please enter a valid email address, like taro@example.jp."),
    "organization": _l("Please enter the name of your organisation."),
    "municipality": _l("Please choose a municipality of the chosen prefecture."),
    "no_recipients": _l("No registrants match these filters."),
    "announce_cancelled": _l("Announcements go to active registrations only."),
    "subject": _l("Please enter a subject."),
    "body": _l("Please write the message."),
}

# Status filters: one status, or every active one ("active"); "" is no filter at all.
STATUS_ACTIVE = "active"
STATUS_FILTERS = ("", STATUS_ACTIVE, *(status.value for status in RegistrationStatus))
PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_SUBJECT = 150
MAX_BODY = 5000
MAX_REASON = 500

# How a hand-added registration reached the organizer (recorded in the audit log).
SOURCES = {
    "phone": _l("Phone"),
    "walk_in": _l("At the door"),
    "email": _l("Email"),
    "paper": _l("Paper form or fax"),
    "other": _l("Other"),
}


class RegistrantError(DomainError):
    """Input the organizer can correct (422)."""

    code = "registrant_invalid"


class RegistrantConflict(DomainError):
    """The registration or the event is not in a state that allows the change (409)."""

    code = "registrant_conflict"


class PoolFull(RegistrantConflict):
    code = "pool_full"


@dataclass(frozen=True)
class RegistrantFilters:
    status: str = ""
    mode: AttendanceMode | None = None
    prefecture_code: str = ""
    organization_type: OrganizationType | None = None
    # The group a registrant ranked first (assigned groups do not exist yet).
    first_choice_group_id: int | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments, the way the list's form sends them."""
        args = {
            "status": self.status,
            "mode": self.mode.value if self.mode else "",
            "prefecture": self.prefecture_code,
            "organization_type": self.organization_type.value if self.organization_type else "",
            "group": str(self.first_choice_group_id or ""),
        }
        return {key: value for key, value in args.items() if value}


# Confirmed first, cancelled last: the order of the enum, not of the stored words.
_STATUS_ORDER = case({status: index for index, status in enumerate(RegistrationStatus)},
                     value=Registration.status)
SORTS: dict[str, tuple[Any, ...]] = {
    "furigana": (Registration.furigana_key, Registration.id),
    "-furigana": (Registration.furigana_key.desc(), Registration.id.desc()),
    "created": (Registration.created_at, Registration.id),
    "-created": (Registration.created_at.desc(), Registration.id.desc()),
    "status": (_STATUS_ORDER, Registration.waitlist_seq, Registration.furigana_key,
               Registration.id),
    "organisation": (Registration.organization_name, Registration.furigana_key, Registration.id),
}
DEFAULT_SORT = "furigana"


@dataclass(frozen=True)
class RegistrantPage:
    items: list[Registration]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.page * self.per_page, self.total)


def _like(column: Any, text: str) -> ColumnElement[bool]:
    """A case-insensitive substring match that treats % and _ in the query literally."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _term_condition(term: str) -> ColumnElement[bool]:
    """One search word against name, reading, email and organisation.

    The reading is compared folded (katakana and half-width kana as hiragana, no spaces), so
    ヤマダ and ﾔﾏﾀﾞ find やまだ; the name also without its spaces, so 山田太郎 finds 山田 太郎.
    """
    folded = normalize_spaces(term)
    return or_(
        _like(Registration.name, folded),
        _like(func.replace(Registration.name, " ", ""), folded),
        Registration.furigana_key.contains(furigana_key(term), autoescape=True),
        Registration.email_normalized.contains(normalize_email(term), autoescape=True),
        _like(Registration.organization_name, folded),
    )


def _conditions(
    event_id: int, query: str, filters: RegistrantFilters
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event_id]
    conditions += [_term_condition(term) for term in normalize_spaces(query).split(" ") if term]
    if filters.status == STATUS_ACTIVE:
        conditions.append(Registration.status.in_(ACTIVE_STATUSES))
    elif filters.status:
        conditions.append(Registration.status == RegistrationStatus(filters.status))
    if filters.mode is not None:
        conditions.append(Registration.attendance_mode == filters.mode)
    if filters.prefecture_code:
        conditions.append(Registration.prefecture_code == filters.prefecture_code)
    if filters.organization_type is not None:
        conditions.append(Registration.organization_type == filters.organization_type)
    if filters.first_choice_group_id is not None:
        conditions.append(exists().where(
            BreakoutPreference.registration_id == Registration.id,
            BreakoutPreference.rank == 1,
            BreakoutPreference.group_id == filters.first_choice_group_id,
        ))
    return conditions


def search_registrations(
    session: SessionLike,
    event_id: int,
    query: str = "",
    filters: RegistrantFilters | None = None,
    sort: str = DEFAULT_SORT,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> RegistrantPage:
    """One page of an event's registrations; three queries whatever the page size.

    An unknown sort falls back to furigana order and a page past the end shows the last one,
    so that an edited or outdated link still shows something sensible.
    """
    conditions = _conditions(event_id, query, filters or RegistrantFilters())
    total = int(session.execute(
        select(func.count()).select_from(Registration).where(*conditions)
    ).scalar_one())
    per_page = per_page if per_page in PER_PAGE_CHOICES else DEFAULT_PER_PAGE
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    order = SORTS.get(sort, SORTS[DEFAULT_SORT])
    items = list(session.execute(
        select(Registration)
        .where(*conditions)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .options(selectinload(Registration.preferences))
    ).scalars())
    return RegistrantPage(items=items, total=total, page=page, per_page=per_page)


def status_counts(session: SessionLike, event_id: int) -> dict[RegistrationStatus, int]:
    rows = session.execute(
        select(Registration.status, func.count())
        .where(Registration.event_id == event_id)
        .group_by(Registration.status)
    ).all()
    return {status: int(count) for status, count in rows}


def get_registration(session: SessionLike, event_id: int, registration_id: int) -> Registration:
    """The registration if it belongs to the event; raises NotFound otherwise."""
    registration = session.execute(
        select(Registration)
        .where(Registration.id == registration_id, Registration.event_id == event_id)
        .options(selectinload(Registration.preferences).selectinload(BreakoutPreference.group))
    ).scalar_one_or_none()
    if registration is None:
        raise NotFound(MESSAGES["not_found"])
    return registration


def history(session: SessionLike, registration: Registration) -> list[AuditEntry]:
    """What organizers did to this registration, in the order they did it."""
    return list(session.execute(
        select(AuditEntry)
        .where(AuditEntry.target_type == "Registration", AuditEntry.target_id == registration.id)
        .order_by(AuditEntry.at, AuditEntry.id)
        .options(selectinload(AuditEntry.actor))
    ).scalars())


@dataclass(frozen=True)
class PersonInput:
    """Who the registrant is: what an organizer may correct after sign-up."""

    name: str
    furigana: str
    email: str
    organization_name: str
    organization_type: OrganizationType
    prefecture_code: str
    municipality_code: str


def person_errors(person: PersonInput) -> list[tuple[str, Any]]:
    """The sign-up form's checks as (field, message) pairs, for callers without that form."""
    errors: list[tuple[str, Any]] = []

    def check_length(name: str, value: str, limit: int) -> None:
        if len(value) > limit:
            errors.append((name, _l("Please use at most %(max)d characters.", max=limit)))

    name = normalize_spaces(person.name)
    if not name:
        errors.append(("name", MESSAGES["name"]))
    check_length("name", name, 100)
    reading = normalize_furigana(person.furigana)
    if not reading:
        errors.append(("furigana", MESSAGES["furigana"]))
    elif not is_kana(reading):
        errors.append(("furigana", MESSAGES["kana"]))
    check_length("furigana", reading, 100)
    email = person.email.strip()
    if not email:
        errors.append(("email", MESSAGES["email"]))
    else:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            errors.append(("email", MESSAGES["email_syntax"]))
        check_length("email", email, 254)
    organization = normalize_spaces(person.organization_name)
    if person.organization_type is not OrganizationType.INDIVIDUAL and not organization:
        errors.append(("organization_name", MESSAGES["organization"]))
    check_length("organization_name", organization, 200)
    found = geo.municipality(person.municipality_code)
    if found is None or found.prefecture_code != person.prefecture_code:
        errors.append(("municipality", MESSAGES["municipality"]))
    return errors


def _check_person(person: PersonInput) -> None:
    errors = person_errors(person)
    if errors:
        field_name, message = errors[0]
        raise RegistrantError(message, field=field_name)


def _email_taken(
    session: SessionLike, event_id: int, email_normalized: str, *, except_id: int | None = None
) -> bool:
    query = select(Registration.id).where(
        Registration.event_id == event_id,
        Registration.email_normalized == email_normalized,
        Registration.status.in_(ACTIVE_STATUSES),
    )
    if except_id is not None:
        query = query.where(Registration.id != except_id)
    return session.execute(query.limit(1)).first() is not None


def _load_for_update(session: SessionLike, registration_id: int) -> Registration:
    registration = session.get(Registration, registration_id, populate_existing=True)
    if registration is None:
        raise NotFound(MESSAGES["not_found"])
    return registration


def edit_registration(
    session: SessionLike,
    actor: User | None,
    registration_id: int,
    person: PersonInput,
    answers: dict[str, Any],
) -> Registration:
    """Correct who the registrant is and their answers; the seat is not touched.

    A new email address must not be used by another active registration of the event: the
    unique index would refuse it anyway, and the organizer deserves a message, not an error.
    """
    _check_person(person)
    email_normalized = normalize_email(person.email)
    values = {
        "name": normalize_spaces(person.name),
        "furigana": normalize_furigana(person.furigana),
        "furigana_key": furigana_key(person.furigana),
        "email": person.email.strip(),
        "email_normalized": email_normalized,
        "organization_name": normalize_spaces(person.organization_name),
        "organization_type": person.organization_type,
        "prefecture_code": person.prefecture_code,
        "municipality_code": person.municipality_code,
        "answers": answers,
    }
    try:
        with write_transaction(session):
            registration = _load_for_update(session, registration_id)
            if registration.is_active and _email_taken(
                session, registration.event_id, email_normalized, except_id=registration.id
            ):
                raise RegistrantConflict(MESSAGES["email_taken"], field="email")
            changed = sorted(
                name for name, value in values.items()
                if name not in ("furigana_key", "email_normalized")
                and getattr(registration, name) != value
            )
            for name, value in values.items():
                setattr(registration, name, value)
            if changed:
                record(session, actor, "registration.edit", registration,
                       event_id=registration.event_id, details={"fields": changed})
    except IntegrityError as error:
        # Another registration took the address between our check and the commit.
        raise RegistrantConflict(MESSAGES["email_taken"], field="email") from error
    return registration


def cancel_by_organizer(
    session: SessionLike, actor: User | None, registration_id: int, reason: str,
    *, now: datetime | None = None,
) -> Registration | None:
    """Cancel and tell the person why; their seat goes to the first person waiting.

    Returns the promoted registration, if any.
    """
    now = now or utcnow()
    reason = reason.strip()[:MAX_REASON]
    with write_transaction(session):
        registration = _load_for_update(session, registration_id)
        previous = registration.status
        try:
            promoted = cancel_in_transaction(
                session, registration, now, MessageKind.CANCELLED_BY_ORGANIZER, reason=reason
            )
        except DomainError as error:
            raise RegistrantConflict(error.message) from error
        record(session, actor, "registration.cancel", registration,
               event_id=registration.event_id,
               details={"from": previous.value, "with_reason": bool(reason),
                        "promoted": promoted.id if promoted else None})
        if promoted is not None:
            record(session, actor, "registration.promote", promoted,
                   event_id=promoted.event_id, details={"seat_of": registration.id})
    return promoted


def move_to_waitlist(
    session: SessionLike, actor: User | None, registration_id: int,
    *, now: datetime | None = None,
) -> Registration | None:
    """A confirmed registration goes to the end of the waiting list.

    Its seat is handed on exactly as on cancellation, to the first person already waiting;
    that happens before the move, so the person moved cannot get their own seat back.
    Returns the promoted registration, if any.
    """
    now = now or utcnow()
    with write_transaction(session):
        registration = _load_for_update(session, registration_id)
        lock_pool(session, registration.event_id, registration.attendance_mode)
        session.refresh(registration, with_for_update=True)
        if registration.status is not RegistrationStatus.CONFIRMED:
            raise RegistrantConflict(MESSAGES["not_confirmed"])
        promoted = hand_on_seat(session, registration.event_id, registration.attendance_mode,
                                now)
        registration.waitlist(next_waitlist_seq(session, registration.event_id))
        queue_message(session, MessageKind.WAITLISTED, registration)
        record(session, actor, "registration.move_to_waitlist", registration,
               event_id=registration.event_id,
               details={"promoted": promoted.id if promoted else None})
        if promoted is not None:
            record(session, actor, "registration.promote", promoted,
                   event_id=promoted.event_id, details={"seat_of": registration.id})
    return promoted


def confirm_from_waitlist(
    session: SessionLike, actor: User | None, registration_id: int, over_capacity: bool,
    *, now: datetime | None = None,
) -> bool:
    """Give a seat to someone waiting (or not drawn). Returns True if the pool grew by one.

    When every seat is taken this raises PoolFull, unless the organizer explicitly chose
    `over_capacity`: then the pool's capacity is raised by one in the same UPDATE that takes
    the seat (the database refuses taken > capacity), and the raise is audited on its own.
    """
    now = now or utcnow()
    with write_transaction(session):
        registration = _load_for_update(session, registration_id)
        event_id, mode = registration.event_id, registration.attendance_mode
        lock_pool(session, event_id, mode)
        session.refresh(registration, with_for_update=True)
        previous = registration.status
        if previous not in (RegistrationStatus.WAITLISTED, RegistrationStatus.NOT_DRAWN):
            raise RegistrantConflict(MESSAGES["not_waiting"])
        raised = False
        if not claim_seat(session, event_id, mode):
            pool = session.execute(
                select(SeatPool).where(SeatPool.event_id == event_id, SeatPool.mode == mode)
            ).scalar_one_or_none()
            if pool is None or pool.capacity is None:
                raise RegistrantConflict(MESSAGES["no_pool"])
            if not over_capacity:
                raise PoolFull(_l(
                    "Every seat is taken (capacity: %(capacity)d). Confirm over capacity to add "
                    "one seat for this person.", capacity=pool.capacity))
            capacity = pool.capacity
            session.execute(
                update(SeatPool)
                .where(SeatPool.id == pool.id)
                .values(capacity=SeatPool.capacity + 1, taken=SeatPool.taken + 1)
                .execution_options(synchronize_session=False)
            )
            record(session, actor, "seat_pool.raise_capacity", pool, event_id=event_id,
                   details={"mode": mode.value, "from": capacity, "to": capacity + 1,
                            "for_registration": registration.id})
            raised = True
        registration.confirm(now)
        queue_message(session, MessageKind.PROMOTED, registration)
        record(session, actor, "registration.confirm", registration, event_id=event_id,
               details={"from": previous.value, "over_capacity": raised})
    return raised


def load_event_for_change(session: SessionLike, event_id: int) -> Event:
    """The event, fresh inside a write transaction; a cancelled event takes no one new."""
    event = session.get(Event, event_id, populate_existing=True)
    if event is None:
        raise NotFound(MESSAGES["event_not_found"])
    if event.status is EventStatus.CANCELLED:
        raise RegistrantConflict(MESSAGES["event_cancelled"])
    return event


def add_registration_by_hand(
    session: SessionLike,
    actor: User | None,
    event_id: int,
    data: RegistrationInput,
    *,
    source: str,
    note: str = "",
    notify: bool = True,
    now: datetime | None = None,
) -> SignupResult:
    """A phone sign-up or a walk-in: a seat, the waiting list or the lottery, like a sign-up.

    The registration window is not checked (the organizer may add people after it closed),
    but capacity is. An email address is required, as on the form: it is how the person is
    told about their seat and changes, the only way into their manage page, and what makes
    a second registration of the same person detectable; visitors without one are counted
    by the door's anonymous tally instead. An address already registered is refused with a
    message, where a participant would silently get their link again.
    """
    now = now or utcnow()
    _check_person(PersonInput(
        data.name, data.furigana, data.email, data.organization_name, data.organization_type,
        data.prefecture_code, data.municipality_code))
    if source not in SOURCES:
        raise RegistrantError(_l("Please choose how the registration reached you."),
                              field="source")
    by = AddedByOrganizer(actor.id if actor is not None else None, "registration.add_by_hand",
                          details={"source": source}, note=note, notify=notify)
    try:
        with write_transaction(session):
            event = load_event_for_change(session, event_id)
            if data.attendance_mode not in event.attendance_modes:
                raise RegistrantError(MESSAGES["mode"], field="attendance_mode")
            return add_registration(session, event, data, now, by)
    except (AddressTaken, IntegrityError) as error:
        # IntegrityError: someone signed up with the address between our look and our insert.
        raise RegistrantConflict(MESSAGES["email_taken"], field="email") from error


def _announcement_filters(filters: RegistrantFilters) -> RegistrantFilters:
    """People who cancelled are not written to; without a status filter, every active one."""
    if filters.status == RegistrationStatus.CANCELLED.value:
        raise RegistrantError(MESSAGES["announce_cancelled"], field="status")
    if filters.status:
        return filters
    return RegistrantFilters(
        status=STATUS_ACTIVE, mode=filters.mode, prefecture_code=filters.prefecture_code,
        organization_type=filters.organization_type,
        first_choice_group_id=filters.first_choice_group_id,
    )


def count_recipients(session: SessionLike, event_id: int, filters: RegistrantFilters) -> int:
    """How many people an announcement with these filters would go to (the confirm step)."""
    conditions = _conditions(event_id, "", _announcement_filters(filters))
    return int(session.execute(
        select(func.count()).select_from(Registration).where(*conditions)
    ).scalar_one())


def send_announcement(
    session: SessionLike,
    actor: User | None,
    event_id: int,
    filters: RegistrantFilters,
    subject: str,
    body: str,
    *,
    expected: int | None = None,
) -> int:
    """Queue the organizer's message to every registrant the filters select, in one go.

    `expected` is the count the organizer confirmed: if registrations changed meanwhile, the
    message is not sent and the new count is reported, so nobody is written to unexpectedly.
    Returns the number of messages queued.
    """
    subject, body = normalize_spaces(subject), body.strip()
    if not subject:
        raise RegistrantError(MESSAGES["subject"], field="subject")
    if len(subject) > MAX_SUBJECT:
        raise RegistrantError(_l("Please use at most %(max)d characters.", max=MAX_SUBJECT),
                              field="subject")
    if not body:
        raise RegistrantError(MESSAGES["body"], field="body")
    if len(body) > MAX_BODY:
        raise RegistrantError(_l("Please use at most %(max)d characters.", max=MAX_BODY),
                              field="body")
    with write_transaction(session):
        event = session.get(Event, event_id, populate_existing=True)
        if event is None:
            raise NotFound(MESSAGES["event_not_found"])
        conditions = _conditions(event_id, "", _announcement_filters(filters))
        recipients = session.execute(
            select(Registration).where(*conditions).order_by(Registration.id)
        ).scalars().all()
        if not recipients:
            raise RegistrantConflict(MESSAGES["no_recipients"])
        if expected is not None and expected != len(recipients):
            raise RegistrantConflict(_l(
                "The number of recipients has changed to %(count)d since you checked it. "
                "Please check again before sending.", count=len(recipients)))
        for registration in recipients:
            queue_message(session, MessageKind.ANNOUNCEMENT, registration, subject=subject,
                          body=body)
        entry = record(session, actor, "announcement.send", event, event_id=event_id,
                       details={"recipients": len(recipients), "filters": filters.as_args()})
        entry.summary = subject
    return len(recipients)

