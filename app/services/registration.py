"""Sign-up: the one path by which a registration is made, and the seat it takes or gives up.

Every registration is made by `add_registration()` inside a write transaction: the public
form and a confirmed e-mail address through `register()`, an organizer's phone or walk-in
entry (console and `POST /api/v1/events/<id>/registrations`) and an import with
`AddedByOrganizer`. It reads the event's terms, writes the registration with its answers
and preferences, its outbox message and audit row, and only then claims the seat with one
conditional UPDATE of the seat pool (`taken < capacity`, backed by the `not_overbooked`
check); the transaction commits right after. PostgreSQL locks the pool row from the claim to
the commit, and every sign-up for the event queues on that row, so nothing else happens
while it is held. When no seat is left the registration takes the next place on the waiting
list instead (the event's queue counter), and its message and audit row are restated in the
same commit. SQLite runs the whole transaction under its write lock (BEGIN IMMEDIATE).

Nothing is counted in Python and then trusted, so two sign-ups for the last seat can never
both win; the partial unique index on active registrations turns a double submit into
"already registered". Cancellations hand a confirmed seat to the first person waiting in
the same transaction (`cancel_in_transaction`), with the pool row locked first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.database import SessionLike, write_transaction
from app.models import (
    AuditEntry,
    BreakoutPreference,
    Event,
    Registration,
    SeatPool,
)
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    EventStatus,
    MessageKind,
    OrganizationType,
    RegistrationStatus,
    SignupState,
)
from app.orm import utcnow
from app.services.breakouts import check_ranking_change
from app.services.errors import DomainError, NotFound
from app.services.messages import queue_message, queue_signup_message, restate_signup_message
from app.services.tokens import manage_token, new_manage_key, token_hash
from app.text import furigana_key, normalize_email, normalize_furigana, normalize_spaces

MESSAGES = {
    "not_open": _l("Registration for this event is not open."),
    "not_yet_open": _l("Registration has not opened yet."),
    "closed": _l("Registration for this event has closed."),
    "cancelled": _l("This event has been cancelled."),
    "full": _l("This event is full and has no waiting list."),
    "mode": _l("Please choose how you will take part."),
    "draw_pending": _l("Entries for the lottery have closed; the draw has not been held yet."),
    "not_active": _l("This registration has already been cancelled."),
    "email_taken": _l("Another active registration for this event already uses this email "
                      "address."),
}


class RegistrationError(DomainError):
    code = "registration_error"


class RegistrationClosed(RegistrationError):
    code = "registration_closed"


class EventFull(RegistrationError):
    code = "event_full"


class AddressTaken(RegistrationError):
    """An organizer tried to register an address that has an active registration already."""

    code = "address_taken"


_REFUSALS = {
    SignupState.CANCELLED: RegistrationClosed(MESSAGES["cancelled"]),
    SignupState.NOT_YET_OPEN: RegistrationClosed(MESSAGES["not_yet_open"]),
    SignupState.CLOSED: RegistrationClosed(MESSAGES["closed"]),
    SignupState.DRAW_PENDING: RegistrationClosed(MESSAGES["draw_pending"]),
    SignupState.FULL: EventFull(MESSAGES["full"]),
}


def refusal(state: SignupState) -> RegistrationError:
    """Why a sign-up is refused in this state (one that does not accept sign-ups)."""
    error = _REFUSALS.get(state, RegistrationClosed(MESSAGES["not_open"]))
    return type(error)(error.message)


@dataclass(frozen=True)
class RegistrationInput:
    attendance_mode: AttendanceMode
    name: str
    furigana: str
    email: str
    organization_name: str
    organization_type: OrganizationType
    prefecture_code: str
    municipality_code: str
    language: str = "ja"
    answers: dict[str, Any] = field(default_factory=dict)
    preferences: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SignupResult:
    """`manage_token` is None when the address was already registered: the link went by mail."""

    registration_id: int
    status: RegistrationStatus
    manage_token: str | None
    already_registered: bool = False


@dataclass(frozen=True)
class AddedByOrganizer:
    """A registration an organizer makes for someone: by phone, on paper, at the door, or in
    an import. The sign-up window is not checked (capacity is), an address already registered
    is refused rather than sent its link again, the person is e-mailed only with `notify`,
    and the audit log records who did it (`action`, `details`, `note` as its summary)."""

    actor_id: int | None
    action: str
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    notify: bool = True


# The sign-up's statements, built once: building one per request (coercing every value into
# a bound parameter, computing its cache key) costs about as much as running it.
_EVENT_BY_SLUG = select(Event).where(Event.slug == bindparam("slug"))
_EVENT_WITH_FORM = _EVENT_BY_SLUG.options(joinedload(Event.seat_pools),
                                          joinedload(Event.questions))
_EVENT_WITH_SEATS = select(Event).where(Event.id == bindparam("event_id")).options(
    joinedload(Event.seat_pools))
_ACTIVE_REGISTRATION = select(Registration.id).where(
    Registration.event_id == bindparam("event_id"),
    Registration.email_normalized == bindparam("email_normalized"),
    Registration.status.in_(ACTIVE_STATUSES))
# (Parameters of an UPDATE may not be named after a column: "pool_event", not "event_id".)
_POOL = (SeatPool.event_id == bindparam("pool_event")) & (SeatPool.mode == bindparam("pool_mode"))
_CLAIM_SEAT = (
    update(SeatPool)
    .where(_POOL, SeatPool.capacity.is_(None) | (SeatPool.taken < SeatPool.capacity))
    .values(taken=SeatPool.taken + 1)
    .execution_options(synchronize_session=False)
)
_INSERT_REGISTRATION = insert(Registration.__table__).returning(Registration.__table__.c.id)
_INSERT_PREFERENCES = insert(BreakoutPreference.__table__)
_WAIT_INSTEAD = (
    update(Registration.__table__)
    .where(Registration.__table__.c.id == bindparam("registration"))
    .values(status=bindparam("status"), waitlist_seq=bindparam("seq"), confirmed_at=None)
)
_RELEASE_SEAT = (update(SeatPool).where(_POOL).values(taken=SeatPool.taken - 1)
                 .execution_options(synchronize_session=False))
_LOCK_POOL = select(SeatPool.id).where(_POOL).with_for_update()
_NEXT_WAITLIST_SEQ = (
    update(Event)
    .where(Event.id == bindparam("queue_event"))
    # `updated_at` kept: a place in the queue changes nothing anyone has published.
    .values(waitlist_counter=Event.waitlist_counter + 1, updated_at=Event.updated_at)
    .returning(Event.waitlist_counter)
    .execution_options(synchronize_session=False)
)


def get_event(
    session: SessionLike, slug: str, *, published_only: bool = True, with_form: bool = False
) -> Event:
    """Load an event by slug; raises NotFound for unknown slugs and, publicly, drafts.

    `with_form` loads, in the same query, the seats and questions the sign-up form needs.
    """
    query = _EVENT_WITH_FORM if with_form else _EVENT_BY_SLUG
    event = session.execute(query, {"slug": slug}).unique().scalar_one_or_none()
    if event is None or (published_only and event.status is EventStatus.DRAFT):
        raise NotFound(_l("This event does not exist."))
    return event


def get_registration_by_token(session: SessionLike, token: str) -> Registration:
    """Load a registration from its manage token; raises NotFound for any unknown token."""
    if not token or len(token) > 100:
        raise NotFound(_l("This link is not valid. Please use the link in your latest email."))
    registration = session.execute(
        select(Registration).where(Registration.manage_token_hash == token_hash(token))
    ).scalar_one_or_none()
    if registration is None:
        raise NotFound(_l("This link is not valid. Please use the link in your latest email."))
    return registration


def waitlist_position(session: SessionLike, registration: Registration) -> int | None:
    if registration.status is not RegistrationStatus.WAITLISTED:
        return None
    ahead = session.execute(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == registration.event_id,
            Registration.attendance_mode == registration.attendance_mode,
            Registration.status == RegistrationStatus.WAITLISTED,
            Registration.waitlist_seq < registration.waitlist_seq,
        )
    ).scalar_one()
    return int(ahead) + 1


# --------------------------------------------------------------------------------------------
# Making a registration
# --------------------------------------------------------------------------------------------


def register(
    session: SessionLike, event_id: int, data: RegistrationInput, *, now: datetime | None = None
) -> SignupResult:
    """A participant signs up: confirmed if a seat is free, else waitlisted, or entered in the
    lottery; raises RegistrationError (closed, full, a bad choice) and NotFound.

    The same address twice for one event creates nothing new: the existing registration's
    manage link is e-mailed again, and the caller learns only that it was sent.
    """
    now = now or utcnow()
    try:
        with write_transaction(session):
            event = load_event_for_signup(session, event_id)
            return add_registration(session, event, data, now)
    except IntegrityError:
        # A double submit: the other request's registration was committed between our look
        # for the address and our insert, and the partial unique index refused ours.
        with write_transaction(session):
            return send_manage_link_again(session, event_id, data.email)


def load_event_for_signup(session: SessionLike, event_id: int) -> Event:
    """The event with its seat pools as they are now, inside the sign-up's transaction (what
    the session had read before was expired when `write_transaction` began)."""
    event = session.execute(_EVENT_WITH_SEATS, {"event_id": event_id}).unique().scalar_one_or_none()
    if event is None:
        raise NotFound(_l("This event does not exist."))
    return event


def add_registration(
    session: SessionLike, event: Event, data: RegistrationInput, now: datetime,
    by: AddedByOrganizer | None = None,
) -> SignupResult:
    """Make one registration inside the caller's write transaction; the seat is claimed last.

    Raises RegistrationError when the event refuses it (for a participant: closed, full,
    a mode or group it does not offer; for an organizer also AddressTaken).
    """
    mode = data.attendance_mode
    if by is None:
        state = event.signup_state(now)
        if not state.accepts_signups:
            raise refusal(state)
    if mode not in event.attendance_modes:
        raise RegistrationError(MESSAGES["mode"], field="attendance_mode")
    groups = _chosen_groups(event, data.preferences)
    manage_key = new_manage_key()
    token = manage_token(manage_key)
    values = registration_values(data, manage_key, token, now)
    if _active_registration(session, event.id, values["email_normalized"]) is not None:
        if by is not None:
            raise AddressTaken(MESSAGES["email_taken"], field="email")
        return send_manage_link_again(session, event.id, data.email)

    # Written as it will most likely end: with a seat (or as a lottery entry).
    status = (RegistrationStatus.LOTTERY_PENDING if event.lottery_open
              else RegistrationStatus.CONFIRMED)
    registration_id = session.execute(_INSERT_REGISTRATION, dict(
        values, event_id=event.id, status=status,
        confirmed_at=now if status is RegistrationStatus.CONFIRMED else None),
    ).scalar_one()
    if groups:
        session.execute(_INSERT_PREFERENCES, [
            {"registration_id": registration_id, "group_id": group_id, "rank": rank}
            for rank, group_id in enumerate(groups, start=1)])
    message_id = None
    if by is None or by.notify:
        message_id = queue_signup_message(session, registration_id, event.id, data.email.strip(),
                                          data.language, status, now)
    if by is not None:
        session.add(AuditEntry(
            actor_id=by.actor_id, action=by.action,
            target_type=Registration.__name__, target_id=registration_id, event_id=event.id,
            details={**by.details, "notified": by.notify},
            summary=by.note.strip()[:500]))
        session.flush()  # now, not at the commit: after the claim the pool row is locked

    # Last: the seat. From here to the commit the pool row is locked (PostgreSQL).
    if status is RegistrationStatus.CONFIRMED and not claim_seat(session, event.id, mode):
        status = _wait_instead(session, event, registration_id, mode, message_id)
    return SignupResult(registration_id, status, token)


def _wait_instead(
    session: SessionLike, event: Event, registration_id: int, mode: AttendanceMode,
    message_id: int | None,
) -> RegistrationStatus:
    """No seat was free: the registration takes the next place on the waiting list, and
    its message says so; raises EventFull when the event has no waiting list.

    On PostgreSQL an UPDATE that matched no row locked nothing: a cancellation could free a
    seat now, find nobody waiting (our row is not committed) and leave the seat empty while
    we join the queue. So the pool is locked, then claimed once more: a seat freed meanwhile
    is ours, and a later cancellation waits for our commit and promotes us.
    """
    lock_pool(session, event.id, mode)
    if claim_seat(session, event.id, mode):
        return RegistrationStatus.CONFIRMED
    if not event.waitlist_enabled:
        raise EventFull(MESSAGES["full"])
    status = RegistrationStatus.WAITLISTED
    session.execute(_WAIT_INSTEAD, {"registration": registration_id, "status": status,
                                    "seq": next_waitlist_seq(session, event.id)})
    if message_id is not None:
        restate_signup_message(session, message_id, status, None)
    return status


def send_manage_link_again(session: SessionLike, event_id: int, email: str) -> SignupResult:
    """Inside a write transaction: the address has an active registration, whose manage link
    goes out again."""
    registration_id = _active_registration(session, event_id, normalize_email(email))
    existing = session.get(Registration, registration_id) if registration_id else None
    if existing is None:  # cancelled meanwhile: let the person try again
        raise RegistrationError(_l("Please submit the form again."))
    queue_message(session, MessageKind.MANAGE_LINK, existing)
    return SignupResult(existing.id, existing.status, None, already_registered=True)


def _active_registration(session: SessionLike, event_id: int, email_normalized: str) -> int | None:
    """The id of the address's active registration for the event, if it has one."""
    return session.execute(_ACTIVE_REGISTRATION, {
        "event_id": event_id, "email_normalized": email_normalized}).scalar_one_or_none()


