"""An organiser's day in headless Chromium, in Japanese: sign in → create an exhibition →
registration settings → programme with speakers → preview → publish; a participant signs up
on a phone; at the door, on a phone, the organiser finds her by furigana, checks her in
(twice: the second is harmless), undoes and redoes it without JavaScript, and counts the
visitors who never registered.

Only the organiser's account is written directly; everything else goes through the forms,
and the database is read at the end. axe-core checks every console page visited against
WCAG 2.1 AA. Screenshots go to test-results/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.i18n import TOKYO
from app.models import CheckIn, Event, Registration, User, VisitorTally
from app.models.checkin import CheckInMethod
from app.models.enums import EventKind, EventStatus, RegistrationStatus
from tests.browser_support import LiveServer, empty_all_tables, live_app
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser

RESULTS = Path(__file__).resolve().parent.parent / "test-results"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "device_scale_factor": 2}
ORGANIZER = "kanko@example.lg.jp"
TITLE = "まるごと楽しむ とっておきの山梨展"
KEYNOTE = "山梨の食と観光のこれから"
CASE_TALK = "ワインツーリズムによる地域づくり"
SPEAKER = ("望月 千尋", "山梨県立大学 国際政策学部", "教授")
CASE_SPEAKER = ("小林 和也", "甲州市 観光商工課", "主任")
PARTICIPANT = {"name": "内藤 さくら", "furigana": "ナイトウ サクラ",
               "email": "sakura.naito@example.jp", "organisation": "台東区 文化振興課"}
CODE = re.compile(r"^\d+-[A-Z2-7]{8}$")


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask


@pytest.fixture(scope="module")
def live(migrated_database: str) -> Iterator[Live]:
    app = live_app(migrated_database)
    with app.app_context():
        empty_all_tables()
        make_user(ORGANIZER)  # an organiser with no event yet: they create it
    server = LiveServer(app).start()
    try:
        yield Live(server.url, app)
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()



@contextmanager
def new_context(browser: Browser, **options: Any) -> Iterator[BrowserContext]:
    """A browser profile whose Accept-Language is Japanese, the console's default language."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", **options)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


# --- Helpers ---------------------------------------------------------------------------------


def expect_accessible(page: Page) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def expect_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def post(page: Page, button: Locator) -> None:
    """Click a button that posts a form; the server answers with a redirect (302 or 303)."""
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        button.click()
    assert response.value.status in (302, 303), (response.value.status, page.url)
    page.wait_for_load_state()


def flash(page: Page, category: str = "success") -> Locator:
    return page.locator(f".flashes[role=status] .flash-{category}")


def local(value: datetime) -> str:
    """What a datetime-local input takes."""
    return value.strftime("%Y-%m-%dT%H:%M")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


def event_nav(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="このイベント").get_by_role(
        "link", name=name, exact=True)


def acting_on(action: str, name: str) -> re.Pattern[str]:
    """A button's name: the action, then whom it acts on (visually hidden, for screen readers;
    Chromium puts a space before the hidden part), written the Japanese way: 受付する：…さん."""
    return re.compile(rf"^{re.escape(action)}\s*：\s*{re.escape(name)} さん$")


def found(page: Page, name: str) -> Locator:
    """The search result card of one person."""
    return page.get_by_role("list", name="検索結果").get_by_role("listitem").filter(
        has_text=name)


def search(page: Page, query: str) -> None:
    """The search is a GET form: it works with and without JavaScript."""
    page.get_by_role("searchbox", name="氏名・ふりがな・メールアドレス").fill(query)
    with page.expect_response(lambda r: "/checkin?" in r.url and r.request.method == "GET"):
        page.get_by_role("search").get_by_role("button", name="検索", exact=True).click()
    page.wait_for_load_state()


def summary_line(page: Page) -> Locator:
    """The day's figures under the title: checked in · visitors · total."""
    return page.locator("main p.lead", has_text="受付済み")


def day_row(page: Page, day: date) -> Locator:
    label = f"{day.year}年{day.month}月{day.day}日"
    return page.get_by_role("table", name="日別の人数").get_by_role("row").filter(
        has_text=label)


