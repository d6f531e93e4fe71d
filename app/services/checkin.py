"""Check-in at the door: by QR code, typed code or search; once per person and day; undoable.
And a tally of the visitors who never registered (exhibitions).

pretix's rules, and why: the registration row is locked while deciding, so two scanners
reading the same code one after the other see each other's entry; the client sends a nonce
with every check-in, so a POST the phone retries after a dropped connection returns the
first answer instead of a second row; and every entry is a row of its own (undo marks it,
never deletes it), so the audit trail shows who let whom in and when. The database keeps
the same promises without us: the nonce is unique, and a partial unique index allows one
entry per registration and day that has not been undone.

The check-in code. The QR code must not carry the manage token: anyone holding that can
cancel the registration, and a QR code is shown around and photographed at the door. So
the code is `<registration id>-<tag>`, where the tag is 8 base32 characters (40 bits) of
`manage_token(manage_key, purpose="checkin")`, an HMAC under SECRET_KEY that is useless
for anything but checking in. It is derived, never stored: no new column, nothing to fill
at sign-up or backfill, and the scan finds the row by primary key, then compares the tag
in constant time. The price: the code shows the registration's number, which only says
roughly how many people registered before; and changing SECRET_KEY changes every code (as
it does every manage link). 40 bits suffice because a guess needs an organizer's session
for that very event; base32 (no 0, 1, 8) keeps the code easy to read out and type.
"""

from __future__ import annotations

import base64
import enum
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO

import segno
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.database import SessionLike, write_transaction
from app.i18n import TOKYO
from app.models import BreakoutPreference, CheckIn, Event, Registration, User, VisitorTally
from app.models.checkin import CheckInMethod
from app.models.enums import AttendanceMode, EventKind, EventStatus, RegistrationStatus
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.permissions import load_event
from app.services.tokens import manage_token
from app.text import furigana_key, normalize_email, normalize_spaces

MESSAGES = {
    "unknown_code": _l("This code is not known. Please check it and try again."),
    "unknown_registration": _l("This registration does not exist."),
    "other_event": _l("%(name)s is registered for another event, not this one."),
    "waitlisted": _l("Not confirmed: %(name)s is on the waiting list."),
    "lottery_pending": _l("Not confirmed: the lottery for %(name)s has not been drawn yet."),
    "not_drawn": _l("Not confirmed: %(name)s was not drawn in the lottery."),
    "cancelled": _l("Not confirmed: the registration of %(name)s has been cancelled."),
    "event_cancelled": _l("This event has been cancelled."),
    "not_open_day": _l("The event is not open on this day."),
    "nonce_used": _l("This form has already been used. Please check the person in again."),
    "no_tally": _l("Visitors are counted only at exhibitions and events without registration."),
    "tally_step": _l("Please count visitors one at a time."),
    "unknown_check_in": _l("This check-in does not exist."),
}

CODE_TAG_LENGTH = 8
# `<id>-<tag>`, after folding: full-width digits, dashes of every width, any case.
_CODE = re.compile(r"^(\d{1,12})-([A-Z0-9]+)$")
_DASHES = str.maketrans({"ー": "-", "‐": "-", "‑": "-", "–": "-", "—": "-", "−": "-"})
# Base32 has no 0, 1 or 8: read them as the letters people mistake them for.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})
SEARCH_LIMIT = 20
RECENT_LIMIT = 10
MAX_TALLY_STEP = 1


class CheckInError(DomainError):
    code = "check_in_error"


class UnknownCode(CheckInError):
    code = "unknown_code"


class WrongEvent(CheckInError):
    code = "wrong_event"


class NotConfirmed(CheckInError):
    code = "not_confirmed"

    def __init__(self, message: object, *, registration_id: int) -> None:
        super().__init__(message)
        self.registration_id = registration_id


class NotOpenDay(CheckInError):
    code = "not_open_day"


class NonceUsed(CheckInError):
    code = "nonce_used"


class TallyError(DomainError):
    code = "tally_error"


class Outcome(enum.Enum):
    CHECKED_IN = "checked_in"
    ALREADY_CHECKED_IN = "already_checked_in"


@dataclass(frozen=True)
class CheckInResult:
    """`replayed`: the same nonce came again (a retried POST); nothing new was written."""

    outcome: Outcome
    check_in_id: int
    registration_id: int
    name: str
    day: date
    checked_in_at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class UndoResult:
    registration_id: int
    name: str
    day: date
    already_undone: bool


@dataclass(frozen=True)
class TallyResult:
    day: date
    count: int
    changed: bool  # False when −1 met a count of zero


@dataclass(frozen=True)
class DayFigures:
    day: date
    checked_in: int
    visitors: int

    @property
    def total(self) -> int:
        return self.checked_in + self.visitors


