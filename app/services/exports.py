"""Spreadsheets organizers download: participant list, attendance list, group rosters, summary.

An export is a header and a generator of rows (pretix's exporters), written by the one
writer in app.engines.spreadsheets as CSV (UTF-8 with BOM, or CP932) or XLSX. The rows
come from one query streamed from the database (`yield_per`, a server-side cursor on
PostgreSQL), so 100,000 registrations go out in constant memory; attendance details are
joined in as grouped subqueries, never looked up per row.

Personal data (name, furigana, e-mail address) is written only when its column was
asked for. Status words are the ones Japanese organizers know from connpass (参加 /
キャンセル待ち / キャンセル …) through the Japanese catalog. Every export is recorded in
the audit log before the first byte goes out — who, which export, which columns, how many
rows — so an interrupted download of personal data is still on record.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from app import geo
from app.database import SessionLike, write_transaction
from app.i18n import TOKYO, current_language
from app.models import (
    AttendanceRecord,
    BreakoutAssignment,
    BreakoutGroup,
    BreakoutPreference,
    BreakoutRound,
    CheckIn,
    Event,
    Question,
    Registration,
    User,
)
from app.models.attendance import REPORT_SOURCES, AttendanceSource
from app.models.enums import QuestionKind, RegistrationStatus
from app.orm import utcnow
from app.services import statistics
from app.services.attendance import attendance_recorded, attended_registrations
from app.services.audit import record
from app.services.errors import DomainError
from app.services.permissions import load_event

if TYPE_CHECKING:
    # The spreadsheet engine pulls openpyxl (~0.15 s per process); the API and the console
    # import this module on every worker, so the engine is imported when a file is written.
    from app.engines.spreadsheets import Cell, CsvReport, Row

AnySelect = Select[*tuple[Any, ...]]
YIELD_PER = 1000
ENCODINGS = ("utf-8-sig", "cp932")
FORMATS = ("csv", "xlsx")
PERSONAL = ("name", "furigana", "email")

MESSAGES = {
    "columns": _l("Please choose at least one column."),
    "unknown_column": _l("This export has no column “%(column)s”."),
    "encoding": _l("Please choose UTF-8 or Shift_JIS."),
}


class ExportKind(enum.StrEnum):
    PARTICIPANTS = "participants"
    ATTENDANCE = "attendance"
    ROSTERS = "rosters"
    SUMMARY = "summary"


class ExportError(DomainError):
    code = "export_error"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Cell]
    personal: bool = False
    width: float | None = None
    number_format: str | None = None


@dataclass(frozen=True)
class ExportRequest:
    kind: ExportKind
    fmt: str
    encoding: str
    columns: tuple[str, ...]  # empty for the summary


@dataclass(frozen=True)
class Export:
    """What to write: the header, widths and formats, and a fresh row generator per call."""

    request: ExportRequest
    filename: str
    sheet_title: str
    header: list[str]
    rows: Callable[[], Iterator[Row]]
    row_count: int
    widths: list[float | None] = field(default_factory=list)
    number_formats: dict[str | int, str] = field(default_factory=dict)


# --- labels ---------------------------------------------------------------------------------


def status_words() -> dict[RegistrationStatus, str]:
    """As connpass writes them: 参加, キャンセル待ち, 抽選…, キャンセル (in Japanese)."""
    return {
        RegistrationStatus.CONFIRMED: pgettext("registration status", "Taking part"),
        RegistrationStatus.WAITLISTED: _("On the waiting list"),
        RegistrationStatus.LOTTERY_PENDING: _("Entered in the lottery"),
        RegistrationStatus.NOT_DRAWN: _("Not drawn in the lottery"),
        RegistrationStatus.CANCELLED: pgettext("registration status", "Cancelled"),
    }


def _local(value: datetime | None) -> datetime | None:
    # The writer keeps the wall-clock time of an aware datetime: show Tokyo's.
    return value.astimezone(TOKYO) if value is not None else None


def _answer(value: Any) -> str | None:
    if value in (None, "", []):
        return None
    return "、".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _labelled(label: str) -> Callable[[Any], Cell]:
    return lambda row: row._mapping[label]


def _answer_to(key: str) -> Callable[[Any], Cell]:
    return lambda row: _answer((row.answers or {}).get(key))


def _question_title(question: Question) -> str:
    if current_language() == "en" and question.label_en:
        return question.label_en
    return question.label


# --- columns --------------------------------------------------------------------------------


def assignment_rounds(session: SessionLike, event_id: int) -> list[int]:
    """The numbers of the event's breakout rounds that assigned anybody."""
    return list(session.execute(
        select(BreakoutRound.number)
        .where(BreakoutRound.event_id == event_id,
               select(BreakoutAssignment.id).where(
                   BreakoutAssignment.round_id == BreakoutRound.id).exists())
        .order_by(BreakoutRound.number)).scalars())


