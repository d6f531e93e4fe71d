"""Figures for an event and across events, counted by the database.

Every figure is one GROUP BY query (or a part of one): the number of queries is fixed,
whatever the number of registrations, and no registration is loaded into Python. Who
attended comes from app.services.attendance.attended_registrations, the only definition.

Days and months are Tokyo's (the console shows Tokyo time everywhere): on PostgreSQL
through the time zone database; on SQLite as UTC + 9 hours, exact because Japan keeps
no daylight saving time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import aliased

from app import geo
from app.database import SessionLike
from app.i18n import current_language
from app.models import (
    AttendanceRecord,
    BreakoutAssignment,
    BreakoutGroup,
    BreakoutPreference,
    BreakoutRound,
    Event,
    ProgrammeSession,
    Registration,
    User,
    VisitorTally,
)
from app.models.attendance import REPORT_SOURCES
from app.models.enums import (
    AttendanceMode,
    EventKind,
    EventStatus,
    OrganizationType,
    RegistrationStatus,
)
from app.services import checkin
from app.services.attendance import (
    STAFF_ROLES,
    attendance_recorded,
    attended_registrations,
    min_minutes,
)
from app.services.permissions import visible_events

MODE_LABELS = {
    AttendanceMode.IN_PERSON: _l("At the venue"),
    AttendanceMode.ONLINE: _l("Online"),
}
ORGANIZATION_TYPE_LABELS = {
    OrganizationType.MUNICIPALITY: _l("Local government"),
    OrganizationType.NATIONAL_GOVERNMENT: _l("National government"),
    OrganizationType.COMPANY: _l("Company"),
    OrganizationType.NPO: _l("NPO / association"),
    OrganizationType.UNIVERSITY: _l("University / school"),
    OrganizationType.INDIVIDUAL: _l("Individual"),
    OrganizationType.OTHER: _l("Other"),
}
MUNICIPALITY_LIMIT = 100


def prefecture_label(code: str) -> str:
    found = geo.prefecture(code)
    if found is None:
        return code or "—"
    return found.name_en if current_language() == "en" else found.name


def municipality_label(code: str) -> str:
    found = geo.municipality(code)
    if found is None:
        return code or "—"
    return f"{prefecture_label(found.prefecture_code)} {found.full_name}"


def _tokyo_text(column: Any, dialect: str, sqlite_format: str, pg_format: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Tokyo", column), pg_format)
    return func.strftime(sqlite_format, column, "+9 hours")


def tokyo_day(column: Any, dialect: str) -> Any:
    """The Tokyo date of a timestamp, as 'YYYY-MM-DD' text."""
    return _tokyo_text(column, dialect, "%Y-%m-%d", "YYYY-MM-DD")


def tokyo_month(column: Any, dialect: str) -> Any:
    """The Tokyo month of a timestamp, as 'YYYY-MM' text."""
    return _tokyo_text(column, dialect, "%Y-%m", "YYYY-MM")


def _dialect(session: SessionLike) -> str:
    return session.get_bind().dialect.name


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- one event -------------------------------------------------------------------------------


class _AttendanceRate:
    """Attended among the confirmed, for rows that count both; None when nobody confirmed."""

    confirmed: int
    attended: int

    @property
    def rate(self) -> float | None:
        return self.attended / self.confirmed if self.confirmed else None


@dataclass(frozen=True)
class Breakdown(_AttendanceRate):
    """One line of a breakdown: sign-ups (every status), confirmed, and attended among them."""

    key: str
    label: str
    signups: int
    confirmed: int
    attended: int


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    cumulative: int


@dataclass(frozen=True)
class StatusCounts:
    confirmed: int
    waitlisted: int
    lottery_pending: int
    not_drawn: int
    cancelled: int

    @property
    def signups(self) -> int:
        return (self.confirmed + self.waitlisted + self.lottery_pending + self.not_drawn
                + self.cancelled)


@dataclass(frozen=True)
class AttendanceFigures:
    has_data: bool  # any check-in, join, report or mark at all: before that, no rate is shown
    confirmed: int
    attended: int  # confirmed registrations that attended
    attended_unconfirmed: int  # matched in a report, or marked, but not confirmed (cancelled…)
    unmatched: int  # people in imported reports tied to no registration (staff excluded)
    visitors: int  # anonymous visitors counted at the door

    @property
    def no_shows(self) -> int:
        return self.confirmed - self.attended

    @property
    def rate(self) -> float | None:
        return self.attended / self.confirmed if self.has_data and self.confirmed else None


@dataclass(frozen=True)
class GroupTable:
    """Lines per breakout group: of one round's assignment, or (no assignment yet) of each
    person's first choice (`round_number` None)."""

    round_number: int | None
    lines: list[Breakdown]


@dataclass(frozen=True)
class EventStatistics:
    event: Event
    min_minutes: int
    status: StatusCounts
    attendance: AttendanceFigures
    signups_by_day: list[DayCount]
    by_mode: list[Breakdown]
    by_prefecture: list[Breakdown]
    by_organization_type: list[Breakdown]
    by_group: list[GroupTable]  # per round assigned, else by first choice
    days: list[checkin.DayFigures]  # exhibitions: per open day
    sessions: list[ProgrammeSession]  # no per-session attendance is recorded (see the page)


