"""What the design does for a person, in headless Chromium on the busy demo: the console's
tabs (aria-current, grouped, one line at 1280 px), pages with tables at the screen's width
and tables that scroll inside themselves on a phone, long member lists folded, required
decisions first and the error summary taking focus, sign-up labels with their 必須/任意 tag
on their line, the design system's tokens in effect, and axe-core on the pages changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser_support import (
    FAMILY_KANA,
    FAMILY_NAMES,
    SIZES,
    Scene,
    showcase_server,
    signed_in,
)
from tests.registrant_builders import csv_bytes

pytestmark = pytest.mark.browser

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP, PHONE = SIZES["desktop"], SIZES["phone"]



@pytest.fixture(scope="module")
def scene(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    uploads = tmp_path_factory.mktemp("uploads")
    with showcase_server(migrated_database, STORAGE_LOCAL_PATH=str(uploads)) as served:
        yield served


def expect_accessible(page: Page) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return found


def line_height(locator: Locator) -> float:
    return float(locator.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))


# --- 6: tabs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_console_tabs_mark_the_page_are_grouped_and_fit_one_line(browser: Browser, scene: Scene,
                                                                 lang: str) -> None:
    event = f"{scene.url}/console/events/{scene.show.lecture_id}"
    registrants = {"ja": "申込者", "en": "Registrants"}[lang]
    with signed_in(browser, scene.url, lang, DESKTOP) as page:
        page.goto(f"{event}/registrants")
        tabs = page.get_by_role("navigation", name={"ja": "このイベント",
                                                    "en": "This event"}[lang])
        links = tabs.get_by_role("link")
        expect(links).to_have_count(13)
        current = tabs.locator("[aria-current=page]")
        expect(current).to_have_count(1)
        expect(current).to_have_text(registrants)
        # Grouped: preparing, participants, results, each a list with its name.
        expect(tabs.locator("ul[aria-label]")).to_have_count(3)
        # One line at 1280 px, nothing hidden behind a scroll.
        tops = {round(box(link)["y"]) for link in links.all()}
        assert len(tops) == 1, f"the event's tabs wrap: {tops}"
        bar = tabs.locator(".tabs")
        assert bar.evaluate("e => e.scrollWidth <= e.clientWidth"), "the tabs overflow"

        console = page.get_by_role("navigation", name={"ja": "管理画面", "en": "Console"}[lang])
        expect(console.locator("ul[aria-label]")).to_have_count(3)
        # The event's pages belong to "My events" (a section, not the page itself).
        expect(console.locator("[aria-current]")).to_have_attribute("aria-current", "true")
        assert len({round(box(item)["y"]) for item in console.locator(".tab").all()}) == 1
        sign_out = console.get_by_role("button", name={"ja": "ログアウト",
                                                       "en": "Sign out"}[lang])
        assert box(sign_out)["height"] < 2 * line_height(sign_out) + 20  # one line
        assert round(box(sign_out)["y"]) in {round(box(link)["y"]) for link in
                                              console.locator(".tab").all()}

        # A page under a tab marks its tab as the section.
        page.locator("main table a").first.click()
        expect(tabs.get_by_role("link", name=registrants, exact=True)).to_have_attribute(
            "aria-current", "true")
        page.goto(f"{scene.url}/console/")
        expect(console.locator("[aria-current=page]")).to_have_text(
            {"ja": "担当イベント", "en": "My events"}[lang])


def test_the_check_in_page_has_the_events_tabs(browser: Browser, scene: Scene) -> None:
    with signed_in(browser, scene.url, "ja", PHONE) as page:
        page.goto(f"{scene.url}/console/events/{scene.show.exhibition_id}/checkin")
        tabs = page.get_by_role("navigation", name="このイベント")
        current = tabs.locator("[aria-current=page]")
        expect(current).to_have_text("受付")
        # On a phone the bar scrolls within itself and shows the current tab.
        expect(current).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        expect(page.get_by_role("searchbox")).to_be_visible()


# --- 5: layout of pages with tables ------------------------------------------------------------


def test_tables_take_the_screens_width_and_scroll_inside_on_a_phone(browser: Browser,
                                                                     scene: Scene) -> None:
    path = f"{scene.url}/console/events/{scene.show.lecture_id}/registrants"
    with signed_in(browser, scene.url, "ja", DESKTOP) as page:
        page.goto(path)
        table = page.locator("main table").first
        assert box(table)["width"] > 1100, box(table)
        header = table.locator("thead th")
        first_choice = header.filter(has_text="第1希望")
        registered = header.filter(has_text="申込日時")
        for cell in (first_choice, registered):
            assert box(cell)["height"] < 2 * line_height(cell) + 30, "a heading wraps"
        # Dates keep to one line; no column shows a character per line.
        row = table.locator("tbody tr").first
        date_cell = row.locator("td").last
        assert box(date_cell)["height"] < 2 * line_height(date_cell) + 30
        assert min(box(cell)["width"] for cell in row.locator("td").all()) > 80
        expect_accessible(page)

    with signed_in(browser, scene.url, "ja", PHONE) as page:
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        frame = page.locator(".table-scroll").first
        assert frame.evaluate("e => e.scrollWidth > e.clientWidth + 100")
        # The frame can be reached and scrolled with the keyboard, and says what it holds.
        expect(frame).to_have_attribute("tabindex", "0")
        expect(frame).to_have_attribute("role", "region")
        expect(frame).to_have_attribute("aria-label", re.compile(r"全\d+件中"))
        frame.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("e => e.scrollLeft > 0", arg=frame.element_handle())
        # The name column stays in view while the rest scrolls.
        name = frame.locator("tbody th").first
        assert box(name)["x"] >= 0
        expect_accessible(page)


def test_long_member_lists_fold_and_the_last_actions_stay_near(browser: Browser,
                                                              scene: Scene) -> None:
    path = (f"{scene.url}/console/events/{scene.show.lecture_id}/breakouts/"
            f"{scene.show.round_id}")
    with signed_in(browser, scene.url, "en", DESKTOP) as page:
        page.goto(path)
        groups = page.locator("section.breakout-group details")
        expect(groups).to_have_count(4)
        for group in groups.all():  # 20 to 30 members each
            expect(group).not_to_have_attribute("open", "")
            expect(group.locator("summary")).to_contain_text("Facilitator:")
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 4000, f"the round page is {height} px tall"
        publish = page.get_by_role("button", name=re.compile(r"^Publish and tell \d+"))
        publish.scroll_into_view_if_needed()
        expect(publish).to_be_in_viewport()
        # Opened, a group shows its members, with the move and pin controls.
        first = groups.first
        first.locator("summary").click()
        expect(first).to_have_attribute("open", "")
        expect(first.locator("tbody tr").first).to_be_visible()
        expect(first.get_by_role("button", name=re.compile("^Pin")).first).to_be_visible()
        expect_accessible(page)


# --- 4: required decisions first, focus on the error summary ------------------------------


def test_the_import_preview_asks_first_and_focuses_the_errors(browser: Browser, scene: Scene,
                                                              tmp_path: Path) -> None:
    rows = [[f"{FAMILY_NAMES[number % 20]} 花子", f"{FAMILY_KANA[number % 20]} ハナコ",
             f"import{number:02d}@example.jp", "台東区", "東京都", "台東区"]
            for number in range(60)]
    upload = tmp_path / "名簿.csv"
    upload.write_bytes(csv_bytes(rows))
    event = f"{scene.url}/console/events/{scene.show.plain_exhibition_id}"
    with signed_in(browser, scene.url, "ja", DESKTOP) as page:
        page.goto(f"{event}/registrants/import")
        page.set_input_files("input[type=file]", str(upload))
        page.get_by_role("button", name="アップロードして列を選択する").click()
        page.select_option("#default_organization_type", "municipality")  # not in the file
        page.get_by_role("button", name="行を確認する").click()  # the columns as guessed
        expect(page.locator("main h1")).to_have_text("取り込み内容の確認")
        decision = page.locator("fieldset.choice-group")
        expect(decision).to_be_in_viewport()  # before the tables, on the first screen
        assert box(decision)["y"] < box(page.locator("main table").first)["y"]

        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            decision.locator("xpath=ancestor::form").locator("[type=submit]").click()
        assert answer.value.status == 422
        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        expect(summary).to_be_in_viewport()
        link = summary.get_by_role("link")
        expect(link).to_have_attribute("href", "#notify-0")
        link.click()
        expect(page.locator("#notify-0")).to_be_focused()
        expect_accessible(page)


def test_every_error_summary_is_the_shared_one() -> None:
    """One macro draws every error summary (focus, role, links): no page draws its own, and
    every page with form fields shows one."""
    templates = Path(__file__).resolve().parent.parent / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(templates).as_posix()
        if relative != "macros/forms.html":
            assert 'class="error-summary' not in text, relative
        uses_fields = re.search(r"\bf\.(field|choices)\(", text)
        partial = path.name.startswith("_")
        if uses_fields and not partial:
            assert "error_summary(" in text, f"{relative} has fields but no error summary"


# --- 25: the sign-up form's labels and messages ------------------------------------------------


def test_signup_labels_carry_their_tag_on_their_line(browser: Browser, scene: Scene) -> None:
    context = browser.new_context(locale="ja-JP", **DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/events/{scene.show.lecture_slug}/register")
        for field_id in ("name", "email", "prefecture"):
            row = page.locator(f".field:has(> #{field_id}) .field-label-row")
            label, tag = row.locator("label"), row.locator(".required")
            expect(tag).to_have_text("必須")
            assert abs(box(label)["y"] + box(label)["height"] / 2
                       - box(tag)["y"] - box(tag)["height"] / 2) < 8, field_id
        # 所属（団体名）: individuals may leave it empty — not 必須, and the rule is said.
        organisation = page.locator(".field:has(> #organization_name)")
        expect(organisation.locator(".required")).to_have_text("条件付き必須")
        expect(organisation.locator(".field-hint")).to_contain_text("個人の方は空欄")
        expect(page.locator("#organization_name")).not_to_have_attribute("aria-required", "true")
        # 「講師への質問（任意）」 says 任意 once.
        question = page.locator(".field:has(> #q_question_for_speakers)")
        expect(question.locator("label")).to_have_text("講師への質問（任意）")
        expect(question.locator(".optional")).to_have_count(0)
        expect(page.locator(".field:has(> #preference_1) .optional")).to_have_text("任意")

        with page.expect_response(lambda r: r.request.method == "POST"):
            page.click("#submit")
        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        # Every message names its field; the question's names the question.
        expect(summary).to_contain_text("「この講演会を何で知りましたか」にお答えください。")
        expect(summary).not_to_contain_text("この質問にお答えください")
        expect_accessible(page)
    finally:
        context.close()


# --- 29 and 24: the design system in effect; the public pages ----------------------------


def computed(page: Page, selector: str, prop: str) -> Any:
    return page.locator(selector).first.evaluate(
        f"e => getComputedStyle(e).getPropertyValue({prop!r}).trim()")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_design_tokens_shape_the_public_pages(browser: Browser, scene: Scene,
                                                  size: str) -> None:
    context = browser.new_context(locale="ja-JP", **SIZES[size])
    try:
        page = context.new_page()
        page.goto(f"{scene.url}/events/{scene.show.lecture_slug}")
        # The vendored tokens are loaded first, and app.css builds on them.
        sheets = page.evaluate("[...document.styleSheets].map(s => s.href)")
        assert sheets[0].endswith("/static/vendor/digital-go-jp-design-tokens/tokens.css")
        assert sheets[1].endswith("/static/css/app.css")
        assert computed(page, "html", "--color-primitive-blue-900") == "#0017c1"
        assert computed(page, "a.button", "background-color") == "rgb(0, 23, 193)"
        assert computed(page, "body", "font-family").startswith('"Noto Sans JP"')
        assert computed(page, "body", "letter-spacing") == "0.32px"  # 0.02em of 16 px
        # The tags and the title keep clear of the header bar.
        header_bottom = box(page.locator(".site-header"))["y"] + box(
            page.locator(".site-header"))["height"]
        assert box(page.locator(".breadcrumbs"))["y"] - header_bottom >= 16
        title_bottom = box(page.locator("main h1"))["y"] + box(page.locator("main h1"))["height"]
        assert box(page.locator("main .event-meta"))["y"] >= title_bottom
        expect(page.locator(".breadcrumbs a")).to_have_attribute("href", "/")
        expect_accessible(page)
    finally:
        context.close()
