"""A live Tsudoi server for the browser tests, and the event the browser signs up for.

The app runs in a background thread under werkzeug's `make_server` on 127.0.0.1 and a
free port, against the migrated test database. SERVER_NAME is unset (the browser talks
to 127.0.0.1:<port>, which a fixed SERVER_NAME would refuse) and PUBLIC_BASE_URL is the
live URL, so links written into emails point at this server.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app, geo
from app.extensions import db
from app.i18n import TOKYO
from app.models import (
    BreakoutGroup,
    Event,
    EventPerson,
    ProgrammeSession,
    Question,
    SeatPool,
)
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    OrganizationType,
    PersonRole,
    QuestionKind,
    SessionKind,
)
from app.orm import utcnow
from app.services import breakouts
from app.services.demo import load_demo
from app.services.registration import RegistrationInput, register
from tests.factories import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's, never a download); skipped where it is missing, except
    in CI, where the browser tests must run."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


class LiveServer:
    """`with LiveServer(app) as server:` serves `app` at `server.url` until the block ends."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        app.config["PUBLIC_BASE_URL"] = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tsudoi-live-server", daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def live_app(database_url: str, **overrides: Any) -> Flask:
    """The app as tests configure it (see conftest.make_app), minus the fixed host name."""
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
        "PUBLIC_BASE_URL": "http://127.0.0.1",  # replaced by LiveServer with the real URL
        "PAGE_CACHE_FRESH_SECONDS": 0,
    }
    config.update(overrides)
    return create_app(config)


def empty_all_tables() -> None:
    """Leave the shared test database as the other tests expect it: empty."""
    db.session.remove()
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(tables))))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@dataclass(frozen=True)
class BrowserEvents:
    """What the browser tests know about the events they created."""

    slug: str
    title: str
    full_slug: str
    full_title: str


JOURNEY_TITLE = "多文化共生のまちづくりに向けた連携のあり方を考える"
FULL_TITLE = "まるごと楽しむ とっておきの山梨"