def _attended_column(event_id: int) -> ColumnElement[bool]:
    return Registration.id.in_(attended_registrations(event_id))


def _breakdown(session: SessionLike, event_id: int, column: Any,
               attended: ColumnElement[bool]) -> list[tuple[Any, int, int, int]]:
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    return [(key, int(signups), int(c), int(a)) for key, signups, c, a in session.execute(
        select(column, func.count(), _count_if(confirmed), _count_if(confirmed & attended))
        .where(Registration.event_id == event_id)
        .group_by(column)
        .order_by(column)
    )]


def _signups_by_day(session: SessionLike, event_id: int) -> list[DayCount]:
    day = tokyo_day(Registration.created_at, _dialect(session))
    counts = {date.fromisoformat(text): int(count) for text, count in session.execute(
        select(day, func.count()).where(Registration.event_id == event_id).group_by(day))}
    if not counts:
        return []
    first, last = min(counts), max(counts)
    result, total = [], 0
    # Days without sign-ups are shown as 0, so the line does not jump over them.
    for offset in range((last - first).days + 1):
        current = first + timedelta(days=offset)
        total += counts.get(current, 0)
        result.append(DayCount(current, counts.get(current, 0), total))
    return result


def _rest(label: str, lines: list[Breakdown], status: StatusCounts,
          confirmed_attended: int) -> Breakdown:
    """Everyone not in a group line: the totals minus the groups (one line per person)."""
    return Breakdown("", label, status.signups - sum(line.signups for line in lines),
                     status.confirmed - sum(line.confirmed for line in lines),
                     confirmed_attended - sum(line.attended for line in lines))


def _by_group(session: SessionLike, event: Event, attended: ColumnElement[bool],
              status: StatusCounts, confirmed_attended: int) -> list[GroupTable]:
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    figures = (func.count(Registration.id), _count_if(confirmed), _count_if(confirmed & attended))
    assigned = session.execute(
        select(BreakoutRound.number, BreakoutGroup.id, BreakoutGroup.name, *figures)
        .select_from(BreakoutAssignment)
        .join(BreakoutRound, BreakoutRound.id == BreakoutAssignment.round_id)
        .join(BreakoutGroup, BreakoutGroup.id == BreakoutAssignment.group_id)
        .join(Registration, Registration.id == BreakoutAssignment.registration_id)
        .where(BreakoutRound.event_id == event.id)
        .group_by(BreakoutRound.number, BreakoutGroup.id, BreakoutGroup.name,
                  BreakoutGroup.position)
        .order_by(BreakoutRound.number, BreakoutGroup.position, BreakoutGroup.id)
    ).all()
    if assigned:
        tables: dict[int, list[Breakdown]] = {}
        for number, gid, name, signups, c, a in assigned:
            tables.setdefault(number, []).append(
                Breakdown(str(gid), name, int(signups), int(c), int(a)))
        return [GroupTable(number, [*lines, _rest(str(_l("Not assigned")), lines, status,
                                                  confirmed_attended)])
                for number, lines in tables.items()]
    chosen = session.execute(
        select(BreakoutGroup.id, BreakoutGroup.name, *figures)
        .select_from(BreakoutGroup)
        .outerjoin(BreakoutPreference, (BreakoutPreference.group_id == BreakoutGroup.id)
                   & (BreakoutPreference.rank == 1))
        .outerjoin(Registration, Registration.id == BreakoutPreference.registration_id)
        .where(BreakoutGroup.event_id == event.id)
        .group_by(BreakoutGroup.id, BreakoutGroup.name, BreakoutGroup.position)
        .order_by(BreakoutGroup.position, BreakoutGroup.id)
    ).all()
    if not chosen:
        return []
    lines = [Breakdown(str(gid), name, int(s), int(c), int(a)) for gid, name, s, c, a in chosen]
    return [GroupTable(None, [*lines, _rest(str(_l("No group chosen")), lines, status,
                                            confirmed_attended)])]