@dataclass(frozen=True)
class Person:
    registration: Registration
    check_in: CheckIn | None  # today's (the chosen day's) entry, if any

    @property
    def first_choice(self) -> BreakoutPreference | None:
        return self.registration.preferences[0] if self.registration.preferences else None


@dataclass(frozen=True)
class DoorPage:
    day: date
    people: list[Person]
    more_matches: bool
    recent: list[CheckIn]
    figures: list[DayFigures]
    counts_visitors: bool

    @property
    def today(self) -> DayFigures:
        return next((f for f in self.figures if f.day == self.day), DayFigures(self.day, 0, 0))


# --- the check-in code -----------------------------------------------------------------------


def _tag(manage_key: str) -> str:
    token = manage_token(manage_key, purpose="checkin")
    digest = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return base64.b32encode(digest).decode()[:CODE_TAG_LENGTH]


def check_in_code(registration: Registration) -> str | None:
    """What the QR code holds and the manage page shows; None for anyone not expected at
    the door (not confirmed, taking part online, or the event cancelled)."""
    if (registration.status is not RegistrationStatus.CONFIRMED
            or registration.attendance_mode is not AttendanceMode.IN_PERSON
            or registration.event.status is EventStatus.CANCELLED):
        return None
    return f"{registration.id}-{_tag(registration.manage_key)}"


def parse_code(text: str) -> tuple[int, str] | None:
    folded = unicodedata.normalize("NFKC", text).translate(_DASHES).upper()
    match = _CODE.match("".join(folded.split()))
    if match is None or len(match.group(2)) != CODE_TAG_LENGTH:
        return None
    registration_id = int(match.group(1))
    if registration_id > 2**31 - 1:  # beyond any id PostgreSQL's integer column can hold
        return None
    return registration_id, match.group(2).translate(_LOOKALIKES)


def qr_svg(code: str) -> bytes:
    """A QR code as SVG: white background (phones in dark mode) and the standard quiet zone."""
    buffer = BytesIO()
    segno.make(code, error="m", micro=False).save(
        buffer, kind="svg", scale=8, light="#fff", dark="#000", title=code, xmldecl=False)
    return buffer.getvalue()


# --- days ----------------------------------------------------------------------------------


def open_days(event: Event) -> list[date]:
    """Every Tokyo date the event runs on, without its closed dates."""
    first = event.starts_at.astimezone(TOKYO).date()
    # A period that ends at midnight has its last day before that midnight.
    last = (event.ends_at - timedelta(microseconds=1)).astimezone(TOKYO).date()
    days = (first + timedelta(days=n) for n in range(max((last - first).days, 0) + 1))
    return [day for day in days if not event.closed_on(day)]


