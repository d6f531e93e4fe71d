"""Attendance: the join link, Zoom/Teams report imports, marks by hand, and the one rule that
decides who attended.

Who attended (attended_registrations), in SQL so that statistics and exports share it:

* in person: a check-in at the door that has not been undone (app.models.checkin);
* marked by hand by an organizer;
* online, once a report has been imported for the event: the person's minutes in the
  imported meetings add up to at least the event's minimum (and to more than zero);
* online, while no report has been imported: they opened the meeting through their join
  link. The click proves the intent, not the stay, so a report — which knows the minutes
  and is checked against the minimum — takes over as soon as there is one.

The join link is `/j/<registration id>-<HMAC>`: the HMAC is manage_token(key, "join"),
derived and compared rather than stored, like the check-in code — no column to fill at
sign-up or to backfill, and a leaked join link opens the meeting but not the registration.
Clicks are recorded from an hour before the start (people test their set-up; a link
prefetched by a mail scanner days before is not attendance) until two hours after the
end; after that the link is closed, because organizers reuse personal meeting rooms and
recurring meetings, and an old link must not open a later meeting.

A report import is all or nothing: the upload is parsed completely (a broken file is
refused with the parser's reason and nothing is written), staged, previewed with its
matches, and accepted in one transaction. The same file cannot be imported twice (its
SHA-256 is unique per event); a new download of the same meeting (same meeting id or
title and start time) replaces the earlier import instead of adding its minutes again.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    delete,
    exists,
    func,
    insert,
    select,
    union,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.database import SessionLike, write_transaction
from app.engines import attendance_reports as reports
from app.i18n import format_local_datetime
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    AttendanceSettings,
    CheckIn,
    Event,
    Registration,
    User,
)
from app.models.attendance import (
    REPORT_SOURCES,
    AttendanceSource,
    ImportStatus,
    MatchMethod,
    ReportKind,
)
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    EventStatus,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.permissions import load_event
from app.services.tokens import manage_token
from app.text import furigana_key, normalize_spaces

MESSAGES = {
    "no_file": _l("Please choose the report file to upload."),
    "unreadable": _l("This file could not be read as a Zoom or Teams attendance report: "
                     "%(reason)s"),
    "already_imported": _l("This report was already imported on %(when)s."),
    "busy": _l("This report is being imported by someone else. Please reload the page."),
    "not_pending": _l("This import has already been accepted or discarded."),
    "unknown_import": _l("This import does not exist."),
    "unknown_registration": _l("There is no registration with this receipt number for this "
                               "event."),
    "not_confirmed": _l("Only confirmed registrations can be marked as attended."),
    "unknown_mark": _l("This mark does not exist."),
    "min_minutes": _l("Please enter a number of minutes between 0 and 1440."),
}

JOIN_OPENS_BEFORE = timedelta(hours=1)
JOIN_CLOSES_AFTER = timedelta(hours=2)
# Above this many registrations to choose from, a manual match is typed as a receipt number.
MANUAL_CHOICES_LIMIT = 300
# Staged uploads hold personal data: forgotten ones are removed at the next upload.
STALE_PENDING_AFTER = timedelta(days=7)
MAX_MIN_MINUTES = 1440
_IN_CHUNK = 500

_KIND_OF = {
    reports.SourceKind.ZOOM_MEETING: ReportKind.ZOOM_MEETING,
    reports.SourceKind.ZOOM_WEBINAR: ReportKind.ZOOM_WEBINAR,
    reports.SourceKind.TEAMS: ReportKind.TEAMS,
}
_SOURCE_OF = {
    ReportKind.ZOOM_MEETING: AttendanceSource.ZOOM,
    ReportKind.ZOOM_WEBINAR: AttendanceSource.ZOOM,
    ReportKind.TEAMS: AttendanceSource.TEAMS,
}
# People the meeting had, but who are not its audience: never listed as "unmatched".
STAFF_ROLES = ("host", "co_host", "panelist", "presenter")


class AttendanceError(DomainError):
    code = "attendance_error"


class ReportUnreadable(AttendanceError):
    code = "report_unreadable"


class AlreadyImported(AttendanceError):
    code = "already_imported"


class ImportConflict(AttendanceError):
    code = "import_conflict"


# --- who attended ----------------------------------------------------------------------------

EventScope = int | Select[Any]


def _in_scope(column: Any, events: EventScope) -> ColumnElement[bool]:
    """`column` names one event (an id) or any of a set (a SELECT of event ids)."""
    return column == events if isinstance(events, int) else column.in_(events)


def attended_registrations(events: EventScope) -> CompoundSelect:
    """The ids of the registrations that attended, for one event or a SELECT of event ids.

    The rules are in the module's docstring; this is their only implementation.
    """
    checked_in = (
        select(CheckIn.registration_id)
        .join(Registration, Registration.id == CheckIn.registration_id)
        .where(_in_scope(Registration.event_id, events), CheckIn.undone_at.is_(None))
    )
    marked = select(AttendanceRecord.registration_id).where(
        _in_scope(AttendanceRecord.event_id, events),
        AttendanceRecord.source == AttendanceSource.MANUAL,
    )
    total = func.sum(AttendanceRecord.seconds)
    reported = (
        select(AttendanceRecord.registration_id)
        .outerjoin(AttendanceSettings, AttendanceSettings.event_id == AttendanceRecord.event_id)
        .where(
            _in_scope(AttendanceRecord.event_id, events),
            AttendanceRecord.source.in_(REPORT_SOURCES),
            AttendanceRecord.registration_id.is_not(None),
        )
        .group_by(AttendanceRecord.registration_id, AttendanceSettings.min_minutes)
        .having(total > 0, total >= func.coalesce(AttendanceSettings.min_minutes, 0) * 60)
    )
    has_report = exists().where(
        AttendanceImport.event_id == AttendanceRecord.event_id,
        AttendanceImport.status == ImportStatus.ACCEPTED,
    )
    linked = select(AttendanceRecord.registration_id).where(
        _in_scope(AttendanceRecord.event_id, events),
        AttendanceRecord.source == AttendanceSource.JOIN_LINK,
        ~has_report,
    )
    return union(checked_in, marked, reported, linked)


def attendance_recorded(event_id: int) -> ColumnElement[bool]:
    """Whether anything was recorded yet (a check-in, a join, a report, a mark): until then
    nobody is "absent", the event simply has no attendance data."""
    checked_in = (select(CheckIn.id)
                  .join(Registration, Registration.id == CheckIn.registration_id)
                  .where(Registration.event_id == event_id).limit(1).exists())
    recorded = select(AttendanceRecord.id).where(
        AttendanceRecord.event_id == event_id).limit(1).exists()
    return checked_in | recorded


def min_minutes(session: SessionLike, event_id: int) -> int:
    found = session.get(AttendanceSettings, event_id)
    return found.min_minutes if found is not None else 0


def set_min_minutes(session: SessionLike, actor: User, event_id: int, minutes: int) -> None:
    """Set the event's minimum time in the meeting to count as attended (0 to 1440)."""
    if not 0 <= minutes <= MAX_MIN_MINUTES:
        raise AttendanceError(MESSAGES["min_minutes"], field="min_minutes")
    with write_transaction(session):
        load_event(session, actor, event_id, edit=True)
        settings = session.get(AttendanceSettings, event_id)
        before = settings.min_minutes if settings is not None else 0
        if settings is None:
            settings = AttendanceSettings(event_id=event_id)
            session.add(settings)
        settings.min_minutes = minutes
        session.flush()
        record(session, actor, "attendance.min_minutes", settings, event_id=event_id,
               details={"before": before, "after": minutes})


