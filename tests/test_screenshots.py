"""Screenshots of the main pages, so that a broken layout is seen and not only a broken DOM.

The demo events (`flask demo load`), about a hundred sign-ups to the online lecture, and a
breakout round run over them; then every main page of the participant's and the organiser's
day, in Japanese and English, on a desktop (1280×800) and a phone (390×844). Each page must
answer 200, show Japanese glyphs (not the empty boxes of a missing font: Debian's
fonts-noto-cjk, which `.ci/run` installs) and, on the phone, not scroll sideways. The
screenshots go to test-results/screens/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app import geo
from app.extensions import db
from app.i18n import TOKYO
from app.models import Event, Question
from app.models.enums import AttendanceMode, OrganizationType, QuestionKind
from app.services import breakouts
from app.services.demo import load_demo
from app.services.registration import RegistrationInput, register
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, LiveServer, empty_all_tables, live_app
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parent.parent / "test-results" / "screens"
ORGANIZER = "screens@example.lg.jp"
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
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
class Scene:
    url: str
    lecture_slug: str
    lecture_id: int
    exhibition_id: int
    round_id: int
    manage_path: str


def _registrants(event: Event, count: int) -> None:
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


@pytest.fixture(scope="module")
def scene(migrated_database: str) -> Iterator[Scene]:
    app = live_app(migrated_database)
    with app.app_context():
        empty_all_tables()
        load_demo(db.session, datetime.now(TOKYO).date())
        events = {event.slug: event for event in db.session.scalars(select(Event))}
        lecture = events["tabunka-kyosei-lecture"]
        exhibition = events["chiba-37-cities-2022"]
        _registrants(lecture, 96)
        own = register(db.session, lecture.id, RegistrationInput(
            attendance_mode=AttendanceMode.ONLINE, name="多文化 花子", furigana="タブンカ ハナコ",
            email="hanako@example.jp", organization_name="台東区 人権・多様性推進課",
            organization_type=OrganizationType.MUNICIPALITY, prefecture_code="13",
            municipality_code="13106", language="ja",
            answers={q.key: q.options[0] for q in db.session.scalars(
                select(Question).where(Question.event_id == lecture.id, Question.required))},
            preferences=[lecture.breakout_groups[1].id]))
        organizer = make_user(ORGANIZER, role="admin", events=list(events.values()))
        round_ = breakouts.create_round(db.session, organizer, lecture.id, None)
        breakouts.run(db.session, organizer, lecture.id, round_.id, diversity=["prefecture"],
                      penalty=2)
        assert own.manage_token is not None
        facts = Scene(url="", lecture_slug=lecture.slug, lecture_id=lecture.id,
                      exhibition_id=exhibition.id, round_id=round_.id,
                      manage_path=f"/r/{own.manage_token}")
    server = LiveServer(app).start()
    try:
        yield Scene(**{**facts.__dict__, "url": server.url})
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()


def main_pages(scene: Scene) -> list[tuple[str, str]]:
    lecture, event = f"/events/{scene.lecture_slug}", f"/console/events/{scene.lecture_id}"
    return [
        ("public-list", "/"),
        ("public-event", lecture),
        ("signup-form", f"{lecture}/register"),
        ("outcome", f"{scene.manage_path}?new=1"),
        ("manage", scene.manage_path),
        ("console-dashboard", "/console/"),
        ("console-event", event),
        ("console-registrants", f"{event}/registrants"),
        ("console-breakout-round", f"{event}/breakouts/{scene.round_id}"),
        ("console-checkin", f"/console/events/{scene.exhibition_id}/checkin"),
    ]


# --- What a person would notice --------------------------------------------------------------

# Draws each string on a canvas in the page's own font and returns the pixels' fingerprints.
# A font without Japanese draws every character as the same box (or nothing at all).
_GLYPHS = """texts => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  const family = getComputedStyle(document.body).fontFamily;
  return texts.map(text => {
    context.clearRect(0, 0, 64, 64);
    context.font = `48px ${family}`;
    context.fillStyle = '#000';
    context.textBaseline = 'top';
    context.fillText(text, 4, 4);
    const pixels = context.getImageData(0, 0, 64, 64).data;
    let inked = 0, hash = 0;
    for (let i = 3; i < pixels.length; i += 4) {
      if (pixels[i] > 0) { inked += 1; }
      hash = (hash * 31 + pixels[i]) >>> 0;
    }
    return [inked, hash];
  });
}"""
# Kana, kanji and a private-use character that no font draws (the "missing glyph" reference).
_SAMPLES = ["あ", "い", "集", "申", "\ue000"]


def japanese_glyphs_problem(page: Page) -> str | None:
    """None when kana and kanji are drawn as distinct glyphs, unlike a missing one."""
    drawn = page.evaluate(_GLYPHS, _SAMPLES)
    *japanese, missing = [tuple(item) for item in drawn]
    if any(inked == 0 for inked, _hash in japanese):
        return f"Japanese characters draw nothing: {dict(zip(_SAMPLES, drawn, strict=True))}"
    if len(set(japanese)) < len(japanese) or missing in japanese:
        return f"Japanese characters draw as missing-glyph boxes: {drawn}"
    return None


def sideways_scroll(page: Page) -> list[int] | None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    return widths if widths[0] > widths[1] else None


@contextmanager
def signed_in(browser: Browser, scene: Scene, lang: str, size: str) -> Iterator[Page]:
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", **SIZES[size])
    context.set_default_timeout(15_000)
    host = scene.url.split("//", 1)[1].split(":", 1)[0]
    context.add_cookies([{"name": "lang", "value": lang, "domain": host, "path": "/"}])
    try:
        page = context.new_page()
        page.goto(scene.url + "/console/login")
        page.fill("#email", ORGANIZER)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("#submit")
        expect(page).to_have_url(scene.url + "/console/")
        yield page
    finally:
        context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_main_pages_read_well(browser: Browser, scene: Scene, lang: str, size: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with signed_in(browser, scene, lang, size) as page:
        for name, path in main_pages(scene):
            response = page.goto(scene.url + path)
            assert response is not None and response.status == 200, (path, response)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            page.screenshot(path=str(SCREENS / f"{name}-{lang}-{size}.png"), full_page=True)
            if (glyphs := japanese_glyphs_problem(page)) is not None:
                problems.append(f"{name}: {glyphs}")
            if size == "phone" and (widths := sideways_scroll(page)) is not None:
                problems.append(f"{name} scrolls sideways on a phone: {widths}")
    assert not problems, "\n".join(problems)


def _fonts_without_japanese() -> list[str]:
    """The machine's font files that have no Japanese (Chromium will not start with none)."""
    def files(*pattern: str) -> set[str]:
        listed = subprocess.run(["fc-list", "--format", "%{file}\\n", *pattern],
                                capture_output=True, text=True, check=True)
        return set(listed.stdout.split())

    return sorted(files() - files(":lang=ja"))


def test_the_glyph_check_sees_a_missing_japanese_font(browser: Browser, scene: Scene) -> None:
    """The same check in a Chromium whose fontconfig knows only the fonts without Japanese
    reports the boxes: the check above can fail."""
    latin = _fonts_without_japanese()
    if not latin:
        pytest.skip("every font on this machine has Japanese")
    with tempfile.TemporaryDirectory() as folder:
        fonts = Path(folder) / "fonts"
        fonts.mkdir()
        for number, file in enumerate(latin):
            (fonts / f"{number}-{Path(file).name}").symlink_to(file)
        config = Path(folder) / "fonts.conf"
        config.write_text(
            '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
            f"<dir>{fonts}</dir><cachedir>{folder}/cache</cachedir></fontconfig>")
        fontless = browser.browser_type.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            env={"FONTCONFIG_FILE": str(config), "HOME": folder, "PATH": "/usr/bin:/bin"})
        try:
            page = fontless.new_page()
            page.goto(scene.url + "/")
            assert japanese_glyphs_problem(page) is not None
            page.screenshot(path=str(SCREENS / "public-list-without-japanese-fonts.png"))
        finally:
            fontless.close()