def create_browser_events(now: datetime | None = None) -> BrowserEvents:
    """A hybrid lecture open for sign-up with two questions and two discussion groups,
    and an exhibition whose seats are all taken (waiting list open), for the list page."""
    now = now or utcnow()
    starts = (now + timedelta(days=21)).replace(hour=5, minute=0, second=0, microsecond=0)
    lecture = Event(
        slug="browser-lecture",
        kind=EventKind.LECTURE,
        format=EventFormat.HYBRID,
        status=EventStatus.PUBLISHED,
        title=JOURNEY_TITLE,
        summary="自治体・企業・NPOの連携事例から、多文化共生のまちづくりを考えるオンライン講座です。",
        body="基調講演と事例報告のあと、テーマ別の分科会で意見交換を行います。",
        organizer_name="特別区協議会",
        contact="tsudoi@example.jp",
        venue_name="東京区政会館 20階 会議室",
        venue_address="東京都千代田区飯田橋3-5-1",
        online_url="https://meet.example.jp/browser-lecture",
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=now + timedelta(days=20),
        max_preference_ranks=2,
    )
    lecture.seat_pools = [
        SeatPool(mode=AttendanceMode.IN_PERSON, capacity=40),
        SeatPool(mode=AttendanceMode.ONLINE, capacity=100),
    ]
    keynote = ProgrammeSession(
        kind=SessionKind.KEYNOTE, position=0, title="多文化共生のまちづくりと連携",
        starts_at=starts, ends_at=starts + timedelta(hours=1),
    )
    breakout = ProgrammeSession(
        kind=SessionKind.BREAKOUT, position=1, title="分科会",
        starts_at=starts + timedelta(hours=1, minutes=10), ends_at=starts + timedelta(hours=3),
    )
    lecture.sessions = [keynote, breakout]
    lecture.people = [
        EventPerson(role=PersonRole.MODERATOR, position=0, name="土井 佳彦",
                    affiliation="NPO法人多文化共生マネージャー全国協議会", title="代表理事"),
        EventPerson(role=PersonRole.SPEAKER, position=1, name="田村 太郎", session=keynote,
                    affiliation="一般財団法人ダイバーシティ研究所", title="代表理事"),
    ]
    lecture.breakout_groups = [
        BreakoutGroup(name="企業連携", position=0, session=breakout, capacity=30,
                      facilitator_name="佐藤 浩二", theme="企業と自治体の連携"),
        BreakoutGroup(name="地域福祉", position=1, session=breakout, capacity=30,
                      facilitator_name="川島 俊二", theme="福祉の現場と外国人住民"),
    ]
    lecture.questions = [
        Question(key="residence", position=0, kind=QuestionKind.SINGLE_CHOICE,
                 label="お住まい・お勤め", label_en="Where you live or work",
                 options=["区内在住", "区内在勤・在学", "その他"],
                 options_en=["I live in the ward", "I work or study in the ward", "Other"],
                 required=True),
        Question(key="message", position=1, kind=QuestionKind.TEXT,
                 label="講師への質問", label_en="Questions for the speakers", max_length=400,
                 required=False),
    ]
    exhibition = Event(
        slug="browser-exhibition",
        kind=EventKind.EXHIBITION,
        format=EventFormat.IN_PERSON,
        status=EventStatus.PUBLISHED,
        title=FULL_TITLE,
        summary="山梨県の魅力を紹介する巡回展です。",
        venue_name="明治安田生命丸の内本社ビル",
        starts_at=starts + timedelta(days=2),
        ends_at=starts + timedelta(days=4),
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=now + timedelta(days=20),
    )
    exhibition.seat_pools = [SeatPool(mode=AttendanceMode.IN_PERSON, capacity=1, taken=1)]
    db.session.add_all([lecture, exhibition])
    db.session.commit()
    return BrowserEvents(slug=lecture.slug, title=lecture.title,
                         full_slug=exhibition.slug, full_title=exhibition.title)


# --- The demo, busy: what an organiser has in the console on the day ------------------------

SHOWCASE_ORGANIZER = "screens@example.lg.jp"
FAMILY_NAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
                "吉田", "山田", "佐々木", "松本", "井上", "木村", "林", "清水", "山崎", "森")
FAMILY_KANA = ("サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト",
               "ナカムラ", "コバヤシ", "カトウ", "ヨシダ", "ヤマダ", "ササキ", "マツモト",
               "イノウエ", "キムラ", "ハヤシ", "シミズ", "ヤマザキ", "モリ")
GIVEN_NAMES = (("花子", "ハナコ"), ("太郎", "タロウ"), ("美咲", "ミサキ"), ("健一", "ケンイチ"),
               ("陽菜", "ヒナ"), ("大輔", "ダイスケ"), ("さくら", "サクラ"))
# Where the lecture's registrants come from: prefecture code and the organisation they name.
PLACES = (("13", "区役所 多文化共生推進課"), ("12", "市役所 国際交流課"),
          ("19", "県庁 観光文化部"), ("27", "市役所 市民協働課"), ("01", "町役場 企画課"))


@dataclass(frozen=True)
class Showcase:
    """The demo events loaded, the online lecture with ~100 registrants and a breakout round
    run over them, and an organiser (an admin, a member of every event)."""

    lecture_slug: str
    lecture_id: int
    exhibition_id: int
    plain_exhibition_id: int  # no questions, no seat limit: any list of names imports
    round_id: int
    manage_path: str  # one registrant's own page