# --- the join link ---------------------------------------------------------------------------

_JOIN_TOKEN = re.compile(r"^(\d{1,12})-([A-Za-z0-9_-]{43})$")


def join_token(registration: Registration) -> str:
    return f"{registration.id}-{manage_token(registration.manage_key, purpose='join')}"


class JoinRefusal(enum.Enum):
    UNKNOWN = "unknown"
    NOT_CONFIRMED = "not_confirmed"  # waiting list, lottery pending or not drawn
    CANCELLED = "cancelled"
    IN_PERSON = "in_person"
    EVENT_CANCELLED = "event_cancelled"
    EVENT_OVER = "event_over"
    NO_LINK_YET = "no_link_yet"


@dataclass(frozen=True)
class JoinOutcome:
    """Where to send the participant (`url`), or why not (`refusal`)."""

    registration: Registration | None
    url: str | None = None
    refusal: JoinRefusal | None = None
    recorded: bool = False


def _registration_for_join(session: SessionLike, token: str) -> Registration | None:
    match = _JOIN_TOKEN.match(token or "")
    if match is None:
        return None
    registration = session.get(Registration, int(match.group(1)))
    if registration is None:
        return None
    expected = manage_token(registration.manage_key, purpose="join")
    return registration if hmac.compare_digest(expected, match.group(2)) else None