def _chosen_groups(event: Event, group_ids: list[int]) -> list[int]:
    """The ranked group ids, checked against the event's groups and its number of ranks."""
    if not group_ids:
        return []
    valid = {group.id for group in event.breakout_groups}
    chosen: list[int] = []
    for group_id in group_ids[: event.max_preference_ranks]:
        if group_id not in valid:
            raise RegistrationError(_l("Please choose groups from the list."), field="preferences")
        if group_id in chosen:
            raise RegistrationError(
                _l("Please choose a different group for each rank."), field="preferences"
            )
        chosen.append(group_id)
    return chosen


def registration_values(
    data: RegistrationInput, manage_key: str, token: str, now: datetime,
) -> dict[str, Any]:
    """A new registration's columns from what the person gave, folded as the sign-up form's
    are; all but the event, the status, the place in the queue and the confirmation time.
    `token` is the manage token made from `manage_key`."""
    return dict(
        attendance_mode=data.attendance_mode,
        name=normalize_spaces(data.name),
        furigana=normalize_furigana(data.furigana),
        furigana_key=furigana_key(data.furigana),
        email=data.email.strip(),
        email_normalized=normalize_email(data.email),
        organization_name=normalize_spaces(data.organization_name),
        organization_type=data.organization_type,
        prefecture_code=data.prefecture_code,
        municipality_code=data.municipality_code,
        answers=data.answers,
        language=data.language,
        manage_key=manage_key,
        manage_token_hash=token_hash(token),
        consented_at=now,
        created_at=now,
        updated_at=now,
    )


