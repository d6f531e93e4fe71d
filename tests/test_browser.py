"""The participant's journey in headless Chromium, in Japanese and English, with axe-core.

events → event → sign-up form (Japanese input; prefecture → municipality with and without
JavaScript) → outcome page, which is the manage link → cancel → confirm → cancelled.
Assertions are on what a participant sees: headings, status, messages, <html lang>.
Screenshots go to test-results/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMessage
from app.models.enums import MessageKind
from tests.browser_support import (
    BrowserEvents,
    LiveServer,
    create_browser_events,
    empty_all_tables,
    live_app,
)
from tests.factories import render_queued_messages

pytestmark = pytest.mark.browser

RESULTS = Path(__file__).resolve().parent.parent / "test-results"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
JA_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\)")
EN_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}")
TOKEN_URL = r"/r/[A-Za-z0-9_-]{43}"


@dataclass(frozen=True)
class Words:
    """What a participant reads at each step. English: the exact source strings; Japanese:
    patterns any faithful translation matches (the catalog's wording may still change)."""

    index_h1: str | re.Pattern[str]
    registered: str | re.Pattern[str]
    confirmed: str | re.Pattern[str]
    cancel_h1: str | re.Pattern[str]
    cancelled: str | re.Pattern[str]
    refresh: str | re.Pattern[str]
    prefecture: str
    date: re.Pattern[str]


WORDS = {
    "ja": Words(
        index_h1=re.compile("イベント"),
        registered=re.compile("申し?込|登録|受け?付"),
        confirmed=re.compile("確定|完了|登録済|受付済"),
        cancel_h1=re.compile("キャンセル|取り?消"),
        cancelled=re.compile("キャンセル|取り?消"),
        refresh="市区町村を表示",
        prefecture="東京都",
        date=JA_DATE,
    ),
    "en": Words(
        index_h1="Upcoming events",
        registered="You are registered.",
        confirmed="Confirmed",
        cancel_h1="Cancel registration",
        cancelled="This registration has been cancelled.",
        refresh="Show municipalities",
        prefecture="Tokyo",
        date=EN_DATE,
    ),
}

# The empty form's errors, by field id (the hybrid lecture asks how one takes part).
EMPTY_FORM_ERRORS = {
    "attendance_mode": "Please choose how you will take part.",
    "name": "Please enter your name.",
    "furigana": "Please enter the reading of your name.",
    "email": "Please enter your email address.",
    "email_confirm": "Please enter your email address again.",
    "organization_type": "Please choose the type of your organisation.",
    "organization_name": "Please enter the name of your organisation.",
    "prefecture": "Please choose your prefecture.",
    "municipality": "Please choose your municipality.",
    "q_residence": "Please answer “Where you live or work”.",
    "consent": "Please agree to the privacy notice to register.",
}
CHOICE_GROUPS = {"attendance_mode", "q_residence"}


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    events: BrowserEvents

    def messages_to(self, email: str) -> list[OutboxMessage]:
        """As the mail worker will send them (it renders sign-up messages first)."""
        with self.app.app_context():
            render_queued_messages()
            found = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == email)
                .order_by(OutboxMessage.id)
            ).all()
            db.session.expunge_all()
            return list(found)


@pytest.fixture(scope="module")
def live(migrated_database: str) -> Iterator[Live]:
    app = live_app(migrated_database)
    with app.app_context():
        empty_all_tables()
        events = create_browser_events()
    server = LiveServer(app).start()
    try:
        yield Live(url=server.url, app=app, events=events)
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()