def _join_refusal(registration: Registration, now: datetime) -> JoinRefusal | None:
    event = registration.event
    if event.status is EventStatus.CANCELLED:
        return JoinRefusal.EVENT_CANCELLED
    if registration.status is RegistrationStatus.CANCELLED:
        return JoinRefusal.CANCELLED
    if registration.status is not RegistrationStatus.CONFIRMED:
        return JoinRefusal.NOT_CONFIRMED
    if registration.attendance_mode is not AttendanceMode.ONLINE:
        return JoinRefusal.IN_PERSON
    if now > event.ends_at + JOIN_CLOSES_AFTER:
        return JoinRefusal.EVENT_OVER
    if not event.online_url:
        return JoinRefusal.NO_LINK_YET
    return None


def open_join_link(session: SessionLike, token: str, *, record_join: bool = True,
                   now: datetime | None = None) -> JoinOutcome:
    """Check a join link; for a confirmed online participant, record the join and give the URL.

    `record_join=False` (a HEAD request) answers the same without writing anything.
    """
    now = now or utcnow()
    registration = _registration_for_join(session, token)
    if registration is None:
        return JoinOutcome(None, refusal=JoinRefusal.UNKNOWN)
    refusal = _join_refusal(registration, now)
    if refusal is not None:
        return JoinOutcome(registration, refusal=refusal)
    event = registration.event
    if not record_join or now < event.starts_at - JOIN_OPENS_BEFORE:
        return JoinOutcome(registration, url=event.online_url)
    with write_transaction(session):
        _record_join(session, registration, now)
    return JoinOutcome(registration, url=event.online_url, recorded=True)


def _record_join(session: SessionLike, registration: Registration, now: datetime) -> None:
    """One row per registration: the first click inserts it, later ones count (any order)."""
    insert_for = postgresql_insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite_insert
    statement = insert_for(AttendanceRecord).values(
        event_id=registration.event_id, registration_id=registration.id,
        source=AttendanceSource.JOIN_LINK, first_join=now, joins=1, raw_name="", raw_email="",
        role="", created_at=now)
    session.execute(statement.on_conflict_do_update(
        index_elements=["registration_id", "source"],
        index_where=AttendanceRecord.source.in_(
            [AttendanceSource.JOIN_LINK, AttendanceSource.MANUAL]),
        set_={"joins": AttendanceRecord.joins + 1},
    ))


# --- matching a report to registrations -------------------------------------------------------

_TOKEN_SPLIT = re.compile(r"[\s,、，]+")


def name_keys(*names: str) -> set[str]:
    """Comparison keys for a person's name: folded (app.text: NFKC, katakana → hiragana, no
    spaces or middle dots, lower case), and with its words sorted, so that "Yamada, Taro"
    and "Taro Yamada" meet."""
    keys = set()
    for name in names:
        folded = furigana_key(name).casefold()
        if folded:
            keys.add(folded)
        words = [w for w in _TOKEN_SPLIT.split(normalize_spaces(name).casefold()) if w]
        if len(words) > 1:
            keys.add(furigana_key("".join(sorted(words))))
    return keys


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    furigana: str
    email: str
    status: RegistrationStatus
    attendance_mode: AttendanceMode


@dataclass(frozen=True)
class MatchedRow:
    """One person of the report and what they were matched to."""

    index: int
    person: reports.AttendanceRecord
    method: MatchMethod | None
    registration: Candidate | None
    candidates: tuple[Candidate, ...] = ()  # several registrations fit the name

    @property
    def state(self) -> str:
        if self.method is not None:
            return self.method.value
        return "ambiguous" if self.candidates else "unmatched"

    @property
    def is_staff(self) -> bool:
        return self.person.role is not None and self.person.role.value in STAFF_ROLES