# --- The journey -----------------------------------------------------------------------------


def sign_in(page: Page, live: Live) -> None:
    page.goto(live.url + "/console/login")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("主催者用管理画面へのログイン")
    expect_accessible(page)
    page.get_by_label("メールアドレス").fill(ORGANIZER)
    page.get_by_label("パスワード").fill(PASSWORD)
    post(page, page.get_by_role("button", name="ログイン"))
    expect(page).to_have_url(live.url + "/console/")


def create_event(page: Page, first_day: date) -> int:
    page.get_by_role("link", name="イベントの新規作成").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("イベントの新規作成")
    expect_accessible(page)
    page.get_by_label("タイトル", exact=True).fill(TITLE)
    page.get_by_label("イベントの種類").select_option(label="展示")
    page.get_by_role("group", name="開催形式").get_by_label("会場開催", exact=True).check()
    page.get_by_label("概要", exact=True).fill("山梨県の食・ワイン・観光の魅力を紹介する展示です。")
    page.get_by_label("開始日時").fill(local(at(first_day, 10)))
    page.get_by_label("終了日時").fill(local(at(first_day + timedelta(days=2), 17)))
    page.get_by_label("開場時刻").fill("10:00")
    page.get_by_label("閉場時刻").fill("17:00")
    page.get_by_label("会場", exact=True).fill("東京交通会館 12階 カトレアサロン")
    page.get_by_label("会場の住所").fill("東京都千代田区有楽町2-10-1")
    page.get_by_label("主催者", exact=True).fill("山梨県 観光文化・スポーツ部")
    post(page, page.get_by_role("button", name="保存する"))
    expect(flash(page)).to_have_text(
        "イベントを下書きとして作成しました。次に、申込方法を設定してください。")
    match = re.search(r"/console/events/(\d+)/settings$", page.url)
    assert match, page.url
    return int(match.group(1))


def registration_settings(page: Page) -> None:
    """Open now, until the exhibition ends; 30 seats at the venue."""
    expect(page.get_by_role("heading", level=1)).to_have_text("申込設定")
    expect_accessible(page)
    expect(page.get_by_label("このイベントは申込制です")).to_be_checked()
    page.get_by_label("受付開始日時").fill(local(datetime.now(TOKYO) - timedelta(hours=1)))
    page.get_by_label("会場参加の定員").fill("30")
    page.get_by_role("group", name="参加者の決定方法").get_by_label("先着順").check()
    post(page, page.get_by_role("button", name="設定を保存する"))
    expect(flash(page)).to_have_text("申込設定を保存しました。")


