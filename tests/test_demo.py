"""`flask demo load`: the newsletter's four events, scheduled so sign-up is open, loaded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app import geo
from app.demo_data import CHIBA, CHIBA_CITIES, DEMO_EVENTS, YAMANASHI
from app.extensions import db
from app.models import (
    BreakoutGroup,
    Event,
    EventPerson,
    Exhibitor,
    ProgrammeSession,
    Question,
    SeatPool,
)
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    SessionKind,
)
from app.services import demo
from app.services.demo import TOKYO, build_event, japanese_holidays, load_demo, venue_closed

SLUGS = [
    "chiba-37-cities-2022",
    "yamanashi-marugoto",
    "tabunka-kyosei-lecture",
    "tohoku-kizuna-2023-aomori",
]


def tokyo_today() -> date:
    return datetime.now(TOKYO).date()


def load() -> list[str]:
    return load_demo(db.session(), tokyo_today())


def event(slug: str) -> Event:
    found = db.session.scalar(select(Event).where(Event.slug == slug))
    assert found is not None, slug
    return found


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so a second load can be shown to change nothing."""
    db.session.expire_all()
    return {
        table.name: [
            tuple(row)
            for row in db.session.execute(
                select(table).order_by(*table.primary_key.columns)
            ).all()
        ]
        for table in db.metadata.sorted_tables
    }


def test_load_creates_the_four_events(app: Flask) -> None:
    lines = load()

    assert lines == [f"{slug}: created ({event(slug).title})" for slug in SLUGS]
    assert db.session.scalar(select(func.count()).select_from(Event)) == 4
    for slug in SLUGS:
        found = event(slug)
        assert found.status is EventStatus.PUBLISHED
        assert found.timezone == "Asia/Tokyo"
        assert found.registration_required
        assert found.summary and found.body and found.organizer_name and found.contact
        assert "デモ" in found.body
        assert [pool.mode for pool in found.seat_pools] == found.attendance_modes


def test_chiba_exhibition(app: Flask) -> None:
    load()
    chiba = event("chiba-37-cities-2022")

    assert chiba.title == "魅力いっぱい ギュッと 千葉"
    assert (chiba.kind, chiba.format) == (EventKind.EXHIBITION, EventFormat.IN_PERSON)
    assert chiba.venue_name == "東京区政会館 1階エントランスホール"
    assert chiba.venue_address == "東京都千代田区飯田橋3-5-1"
    assert chiba.themes == ["自然", "レジャー・体験", "歴史・文化", "街・暮らし"]
    names = [exhibitor.name for exhibitor in chiba.exhibitors]
    assert len(names) == len(set(names)) == 37
    assert names[0] == "千葉市" and names[-1] == "大網白里市"
    assert "鎌ケ谷市" in names and "袖ケ浦市" in names and "匝瑳市" in names
    assert (chiba.daily_opens_at, chiba.daily_closes_at) == (time(9), time(17))
    assert chiba.closed_dates, "six weeks include weekends"
    # Optional visit registration: no seat limit, so nobody is ever turned away.
    pool = chiba.pool_for(AttendanceMode.IN_PERSON)
    assert pool is not None and pool.capacity is None
    assert chiba.registration_mode is RegistrationMode.FIRST_COME
    assert [q.kind for q in chiba.questions] == [QuestionKind.MULTIPLE_CHOICE]
    assert chiba.questions[0].options == chiba.themes


def test_yamanashi_travelling_exhibition(app: Flask) -> None:
    load()
    yamanashi = event("yamanashi-marugoto")

    assert yamanashi.title.startswith("まるごと楽しむ とっておきの山梨")
    assert yamanashi.venue_name == "明治安田生命丸の内本社ビル"
    assert yamanashi.venue_address == "東京都千代田区丸の内2-1-1"
    assert "令和４年３月29日" in yamanashi.body and "明治安田生命保険相互会社" in yamanashi.body
    local = [yamanashi.starts_at.astimezone(TOKYO), yamanashi.ends_at.astimezone(TOKYO)]
    assert (local[1].date() - local[0].date()).days == 2
    assert len(yamanashi.exhibitors) == 14
    pool = yamanashi.pool_for(AttendanceMode.IN_PERSON)
    assert pool is not None and pool.capacity is None
    assert yamanashi.registration_mode is RegistrationMode.FIRST_COME