def _candidate(row: Any) -> Candidate:
    return Candidate(row.id, row.name, row.furigana, row.email, row.status, row.attendance_mode)


_CANDIDATE_COLUMNS = (Registration.id, Registration.name, Registration.furigana,
                      Registration.email, Registration.status, Registration.attendance_mode)


def _prefer_active(found: Sequence[Candidate]) -> list[Candidate]:
    """A person who cancelled and signed up again is the active registration."""
    active = [c for c in found if c.status in ACTIVE_STATUSES]
    return active or list(found)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start:start + _IN_CHUNK]


def match_people(session: SessionLike, event_id: int,
                 people: Sequence[reports.AttendanceRecord]) -> list[MatchedRow]:
    """Match each person by e-mail, then by folded name; report what fits several."""
    emails = sorted({p.email for p in people if p.email})
    by_email: dict[str, list[Candidate]] = defaultdict(list)
    for chunk in _chunks(emails):
        for row in session.execute(
            select(Registration.email_normalized, *_CANDIDATE_COLUMNS)
            .where(Registration.event_id == event_id, Registration.email_normalized.in_(chunk))
            .order_by(Registration.id.desc())
        ):
            by_email[row.email_normalized].append(_candidate(row))

    rows: list[MatchedRow | None] = []
    by_name_needed = []
    for index, person in enumerate(people):
        found = _prefer_active(by_email.get(person.email or "", []))
        if found:
            rows.append(MatchedRow(index, person, MatchMethod.EMAIL, found[0]))
        else:
            rows.append(None)
            by_name_needed.append(index)
    if by_name_needed:
        index_by_key = _name_index(session, event_id)
        fitting: dict[int, set[int]] = {}
        for index in by_name_needed:
            person = people[index]
            keys = name_keys(*person.names) | {furigana_key(k) for k in person.name_keys}
            fitting[index] = set().union(*(index_by_key.get(key, set()) for key in keys))
        loaded = _load_candidates(session, set().union(*fitting.values()))
        for index, ids in fitting.items():
            found = _prefer_active([loaded[i] for i in sorted(ids)])
            if len(found) == 1:
                rows[index] = MatchedRow(index, people[index], MatchMethod.NAME, found[0])
            else:
                rows[index] = MatchedRow(index, people[index], None, None, tuple(found))
    return [row for row in rows if row is not None]


def _name_index(session: SessionLike, event_id: int) -> dict[str, set[int]]:
    """Name and furigana keys of the event's registrations, streamed (one pass, no ORM rows)."""
    index: dict[str, set[int]] = defaultdict(set)
    result = session.execute(
        select(Registration.id, Registration.name, Registration.furigana)
        .where(Registration.event_id == event_id)
        .execution_options(yield_per=2000)
    )
    for registration_id, name, furigana in result:
        for key in name_keys(name, furigana):
            index[key].add(registration_id)
    return index


def _load_candidates(session: SessionLike, ids: set[int]) -> dict[int, Candidate]:
    loaded: dict[int, Candidate] = {}
    for chunk in _chunks(sorted(ids)):
        for row in session.execute(select(*_CANDIDATE_COLUMNS).where(Registration.id.in_(chunk))):
            loaded[row.id] = _candidate(row)
    return loaded


# --- staging, previewing and accepting an import ---------------------------------------------


def _parse(data: bytes, event: Event) -> reports.AttendanceReport:
    try:
        return reports.parse_attendance_report(data, tz=event.timezone or "Asia/Tokyo")
    except reports.AttendanceReportError as error:
        # The parser's reason is in English: it names lines and columns of the file.
        raise ReportUnreadable(str(MESSAGES["unreadable"]) % {"reason": error},
                               field="report") from error


def _meeting_key(report: reports.AttendanceReport) -> str | None:
    """The same meeting downloaded again has the same key; None when the file cannot tell."""
    name = report.meeting_id or report.title
    if report.start is None or not name:
        return None
    return f"{report.source.value}:{name}@{report.start.isoformat()}"[:300]


def _import_in_event(session: SessionLike, event_id: int, token: str, *,
                     lock: bool = False) -> AttendanceImport:
    query = select(AttendanceImport).where(AttendanceImport.event_id == event_id,
                                           AttendanceImport.token == token)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise NotFound(MESSAGES["unknown_import"])
    return found