def add_session(page: Page, kind: str, title: str, starts: datetime, ends: datetime,
                person: tuple[str, str, str]) -> None:
    page.get_by_role("link", name="プログラムを追加する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("プログラムの新規作成")
    page.get_by_label("プログラムの種類").select_option(label=kind)
    page.get_by_label("タイトル", exact=True).fill(title)
    page.get_by_label("開始日時").fill(local(starts))
    page.get_by_label("終了日時").fill(local(ends))
    row = page.get_by_role("group", name="1人目")
    expect(row.get_by_role("combobox")).to_have_value("speaker")  # a speaker unless changed
    row.get_by_label("氏名").fill(person[0])
    row.get_by_label("所属").fill(person[1])
    row.get_by_label("役職").fill(person[2])
    post(page, page.get_by_role("button", name="プログラムを保存する"))
    expect(flash(page)).to_have_text("プログラムを追加しました。")


def add_programme(page: Page, first_day: date) -> None:
    event_nav(page, "プログラム").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("プログラム")
    expect(page.get_by_role("table", name="プログラム")).to_contain_text(
        "プログラムはまだありません。")
    page.get_by_role("link", name="プログラムを追加する").click()
    expect_accessible(page)  # the session form, with its empty speaker rows
    page.go_back()
    add_session(page, "基調講演", KEYNOTE, at(first_day, 10, 30), at(first_day, 11, 30),
                SPEAKER)
    second = first_day + timedelta(days=1)
    add_session(page, "事例紹介", CASE_TALK, at(second, 14), at(second, 15), CASE_SPEAKER)
    sessions = page.get_by_role("table", name="プログラム")
    expect(sessions.locator("tbody tr")).to_have_count(2)
    keynote = sessions.get_by_role("row").filter(has_text=KEYNOTE)
    expect(keynote.get_by_role("rowheader")).to_have_text(f"基調講演：{KEYNOTE}")
    expect(keynote).to_contain_text(f"登壇者：{SPEAKER[0]}（{SPEAKER[1]} {SPEAKER[2]}）")
    expect(sessions.get_by_role("row").filter(has_text=CASE_TALK)).to_contain_text(
        CASE_SPEAKER[0])
    expect_accessible(page)


def expect_programme(page: Page) -> None:
    """The event page, public or previewed: the title and the programme with its speakers."""
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    programme = page.locator("section.programme")
    expect(programme.get_by_role("heading", level=3)).to_have_text(
        [f"基調講演：{KEYNOTE}", f"事例紹介：{CASE_TALK}"])
    expect(programme).to_contain_text(f"{SPEAKER[0]}（{SPEAKER[1]} {SPEAKER[2]}）")
    expect(programme).to_contain_text(f"{CASE_SPEAKER[0]}（{CASE_SPEAKER[1]} {CASE_SPEAKER[2]}）")


def preview_and_publish(page: Page, live: Live) -> str:
    event_nav(page, "概要").click()
    expect(event_nav(page, "概要")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="公開ページのプレビュー").click()
    expect(page.get_by_role("note")).to_contain_text("このイベントは下書きです。")
    expect_programme(page)
    page.get_by_role("link", name="管理画面に戻る").click()

    publish = page.get_by_role("region", name="下書き：このイベントのメンバーのみ閲覧できます。")
    expect(publish).to_be_visible()
    expect(publish.get_by_role("listitem")).to_have_count(0)  # nothing stops publishing
    expect_accessible(page)
    post(page, publish.get_by_role("button", name="公開する"))
    expect(flash(page)).to_have_text("イベントを公開しました。")
    public = page.locator("main p", has_text="公開ページ：").get_by_role("link")
    href = public.get_attribute("href")
    assert href and re.fullmatch(r"/events/[a-z0-9-]+", href), href
    public.click()
    expect(page).to_have_url(live.url + href)
    expect_programme(page)
    expect(page.get_by_role("link", name="お申し込み")).to_be_visible()
    return href


def sign_up(page: Page, live: Live, event_path: str) -> str:
    """A participant on her phone, through the real form; returns the check-in code she is
    shown, which she would hold up at the door."""
    page.goto(live.url + event_path)
    expect_programme(page)
    page.get_by_role("link", name="お申し込み").click()
    expect(page).to_have_url(f"{live.url}{event_path}/register")
    # signup.js has run (it hides the no-JavaScript button), so the municipalities follow
    # the prefecture without a reload.
    expect(page.get_by_role("button", name="市区町村を表示")).to_be_hidden()
    page.get_by_label("氏名", exact=True).fill(PARTICIPANT["name"])
    page.get_by_label("ふりがな").fill(PARTICIPANT["furigana"])
    page.get_by_label("メールアドレス", exact=True).fill(PARTICIPANT["email"])
    page.get_by_label("メールアドレス（確認用）").fill(PARTICIPANT["email"])
    page.get_by_label("所属の種別").select_option(label="自治体")
    page.get_by_label("所属（団体名）").fill(PARTICIPANT["organisation"])
    with page.expect_response(re.compile(r"/municipalities/13\.json$")):
        page.get_by_label("都道府県").select_option(label="東京都")
    page.get_by_label("市区町村").select_option(label="台東区")
    page.get_by_label("「個人情報の取り扱い」に記載の内容に同意します。").check()
    post(page, page.get_by_role("button", name="お申し込み", exact=True))
    expect(page.locator(".outcome h2")).to_have_text("お申し込みを受け付けました。")
    check_in = page.get_by_role("region", name="会場での受付")
    expect(check_in.get_by_role("img", name=re.compile("QR"))).to_be_visible()
    code = check_in.locator("code").inner_text().strip()
    assert CODE.match(code), code
    return code


def at_the_door(page: Page, live: Live, event_id: int, code: str, today: date) -> None:
    """On the organiser's phone: find by furigana, check in, check in again, count visitors."""
    page.goto(f"{live.url}/console/events/{event_id}")
    event_nav(page, "受付").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("受付")
    days = page.get_by_label("日付")
    expect(days.locator("option")).to_have_count(3)  # three open days, today first
    expect(days).to_have_value(today.isoformat())
    expect(summary_line(page)).to_have_text(re.compile(r"受付済み：0人\s*来場者：0人"))
    expect_no_sideways_scroll(page)
    expect_accessible(page)

    # By furigana typed in hiragana: the search folds kana.
    search(page, "ないとう")
    person = found(page, PARTICIPANT["name"])
    expect(person).to_have_count(1)
    expect(person).to_contain_text("（ないとう さくら）")  # kana are kept as hiragana
    expect(person.locator(".badge")).to_have_text("参加確定")
    expect_accessible(page)
    post(page, person.get_by_role("button", name=acting_on("受付する", PARTICIPANT["name"])))
    expect(flash(page)).to_have_text(f"{PARTICIPANT['name']} さんを受付しました。")
    shown = page.locator("main li.event-card", has_text=PARTICIPANT["name"])
    expect(shown).to_contain_text(re.compile(r"\d{1,2}:\d{2}に受付済み"))
    expect(shown.get_by_role("button", name=re.compile("受付を取り消す"))).to_be_visible()
    expect(summary_line(page)).to_contain_text(re.compile(r"受付済み：1人"))
    expect(page.get_by_role("table", name=re.compile("の最近の受付$"))).to_contain_text(
        PARTICIPANT["name"])
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "console-checkin-phone.png"), full_page=True)
    expect_accessible(page)

    # She holds up her code as well: the second check-in writes nothing and says when.
    by_code = page.get_by_role("region", name="受付コードの読み取り・入力")
    by_code.get_by_role("textbox", name="受付コード").fill(code)
    post(page, by_code.get_by_role("button", name="受付する", exact=True))
    expect(flash(page, "info")).to_have_text(re.compile(
        rf"^{PARTICIPANT['name']} さんは、本日\d{{1,2}}:\d{{2}}にすでに受付済みです。$"))
    expect(summary_line(page)).to_contain_text(re.compile(r"受付済み：1人"))

    # Visitors who never registered: three in, one counted by mistake.
    visitors = page.get_by_role("region", name="申込なしの来場者")
    for expected in (1, 2, 3):
        post(page, visitors.get_by_role("button", name="+1 来場者"))
        expect(flash(page)).to_have_text(re.compile(rf"の来場者数は{expected}人になりました。$"))
    post(page, visitors.get_by_role("button", name="−1 来場者（訂正）"))
    expect(flash(page)).to_have_text(re.compile(r"の来場者数は2人になりました。$"))
    expect(visitors).to_contain_text("2人")
    expect(summary_line(page)).to_have_text(
        re.compile(r"受付済み：1人\s*来場者：2人\s*合計：3人"))
    expect(day_row(page, today).get_by_role("cell")).to_have_text(["1", "2", "3"])
    expect(day_row(page, today)).to_have_attribute("aria-current", "date")
    expect_no_sideways_scroll(page)
    page.screenshot(path=str(RESULTS / "console-tally-phone.png"), full_page=True)
    expect_accessible(page)


