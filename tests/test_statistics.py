"""Statistics: figures checked against numbers worked out by hand on a small fixture, the
pages that show them, and a bounded number of queries at 100,000 registrations."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from app.extensions import db
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    AttendanceSettings,
    BreakoutAssignment,
    BreakoutPreference,
    BreakoutRound,
    CheckIn,
    Registration,
    VisitorTally,
)
from app.models.attendance import AttendanceSource, ImportStatus, MatchMethod, ReportKind
from app.models.breakouts import AssignmentSource
from app.models.checkin import CheckInMethod
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    OrganizationType,
    RegistrationStatus,
)
from app.services import statistics
from tests.attendance_support import check_in, clicked, counted_queries, many, person, prefer
from tests.factories import AuthActions, add_groups, make_event, make_user

TOKYO = ZoneInfo("Asia/Tokyo")
MAX_QUERIES = 15


def tokyo(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def report_record(registration, seconds: int, **fields) -> None:
    event_id = fields.pop("event_id", None) or registration.event_id
    staged = db.session.execute(select(AttendanceImport).where(
        AttendanceImport.event_id == event_id)).scalar_one_or_none()
    if staged is None:
        staged = AttendanceImport(
            token=f"token-{event_id}", event_id=event_id, status=ImportStatus.ACCEPTED,
            kind=ReportKind.ZOOM_MEETING, shape="zoom_meeting/per_join", sha256="0" * 64,
            content=b"", people=0)
        db.session.add(staged)
        db.session.flush()
    db.session.add(AttendanceRecord(
        event_id=event_id, registration_id=registration.id if registration else None,
        import_id=staged.id, source=AttendanceSource.ZOOM,
        matched_by=MatchMethod.EMAIL if registration else None, seconds=seconds,
        joins=1, **fields))
    db.session.commit()


@pytest.fixture
def fixture(app):
    """Eight registrations of a hybrid event; the figures below are worked out by hand."""
    event = make_event(event_format=EventFormat.HYBRID, online_capacity=100)
    group_a, group_b = add_groups(event, ["A 防災", "B 福祉"])
    db.session.add(AttendanceSettings(event_id=event.id, min_minutes=30))
    db.session.commit()
    confirmed, online, in_person = RegistrationStatus.CONFIRMED, AttendanceMode.ONLINE, \
        AttendanceMode.IN_PERSON
    people = {
        "r1": person(event, status=confirmed, attendance_mode=in_person, prefecture_code="13",
                     municipality_code="13101", created_at=tokyo(1, 10)),
        "r2": person(event, status=confirmed, attendance_mode=in_person, prefecture_code="13",
                     municipality_code="13102", organization_type=OrganizationType.COMPANY,
                     created_at=tokyo(1, 23, 30)),
        # 00:30 in Tokyo is still the previous day in UTC: it belongs to 2 September.
        "r3": person(event, status=confirmed, attendance_mode=online, prefecture_code="27",
                     municipality_code="27100", organization_type=OrganizationType.NPO,
                     created_at=tokyo(2, 0, 30)),
        "r4": person(event, status=confirmed, attendance_mode=online, prefecture_code="27",
                     municipality_code="27140", organization_type=OrganizationType.NPO,
                     created_at=tokyo(2, 12)),
        "r5": person(event, status=confirmed, attendance_mode=online, prefecture_code="01",
                     municipality_code="01100", organization_type=OrganizationType.INDIVIDUAL,
                     created_at=tokyo(4, 9)),
        "r6": person(event, status=RegistrationStatus.WAITLISTED, attendance_mode=online,
                     created_at=tokyo(4, 10)),
        "r7": person(event, status=RegistrationStatus.CANCELLED, attendance_mode=in_person,
                     created_at=tokyo(4, 11)),
        "r8": person(event, status=RegistrationStatus.NOT_DRAWN, attendance_mode=online,
                     prefecture_code="27", municipality_code="27100",
                     organization_type=OrganizationType.COMPANY, created_at=tokyo(4, 12)),
    }
    for key, group in [("r1", group_a), ("r3", group_a), ("r7", group_a), ("r2", group_b),
                       ("r5", group_b)]:
        prefer(people[key], group.id)
    check_in(people["r1"])
    check_in(people["r2"], undone=True)
    report_record(people["r3"], 50 * 60)
    report_record(people["r4"], 20 * 60)  # below the 30-minute minimum
    clicked(people["r5"])  # a report exists, so the click alone does not count
    report_record(people["r7"], 60 * 60)  # cancelled, yet in the meeting
    report_record(None, 30 * 60, event_id=event.id, raw_name="Guest")
    report_record(None, 100 * 60, event_id=event.id, raw_name="Host", role="host")
    return event, people, (group_a, group_b)


def lines(breakdown) -> list[tuple[str, int, int, int]]:
    """(label, sign-ups, confirmed, attended); "rest" for the line of everyone else."""
    return [(line.label if line.key else "rest", line.signups, line.confirmed, line.attended)
            for line in breakdown]


def test_event_figures_match_the_hand_computed_ones(fixture):
    event, _people, _groups = fixture
    figures = statistics.event_statistics(db.session, event)
    status = figures.status
    assert (status.signups, status.confirmed, status.waitlisted, status.lottery_pending,
            status.not_drawn, status.cancelled) == (8, 5, 1, 0, 1, 1)
    a = figures.attendance
    assert a.has_data is True
    assert (a.confirmed, a.attended, a.no_shows) == (5, 2, 3)
    assert a.rate == pytest.approx(0.4)
    assert (a.attended_unconfirmed, a.unmatched, a.visitors) == (1, 1, 0)
    assert figures.min_minutes == 30

    assert [(d.day, d.count, d.cumulative) for d in figures.signups_by_day] == [
        (date(2026, 9, 1), 2, 2), (date(2026, 9, 2), 2, 4), (date(2026, 9, 3), 0, 4),
        (date(2026, 9, 4), 4, 8)]
    with_labels = {line.key: line for line in figures.by_mode}
    assert (with_labels["in_person"].signups, with_labels["in_person"].confirmed,
            with_labels["in_person"].attended) == (3, 2, 1)
    assert (with_labels["online"].signups, with_labels["online"].confirmed,
            with_labels["online"].attended) == (5, 3, 1)
    assert lines(figures.by_prefecture) == [
        ("北海道", 1, 1, 0), ("東京都", 4, 2, 1), ("大阪府", 3, 2, 1)]
    assert [(line.key, line.signups, line.confirmed, line.attended)
            for line in figures.by_organization_type] == [
        ("company", 2, 1, 0), ("individual", 1, 1, 0), ("municipality", 3, 1, 1),
        ("npo", 2, 2, 1)]
    [table] = figures.by_group
    assert table.round_number is None  # no assignment yet: first choices
    assert lines(table.lines) == [
        ("A 防災", 3, 2, 2), ("B 福祉", 2, 2, 0), ("rest", 3, 1, 0)]
    assert figures.days == [] and figures.sessions == []


def test_assigned_groups_replace_first_choices(fixture):
    event, people, (group_a, group_b) = fixture
    first = BreakoutRound(event_id=event.id, number=1)
    db.session.add(first)
    db.session.flush()
    for key, group in [("r2", group_a), ("r1", group_b), ("r3", group_b)]:
        db.session.add(BreakoutAssignment(round_id=first.id, registration_id=people[key].id,
                                          group_id=group.id, source=AssignmentSource.SOLVER))
    db.session.commit()
    [table] = statistics.event_statistics(db.session, event).by_group
    assert table.round_number == 1
    assert lines(table.lines) == [
        ("A 防災", 1, 1, 0), ("B 福祉", 2, 2, 2), ("rest", 5, 2, 0)]


def test_rate_and_minimum_follow_the_setting(fixture):
    event, _people, _groups = fixture
    db.session.get(AttendanceSettings, event.id).min_minutes = 10
    db.session.commit()
    assert statistics.event_statistics(db.session, event).attendance.attended == 3  # + r4


def test_join_clicks_count_until_a_report_is_imported(app):
    event = make_event(event_format=EventFormat.ONLINE)
    came = person(event, attendance_mode=AttendanceMode.ONLINE)
    person(event, attendance_mode=AttendanceMode.ONLINE)
    before = statistics.event_statistics(db.session, event).attendance
    assert before.has_data is False and before.rate is None
    clicked(came)
    after = statistics.event_statistics(db.session, event).attendance
    assert (after.attended, after.no_shows, after.rate) == (1, 1, 0.5)


def test_exhibition_days_include_anonymous_visitors(app):
    event = make_event(kind=EventKind.EXHIBITION, starts_at=tokyo(1, 10, month=10),
                       ends_at=tokyo(3, 17, month=10), registration_required=True)
    visitors = [person(event) for _ in range(3)]
    check_in(visitors[0], day=date(2026, 10, 1))
    check_in(visitors[1], day=date(2026, 10, 1))
    check_in(visitors[2], day=date(2026, 10, 2))
    check_in(visitors[0], day=date(2026, 10, 2), undone=True)
    db.session.add_all([VisitorTally(event_id=event.id, day=date(2026, 10, 1), count=5),
                        VisitorTally(event_id=event.id, day=date(2026, 10, 2), count=3)])
    db.session.commit()
    figures = statistics.event_statistics(db.session, event)
    assert [(d.day.day, d.checked_in, d.visitors, d.total) for d in figures.days] == [
        (1, 2, 5, 7), (2, 1, 3, 4), (3, 0, 0, 0)]
    assert figures.attendance.visitors == 8
    assert figures.attendance.attended == 3


def test_across_events_per_month_and_place(app):
    october = make_event(starts_at=tokyo(10, 14, month=10), ends_at=tokyo(10, 16, month=10))
    november = make_event(starts_at=tokyo(1, 0, 30, month=11),
                          ends_at=tokyo(1, 2, month=11))  # 31 October in UTC
    draft = make_event(status=EventStatus.DRAFT, starts_at=tokyo(20, 14, month=10),
                       ends_at=tokyo(20, 16, month=10))
    theirs = make_event(starts_at=tokyo(10, 14, month=10), ends_at=tokyo(10, 16, month=10))
    a = person(october, prefecture_code="13", municipality_code="13101")
    person(october, prefecture_code="27", municipality_code="27100")
    person(october, status=RegistrationStatus.CANCELLED, prefecture_code="13",
           municipality_code="13101")
    d = person(november, attendance_mode=AttendanceMode.ONLINE, municipality_code="13106")
    person(november, municipality_code="13106")
    person(draft)
    for _ in range(5):
        person(theirs)
    check_in(a)
    clicked(d)
    db.session.add(VisitorTally(event_id=october.id, day=date(2026, 10, 10), count=10))
    db.session.commit()
    user = make_user(events=[october, november, draft])

    figures = statistics.overall_statistics(db.session, user)
    assert [(m.month, m.events, m.signups, m.confirmed, m.attended, m.visitors)
            for m in figures.months] == [("2026-10", 1, 3, 2, 1, 10), ("2026-11", 1, 2, 2, 1, 0)]
    assert [(p.label, p.events, p.signups, p.confirmed, p.attended)
            for p in figures.prefectures] == [("東京都", 2, 4, 3, 2), ("大阪府", 1, 1, 1, 0)]
    assert [(m.code, m.events, m.signups, m.confirmed, m.attended)
            for m in figures.municipalities] == [
        ("13101", 1, 2, 1, 1), ("13106", 1, 2, 2, 1), ("27100", 1, 1, 1, 0)]
    assert figures.municipalities[0].label == "東京都 千代田区"
    assert figures.municipality_count == 3
    assert figures.totals.signups == 5

    admin = make_user("admin@example.lg.jp", role="admin")
    assert statistics.overall_statistics(db.session, admin).totals.signups == 10


# --- the pages -------------------------------------------------------------------------------


def test_statistics_pages_show_charts_with_tables(client, fixture):
    event, _people, _groups = fixture
    make_user(events=[event], event_role="viewer")
    AuthActions(client).login()
    for url in (f"/console/events/{event.id}/stats", f"/console/events/{event.id}/report"):
        page = client.get(url)
        assert page.status_code == 200, url
        charts = re.findall(r'<svg [^>]*role="img"[^>]*>', page.text)
        assert len(charts) >= 5
        assert all("aria-labelledby" in chart for chart in charts)
        assert "<caption>By prefecture</caption>" in page.text
        assert "40.0%" in page.text
    report = client.get(f"/console/events/{event.id}/report").text
    assert "2 people took part." in report
    assert "css/print.css" in report
    overall = client.get("/console/stats")
    assert overall.status_code == 200 and "<caption>Per month</caption>" in overall.text


def test_programme_sessions_say_there_are_no_per_session_figures(client, app):
    from app.models import ProgrammeSession
    from app.models.enums import SessionKind

    event = make_event()
    event.sessions = [ProgrammeSession(kind=SessionKind.KEYNOTE, title="基調講演",
                                       starts_at=event.starts_at, ends_at=event.ends_at)]
    db.session.commit()
    make_user(events=[event])
    AuthActions(client).login()
    page = client.get(f"/console/events/{event.id}/stats")
    assert "there are no per-session figures" in page.text and "基調講演" in page.text


# --- 100,000 registrations ---------------------------------------------------------------------


def _bulk_attendance(event, limit: int) -> None:
    """Preferences, check-ins and join clicks for the first `limit` registrations."""
    groups = [group.id for group in event.breakout_groups]
    ids = list(db.session.execute(
        select(Registration.id).where(Registration.event_id == event.id)
        .order_by(Registration.id).limit(limit)).scalars())
    now = datetime.now(UTC)
    db.session.execute(insert(BreakoutPreference), [
        {"registration_id": rid, "group_id": groups[rid % len(groups)], "rank": 1}
        for rid in ids])
    db.session.execute(insert(CheckIn), [
        {"registration_id": rid, "day": now.date(), "checked_in_at": now,
         "method": CheckInMethod.SEARCH, "nonce": f"bulk-{rid}"} for rid in ids[::2]])
    db.session.execute(insert(AttendanceRecord), [
        {"event_id": event.id, "registration_id": rid, "source": AttendanceSource.JOIN_LINK,
         "first_join": now, "joins": 1, "raw_name": "", "raw_email": "", "role": "",
         "created_at": now} for rid in ids[1::2]])
    db.session.commit()


def _queries(event, user) -> tuple[int, int]:
    db.session.expire_all()
    fresh = db.session.get(type(event), event.id)
    with counted_queries() as per_event:
        statistics.event_statistics(db.session, fresh)
    with counted_queries() as across:
        statistics.overall_statistics(db.session, user)
    return len(per_event), len(across)


def test_statistics_run_a_bounded_number_of_queries_at_100000_registrations(app):
    small = make_event(event_format=EventFormat.HYBRID, online_capacity=None)
    add_groups(small, ["A", "B", "C"])
    many(small, 100)
    _bulk_attendance(small, 50)
    large = make_event(event_format=EventFormat.HYBRID, online_capacity=None)
    add_groups(large, ["A", "B", "C"])
    many(large, 100_000)
    _bulk_attendance(large, 10_000)
    user = make_user(events=[small, large])

    small_counts = _queries(small, user)
    large_counts = _queries(large, user)
    assert large_counts == small_counts  # the same queries, whatever the number of rows
    assert large_counts[0] <= MAX_QUERIES and large_counts[1] <= MAX_QUERIES

    figures = statistics.event_statistics(db.session, large)
    assert figures.status.signups == 100_000
    assert figures.attendance.attended == 10_000  # 5,000 checked in, 5,000 clicked
    assert sum(line.signups for line in figures.by_prefecture) == 100_000
    assert len(figures.signups_by_day) in (70, 71)  # a minute apart: 69.4 days
    assert sum(day.count for day in figures.signups_by_day) == 100_000
    assert statistics.overall_statistics(db.session, user).totals.signups == 100_100