def stage_report(session: SessionLike, actor: User, event_id: int, filename: str,
                 data: bytes, *, now: datetime | None = None) -> AttendanceImport:
    """Parse an uploaded report and keep it for the preview; a broken file writes nothing.

    Raises ReportUnreadable (the parser's reason) or AlreadyImported. Uploading a file that
    is already waiting for acceptance returns that pending import.
    """
    now = now or utcnow()
    if not data:
        raise ReportUnreadable(MESSAGES["no_file"], field="report")
    digest = hashlib.sha256(data).hexdigest()
    # Parsed before the write lock is taken: a large report takes a moment.
    report = _parse(data, load_event(session, actor, event_id, edit=True))
    try:
        with write_transaction(session):
            load_event(session, actor, event_id, edit=True)
            existing = session.execute(
                select(AttendanceImport).where(AttendanceImport.event_id == event_id,
                                               AttendanceImport.sha256 == digest)
            ).scalar_one_or_none()
            if existing is not None and existing.status is ImportStatus.PENDING:
                return existing
            if existing is not None:
                when = format_local_datetime(existing.accepted_at or existing.created_at)
                raise AlreadyImported(str(MESSAGES["already_imported"]) % {"when": when},
                                      field="report")
            session.execute(delete(AttendanceImport).where(
                AttendanceImport.event_id == event_id,
                AttendanceImport.status == ImportStatus.PENDING,
                AttendanceImport.created_at < now - STALE_PENDING_AFTER))
            staged = AttendanceImport(
                token=secrets.token_urlsafe(24), event_id=event_id, uploaded_by_id=actor.id,
                status=ImportStatus.PENDING, kind=_KIND_OF[report.source], shape=report.shape,
                filename=(filename or "")[:255], sha256=digest,
                meeting_key=_meeting_key(report), title=(report.title or "")[:300],
                meeting_started_at=report.start, content=data,
                people=len(report.records), created_at=now)
            session.add(staged)
            session.flush()
            record(session, actor, "attendance_import.upload", staged, event_id=event_id,
                   details={"kind": staged.kind.value, "people": staged.people,
                            "sha256": digest})
            return staged
    except IntegrityError as error:
        # Two uploads of the same file at once: the other one won.
        raise ImportConflict(MESSAGES["busy"], field="report") from error


@dataclass(frozen=True)
class ImportPreview:
    staged: AttendanceImport
    report: reports.AttendanceReport
    rows: list[MatchedRow]  # people who attended (webinar no-shows are left out)
    absentees: int  # registered in the webinar tool but did not come
    min_minutes: int
    # Registrations to pick from for a manual match, or None when there are too many to
    # list (then the receipt number is typed).
    choices: list[Candidate] | None
    replaces: list[AttendanceImport] = field(default_factory=list)

    def rows_in(self, *states: str) -> list[MatchedRow]:
        return [row for row in self.rows if row.state in states]

    def meets_minimum(self, row: MatchedRow) -> bool:
        seconds = row.person.total_seconds
        return seconds > 0 and seconds >= self.min_minutes * 60


def _attended(report: reports.AttendanceReport) -> list[reports.AttendanceRecord]:
    return [p for p in report.records if p.attended or p.total_seconds > 0]


def _choices(session: SessionLike, event_id: int, taken: set[int]) -> list[Candidate] | None:
    """Confirmed registrations not matched yet, A–Z by furigana; None if too many to list."""
    query = select(*_CANDIDATE_COLUMNS).where(
        Registration.event_id == event_id,
        Registration.status == RegistrationStatus.CONFIRMED,
    ).order_by(Registration.furigana_key, Registration.id)
    found = [_candidate(row) for row in session.execute(
        query.limit(MANUAL_CHOICES_LIMIT + len(taken) + 1))]
    free = [c for c in found if c.id not in taken]
    return None if len(free) > MANUAL_CHOICES_LIMIT else free