def without_javascript(page: Page, live: Live, event_id: int, today: date) -> None:
    """The same door without JavaScript: search, undo, check in again, another day."""
    page.goto(f"{live.url}/console/events/{event_id}/checkin")
    search(page, "内藤")
    expect(page).to_have_url(re.compile(r"[?&]q=%E5%86%85%E8%97%A4"))
    person = found(page, PARTICIPANT["name"])
    expect(person).to_contain_text(re.compile(r"\d{1,2}:\d{2}に受付済み"))
    post(page, person.get_by_role("button", name=acting_on("受付を取り消す", PARTICIPANT["name"])))
    expect(flash(page)).to_have_text(f"{PARTICIPANT['name']} さんの受付を取り消しました。")
    expect(summary_line(page)).to_contain_text(re.compile(r"受付済み：0人"))

    search(page, "ナイトウ サクラ")
    post(page, found(page, PARTICIPANT["name"]).get_by_role(
        "button", name=acting_on("受付する", PARTICIPANT["name"])))
    expect(flash(page)).to_have_text(f"{PARTICIPANT['name']} さんを受付しました。")
    expect(summary_line(page)).to_contain_text(re.compile(r"受付済み：1人"))

    # Another day is a form of its own: nobody has come tomorrow yet.
    tomorrow = today + timedelta(days=1)
    page.get_by_label("日付").select_option(tomorrow.isoformat())
    page.get_by_role("button", name="この日を表示").click()
    expect(page).to_have_url(re.compile(rf"[?&]day={tomorrow.isoformat()}"))
    expect(page.get_by_label("日付")).to_have_value(tomorrow.isoformat())
    expect(summary_line(page)).to_have_text(
        re.compile(r"受付済み：0人\s*来場者：0人\s*合計：0人"))
    expect(day_row(page, today).get_by_role("cell")).to_have_text(["1", "2", "3"])
    # No axe-core here: with JavaScript off, its run() never resolves. The same page was
    # checked above with JavaScript.


