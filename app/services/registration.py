"""Sign-up, change, cancellation and promotion from the waiting list.

Capacity is decided by the database: a seat is claimed with one conditional UPDATE of the
seat pool (`taken < capacity`), which PostgreSQL serialises on the pool row and SQLite
under its write lock (write transactions begin IMMEDIATE). Nothing is counted in Python
and then trusted, so two sign-ups for the last seat can never both win.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.database import SessionLike, end_read_transaction, write_transaction
from app.models import BreakoutPreference, Event, Registration, SeatPool
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    EventStatus,
    MessageKind,
    OrganizationType,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services import free_seat_signup
from app.services.breakouts import check_ranking_change
from app.services.errors import DomainError, NotFound
from app.services.free_seat_signup import (
    CLAIM_SEAT,
    CLAIM_SEAT_IF_UNCHANGED,
    INSERT_REGISTRATION,
    insert_preferences,
)
from app.services.job_signal import ring_committed
from app.services.messages import queue_message, queue_signup_message, signup_message_row
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
}


class RegistrationError(DomainError):
    code = "registration_error"


class RegistrationClosed(RegistrationError):
    code = "registration_closed"


class EventFull(RegistrationError):
    code = "event_full"


class RegistrationState(enum.Enum):
    """What the public sees about sign-up right now."""

    NO_REGISTRATION = "no_registration"
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSING_SOON = "closing_soon"
    LOTTERY_OPEN = "lottery_open"
    DRAW_PENDING = "draw_pending"
    WAITLIST_OPEN = "waitlist_open"
    FULL = "full"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    DRAFT = "draft"

    @property
    def accepts_signups(self) -> bool:
        return self in _ACCEPTING


_ACCEPTING = {
    RegistrationState.OPEN,
    RegistrationState.CLOSING_SOON,
    RegistrationState.LOTTERY_OPEN,
    RegistrationState.WAITLIST_OPEN,
}


def _pools_full(event: Event, modes: list[AttendanceMode] | None = None) -> bool:
    pools = [event.pool_for(mode) for mode in (modes or event.attendance_modes)]
    return all(
        pool is not None and pool.capacity is not None and pool.taken >= pool.capacity
        for pool in pools
    )


def registration_state(
    event: Event, now: datetime, closing_soon: timedelta = timedelta(hours=72)
) -> RegistrationState:
    if event.status is EventStatus.CANCELLED:
        return RegistrationState.CANCELLED
    if event.status is EventStatus.DRAFT:
        return RegistrationState.DRAFT
    if not event.registration_required:
        return RegistrationState.NO_REGISTRATION
    if event.registration_opens_at is not None and now < event.registration_opens_at:
        return RegistrationState.NOT_YET_OPEN
    if now >= event.effective_closes_at:
        return RegistrationState.CLOSED
    if event.lottery_open:
        assert event.lottery_draw_at is not None
        if now >= event.lottery_draw_at:
            return RegistrationState.DRAW_PENDING
        return RegistrationState.LOTTERY_OPEN
    if _pools_full(event):
        return RegistrationState.WAITLIST_OPEN if event.waitlist_enabled else RegistrationState.FULL
    if event.effective_closes_at - now <= closing_soon:
        return RegistrationState.CLOSING_SOON
    return RegistrationState.OPEN


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


# The sign-up's statements, built once: building one per request (coercing every value,
# computing its cache key) cost more than running it.
_EVENT_BY_SLUG = select(Event).where(Event.slug == bindparam("slug"))
_EVENT_WITH_FORM = _EVENT_BY_SLUG.options(joinedload(Event.seat_pools),
                                          joinedload(Event.questions))
# Everything the sign-up form and `register()` read of an event, for a copy kept detached.
_EVENT_FOR_FORM_KEPT = _EVENT_WITH_FORM.options(selectinload(Event.breakout_groups))
_EVENT_FOR_SIGNUP = (
    select(Event).where(Event.id == bindparam("event_id"))
    .options(joinedload(Event.seat_pools))
    .execution_options(populate_existing=True)
)
_EVENTS = Event.__table__.c


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


def event_for_signup_form(new_session: Callable[[], Session], slug: str) -> Event | None:
    """A copy of the published event with what its sign-up form needs (seats, questions,
    groups), read in a session of its own and detached, so that later requests may build the
    form from it; None when there is no such event. Nothing else of it is loaded: it is for
    `register(..., as_read_kept=True)`, which checks that it is still current."""
    with new_session() as own:
        event = own.execute(_EVENT_FOR_FORM_KEPT, {"slug": slug}).unique().scalar_one_or_none()
    # Closing the session (not rolling it back, which would expire what it read) detached
    # the event with its seats, questions and groups as loaded.
    return None if event is None or event.status is EventStatus.DRAFT else event


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


def _check_open(event: Event, mode: AttendanceMode, now: datetime) -> RegistrationState:
    state = registration_state(event, now)
    if state.accepts_signups:
        if mode not in event.attendance_modes:
            raise RegistrationError(MESSAGES["mode"], field="attendance_mode")
        return state
    reasons = {
        RegistrationState.CANCELLED: "cancelled",
        RegistrationState.NOT_YET_OPEN: "not_yet_open",
        RegistrationState.CLOSED: "closed",
        RegistrationState.FULL: "full",
        RegistrationState.DRAW_PENDING: "draw_pending",
    }
    reason = reasons.get(state, "not_open")
    raise (EventFull if reason == "full" else RegistrationClosed)(MESSAGES[reason])


def _claim_seat(
    session: SessionLike | Connection, event_id: int, mode: AttendanceMode,
    *, if_unchanged_since: datetime | None = None,
) -> bool:
    """One conditional UPDATE: true when a seat was free and is now ours (and, given
    `if_unchanged_since`, the event's `updated_at` is still that)."""
    connection = session if isinstance(session, Connection) else session.connection()
    if if_unchanged_since is None:
        result = connection.execute(CLAIM_SEAT, {"pool_event": event_id, "pool_mode": mode})
    else:
        result = connection.execute(CLAIM_SEAT_IF_UNCHANGED, {
            "pool_event": event_id, "pool_mode": mode, "seen": if_unchanged_since})
    return bool(result.rowcount)


def _release_seat(session: SessionLike, event_id: int, mode: AttendanceMode) -> None:
    session.execute(
        update(SeatPool)
        .where(SeatPool.event_id == event_id, SeatPool.mode == mode)
        .values(taken=SeatPool.taken - 1)
        .execution_options(synchronize_session=False)
    )


def _next_waitlist_seq(session: SessionLike, event_id: int) -> int:
    seq = session.execute(
        update(Event)
        .where(Event.id == event_id)
        # `updated_at` kept: a place in the queue changes nothing anyone has published.
        .values(waitlist_counter=Event.waitlist_counter + 1, updated_at=Event.updated_at)
        .returning(Event.waitlist_counter)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(seq)


def place_registration(
    session: SessionLike, event: Event, mode: AttendanceMode, *, lottery: bool
) -> tuple[RegistrationStatus, int | None]:
    """Where a new registration goes: into the lottery, a free seat, or the end of the waiting
    list; raises EventFull when none is left. Call inside the write transaction."""
    if lottery:
        return RegistrationStatus.LOTTERY_PENDING, None
    return _place(session, event.id, mode, event.waitlist_enabled)


def _place(
    session: SessionLike, event_id: int, mode: AttendanceMode, waitlist_enabled: bool
) -> tuple[RegistrationStatus, int | None]:
    if _claim_seat(session, event_id, mode):
        return RegistrationStatus.CONFIRMED, None
    # On PostgreSQL an UPDATE that matched no row locked nothing: a cancellation could free a
    # seat now, find nobody waiting (our row is not committed) and leave the seat empty while
    # we join the queue. Lock the pool, then look again: a seat freed meanwhile is ours, and
    # a later cancellation waits for our commit and promotes us. Only full events pay for it.
    _lock_pool(session, event_id, mode)
    if _claim_seat(session, event_id, mode):
        return RegistrationStatus.CONFIRMED, None
    if waitlist_enabled:
        return RegistrationStatus.WAITLISTED, _next_waitlist_seq(session, event_id)
    raise EventFull(MESSAGES["full"])


def _find_active(session: SessionLike, event_id: int, email_normalized: str) -> Registration | None:
    return session.execute(
        select(Registration).where(
            Registration.event_id == event_id,
            Registration.email_normalized == email_normalized,
            Registration.status.in_(ACTIVE_STATUSES),
        )
    ).scalar_one_or_none()


def _resend_manage_link(
    session: SessionLike, event_id: int, email_normalized: str,
    also: Callable[[SessionLike], None] | None = None,
) -> SignupResult:
    with write_transaction(session):
        if also is not None:
            also(session)
        existing = _find_active(session, event_id, email_normalized)
        if existing is None:  # cancelled meanwhile: let the caller try again
            raise RegistrationError(_l("Please submit the form again."))
        queue_message(session, MessageKind.MANAGE_LINK, existing)
        return SignupResult(existing.id, existing.status, None, already_registered=True)


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


def _apply_preferences(
    registration: Registration, event: Event, group_ids: list[int]
) -> None:
    if not group_ids and not registration.preferences:
        return
    registration.preferences = [
        BreakoutPreference(group_id=group_id, rank=rank)
        for rank, group_id in enumerate(_chosen_groups(event, group_ids), start=1)
    ]


@dataclass(frozen=True, slots=True)
class _SignupTerms:
    """What a sign-up is decided on, taken from the event before anything is written."""

    event_id: int
    updated_at: datetime
    lottery: bool
    # A hint only (the pool as read): the conditional claim decides.
    seat_expected: bool
    waitlist_enabled: bool
    preferences: list[int]


def _signup_terms(event: Event, data: RegistrationInput, now: datetime) -> _SignupTerms:
    """The event's terms for this sign-up; raises what refuses it (closed, full, bad choice)."""
    state = _check_open(event, data.attendance_mode, now)
    lottery = state is RegistrationState.LOTTERY_OPEN
    return _SignupTerms(
        event_id=event.id,
        updated_at=event.updated_at,
        lottery=lottery,
        seat_expected=not lottery and not _pools_full(event, [data.attendance_mode]),
        waitlist_enabled=event.waitlist_enabled,
        preferences=_chosen_groups(event, data.preferences),
    )


def _terms_as_read(
    event_id: int, event: Event | None, data: RegistrationInput, now: datetime
) -> _SignupTerms | None:
    """The terms from the event the caller has just read, when they accept the sign-up.
    A refusal is never decided on them: the event as it is inside the transaction does."""
    if event is None or event.id != event_id:
        return None
    try:
        return _signup_terms(event, data, now)
    except DomainError:
        return None


_EVENT_VERSION = select(_EVENTS.updated_at).where(_EVENTS.id == bindparam("event_id"))


def _unchanged_since_read(connection: Connection, terms: _SignupTerms) -> bool:
    # Every change to an event or to its parts moves its `updated_at` (the before_flush
    # listener in app/models/event.py); the seats taken do not, and need not: the claim
    # decides on the pool row itself.
    current = connection.execute(
        _EVENT_VERSION, {"event_id": terms.event_id}).scalar_one_or_none()
    return current == terms.updated_at


def register(
    session: SessionLike, event_id: int, data: RegistrationInput, *, now: datetime | None = None,
    also: Callable[[SessionLike], None] | None = None, as_read: Event | None = None,
    as_read_kept: bool = False,
) -> SignupResult:
    """Sign someone up: confirmed if a seat is free, else waitlisted, or entered in the lottery.

    The same address twice for one event creates nothing new: the existing registration's
    manage link is e-mailed again, and the caller learns only that it was sent.

    The common case, a seat expected on the event as read (and no `also`), is written on a
    connection of its own, the claim with it (free_seat_signup.py): on PostgreSQL one
    statement. Otherwise the seat is claimed near the end of the transaction: on PostgreSQL
    the claim locks the pool row until the transaction ends, and every sign-up for the
    event queues on that row, so the registration is written first, while nothing is
    held; only the claim, the outbox row (one INSERT: the mail worker renders it, see
    messages.py) and COMMIT follow. If the last seat went meanwhile, the registration goes
    to the waiting list after all, and its message says so.

    `as_read` is the event as the caller has just read it (the sign-up form is built from
    it). When it accepts the sign-up and has not changed since, the transaction decides on
    it rather than loading the event again; otherwise the event is loaded inside the
    transaction and decides. With `as_read_kept`, `as_read` was kept from an earlier request
    and the form was checked against it: then KeptEventOutdated is raised instead, so that
    the caller checks the form again against the event as it is now.

    `also` runs first in the same transaction, whether a registration is made or its link
    re-sent; what it raises undoes everything (the e-mail confirmation takes its link so).
    """
    now = now or utcnow()
    email_normalized = normalize_email(data.email)
    manage_key = new_manage_key()
    token = manage_token(manage_key)
    mode = data.attendance_mode
    # Taken before the transaction begins: beginning it ends the read, and expires `as_read`.
    terms = _terms_as_read(event_id, as_read, data, now)
    if as_read_kept and terms is None:
        raise KeptEventOutdated
    # The common case, a seat expected on terms as read, has the claim itself check that
    # the event is unchanged; every other case checks first.
    unverified = terms is not None and terms.seat_expected
    row = dict(registration_values(data, manage_key, token, now), event_id=event_id)
    engine = session.get_bind()
    if (terms is not None and unverified and also is None
            and free_seat_signup.supported(engine)):
        end_read_transaction(session)
        try:
            result = _sign_up_for_a_free_seat(engine, terms, row, now, token)
        except IntegrityError:
            return _insert_refused(session, event_id, data, terms, now=now,
                                   as_read_kept=as_read_kept)
        if result is not None:
            return result
        # No seat claimed, nothing written: full, or changed since read. Below, the event's
        # version is read first, and a changed event decided on as it is now.
        unverified = False
    try:
        with write_transaction(session):
            if also is not None:
                also(session)
            # Core statements on the transaction's connection: a burst of sign-ups is where
            # the ORM's unit of work and its per-statement bookkeeping show.
            connection = session.connection()
            if terms is None or (not unverified and not _unchanged_since_read(connection, terms)):
                if as_read_kept:
                    raise KeptEventOutdated
                terms = _terms_in_transaction(session, event_id, data, now)
            status, seq = RegistrationStatus.CONFIRMED, None
            if terms.lottery:
                status = RegistrationStatus.LOTTERY_PENDING
            elif not terms.seat_expected:
                # Before the full-event path, which may refuse: a second sign-up with the
                # same address gets its link again rather than "full".
                if _find_active(session, event_id, email_normalized) is not None:
                    raise _AlreadyRegistered
                status, seq = _place(session, event_id, mode, terms.waitlist_enabled)
            confirmed_at = now if status is RegistrationStatus.CONFIRMED else None
            # The partial unique index refuses a second active registration for the address
            # here (IntegrityError, below), before any seat is touched.
            registration_id = connection.execute(INSERT_REGISTRATION, dict(
                row, status=status, waitlist_seq=seq, confirmed_at=confirmed_at,
            )).scalar_one()
            if terms.seat_expected and not _claim_seat(
                    connection, event_id, mode,
                    if_unchanged_since=terms.updated_at if unverified else None):
                if unverified and not _unchanged_since_read(connection, terms):
                    raise _EventChangedSinceRead  # undo the insert; decide on it as it is now
                status, seq = _place(session, event_id, mode, terms.waitlist_enabled)
                confirmed_at = None if status is not RegistrationStatus.CONFIRMED else now
                session.execute(
                    update(Registration).where(Registration.id == registration_id)
                    .values(status=status, waitlist_seq=seq, confirmed_at=confirmed_at)
                    .execution_options(synchronize_session=False))
            # After the claim, which has shown the chosen groups to be the event's still.
            insert_preferences(connection, registration_id, terms.preferences)
            queue_signup_message(
                session, _signup_message(status), registration_id=registration_id,
                event_id=event_id, recipient=data.email.strip(), language=data.language,
                status=status, confirmed_at=confirmed_at)
            result = SignupResult(registration_id, status, token)
    except _EventChangedSinceRead:
        if as_read_kept:
            raise KeptEventOutdated from None
        return register(session, event_id, data, now=now, also=also)
    except _AlreadyRegistered:
        return _resend_manage_link(session, event_id, email_normalized, also)
    except IntegrityError:
        return _insert_refused(session, event_id, data, terms if unverified else None, now=now,
                               as_read_kept=as_read_kept, also=also)
    return result


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


def _insert_refused(
    session: SessionLike, event_id: int, data: RegistrationInput, unverified: _SignupTerms | None,
    *, now: datetime, as_read_kept: bool, also: Callable[[SessionLike], None] | None = None,
) -> SignupResult:
    """After the registration's insert was refused: the address is registered already (maybe
    by a concurrent double submit), unless the event changed under the terms as read."""
    if unverified is not None and not _unchanged_since_read(session.connection(), unverified):
        if as_read_kept:
            raise KeptEventOutdated
        return register(session, event_id, data, now=now, also=also)
    return _resend_manage_link(session, event_id, normalize_email(data.email), also)


def _sign_up_for_a_free_seat(
    engine: Engine, terms: _SignupTerms, row: dict[str, Any], now: datetime, token: str,
) -> SignupResult | None:
    """A seat expected on terms as read, claimed and written on a connection of its own, in one
    statement on PostgreSQL (app/services/free_seat_signup.py); None when no seat was claimed
    and nothing written."""
    status = RegistrationStatus.CONFIRMED
    registration_id = free_seat_signup.sign_up_for_a_free_seat(
        engine, pool_event=terms.event_id, pool_mode=row["attendance_mode"],
        seen=terms.updated_at, groups=terms.preferences,
        registration=dict(row, status=status, waitlist_seq=None, confirmed_at=now),
        message=signup_message_row(
            _signup_message(status), event_id=terms.event_id, recipient=row["email"],
            language=row["language"], status=status, confirmed_at=now),
    )
    if registration_id is None:
        return None
    ring_committed()  # the mail workers: no session commit rings for this one
    return SignupResult(registration_id, status, token)


def _terms_in_transaction(
    session: SessionLike, event_id: int, data: RegistrationInput, now: datetime
) -> _SignupTerms:
    """The terms from the event as it is inside the write transaction; raises refusals."""
    event = session.execute(_EVENT_FOR_SIGNUP, {"event_id": event_id}).unique().scalar_one_or_none()
    if event is None:
        raise NotFound(_l("This event does not exist."))
    return _signup_terms(event, data, now)


class _EventChangedSinceRead(Exception):
    pass


class _AlreadyRegistered(Exception):
    pass


class KeptEventOutdated(Exception):
    """The event kept from an earlier request cannot decide this sign-up: it changed since, or
    it would refuse it. Nothing was written; read the event again and answer from that."""


def _signup_message(status: RegistrationStatus) -> MessageKind:
    return {
        RegistrationStatus.CONFIRMED: MessageKind.CONFIRMATION,
        RegistrationStatus.WAITLISTED: MessageKind.WAITLISTED,
        RegistrationStatus.LOTTERY_PENDING: MessageKind.LOTTERY_ENTERED,
    }[status]


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
        _apply_preferences(registration, registration.event, preferences)
        queue_message(session, MessageKind.REGISTRATION_UPDATED, registration)


def _lock_pool(session: SessionLike, event_id: int, mode: AttendanceMode) -> None:
    """Serialise cancellations and sign-ups of one pool (a no-op on SQLite's single writer)."""
    session.execute(
        select(SeatPool.id)
        .where(SeatPool.event_id == event_id, SeatPool.mode == mode)
        .with_for_update()
    )


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
    candidate.status = RegistrationStatus.CONFIRMED
    candidate.confirmed_at = now
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
    _lock_pool(session, registration.event_id, registration.attendance_mode)
    session.refresh(registration, with_for_update=True)
    if not registration.is_active:
        raise RegistrationError(MESSAGES["not_active"])
    was_confirmed = registration.status is RegistrationStatus.CONFIRMED
    registration.status = RegistrationStatus.CANCELLED
    registration.cancelled_at = now
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
        _release_seat(session, event_id, mode)
    return promoted