def preview_import(session: SessionLike, event: Event, token: str) -> ImportPreview:
    """The staged report, matched against the event's registrations as they are now."""
    staged = _import_in_event(session, event.id, token)
    if staged.status is not ImportStatus.PENDING:
        raise ImportConflict(MESSAGES["not_pending"])
    report = _parse(staged.content, event)
    people = _attended(report)
    rows = match_people(session, event.id, people)
    taken = {row.registration.id for row in rows if row.registration is not None}
    replaces = list(session.execute(
        select(AttendanceImport).where(
            AttendanceImport.event_id == event.id,
            AttendanceImport.status == ImportStatus.ACCEPTED,
            AttendanceImport.meeting_key == staged.meeting_key,
        )).scalars()) if staged.meeting_key else []
    return ImportPreview(staged, report, rows, len(report.records) - len(people),
                         min_minutes(session, event.id), _choices(session, event.id, taken),
                         replaces)


@dataclass(frozen=True)
class ImportResult:
    matched: int
    unmatched: int
    replaced: int


def accept_import(session: SessionLike, actor: User, event_id: int, token: str,
                  choices: dict[int, int | None], *,
                  now: datetime | None = None) -> ImportResult:
    """Write the report's records in one transaction, with the organizer's manual choices.

    `choices` maps a row index to a registration id (a manual match) or None (leave it
    unmatched); rows not in it keep their automatic match. Raises ImportConflict when the
    import is no longer pending, AttendanceError (field ``row_<index>``) for a choice that
    is not a registration of this event, ReportUnreadable if the stored file no longer
    parses. On any error nothing is written.
    """
    now = now or utcnow()
    with write_transaction(session):
        event = load_event(session, actor, event_id, edit=True)
        staged = _import_in_event(session, event_id, token, lock=True)
        if staged.status is not ImportStatus.PENDING:
            raise ImportConflict(MESSAGES["not_pending"])
        report = _parse(staged.content, event)
        rows = match_people(session, event_id, _attended(report))
        chosen_ids = sorted({rid for rid in choices.values() if rid is not None})
        valid = set(session.execute(select(Registration.id).where(
            Registration.event_id == event_id, Registration.id.in_(chosen_ids))).scalars())
        values: list[dict[str, Any]] = []
        source = _SOURCE_OF[staged.kind]
        for row in rows:
            registration_id = row.registration.id if row.registration is not None else None
            method = row.method
            if row.index in choices and row.method is not MatchMethod.EMAIL:
                choice = choices[row.index]
                if choice is not None and choice not in valid:
                    raise AttendanceError(MESSAGES["unknown_registration"],
                                          field=f"row_{row.index}")
                if choice != registration_id:
                    registration_id = choice
                    method = MatchMethod.MANUAL if choice is not None else None
            person = row.person
            values.append({
                "event_id": event_id, "registration_id": registration_id,
                "import_id": staged.id, "source": source, "matched_by": method,
                "first_join": person.first_join, "last_leave": person.last_leave,
                "seconds": person.total_seconds, "joins": person.sessions,
                "raw_name": person.name[:200], "raw_email": (person.email or "")[:254],
                "role": person.role.value if person.role is not None else "",
                "recorded_by_id": actor.id, "created_at": now,
            })
        replaced = list(session.execute(
            select(AttendanceImport).where(
                AttendanceImport.event_id == event_id,
                AttendanceImport.status == ImportStatus.ACCEPTED,
                AttendanceImport.meeting_key == staged.meeting_key,
            )).scalars()) if staged.meeting_key else []
        for earlier in replaced:
            session.execute(delete(AttendanceRecord).where(
                AttendanceRecord.import_id == earlier.id))
            earlier.status = ImportStatus.REPLACED
        if values:
            session.execute(insert(AttendanceRecord), values)
        staged.status = ImportStatus.ACCEPTED
        staged.accepted_at = now
        staged.accepted_by_id = actor.id
        staged.content = b""
        matched = sum(1 for v in values if v["registration_id"] is not None)
        record(session, actor, "attendance_import.accept", staged, event_id=event_id, details={
            "kind": staged.kind.value, "people": len(values), "matched": matched,
            "manual": sum(1 for v in values if v["matched_by"] is MatchMethod.MANUAL),
            "replaced_imports": [earlier.id for earlier in replaced]})
        return ImportResult(matched, len(values) - matched, len(replaced))


def discard_import(session: SessionLike, actor: User, event_id: int, token: str) -> None:
    with write_transaction(session):
        load_event(session, actor, event_id, edit=True)
        staged = _import_in_event(session, event_id, token, lock=True)
        if staged.status is not ImportStatus.PENDING:
            raise ImportConflict(MESSAGES["not_pending"])
        record(session, actor, "attendance_import.discard", staged, event_id=event_id,
               details={"kind": staged.kind.value, "people": staged.people})
        session.delete(staged)