def test_online_lecture_programme(app: Flask) -> None:
    load()
    lecture = event("tabunka-kyosei-lecture")

    assert lecture.title == "多文化共生のまちづくりに向けた連携のあり方を考える"
    assert (lecture.kind, lecture.format) == (EventKind.LECTURE, EventFormat.ONLINE)
    assert lecture.online_url.startswith("https://")
    assert lecture.waitlist_enabled and lecture.max_preference_ranks == 3
    pool = lecture.pool_for(AttendanceMode.ONLINE)
    assert pool is not None and pool.capacity == 120
    assert lecture.pool_for(AttendanceMode.IN_PERSON) is None

    kinds = [session.kind for session in lecture.sessions]
    assert kinds.count(SessionKind.KEYNOTE) == 1
    assert kinds.count(SessionKind.CASE_TALK) == 3
    assert kinds.count(SessionKind.BREAKOUT) == 1
    # Back to back, from the start of the event to its end.
    assert lecture.sessions[0].starts_at == lecture.starts_at
    assert lecture.sessions[-1].ends_at == lecture.ends_at
    for before, after in pairwise(lecture.sessions):
        assert before.ends_at == after.starts_at
    local_start = lecture.starts_at.astimezone(TOKYO)
    assert local_start.time() == time(14) and local_start.weekday() == 2

    def speakers(kind: SessionKind) -> list[str]:
        return [
            person.name
            for session in lecture.sessions if session.kind is kind
            for person in session.people if person.role is PersonRole.SPEAKER
        ]

    assert speakers(SessionKind.KEYNOTE) == ["田村 太郎"]
    assert speakers(SessionKind.CASE_TALK) == ["井崎 和也", "佐藤 浩二", "川島 俊二"]
    moderators = [p for p in lecture.people if p.role is PersonRole.MODERATOR]
    assert [(p.name, p.session_id) for p in moderators] == [("土井 佳彦", None)]
    assert moderators[0].affiliation == "NPO法人多文化共生マネージャー全国協議会"

    breakout = next(s for s in lecture.sessions if s.kind is SessionKind.BREAKOUT)
    groups = lecture.breakout_groups
    assert [g.name for g in groups] == [
        "企業連携グループ",
        "地域福祉グループ",
        "地域コミュニティグループ",
        "多文化共生全般グループ",
    ]
    assert [(g.facilitator_name, g.facilitator_affiliation) for g in groups] == [
        ("井崎 和也", "佐賀県"), ("佐藤 浩二", "知立市"), ("川島 俊二", "台東区"),
        ("段塚", "特別区長会事務局"),
    ]
    assert all(g.session_id == breakout.id and g.capacity == 30 and g.theme for g in groups)
    facilitators = [p.name for p in breakout.people if p.role is PersonRole.FACILITATOR]
    assert facilitators == [g.facilitator_name for g in groups]

    questions = {q.key: q for q in lecture.questions}
    assert questions["question_for_speakers"].kind is QuestionKind.TEXT
    assert not questions["question_for_speakers"].required
    referral = questions["referral"]
    assert referral.kind is QuestionKind.SINGLE_CHOICE and referral.required
    assert referral.options == [
        "自治体からの案内", "特別区全国連携プロジェクトHP", "Twitter", "その他",
    ]


def test_festival_lottery(app: Flask) -> None:
    load()
    festival = event("tohoku-kizuna-2023-aomori")

    assert festival.title == "東北絆まつり2023青森"
    assert festival.kind is EventKind.FESTIVAL
    assert festival.organizer_name == "東北絆まつり実行委員会"
    assert festival.website_url == "https://tohoku-kizunamatsuri.jp/"
    for name in ("青森ねぶた祭", "秋田竿燈まつり", "盛岡さんさ踊り", "山形花笠まつり",
                 "仙台七夕まつり", "福島わらじまつり"):
        assert name in festival.body
    local = [festival.starts_at.astimezone(TOKYO), festival.ends_at.astimezone(TOKYO)]
    assert [local[0].weekday(), local[1].weekday()] == [5, 6]
    assert festival.registration_mode is RegistrationMode.LOTTERY
    assert festival.lottery_draw_at is not None and festival.lottery_drawn_at is None
    assert festival.lottery_draw_at < festival.starts_at
    pool = festival.pool_for(AttendanceMode.IN_PERSON)
    assert pool is not None and pool.capacity == 200
    residence = festival.questions[0]
    assert residence.key == "residence" and residence.required
    assert residence.options == ["青森市内在住", "青森市内在勤・在学", "その他"]
    # Every tier names an option that participants can actually choose.
    assert festival.lottery_tiers == [
        {"question": "residence", "any_of": ["青森市内在住"]},
        {"question": "residence", "any_of": ["青森市内在勤・在学"]},
    ]