def today_in_tokyo(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(TOKYO).date()


def default_day(event: Event, now: datetime | None = None) -> date | None:
    """Today if the event is open today; else its next open day, or its last one when over."""
    days = open_days(event)
    if not days:
        return None
    today = today_in_tokyo(now)
    return next((day for day in days if day >= today), days[-1])


def counts_visitors(event: Event) -> bool:
    return event.kind is EventKind.EXHIBITION or not event.registration_required


def _check_not_cancelled(event: Event) -> None:
    if event.status is EventStatus.CANCELLED:
        raise CheckInError(MESSAGES["event_cancelled"])


def _open_day(event: Event, day: date | None, now: datetime) -> date:
    day = day or today_in_tokyo(now)
    if day not in open_days(event):
        raise NotOpenDay(MESSAGES["not_open_day"], field="day")
    return day


# --- check in and undo ---------------------------------------------------------------------


def _named(key: str, registration: Registration) -> str:
    return str(MESSAGES[key]) % {"name": registration.name}


def _resolve(session: SessionLike, event_id: int, target: int | str) -> Registration:
    """The registration a search result (id) or a code points to, locked for this decision."""
    if isinstance(target, int):
        registration_id, tag = target, None
    else:
        parsed = parse_code(target)
        if parsed is None:
            raise UnknownCode(MESSAGES["unknown_code"], field="code")
        registration_id, tag = parsed
    registration = session.get(
        Registration, registration_id, with_for_update=True, populate_existing=True)
    if tag is None:
        # An id comes from this event's search results: any other is a forged form.
        if registration is None or registration.event_id != event_id:
            raise NotFound(MESSAGES["unknown_registration"])
        return registration
    if registration is None or not hmac.compare_digest(_tag(registration.manage_key), tag):
        raise UnknownCode(MESSAGES["unknown_code"], field="code")
    if registration.event_id != event_id:
        raise WrongEvent(_named("other_event", registration))
    return registration


def _by_nonce(session: SessionLike, nonce: str) -> CheckIn | None:
    return session.execute(select(CheckIn).where(CheckIn.nonce == nonce)).scalar_one_or_none()


def _active_check_in(session: SessionLike, registration_id: int, day: date) -> CheckIn | None:
    return session.execute(
        select(CheckIn).where(
            CheckIn.registration_id == registration_id,
            CheckIn.day == day,
            CheckIn.undone_at.is_(None),
        )
    ).scalar_one_or_none()


def _result(outcome: Outcome, row: CheckIn, registration: Registration, *,
            replayed: bool = False) -> CheckInResult:
    return CheckInResult(outcome, row.id, registration.id, registration.name, row.day,
                         row.checked_in_at, replayed)


def _check_in_once(session: SessionLike, actor: User, event_id: int, target: int | str,
                   method: CheckInMethod, nonce: str, day: date | None,
                   now: datetime) -> CheckInResult:
    with write_transaction(session):
        event = load_event(session, actor, event_id, edit=True)
        _check_not_cancelled(event)
        day = _open_day(event, day, now)
        registration = _resolve(session, event_id, target)
        previous = _by_nonce(session, nonce)
        if previous is not None:
            if (previous.registration_id != registration.id or previous.day != day
                    or not previous.is_active):
                raise NonceUsed(MESSAGES["nonce_used"])
            return _result(Outcome.CHECKED_IN, previous, registration, replayed=True)
        if registration.status is not RegistrationStatus.CONFIRMED:
            raise NotConfirmed(_named(registration.status.value, registration),
                               registration_id=registration.id)
        existing = _active_check_in(session, registration.id, day)
        if existing is not None:
            return _result(Outcome.ALREADY_CHECKED_IN, existing, registration)
        row = CheckIn(registration_id=registration.id, day=day, checked_in_at=now,
                      checked_in_by_id=actor.id, method=method, nonce=nonce)
        session.add(row)
        session.flush()
        record(session, actor, "check_in.create", row, event_id=event_id, details={
            "registration_id": registration.id, "day": day.isoformat(),
            "method": method.value})
        return _result(Outcome.CHECKED_IN, row, registration)


def check_in(
    session: SessionLike,
    actor: User,
    event_id: int,
    registration_id_or_code: int | str,
    method: CheckInMethod,
    nonce: str,
    day: date | None = None,
    *,
    now: datetime | None = None,
) -> CheckInResult:
    """Check a confirmed registration of this event in for `day` (default: today in Tokyo).

    A second check-in the same day is harmless: it writes nothing and says when the first
    was. Raises NotFound/PermissionDenied (access), UnknownCode, WrongEvent, NotConfirmed,
    NotOpenDay, NonceUsed or CheckInError (event cancelled).
    """
    now = now or utcnow()
    try:
        return _check_in_once(session, actor, event_id, registration_id_or_code, method,
                              nonce, day, now)
    except IntegrityError:
        # The row lock serialises requests for one registration, so only a nonce reused for
        # another registration gets here; that transaction has committed, so deciding again
        # sees its row and answers NonceUsed instead of a 500.
        return _check_in_once(session, actor, event_id, registration_id_or_code, method,
                              nonce, day, now)


def undo_check_in(session: SessionLike, actor: User, event_id: int, check_in_id: int, *,
                  now: datetime | None = None) -> UndoResult:
    """Mark a check-in undone (the row stays); undoing twice is harmless."""
    now = now or utcnow()
    with write_transaction(session):
        load_event(session, actor, event_id, edit=True)
        row = session.execute(
            select(CheckIn)
            .join(Registration, Registration.id == CheckIn.registration_id)
            .where(CheckIn.id == check_in_id, Registration.event_id == event_id)
            .with_for_update(of=CheckIn)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(MESSAGES["unknown_check_in"])
        registration = row.registration
        if not row.is_active:
            return UndoResult(registration.id, registration.name, row.day, already_undone=True)
        row.undone_at = now
        row.undone_by_id = actor.id
        record(session, actor, "check_in.undo", row, event_id=event_id, details={
            "registration_id": registration.id, "day": row.day.isoformat()})
        return UndoResult(registration.id, registration.name, row.day, already_undone=False)


# --- anonymous visitors ----------------------------------------------------------------------


def _ensure_tally_row(session: SessionLike, event_id: int, day: date) -> None:
    """The day's row, created by whichever tap comes first; concurrent first taps both win."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite_insert
    session.execute(
        insert(VisitorTally)
        .values(event_id=event_id, day=day, count=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id", "day"])
    )


def tally(session: SessionLike, actor: User, event_id: int, day: date | None, delta: int, *,
          now: datetime | None = None) -> TallyResult:
    """Add `delta` (+1 or −1) visitors to the day's count, which never goes below zero."""
    now = now or utcnow()
    if delta == 0 or abs(delta) > MAX_TALLY_STEP:
        raise TallyError(MESSAGES["tally_step"], field="delta")
    with write_transaction(session):
        event = load_event(session, actor, event_id, edit=True)
        _check_not_cancelled(event)
        if not counts_visitors(event):
            raise TallyError(MESSAGES["no_tally"])
        day = _open_day(event, day, now)
        _ensure_tally_row(session, event_id, day)
        # One conditional UPDATE decides: no read-then-write for two phones to race through.
        changed = session.execute(
            update(VisitorTally)
            .where(VisitorTally.event_id == event_id, VisitorTally.day == day,
                   VisitorTally.count + delta >= 0)
            .values(count=VisitorTally.count + delta, updated_at=now)
            .returning(VisitorTally.id, VisitorTally.count)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if changed is None:
            return TallyResult(day, 0, changed=False)
        tally_id, count = changed
        record(session, actor, "visitor_tally.change", session.get(VisitorTally, tally_id),
               event_id=event_id, details={"day": day.isoformat(), "delta": delta,
                                           "count": int(count)})
        return TallyResult(day, int(count), changed=True)


# --- what the door page shows ----------------------------------------------------------------


def day_figures(session: SessionLike, event_id: int) -> list[DayFigures]:
    """Per day: people checked in (not undone), anonymous visitors, and their total.

    Every open day is listed, and any other day that has figures (the dates may have moved).
    """
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(_l("This event does not exist."))
    checked: dict[date, int] = {
        day: int(count) for day, count in session.execute(
            select(CheckIn.day, func.count())
            .join(Registration, Registration.id == CheckIn.registration_id)
            .where(Registration.event_id == event_id, CheckIn.undone_at.is_(None))
            .group_by(CheckIn.day))}
    visitors: dict[date, int] = {
        day: int(count) for day, count in session.execute(
            select(VisitorTally.day, VisitorTally.count)
            .where(VisitorTally.event_id == event_id))}
    days = sorted(set(open_days(event)) | checked.keys() | visitors.keys())
    return [DayFigures(day, checked.get(day, 0), visitors.get(day, 0)) for day in days]


def search_registrations(session: SessionLike, event_id: int, query: str,
                         limit: int = SEARCH_LIMIT) -> list[Registration]:
    """By name (spaces ignored), furigana (kana folded) or email; every status, A–Z by kana."""
    compact = normalize_spaces(query).replace(" ", "").lower()
    if not compact:
        return []
    conditions = [
        func.lower(func.replace(Registration.name, " ", "")).contains(compact, autoescape=True),
        Registration.email_normalized.contains(normalize_email(query), autoescape=True),
    ]
    kana = furigana_key(query)
    if kana:
        conditions.append(Registration.furigana_key.contains(kana, autoescape=True))
    return list(session.execute(
        select(Registration)
        .where(Registration.event_id == event_id, or_(*conditions))
        .options(selectinload(Registration.preferences).selectinload(BreakoutPreference.group))
        .order_by(Registration.furigana_key, Registration.id)
        .limit(limit)
    ).scalars())


def door_page(session: SessionLike, event: Event, day: date, query: str = "",
              shown_id: int | None = None) -> DoorPage:
    """Everything the check-in page shows for one day: matches, recent entries, figures."""
    found = search_registrations(session, event.id, query, SEARCH_LIMIT + 1) if query else []
    more = len(found) > SEARCH_LIMIT
    registrations = found[:SEARCH_LIMIT]
    if shown_id is not None and all(r.id != shown_id for r in registrations):
        shown = session.execute(
            select(Registration)
            .where(Registration.id == shown_id, Registration.event_id == event.id)
            .options(selectinload(Registration.preferences)
                     .selectinload(BreakoutPreference.group))
        ).scalar_one_or_none()
        if shown is not None:
            registrations.insert(0, shown)
    entries = {row.registration_id: row for row in session.execute(
        select(CheckIn).where(CheckIn.registration_id.in_([r.id for r in registrations]),
                              CheckIn.day == day, CheckIn.undone_at.is_(None))).scalars()}
    recent = list(session.execute(
        select(CheckIn)
        .join(Registration, Registration.id == CheckIn.registration_id)
        .where(Registration.event_id == event.id, CheckIn.day == day,
               CheckIn.undone_at.is_(None))
        .options(selectinload(CheckIn.registration))
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
        .limit(RECENT_LIMIT)
    ).scalars())
    return DoorPage(
        day=day,
        people=[Person(r, entries.get(r.id)) for r in registrations],
        more_matches=more,
        recent=recent,
        figures=day_figures(session, event.id),
        counts_visitors=counts_visitors(event),
    )