# --- marks by hand ---------------------------------------------------------------------------


def mark_attended(session: SessionLike, actor: User, event_id: int, registration_id: int, *,
                  now: datetime | None = None) -> bool:
    """Mark a confirmed registration as attended; False when it already was (nothing new)."""
    now = now or utcnow()
    with write_transaction(session):
        load_event(session, actor, event_id, edit=True)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event_id:
            raise AttendanceError(MESSAGES["unknown_registration"], field="receipt")
        if registration.status is not RegistrationStatus.CONFIRMED:
            raise AttendanceError(MESSAGES["not_confirmed"], field="receipt")
        already = session.execute(select(AttendanceRecord.id).where(
            AttendanceRecord.registration_id == registration_id,
            AttendanceRecord.source == AttendanceSource.MANUAL)).scalar_one_or_none()
        if already is not None:
            return False
        mark = AttendanceRecord(
            event_id=event_id, registration_id=registration_id,
            source=AttendanceSource.MANUAL, joins=1, recorded_by_id=actor.id, created_at=now)
        session.add(mark)
        session.flush()
        record(session, actor, "attendance.mark", mark, event_id=event_id,
               details={"registration_id": registration_id})
        return True


def unmark_attended(session: SessionLike, actor: User, event_id: int, mark_id: int) -> None:
    with write_transaction(session):
        load_event(session, actor, event_id, edit=True)
        mark = session.get(AttendanceRecord, mark_id)
        if (mark is None or mark.event_id != event_id
                or mark.source is not AttendanceSource.MANUAL):
            raise NotFound(MESSAGES["unknown_mark"])
        record(session, actor, "attendance.unmark", mark, event_id=event_id,
               details={"registration_id": mark.registration_id})
        session.delete(mark)


# --- what the attendance page shows ---------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    staged: AttendanceImport
    matched: int
    unmatched: int  # audience only: hosts and panelists are not counted


@dataclass(frozen=True)
class Mark:
    id: int
    registration_id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class AttendancePage:
    min_minutes: int
    imports: list[ImportSummary]
    join_clicks: int  # registrations who opened their join link
    marks: list[Mark]

    @property
    def has_report(self) -> bool:
        return any(i.staged.status is ImportStatus.ACCEPTED for i in self.imports)


def attendance_page(session: SessionLike, event_id: int) -> AttendancePage:
    imports = list(session.execute(
        select(AttendanceImport).where(AttendanceImport.event_id == event_id)
        .order_by(AttendanceImport.created_at.desc(), AttendanceImport.id.desc())
    ).scalars())
    counts = {
        import_id: (int(matched or 0), int(unmatched or 0))
        for import_id, matched, unmatched in session.execute(
            select(
                AttendanceRecord.import_id,
                func.count(AttendanceRecord.registration_id),
                func.count().filter(AttendanceRecord.registration_id.is_(None),
                                    AttendanceRecord.role.not_in(STAFF_ROLES)),
            ).where(AttendanceRecord.event_id == event_id,
                    AttendanceRecord.import_id.is_not(None))
            .group_by(AttendanceRecord.import_id))
    }
    clicks = session.execute(select(func.count()).where(
        AttendanceRecord.event_id == event_id,
        AttendanceRecord.source == AttendanceSource.JOIN_LINK)).scalar_one()
    marks = [Mark(mark_id, registration_id, name, created_at)
             for mark_id, registration_id, name, created_at in session.execute(
                 select(AttendanceRecord.id, Registration.id, Registration.name,
                        AttendanceRecord.created_at)
                 .join(Registration, Registration.id == AttendanceRecord.registration_id)
                 .where(AttendanceRecord.event_id == event_id,
                        AttendanceRecord.source == AttendanceSource.MANUAL)
                 .order_by(AttendanceRecord.created_at.desc(), AttendanceRecord.id.desc()))]
    return AttendancePage(
        min_minutes=min_minutes(session, event_id),
        imports=[ImportSummary(i, *counts.get(i.id, (0, 0))) for i in imports],
        join_clicks=int(clicks),
        marks=marks,
    )