def test_organiser_creates_publishes_and_checks_in(browser: Browser, live: Live) -> None:
    today = datetime.now(TOKYO).date()
    with new_context(browser) as desk:
        page = desk.new_page()
        sign_in(page, live)
        event_id = create_event(page, today)
        registration_settings(page)
        add_programme(page, today)
        event_path = preview_and_publish(page, live)
        organiser = desk.storage_state()

    with new_context(browser, **PHONE) as phone:
        code = sign_up(phone.new_page(), live, event_path)

    with new_context(browser, storage_state=organiser, **PHONE) as door:
        at_the_door(door.new_page(), live, event_id, code, today)

    with new_context(browser, storage_state=organiser, java_script_enabled=False,
                     **PHONE) as door:
        without_javascript(door.new_page(), live, event_id, today)

    # What the database now holds.
    with live.app.app_context():
        event = db.session.execute(select(Event).where(Event.title == TITLE)).scalar_one()
        assert (event.id, event.kind, event.status) == (
            event_id, EventKind.EXHIBITION, EventStatus.PUBLISHED)
        assert [s.title for s in event.sessions] == [KEYNOTE, CASE_TALK]
        assert [(p.name, p.affiliation, p.title) for p in event.sessions[0].people] == [SPEAKER]
        assert [pool.capacity for pool in event.seat_pools] == [30]
        registration = db.session.execute(
            select(Registration).where(Registration.event_id == event.id)).scalar_one()
        assert (registration.name, registration.status) == (
            PARTICIPANT["name"], RegistrationStatus.CONFIRMED)
        rows = db.session.scalars(select(CheckIn).where(
            CheckIn.registration_id == registration.id).order_by(CheckIn.id)).all()
        # Found by search and later undone (the code's second check-in wrote nothing), then
        # found by search again.
        assert [(row.day, row.method, row.undone_at is not None) for row in rows] == [
            (today, CheckInMethod.SEARCH, True), (today, CheckInMethod.SEARCH, False)]
        organiser_id = db.session.execute(
            select(User.id).where(User.email == ORGANIZER)).scalar_one()
        assert {rows[0].checked_in_by_id, rows[0].undone_by_id, rows[1].checked_in_by_id} == {
            organiser_id}
        tallies = db.session.scalars(select(VisitorTally).where(
            VisitorTally.event_id == event.id)).all()
        assert [(tally.day, tally.count) for tally in tallies] == [(today, 2)]
        db.session.expunge_all()