# --------------------------------------------------------------------------------------------
# Seats: claimed, released, handed on
# --------------------------------------------------------------------------------------------


def claim_seat(session: SessionLike, event_id: int, mode: AttendanceMode) -> bool:
    """One conditional UPDATE: true when a seat was free and is now taken. The check
    constraint `not_overbooked` would refuse anything else."""
    result = session.execute(_CLAIM_SEAT, {"pool_event": event_id, "pool_mode": mode})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_seat(session: SessionLike, event_id: int, mode: AttendanceMode) -> None:
    session.execute(_RELEASE_SEAT, {"pool_event": event_id, "pool_mode": mode})


def lock_pool(session: SessionLike, event_id: int, mode: AttendanceMode) -> None:
    """Serialise cancellations and sign-ups of one pool (a no-op on SQLite's single writer)."""
    session.execute(_LOCK_POOL, {"pool_event": event_id, "pool_mode": mode})


def next_waitlist_seq(session: SessionLike, event_id: int) -> int:
    """The event's next place in its waiting list (one counter for all its modes)."""
    return int(session.execute(_NEXT_WAITLIST_SEQ, {"queue_event": event_id}).scalar_one())


def update_registration(
    session: SessionLike,
    registration_id: int,
    *,
    answers: dict[str, Any],
    preferences: list[int],
) -> None:
    """Change answers and breakout preferences of an active registration."""
    with write_transaction(session):
        registration = session.get(Registration, registration_id, populate_existing=True)
        if registration is None or not registration.is_active:
            raise RegistrationError(MESSAGES["not_active"])
        # Breakout groups: a locked round refuses a new ranking (other answers still change).
        check_ranking_change(session, registration, preferences)
        registration.answers = answers
        # Delete the old ranks before inserting new ones: (registration, rank) is unique.
        registration.preferences = []
        session.flush()
        registration.preferences = [
            BreakoutPreference(group_id=group_id, rank=rank)
            for rank, group_id in enumerate(_chosen_groups(registration.event, preferences),
                                            start=1)]
        queue_message(session, MessageKind.REGISTRATION_UPDATED, registration)