def columns_for(event: Event, rounds: Sequence[int]) -> list[Column]:
    """Every column an export of this event can have, in the order they are written;
    `rounds` are the breakout rounds with an assignment (a group column each)."""
    # Labels are looked up once per export, not translated again for every row.
    statuses = status_words()
    modes = {mode: str(label) for mode, label in statistics.MODE_LABELS.items()}
    kinds = {kind: str(label) for kind, label in statistics.ORGANIZATION_TYPE_LABELS.items()}
    prefectures = {p.code: statistics.prefecture_label(p.code) for p in geo.prefectures()}
    yes, no = pgettext("attendance", "Attended"), pgettext("attendance", "Absent")
    evidence_words = {
        "check_in": _("Check-in"), "report": _("Online meeting report"),
        "link": _("Join link"), "manual": _("Marked by hand"),
    }

    def attended(row: Any) -> str | None:
        if row.attended:
            return yes
        # Before anything was recorded nobody is absent; only confirmed people can be.
        if row.recorded and row.status is RegistrationStatus.CONFIRMED:
            return no
        return None

    def evidence(row: Any) -> str | None:
        found = [evidence_words["check_in"]] if row.check_in_days else []
        if row.seconds is not None:
            found.append(evidence_words["report"])
        if row.clicked_at is not None:
            found.append(evidence_words["link"])
        if row.marked is not None:
            found.append(evidence_words["manual"])
        return "、".join(found) or None

    def municipality(code: str) -> str | None:
        found = geo.municipality(code)
        return found.full_name if found is not None else code or None

    columns = [
        Column("receipt", _("Receipt number"), lambda r: r.id, width=10),
        Column("status", _("Status"), lambda r: statuses[r.status], width=14),
        Column("attendance_mode", _("Taking part"), lambda r: modes[r.attendance_mode],
               width=14),
        Column("name", _("Name"), lambda r: r.name, personal=True, width=18),
        Column("furigana", _("Name reading (furigana)"), lambda r: r.furigana, personal=True,
               width=20),
        Column("email", _("Email address"), lambda r: r.email, personal=True, width=28),
        Column("organization", _("Organisation"), lambda r: r.organization_name or None),
        Column("organization_type", _("Type of organisation"),
               lambda r: kinds[r.organization_type]),
        Column("prefecture", _("Prefecture"),
               lambda r: prefectures.get(r.prefecture_code, r.prefecture_code), width=10),
        Column("municipality", _("Municipality"), lambda r: municipality(r.municipality_code)),
    ]
    if event.breakout_groups:
        columns.append(Column("group", _("Group (first choice)"), lambda r: r.group_name))
    for number in rounds:
        label = f"round_{number}"
        columns.append(Column(label, _("Group, round %(number)d", number=number),
                              _labelled(label)))
    columns += [
        Column("registered_at", _("Registered at"), lambda r: _local(r.created_at)),
        Column("confirmed_at", _("Confirmed at"), lambda r: _local(r.confirmed_at)),
        Column("cancelled_at", _("Cancelled at"), lambda r: _local(r.cancelled_at)),
        Column("attended", _("Attendance"), attended, width=10),
        Column("check_in_days", _("Days checked in"), lambda r: r.check_in_days or 0,
               width=10),
        Column("first_check_in", _("First check-in"), lambda r: _local(r.first_check_in)),
        Column("online_minutes", _("Minutes online"),
               lambda r: None if r.seconds is None else r.seconds // 60, width=10),
        Column("first_join", _("Joined online at"),
               lambda r: _local(r.first_join or r.clicked_at)),
        Column("last_leave", _("Left online at"), lambda r: _local(r.last_leave)),
        Column("evidence", _("Recorded by"), evidence),
    ]
    for question in event.questions:
        key = question.key
        columns.append(Column(
            f"q_{key}", _question_title(question), _answer_to(key),
            width=40 if question.kind is QuestionKind.TEXT else None))
    return columns


def _roster_columns(rounds: Sequence[int]) -> list[Column]:
    """What a roster is sorted by, always its first columns: the round and the group
    assigned, or (before any assignment) each person's first choice."""
    if rounds:
        return [Column("roster_round", _("Round"), lambda r: r.roster_round, width=8),
                Column("roster_group", _("Group"), lambda r: r.roster_group)]
    return [Column("roster_group", _("Group (first choice)"), lambda r: r.roster_group)]


def default_columns(event: Event, kind: ExportKind, rounds: Sequence[int]) -> list[str]:
    """What is ticked when the export page opens: never personal data."""
    questions = [f"q_{q.key}" for q in event.questions]
    groups = [*(["group"] if event.breakout_groups else []),
              *(f"round_{number}" for number in rounds)]
    defaults = {
        ExportKind.PARTICIPANTS: ["receipt", "status", "attendance_mode", "organization",
                                  "organization_type", "prefecture", "municipality", *groups,
                                  "registered_at", "attended", *questions],
        ExportKind.ATTENDANCE: ["receipt", "status", "attendance_mode", "organization",
                                "attended", "check_in_days", "online_minutes", "first_join",
                                "last_leave", "evidence"],
        ExportKind.ROSTERS: ["receipt", "attendance_mode", "organization",
                             "organization_type", "prefecture", "attended"],
        ExportKind.SUMMARY: [],
    }
    return defaults[kind]


def check_request(event: Event, rounds: Sequence[int], kind: ExportKind, fmt: str,
                  encoding: str, columns: Sequence[str]) -> ExportRequest:
    """Validate what was asked for; raises ExportError with the field at fault."""
    if fmt == "csv" and encoding not in ENCODINGS:
        raise ExportError(MESSAGES["encoding"], field="encoding")
    if kind is ExportKind.SUMMARY:
        return ExportRequest(kind, fmt, encoding if fmt == "csv" else "", ())
    known = {column.key for column in columns_for(event, rounds)}
    chosen = list(dict.fromkeys(c for c in columns if c))
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ExportError(str(MESSAGES["unknown_column"]) % {"column": unknown[0]},
                          field="columns")
    if not chosen:
        raise ExportError(MESSAGES["columns"], field="columns")
    return ExportRequest(kind, fmt, encoding if fmt == "csv" else "", tuple(chosen))


# --- rows -----------------------------------------------------------------------------------


def _registration_query(event: Event, kind: ExportKind, rounds: Sequence[int]) -> AnySelect:
    """One row per registration (per round and registration for assigned rosters) with its
    attendance details and groups, ordered for the export."""
    event_id = event.id
    checkins = (
        select(CheckIn.registration_id.label("rid"), func.count().label("days"),
               func.min(CheckIn.checked_in_at).label("first"))
        .join(Registration, Registration.id == CheckIn.registration_id)
        .where(Registration.event_id == event_id, CheckIn.undone_at.is_(None))
        .group_by(CheckIn.registration_id)
        .subquery("checkins"))
    reported = (
        select(AttendanceRecord.registration_id.label("rid"),
               func.sum(AttendanceRecord.seconds).label("seconds"),
               func.min(AttendanceRecord.first_join).label("first_join"),
               func.max(AttendanceRecord.last_leave).label("last_leave"))
        .where(AttendanceRecord.event_id == event_id,
               AttendanceRecord.source.in_(REPORT_SOURCES),
               AttendanceRecord.registration_id.is_not(None))
        .group_by(AttendanceRecord.registration_id)
        .subquery("reported"))
    linked = (
        select(AttendanceRecord.registration_id.label("rid"),
               AttendanceRecord.first_join.label("clicked_at"))
        .where(AttendanceRecord.event_id == event_id,
               AttendanceRecord.source == AttendanceSource.JOIN_LINK)
        .subquery("linked"))
    marked = (
        select(AttendanceRecord.registration_id.label("rid"))
        .where(AttendanceRecord.event_id == event_id,
               AttendanceRecord.source == AttendanceSource.MANUAL)
        .subquery("marked"))
    choice = aliased(BreakoutPreference)
    chosen_group = aliased(BreakoutGroup)
    attended = Registration.id.in_(attended_registrations(event_id))
    query = (
        select(
            Registration.id, Registration.status, Registration.attendance_mode,
            Registration.name, Registration.furigana, Registration.email,
            Registration.organization_name, Registration.organization_type,
            Registration.prefecture_code, Registration.municipality_code,
            Registration.answers, Registration.created_at, Registration.confirmed_at,
            Registration.cancelled_at,
            attended.label("attended"),
            attendance_recorded(event_id).label("recorded"),
            checkins.c.days.label("check_in_days"), checkins.c.first.label("first_check_in"),
            reported.c.seconds, reported.c.first_join, reported.c.last_leave,
            linked.c.clicked_at, marked.c.rid.label("marked"),
            chosen_group.name.label("group_name"),
        )
        .outerjoin(checkins, checkins.c.rid == Registration.id)
        .outerjoin(reported, reported.c.rid == Registration.id)
        .outerjoin(linked, linked.c.rid == Registration.id)
        .outerjoin(marked, marked.c.rid == Registration.id)
        .outerjoin(choice, (choice.registration_id == Registration.id) & (choice.rank == 1))
        .outerjoin(chosen_group, chosen_group.id == choice.group_id)
        .where(Registration.event_id == event_id)
    )
    # One join per round with an assignment: an event has a handful at most.
    for number in rounds:
        round_ = aliased(BreakoutRound)
        seat = aliased(BreakoutAssignment)
        seated = aliased(BreakoutGroup)
        query = (query
                 .outerjoin(round_, (round_.event_id == event_id) & (round_.number == number))
                 .outerjoin(seat, (seat.round_id == round_.id)
                            & (seat.registration_id == Registration.id))
                 .outerjoin(seated, seated.id == seat.group_id)
                 .add_columns(seated.name.label(f"round_{number}")))
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    if kind is ExportKind.ATTENDANCE:
        return query.where(or_(confirmed, attended)).order_by(
            Registration.furigana_key, Registration.id)
    if kind is ExportKind.ROSTERS and rounds:
        round_ = aliased(BreakoutRound)
        seat = aliased(BreakoutAssignment)
        seated = aliased(BreakoutGroup)
        return (query
                .join(seat, seat.registration_id == Registration.id)
                .join(round_, (round_.id == seat.round_id) & (round_.event_id == event_id))
                .join(seated, seated.id == seat.group_id)
                .add_columns(round_.number.label("roster_round"),
                             seated.name.label("roster_group"))
                .where(confirmed)
                .order_by(round_.number, seated.position, seated.id, Registration.furigana_key,
                          Registration.id))
    if kind is ExportKind.ROSTERS:
        return (query.add_columns(chosen_group.name.label("roster_group"))
                .where(confirmed)
                .order_by(chosen_group.position.is_(None), chosen_group.position,
                          chosen_group.id, Registration.furigana_key, Registration.id))
    return query.order_by(Registration.id)


def _summary_lines(session: SessionLike, event: Event) -> list[Row]:
    figures = statistics.event_statistics(session, event)

    def rate(attended: int, confirmed: int) -> Decimal | None:
        if not confirmed or not figures.attendance.has_data:
            return None
        return (Decimal(attended * 100) / confirmed).quantize(Decimal("0.1"))

    def attended(value: int) -> int | None:
        return value if figures.attendance.has_data else None

    status = figures.status
    lines: list[Row] = [[_("Total"), event.title, status.signups, status.confirmed,
                         attended(figures.attendance.attended),
                         rate(figures.attendance.attended, status.confirmed),
                         figures.attendance.visitors or None]]
    words = status_words()
    for key, count in [
        (RegistrationStatus.CONFIRMED, status.confirmed),
        (RegistrationStatus.WAITLISTED, status.waitlisted),
        (RegistrationStatus.LOTTERY_PENDING, status.lottery_pending),
        (RegistrationStatus.NOT_DRAWN, status.not_drawn),
        (RegistrationStatus.CANCELLED, status.cancelled),
    ]:
        lines.append([_("Status"), words[key], count, None, None, None, None])
    sections = [(_("Taking part"), figures.by_mode), (_("Prefecture"), figures.by_prefecture),
                (_("Type of organisation"), figures.by_organization_type)]
    sections += [(_("Group (first choice)") if table.round_number is None
                  else _("Group, round %(number)d", number=table.round_number), table.lines)
                 for table in figures.by_group]
    for title, breakdown in sections:
        for line in breakdown:
            lines.append([title, line.label, line.signups, line.confirmed,
                          attended(line.attended), rate(line.attended, line.confirmed), None])
    for day in figures.days:
        lines.append([_("Day"), day.day, None, None, day.checked_in, None, day.visitors])
    for day_count in figures.signups_by_day:
        lines.append([_("Sign-ups per day"), day_count.day, day_count.count, None, None,
                      None, None])
    return lines


def _summary_header() -> list[str]:
    return [_("Section"), _("Item"), _("Sign-ups"), _("Confirmed"), _("Attended"),
            _("Attendance rate (%)"), _("Anonymous visitors")]


def _rows(session: SessionLike, query: AnySelect, chosen: list[Column]) -> Iterator[Row]:
    """Stream the rows: the cursor hands them over a thousand at a time."""
    result = session.execute(query.execution_options(stream_results=True, yield_per=YIELD_PER))
    try:
        for row in result:
            yield [column.value(row) for column in chosen]
    finally:
        result.close()


def _describe(session: SessionLike, event: Event, request: ExportRequest) -> Export:
    today = utcnow().astimezone(TOKYO).strftime("%Y%m%d")
    filename = f"event{event.id}_{request.kind.value}_{today}.{request.fmt}"
    titles = {
        ExportKind.PARTICIPANTS: _("Participants"), ExportKind.ATTENDANCE: _("Attendance"),
        ExportKind.ROSTERS: _("Group rosters"), ExportKind.SUMMARY: _("Summary"),
    }
    if request.kind is ExportKind.SUMMARY:
        lines = _summary_lines(session, event)
        return Export(request, filename, titles[request.kind], _summary_header(),
                      lambda: iter(lines), len(lines), widths=[24, 36, 10, 10, 10, 12, 12])
    rounds = assignment_rounds(session, event.id)
    by_key = {column.key: column for column in columns_for(event, rounds)}
    chosen = [by_key[key] for key in request.columns]
    if request.kind is ExportKind.ROSTERS:
        chosen = [*_roster_columns(rounds), *chosen]
    query = _registration_query(event, request.kind, rounds)
    count = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    formats: dict[str | int, str] = {index: "#,##0" for index, column in enumerate(chosen)
                                     if column.key in ("check_in_days", "online_minutes")}
    return Export(request, filename, titles[request.kind], [c.title for c in chosen],
                  lambda: _rows(session, query, chosen), int(count),
                  widths=[c.width for c in chosen], number_formats=formats)


def start_export(session: SessionLike, actor: User, event_id: int,
                 request: ExportRequest) -> Export:
    """Record the export in the audit log and return it, ready to be written.

    Exports are for the event's organizers (viewers get PermissionDenied): they can carry
    personal data, and even without it they list who registered from where.
    """
    # Counting 100,000 rows takes a moment: done before the write lock, not under it.
    export = _describe(session, load_event(session, actor, event_id, edit=True), request)
    with write_transaction(session):
        event = load_event(session, actor, event_id, edit=True)
        record(session, actor, "export.download", event, event_id=event_id, details={
            "kind": request.kind.value, "format": request.fmt,
            "encoding": request.encoding, "columns": list(request.columns),
            "personal": [c for c in request.columns if c in PERSONAL],
            "rows": export.row_count})
    return export


def preview_export(session: SessionLike, event: Event, request: ExportRequest
                   ) -> tuple[int, CsvReport | None]:
    """Rows the export will have and, for Shift_JIS, what CP932 cannot hold (a full pass)."""
    export = _describe(session, event, request)
    report = None
    if request.fmt == "csv" and request.encoding == "cp932":
        from app.engines.spreadsheets import scan_cp932  # lazy: see the imports at the top

        report = scan_cp932(export.header, export.rows())
    return export.row_count, report