def event_statistics(session: SessionLike, event: Event) -> EventStatistics:
    """Every figure of the statistics page and the printed report, in a fixed number of queries."""
    attended = _attended_column(event.id)
    per_status = {status: (count, att) for status, count, att in session.execute(
        select(Registration.status, func.count(), _count_if(attended))
        .where(Registration.event_id == event.id)
        .group_by(Registration.status))}
    status = StatusCounts(*(int(per_status.get(s, (0, 0))[0]) for s in (
        RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED,
        RegistrationStatus.LOTTERY_PENDING, RegistrationStatus.NOT_DRAWN,
        RegistrationStatus.CANCELLED)))
    confirmed_attended = int(per_status.get(RegistrationStatus.CONFIRMED, (0, 0))[1])
    unconfirmed_attended = sum(int(att) for s, (_c, att) in per_status.items()
                               if s is not RegistrationStatus.CONFIRMED)

    unmatched = (select(func.count()).select_from(AttendanceRecord).where(
        AttendanceRecord.event_id == event.id,
        AttendanceRecord.source.in_(REPORT_SOURCES),
        AttendanceRecord.registration_id.is_(None),
        AttendanceRecord.role.not_in(STAFF_ROLES)).scalar_subquery())
    visitors = (select(func.coalesce(func.sum(VisitorTally.count), 0))
                .where(VisitorTally.event_id == event.id).scalar_subquery())
    has_data, unmatched_count, visitor_count = session.execute(
        select(attendance_recorded(event.id), unmatched, visitors)).one()

    def lines(rows: Iterable[tuple[Any, int, int, int]], label: Any) -> list[Breakdown]:
        return [Breakdown(str(key), label(key), s, c, a) for key, s, c, a in rows]

    return EventStatistics(
        event=event,
        min_minutes=min_minutes(session, event.id),
        status=status,
        attendance=AttendanceFigures(
            has_data=bool(has_data), confirmed=status.confirmed,
            attended=confirmed_attended, attended_unconfirmed=unconfirmed_attended,
            unmatched=int(unmatched_count), visitors=int(visitor_count)),
        signups_by_day=_signups_by_day(session, event.id),
        by_mode=lines(_breakdown(session, event.id, Registration.attendance_mode, attended),
                      lambda key: str(MODE_LABELS[key])),
        by_prefecture=lines(
            _breakdown(session, event.id, Registration.prefecture_code, attended),
            prefecture_label),
        by_organization_type=lines(
            _breakdown(session, event.id, Registration.organization_type, attended),
            lambda key: str(ORGANIZATION_TYPE_LABELS[key])),
        by_group=_by_group(session, event, attended, status, confirmed_attended),
        days=checkin.day_figures(session, event.id)
        if event.kind is EventKind.EXHIBITION else [],
        sessions=list(event.sessions),
    )


# --- across events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthRow(_AttendanceRate):
    month: str  # YYYY-MM, Tokyo
    events: int
    signups: int
    confirmed: int
    attended: int
    visitors: int


@dataclass(frozen=True)
class AreaRow(_AttendanceRate):
    code: str
    label: str
    events: int
    signups: int
    confirmed: int
    attended: int


@dataclass(frozen=True)
class OverallStatistics:
    months: list[MonthRow]
    prefectures: list[AreaRow]
    municipalities: list[AreaRow]  # the MUNICIPALITY_LIMIT with most sign-ups
    municipality_count: int  # how many municipalities there are in all

    @property
    def totals(self) -> MonthRow:
        return MonthRow("", *(sum(getattr(m, name) for m in self.months) for name in (
            "events", "signups", "confirmed", "attended", "visitors")))


def _reported_events(user: User) -> Select[Any]:
    """The ids of the user's events that count: every visible one but drafts."""
    query = visible_events(user).where(Event.status != EventStatus.DRAFT)
    return query.with_only_columns(Event.id).order_by(None)


def _areas(session: SessionLike, column: Any, events: Select[Any],
           attended: ColumnElement[bool], label: Any, limit: int | None = None
           ) -> list[AreaRow]:
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    query = (
        select(column, func.count(func.distinct(Registration.event_id)), func.count(),
               _count_if(confirmed), _count_if(confirmed & attended))
        .where(Registration.event_id.in_(events))
        .group_by(column)
        .order_by(func.count().desc(), column)
    )
    if limit is not None:
        query = query.limit(limit)
    return [AreaRow(str(code), label(code), int(e), int(s), int(c), int(a))
            for code, e, s, c, a in session.execute(query)]


def overall_statistics(session: SessionLike, user: User) -> OverallStatistics:
    """Totals per month (of the event's start) and per registrant's prefecture/municipality."""
    events = _reported_events(user)
    attended = Registration.id.in_(attended_registrations(events))
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    dialect = _dialect(session)
    month = tokyo_month(Event.starts_at, dialect)
    per_month = session.execute(
        select(month, func.count(func.distinct(Event.id)), func.count(Registration.id),
               _count_if(confirmed), _count_if(confirmed & attended))
        .select_from(Event)
        .outerjoin(Registration, Registration.event_id == Event.id)
        .where(Event.id.in_(events))
        .group_by(month)
        .order_by(month)
    ).all()
    tally_event = aliased(Event)
    tally_month = tokyo_month(tally_event.starts_at, dialect)
    visitors: dict[str, int] = dict(session.execute(
        select(tally_month, func.sum(VisitorTally.count))
        .join(tally_event, tally_event.id == VisitorTally.event_id)
        .where(VisitorTally.event_id.in_(events))
        .group_by(tally_month)).all())
    municipality_count = session.execute(
        select(func.count(func.distinct(Registration.municipality_code)))
        .where(Registration.event_id.in_(events))).scalar_one()
    return OverallStatistics(
        months=[MonthRow(m, int(e), int(s), int(c), int(a), int(visitors.get(m) or 0))
                for m, e, s, c, a in per_month],
        prefectures=_areas(session, Registration.prefecture_code, events, attended,
                           prefecture_label),
        municipalities=_areas(session, Registration.municipality_code, events, attended,
                              municipality_label, MUNICIPALITY_LIMIT),
        municipality_count=int(municipality_count),
    )