@contextmanager
def new_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A fresh browser profile (no cookies) whose Accept-Language is Japanese."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", **options)
    context.set_default_timeout(5_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- What a participant sees --------------------------------------------------------------

def expect_language(page: Page, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)


UI_TEXT = ("main h1, main h2, main legend, main label, main button, main .button, main dt, "
           "main .badge, main .tag, main .field-error, main .flash, main .required, "
           "main .optional, .site-footer a, .skip-link")


def untranslated(page: Page) -> list[str]:
    """Interface text on a Japanese page without a single Japanese character."""
    texts = page.locator(UI_TEXT).evaluate_all(
        "els => els.map(e => e.textContent.replace(/\\s+/g, ' ').trim())")
    return sorted({text for text in texts if text and not JAPANESE.search(text)
                   and re.search("[A-Za-z]{2}", text)})


def expect_japanese_interface(page: Page) -> None:
    expect_language(page, "ja")
    missing = untranslated(page)
    assert not missing, f"untranslated on {page.url}: {missing}"


def expect_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def check_page(page: Page, lang: str, phone: bool) -> None:
    if lang == "ja":
        expect_japanese_interface(page)
    else:
        expect_language(page, "en")
    if phone:
        expect_no_sideways_scroll(page)


def expect_apart(first: Locator, second: Locator, gap: float = 8) -> None:
    """Two tap targets with room between them (one of them cannot be undone)."""
    a, b = first.bounding_box(), second.bounding_box()
    assert a and b
    apart = (a["y"] + a["height"] + gap <= b["y"] or b["y"] + b["height"] + gap <= a["y"]
             or a["x"] + a["width"] + gap <= b["x"] or b["x"] + b["width"] + gap <= a["x"])
    assert apart, f"tap targets too close: {a} {b}"


def choose_municipality(page: Page, lang: str, *, js: bool) -> None:
    """東京都 then 台東区: fetched on change with JavaScript, by a server round trip without."""
    refresh = page.locator("button[name=refresh_municipalities], "
                           "input[name=refresh_municipalities]")
    if js:
        expect(refresh).to_be_hidden()
        with page.expect_response(re.compile(r"/municipalities/13\.json$")) as response:
            page.select_option("#prefecture", label=WORDS[lang].prefecture)
        assert response.value.ok
    else:
        page.select_option("#prefecture", label=WORDS[lang].prefecture)
        expect(refresh).to_be_visible()
        label = refresh.get_attribute("value") or refresh.inner_text()
        words = WORDS[lang].refresh
        assert (words.search(label) if isinstance(words, re.Pattern) else words == label), label
        with page.expect_response(lambda r: r.request.method == "POST") as response:
            refresh.click()
        assert response.value.status == 200
        # The round trip keeps what was typed and shows no errors yet.
        expect(page.locator("#name")).to_have_value("山田 太郎")
        expect(page.locator("#error-summary")).to_have_count(0)
        expect(page.locator("#prefecture")).to_have_value("13")
        expect(page.locator("#municipality")).to_be_focused()  # back where the user was
    expect(page.locator("#municipality option", has_text="台東区")).to_have_count(1)
    page.select_option("#municipality", label="台東区")


def fill_signup(page: Page, lang: str, email: str, *, js: bool = True) -> None:
    page.check("#attendance_mode-0")  # at the venue
    page.fill("#name", "山田 太郎")
    page.fill("#furigana", "ヤマダ タロウ")
    page.fill("#email", email)
    page.fill("#email_confirm", email)
    page.select_option("#organization_type", "municipality")
    page.fill("#organization_name", "台東区 総務部 人権・多様性推進課")
    choose_municipality(page, lang, js=js)
    page.check("#q_residence-1")  # 区内在勤・在学
    page.fill("#q_message", "分科会では、外国人住民との協働の事例を伺いたいです。")
    page.select_option("#preference_1", label="地域福祉")
    page.check("#consent")


def submit(page: Page) -> int:
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        page.click("#submit")
    page.wait_for_load_state()
    return response.value.status


def seats_text(page: Page) -> str:
    return " ".join(page.locator("main .seats").all_inner_texts())


def open_event_list(page: Page, live: Live, lang: str) -> None:
    page.goto(live.url + "/")
    if lang == "en":
        switch = page.locator(".language-switch").get_by_role("link", name="English")
        expect(switch).to_be_visible()
        switch.click()
        expect(page.locator(".language-switch [aria-current]")).to_have_text("English")
    expect(page.locator("main h1")).to_have_text(WORDS[lang].index_h1)


def journey(page: Page, live: Live, lang: str, email: str, *, js: bool = True,
            phone: bool = False) -> str:
    """The whole journey; returns the manage link."""
    words = WORDS[lang]
    events = live.events

    # The list of events.
    open_event_list(page, live, lang)
    check_page(page, lang, phone)
    card = page.locator(".event-card", has_text=events.title)
    expect(card).to_be_visible()
    expect(card.locator(".badge")).to_have_class(re.compile(r"\bbadge-open\b"))
    expect(card.locator(".event-when")).to_have_text(words.date)
    expect(page.locator(".event-card", has_text=events.full_title).locator(".badge")
           ).to_have_class(re.compile(r"\bbadge-waitlist_open\b"))
    card.get_by_role("link", name=events.title).click()

    # The event.
    expect(page).to_have_url(f"{live.url}/events/{events.slug}")
    check_page(page, lang, phone)
    expect(page.locator("main h1")).to_have_text(events.title)
    expect(page.locator("main .facts")).to_contain_text(words.date)
    expect(page.locator(".programme")).to_contain_text("田村 太郎")
    expect(page.locator(".programme")).to_contain_text("企業連携")
    seats_before = seats_text(page)
    page.locator(f"main a.button[href$='/events/{events.slug}/register']").click()

    # The sign-up form.
    expect(page).to_have_url(f"{live.url}/events/{events.slug}/register")
    check_page(page, lang, phone)
    expect(page.locator("form.signup-form")).to_be_visible()
    if lang == "en":  # the organiser's English wording of the question
        question = page.locator("fieldset.choice-group:has(#q_residence-0)")
        expect(question.locator("legend")).to_contain_text("Where you live or work")
        expect(question).to_contain_text("I work or study in the ward")
    if phone:
        RESULTS.mkdir(exist_ok=True)
        page.screenshot(path=str(RESULTS / f"signup-form-phone-{lang}.png"), full_page=True)
        page.screenshot(path=str(RESULTS / f"signup-form-phone-{lang}-first-screen.png"))
    fill_signup(page, lang, email, js=js)
    assert submit(page) == 302

    # The outcome: confirmed; its address, without ?new=1, is the manage link.
    expect(page).to_have_url(re.compile(rf"^{re.escape(live.url)}{TOKEN_URL}\?new=1$"))
    check_page(page, lang, phone)
    outcome = page.locator(".outcome")
    expect(outcome).to_have_class(re.compile(r"\boutcome-confirmed\b"))
    expect(outcome).to_have_attribute("role", "status")
    expect(outcome.locator("h2")).to_have_text(words.registered)
    expect(outcome).to_contain_text(email)
    manage_link = page.url.split("?", 1)[0]

    # The confirmation email carries the same link, in the participant's language.
    confirmations = [m for m in live.messages_to(email) if m.kind is MessageKind.CONFIRMATION]
    assert len(confirmations) == 1
    assert manage_link in confirmations[0].body_text
    assert confirmations[0].language == lang

    # The manage page, opened from the email.
    page.goto(manage_link)
    check_page(page, lang, phone)
    expect(page.locator(".outcome h2")).to_have_text(words.confirmed)
    details = page.locator("main .facts")
    residence = "区内在勤・在学" if lang == "ja" else "I work or study in the ward"
    for shown in ("山田 太郎", email, "台東区 総務部 人権・多様性推進課", residence,
                  "分科会では、外国人住民との協働の事例を伺いたいです。", "地域福祉"):
        expect(details).to_contain_text(shown)
    page.locator(f"main a.button-danger[href='{manage_link.removeprefix(live.url)}/cancel']"
                 ).click()

    # The cancel confirmation.
    expect(page).to_have_url(manage_link + "/cancel")
    check_page(page, lang, phone)
    expect(page.locator("main h1")).to_have_text(words.cancel_h1)
    expect(page.locator("main")).to_contain_text(events.title)
    if phone:
        expect_apart(page.locator("main form .button-danger"),
                     page.locator("main form .button-secondary"))
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        page.locator("main form button.button-danger").click()
    assert response.value.status == 302

    # Cancelled.
    expect(page).to_have_url(manage_link)
    check_page(page, lang, phone)
    expect(page.locator(".flashes[role=status] .flash-success")).to_be_visible()
    expect(page.locator(".outcome")).to_have_class(re.compile(r"\boutcome-cancelled\b"))
    expect(page.locator(".outcome h2")).to_have_text(words.cancelled)
    expect(page.locator("main a[href$='/cancel']")).to_have_count(0)

    # The seat is free again.
    page.goto(f"{live.url}/events/{events.slug}")
    assert seats_text(page) == seats_before
    return manage_link


# --- 1, 2: the journey in Japanese and in English ----------------------------------------

def test_journey_in_japanese(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        journey(page, live, "ja", "taro.ja@example.jp")


def test_journey_in_japanese_without_javascript(browser: Browser, live: Live) -> None:
    with new_page(browser, java_script_enabled=False) as page:
        journey(page, live, "ja", "taro.nojs@example.jp", js=False)


def test_journey_in_english_by_the_language_switch(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        manage_link = journey(page, live, "en", "taro.en@example.jp")
        expect(page.locator("main .seats").first).to_have_text(
            re.compile(r"At the venue:\s+\d+ of 40 seats left"))
        # The cancelled page in English, and the switch back to Japanese.
        page.goto(manage_link)
        expect(page.locator(".outcome h2")).to_have_text(WORDS["en"].cancelled)
        page.locator(".language-switch").get_by_role("link", name="日本語").click()
        expect_language(page, "ja")
        expect(page.locator(".language-switch [aria-current]")).to_have_text("日本語")


def test_keyboard_reaches_the_content_first(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        page.goto(live.url + "/")
        page.keyboard.press("Tab")
        skip = page.locator(".skip-link")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()


# --- 3: bad input -------------------------------------------------------------------------

def expect_field_error(page: Page, field_id: str, message: str | re.Pattern[str]) -> None:
    """The message sits beside its field and is tied to it for screen readers."""
    error = page.locator(f"#{field_id}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    if field_id in CHOICE_GROUPS:
        group = page.locator(f"fieldset.choice-group:has(#{field_id}-0)")
        expect(group).to_have_attribute("aria-describedby", re.compile(rf"\b{field_id}-error\b"))
        expect(group.locator(f"#{field_id}-error")).to_have_count(1)
        control = page.locator(f"#{field_id}-0")
    else:
        control = page.locator(f"#{field_id}")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute(
            "aria-describedby", re.compile(rf"(^|\s){field_id}-error(\s|$)"))
        expect(page.locator(f".field:has(> #{field_id})").locator(f"#{field_id}-error")
               ).to_have_count(1)
    error_box, control_box = error.bounding_box(), control.bounding_box()
    assert error_box and control_box
    gap = control_box["y"] - (error_box["y"] + error_box["height"])
    assert 0 <= gap < 120, f"the message of {field_id} is {gap}px from its field"


def expect_error_summary(page: Page, expected: dict[str, str | re.Pattern[str]]) -> None:
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_in_viewport()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_be_focused()
    links = summary.locator("a")
    hrefs = [link.get_attribute("href") or "" for link in links.all()]
    assert sorted(href.removeprefix("#").removesuffix("-0") for href in hrefs) == sorted(
        expected), hrefs
    for link, href in zip(links.all(), hrefs, strict=True):
        field_id = href.removeprefix("#").removesuffix("-0")
        expect(link).to_contain_text(expected[field_id])
        assert page.locator(href).count() == 1, f"the summary links to {href}, which is missing"
    for field_id, message in expected.items():
        expect_field_error(page, field_id, message)


def follow_summary_link(page: Page, field_id: str) -> None:
    """A summary link takes keyboard focus to its field."""
    target = f"#{field_id}-0" if field_id in CHOICE_GROUPS else f"#{field_id}"
    page.locator(f"#error-summary a[href='{target}']").click()
    expect(page.locator(target)).to_be_focused()
    expect(page.locator(target)).to_be_in_viewport()


def open_form(page: Page, live: Live, lang: str) -> None:
    if lang == "en":
        page.goto(f"{live.url}/events/{live.events.slug}/register?lang=en")
    else:
        page.goto(f"{live.url}/events/{live.events.slug}/register")
    expect_language(page, lang)


def test_empty_form_in_english(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        open_form(page, live, "en")
        assert submit(page) == 422
        expect(page.locator("#error-summary h2")).to_have_text("Please check the following")
        expect_error_summary(page, dict(EMPTY_FORM_ERRORS))
        follow_summary_link(page, "email")
        follow_summary_link(page, "q_residence")


def test_empty_form_in_japanese(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        open_form(page, live, "ja")
        assert submit(page) == 422
        japanese = re.compile(JAPANESE.pattern)
        expect_error_summary(page, dict.fromkeys(EMPTY_FORM_ERRORS, japanese))
        expect_japanese_interface(page)


def test_bad_email_mismatch_and_kanji_furigana(browser: Browser, live: Live) -> None:
    with new_page(browser) as page:
        open_form(page, live, "en")
        fill_signup(page, "en", "taro.fix@example.jp")
        page.fill("#furigana", "Yamada Taro")
        page.fill("#email", "taro@example")
        assert submit(page) == 422
        expect_error_summary(page, {
            "email": "Please enter a valid email address, like taro@example.jp.",
            "email_confirm": "The two email addresses do not match.",
            "furigana": "Please write your name's reading in hiragana or katakana.",
        })
        # Everything else is kept, and only the three fields are marked.
        expect(page.locator("#name")).to_have_value("山田 太郎")
        expect(page.locator("#municipality")).to_have_value("13106")
        expect(page.locator("#q_residence-1")).to_be_checked()
        expect(page.locator("#consent")).to_be_checked()
        expect(page.locator("[aria-invalid=true]")).to_have_count(3)

        page.fill("#furigana", "山田 太郎")
        page.fill("#email", "taro.fix@example.jp")
        assert submit(page) == 422
        expect_error_summary(page, {
            "furigana": "Please write your name's reading in hiragana or katakana.",
        })

        page.fill("#furigana", "やまだ たろう")  # hiragana is as good as katakana
        assert submit(page) == 302
        expect(page.locator(".outcome")).to_have_class(re.compile(r"\boutcome-confirmed\b"))


# --- 4: axe-core on every page of the journey, in both languages -------------------------

AXE = Axe()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    results = AXE.run(page, options={
        "runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]})
    return list(results.response["violations"])


def describe(name: str, url: str, violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
    return (f"{name} ({url}): {violation['id']} [{violation['impact']}] {violation['help']}"
            f" — {violation['helpUrl']} — targets: {targets}")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_accessibility_of_every_page(browser: Browser, live: Live, lang: str) -> None:
    findings: list[str] = []
    blocking: list[str] = []

    def audit(name: str) -> None:
        expect_language(page, lang)
        for violation in axe_violations(page):
            line = describe(name, page.url, violation)
            findings.append(line)
            if violation["impact"] in ("serious", "critical"):
                blocking.append(line)

    email = f"axe.{lang}@example.jp"
    slug = live.events.slug
    with new_page(browser) as page:
        open_event_list(page, live, lang)
        audit("events")
        page.goto(f"{live.url}/events/{slug}")
        audit("event")
        page.goto(f"{live.url}/events/{live.events.full_slug}")
        audit("event, waiting list")
        page.goto(f"{live.url}/events/{slug}/register")
        audit("sign-up form")
        submit(page)
        audit("sign-up form with errors")
        fill_signup(page, lang, email)
        submit(page)
        audit("outcome")
        manage_link = page.url.split("?", 1)[0]
        page.goto(f"{live.url}/events/{slug}/register")
        fill_signup(page, lang, email)
        submit(page)
        expect(page).to_have_url(f"{live.url}/events/{slug}/register")
        audit("already registered")
        page.goto(manage_link)
        audit("manage")
        page.goto(manage_link + "/edit")
        audit("change answers")
        page.goto(manage_link + "/cancel")
        audit("cancel confirmation")
        page.locator("main form button.button-danger").click()
        expect(page).to_have_url(manage_link)
        audit("cancelled")
        page.goto(f"{live.url}/privacy")
        audit("privacy notice")
        response = page.goto(f"{live.url}/events/no-such-event")
        assert response is not None and response.status == 404
        audit("404")

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"axe-{lang}.txt").write_text("\n".join(findings) + "\n", encoding="utf-8")
    assert not blocking, "serious or critical axe violations:\n" + "\n".join(blocking)


# --- 5: a phone --------------------------------------------------------------------------

def test_journey_on_a_phone(browser: Browser, live: Live) -> None:
    with new_page(browser, **PHONE) as page:
        journey(page, live, "ja", "taro.phone@example.jp", phone=True)
        open_form(page, live, "ja")
        assert submit(page) == 422
        expect(page.locator("#error-summary")).to_be_in_viewport()
        expect_no_sideways_scroll(page)
        page.screenshot(path=str(RESULTS / "signup-form-errors-phone-ja.png"), full_page=True)
        # Tap targets: the main buttons are at least 44 CSS pixels tall.
        for selector in ("#submit", "#prefecture", "#name"):
            box = page.locator(selector).bounding_box()
            assert box and box["height"] >= 44, (selector, box)