def test_every_question_is_bilingual(app: Flask) -> None:
    load()
    for question in db.session.scalars(select(Question)):
        assert question.label and question.label_en
        assert len(question.options_en) == len(question.options)


def test_events_are_in_the_future_with_registration_open_now(app: Flask) -> None:
    load()
    now = datetime.now(TOKYO)
    for slug in SLUGS:
        found = event(slug)
        assert found.registration_opens_at is not None
        assert found.registration_opens_at <= now - timedelta(days=2), "opened days ago"
        assert now < found.effective_closes_at <= found.starts_at, slug
        assert found.starts_at > now + timedelta(days=6)
        if found.lottery_draw_at is not None:
            assert now < found.lottery_draw_at < found.starts_at
    # The lecture comes first, then the exhibitions, then the festival, as the brief's
    # timetable for the demo has it.
    assert event("tabunka-kyosei-lecture").starts_at > now + timedelta(days=20)
    assert event("tohoku-kizuna-2023-aomori").starts_at > now + timedelta(days=55)


# Whatever day the demo is loaded on, including over the New Year and Golden Week.
LOAD_DAYS = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 2 * 365, 5)] + [
    date(2026, 12, 1), date(2026, 12, 28), date(2027, 4, 20), date(2027, 9, 1),
]


@pytest.mark.parametrize("today", LOAD_DAYS, ids=str)
def test_schedule_holds_whatever_the_load_date(today: date) -> None:
    noon = datetime.combine(today, time(12), tzinfo=TOKYO)
    for spec in DEMO_EVENTS:
        built = build_event(spec, today)
        first = built.starts_at.astimezone(TOKYO).date()
        last = built.ends_at.astimezone(TOKYO).date()
        assert built.registration_opens_at is not None
        assert built.registration_opens_at < noon < built.effective_closes_at
        assert today < first <= last
        closed = [date.fromisoformat(day) for day in built.closed_dates]
        assert all(first < day < last for day in closed)
        if spec.schedule.closed_on_weekends_and_holidays:
            assert not venue_closed(first) and not venue_closed(last)
            assert (last - first).days < 42
            assert closed == [
                first + timedelta(days=n)
                for n in range((last - first).days)
                if venue_closed(first + timedelta(days=n))
            ]
        else:
            assert (last - first).days == spec.schedule.days - 1
            if spec.schedule.weekday is not None:
                assert first.weekday() == spec.schedule.weekday
            days = [first + timedelta(days=n) for n in range(spec.schedule.days)]
            assert not any(day in japanese_holidays(day.year) for day in days)
            assert not any((d.month, d.day) >= (12, 29) or (d.month, d.day) <= (1, 3) for d in days)
        if built.lottery_draw_at is not None:
            assert noon < built.lottery_draw_at < built.starts_at


def test_japanese_holidays() -> None:
    # The Cabinet Office's list for 2026, with the 振替休日 of 5/6 and 国民の休日 of 9/22.
    assert sorted(japanese_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 1, 12), date(2026, 2, 11), date(2026, 2, 23),
        date(2026, 3, 20), date(2026, 4, 29), date(2026, 5, 3), date(2026, 5, 4),
        date(2026, 5, 5), date(2026, 5, 6), date(2026, 7, 20), date(2026, 8, 11),
        date(2026, 9, 21), date(2026, 9, 22), date(2026, 9, 23), date(2026, 10, 12),
        date(2026, 11, 3), date(2026, 11, 23),
    ]
    # 春分の日 on a Sunday in 2027 moves to Monday.
    assert {date(2027, 3, 21), date(2027, 3, 22)} <= japanese_holidays(2027)