def add_registrants(event: Event, count: int) -> None:
    """`count` sign-ups through the real service: varied names, places, ranked groups."""
    rng = random.Random(17)
    groups = [group.id for group in event.breakout_groups]
    required = [q for q in event.questions if q.required and q.kind is QuestionKind.SINGLE_CHOICE]
    kinds = [OrganizationType.MUNICIPALITY] * 6 + [OrganizationType.NPO, OrganizationType.COMPANY,
                                                   OrganizationType.UNIVERSITY]
    for number in range(count):
        family = number % len(FAMILY_NAMES)
        given, given_kana = GIVEN_NAMES[number % len(GIVEN_NAMES)]
        prefecture, organisation = PLACES[number % len(PLACES)]
        municipalities = geo.municipalities(prefecture)
        municipality = municipalities[number % len(municipalities)]
        ranked = rng.sample(groups, k=rng.choice((0, 1, 3, 3))) if groups else []
        register(db.session, event.id, RegistrationInput(
            attendance_mode=AttendanceMode.ONLINE,
            name=f"{FAMILY_NAMES[family]} {given}",
            furigana=f"{FAMILY_KANA[family]} {given_kana}",
            email=f"person{number:03d}@example.jp",
            organization_name=f"{municipality.name}{organisation}",
            organization_type=kinds[number % len(kinds)],
            prefecture_code=prefecture,
            municipality_code=municipality.code,
            language="ja",
            answers={q.key: q.options[number % len(q.options)] for q in required},
            preferences=ranked,
        ))


@dataclass(frozen=True)
class Scene:
    url: str
    show: Showcase


@contextmanager
def showcase_server(database_url: str, **overrides: Any) -> Iterator[Scene]:
    """The showcase served live, for a module's fixture; the tables are emptied after."""
    app = live_app(database_url, **overrides)
    with app.app_context():
        empty_all_tables()
        show = create_showcase(datetime.now(TOKYO).date())
    server = LiveServer(app).start()
    try:
        yield Scene(url=server.url, show=show)
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()


def create_showcase(today: date) -> Showcase:
    load_demo(db.session, today)
    events = {event.slug: event for event in db.session.scalars(select(Event))}
    lecture = events["tabunka-kyosei-lecture"]
    exhibition = events["chiba-37-cities-2022"]
    add_registrants(lecture, 96)
    own = register(db.session, lecture.id, RegistrationInput(
        attendance_mode=AttendanceMode.ONLINE, name="多文化 花子", furigana="タブンカ ハナコ",
        email="hanako@example.jp", organization_name="台東区 人権・多様性推進課",
        organization_type=OrganizationType.MUNICIPALITY, prefecture_code="13",
        municipality_code="13106", language="ja",
        answers={q.key: q.options[0] for q in lecture.questions
                 if q.required and q.kind is QuestionKind.SINGLE_CHOICE},
        preferences=[lecture.breakout_groups[1].id]))
    organizer = make_user(SHOWCASE_ORGANIZER, role="admin", events=list(events.values()))
    round_ = breakouts.create_round(db.session, organizer, lecture.id, None)
    breakouts.run(db.session, organizer, lecture.id, round_.id, diversity=["prefecture"],
                  penalty=2)
    assert own.manage_token is not None
    return Showcase(lecture_slug=lecture.slug, lecture_id=lecture.id,
                    exhibition_id=exhibition.id,
                    plain_exhibition_id=events["yamanashi-marugoto"].id, round_id=round_.id,
                    manage_path=f"/r/{own.manage_token}")


SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}


@contextmanager
def signed_in(browser: Any, url: str, lang: str, size: dict[str, Any],
              email: str = SHOWCASE_ORGANIZER) -> Iterator[Any]:
    """A page signed in to the console, in `lang` (the language cookie), at `size`."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", **size)
    context.set_default_timeout(15_000)
    host = url.split("//", 1)[1].split(":", 1)[0]
    context.add_cookies([{"name": "lang", "value": lang, "domain": host, "path": "/"}])
    try:
        page = context.new_page()
        page.goto(url + "/console/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("#submit")
        expect(page).to_have_url(url + "/console/")
        yield page
    finally:
        context.close()