def promote_from_waitlist(
    session: SessionLike, event_id: int, mode: AttendanceMode, now: datetime
) -> Registration | None:
    """Give a freed seat to the first person waiting; call with the pool locked."""
    candidate = session.execute(
        select(Registration)
        .where(
            Registration.event_id == event_id,
            Registration.attendance_mode == mode,
            Registration.status == RegistrationStatus.WAITLISTED,
        )
        .order_by(Registration.waitlist_seq, Registration.id)
        .limit(1)
    ).scalar_one_or_none()
    if candidate is None:
        return None
    candidate.confirm(now)
    queue_message(session, MessageKind.PROMOTED, candidate)
    return candidate


def cancel_registration(
    session: SessionLike, registration_id: int, *, now: datetime | None = None
) -> Registration | None:
    """Cancel; a confirmed seat goes to the first person waiting in the same transaction.

    Returns the promoted registration, if any.
    """
    now = now or utcnow()
    with write_transaction(session):
        registration = session.get(Registration, registration_id, populate_existing=True)
        if registration is None:
            raise NotFound(_l("This registration does not exist."))
        promoted = cancel_in_transaction(
            session, registration, now, MessageKind.CANCELLED_BY_PARTICIPANT
        )
    return promoted


def cancel_in_transaction(
    session: SessionLike,
    registration: Registration,
    now: datetime,
    message: MessageKind,
    **context: Any,
) -> Registration | None:
    """Cancel inside the caller's write transaction and tell the person with `message`;
    a confirmed seat goes to the first person waiting. Returns the promoted registration."""
    lock_pool(session, registration.event_id, registration.attendance_mode)
    session.refresh(registration, with_for_update=True)
    if not registration.is_active:
        raise RegistrationError(MESSAGES["not_active"])
    was_confirmed = registration.status is RegistrationStatus.CONFIRMED
    registration.cancel(now)
    queue_message(session, message, registration, **context)
    if not was_confirmed:
        return None
    session.flush()
    return hand_on_seat(session, registration.event_id, registration.attendance_mode, now)


def hand_on_seat(
    session: SessionLike, event_id: int, mode: AttendanceMode, now: datetime
) -> Registration | None:
    """A confirmed seat was given up: the first person waiting gets it, else the pool does.

    Call with the pool locked and while the seat's holder is not on the waiting list
    (cancelled, or still confirmed while being moved there), so they cannot be picked.
    """
    promoted = promote_from_waitlist(session, event_id, mode, now)
    if promoted is None:
        release_seat(session, event_id, mode)
    return promoted