def test_exhibitors_are_the_municipalities_of_the_master() -> None:
    chiba = build_event(CHIBA, date(2027, 4, 1))
    yamanashi = build_event(YAMANASHI, date(2027, 4, 1))

    for built, prefecture_code in ((chiba, "12"), (yamanashi, "19")):
        for exhibitor in built.exhibitors:
            assert exhibitor.municipality_code is not None
            found = geo.municipality(exhibitor.municipality_code)
            assert found is not None and found.prefecture_code == prefecture_code
            assert found.name == exhibitor.name
    assert chiba.exhibitors[0].municipality_code == "12100"  # the city, not a ward
    # "山梨県14町村" is every town and village of the prefecture.
    assert {e.name for e in yamanashi.exhibitors} == {
        m.name for m in geo.municipalities("19") if m.district
    }


def test_an_exhibitor_missing_from_the_master_stops_the_load() -> None:
    misspelt = replace(CHIBA, exhibitors=(*CHIBA_CITIES[:-1], "大網白里町"))

    with pytest.raises(ValueError, match="大網白里町"):
        build_event(misspelt, date(2027, 4, 1))


def test_second_load_changes_nothing(app: Flask) -> None:
    load()
    before = snapshot()

    lines = load()

    assert lines == [f"{slug}: already present, left untouched" for slug in SLUGS]
    assert snapshot() == before


def test_existing_event_is_left_as_it_is(app: Flask) -> None:
    """An organiser's edits (or a demo's registrations) survive a later load."""
    load()
    db.session.execute(
        update(Event).where(Event.slug == "yamanashi-marugoto").values(title="編集済み")
    )
    db.session.execute(
        update(SeatPool)
        .where(SeatPool.event_id == event("yamanashi-marugoto").id)
        .values(capacity=5)
    )
    db.session.commit()
    before = snapshot()

    load_demo(db.session(), tokyo_today() + timedelta(days=30))

    assert snapshot() == before


def test_a_partial_load_is_completed(app: Flask) -> None:
    load()
    db.session.delete(event("tabunka-kyosei-lecture"))
    db.session.commit()

    lines = load()

    assert [line.split(":")[1].strip().split(" ")[0] for line in lines] == [
        "already", "already", "created", "already",
    ]
    lecture = event("tabunka-kyosei-lecture")
    assert len(lecture.breakout_groups) == 4
    counts = {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Exhibitor, EventPerson, BreakoutGroup, ProgrammeSession, SeatPool)
    }
    # 37 + 14 exhibitors; 1 moderator + 4 speakers + 4 facilitators; 8 sessions; 4 pools.
    assert counts == {
        "exhibitors": 51, "event_people": 9, "breakout_groups": 4,
        "programme_sessions": 8, "seat_pools": 4,
    }


def test_concurrent_loader_that_won_the_race(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another loader commits the event between our check and our insert, the unique
    slug stops us and we report the event as present instead of failing."""
    load()
    before = snapshot()
    real_exists = demo._exists
    checked: set[str] = set()

    def exists_after_the_check(session: Any, slug: str) -> bool:
        if slug not in checked:
            checked.add(slug)
            return False
        return real_exists(session, slug)

    monkeypatch.setattr(demo, "_exists", exists_after_the_check)

    lines = load()

    assert lines == [f"{slug}: already present, left untouched" for slug in SLUGS]
    assert snapshot() == before


def test_cli_load(app: Flask) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(args=["demo", "load"])
    second = runner.invoke(args=["demo", "load"])

    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        f"{slug}: created ({event(slug).title})" for slug in SLUGS
    ]
    assert second.exit_code == 0, second.output
    assert second.output.splitlines() == [
        f"{slug}: already present, left untouched" for slug in SLUGS
    ]
    assert db.session.scalar(select(func.count()).select_from(Event)) == 4


def test_cli_load_for_a_given_day(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "load", "--today", "2030-06-03"])

    assert result.exit_code == 0, result.output
    lecture = event("tabunka-kyosei-lecture")
    assert lecture.registration_opens_at == datetime(2030, 5, 31, 10, tzinfo=TOKYO)
    assert lecture.starts_at == datetime(2030, 6, 26, 14, tzinfo=TOKYO)


def test_cli_rejects_a_bad_date(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "load", "--today", "next week"])

    assert result.exit_code == 2
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0
