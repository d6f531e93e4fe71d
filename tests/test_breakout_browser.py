"""An organiser assigns breakout groups in headless Chromium: sign in → add a round → run →
preview → move someone by hand → publish; then a participant sees their group.

Everything works without JavaScript (a select and a button per person); axe-core checks the
round page against WCAG 2.1 AA. Screenshots go to test-results/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import BreakoutAssignment, OutboxMessage
from app.models.enums import MessageKind
from app.services.registration import register
from tests.browser_support import LiveServer, empty_all_tables, live_app
from tests.factories import PASSWORD, make_user, signup
from tests.test_breakout_workflow import breakout_event, enrol

pytestmark = pytest.mark.browser

RESULTS = Path(__file__).resolve().parent.parent / "test-results"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ORGANIZER = "breakouts@example.lg.jp"


@dataclass(frozen=True)
class Scene:
    url: str
    app: Flask
    event_id: int
    group_ids: dict[str, int]
    hanako_id: int
    hanako_token: str


@pytest.fixture(scope="module")
def scene(migrated_database: str) -> Iterator[Scene]:
    app = live_app(migrated_database)
    with app.app_context():
        empty_all_tables()
        event, groups = breakout_event(capacities=(3, 3, 3))
        enrol(event, 5, groups[:2])
        hanako = register(db.session, event.id, signup(
            "hanako@example.jp", name="鈴木 花子", furigana="スズキ ハナコ", language="en",
            preferences=[groups[0].id, groups[1].id]))
        make_user(ORGANIZER, events=[event])
        facts = (event.id, {g.name: g.id for g in groups}, hanako.registration_id,
                 hanako.manage_token)
    server = LiveServer(app).start()
    try:
        assert facts[3] is not None
        yield Scene(server.url, app, facts[0], facts[1], facts[2], facts[3])
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()



@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", timezone_id="Asia/Tokyo")
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def post_and_wait(page: Page, button: Locator) -> None:
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        button.click()
    assert response.value.status == 302, response.value.status
    page.wait_for_load_state()


def group_section(page: Page, name: str) -> Locator:
    return page.locator("section.breakout-group", has=page.locator("h2", has_text=name))


def expect_accessible(page: Page) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    assert results.violations_count == 0, results.generate_report()


def test_preview_move_publish(page: Page, scene: Scene) -> None:
    # Sign in through the console's form.
    page.goto(scene.url + "/console/login")
    page.fill("#email", ORGANIZER)
    page.fill("#password", PASSWORD)
    post_and_wait(page, page.locator("#submit"))
    expect(page).to_have_url(scene.url + "/console/")

    # Add a round.
    page.goto(f"{scene.url}/console/events/{scene.event_id}/breakouts")
    expect(page.locator("main h1")).to_have_text("Breakout assignment")
    post_and_wait(page, page.get_by_role("button", name="Add a round"))
    expect(page.locator("main h1")).to_have_text("Round 1")
    round_url = page.url

    # Run it, spreading the prefectures.
    page.get_by_label("Prefecture", exact=True).check()
    expect(page.locator("#penalty")).to_have_value("2")
    post_and_wait(page, page.get_by_role("button", name="Run the assignment"))
    expect(page.locator(".flash-success")).to_contain_text("6 people placed")

    # The preview: figures and every group with its members and the choice they got.
    figures = page.locator("table", has=page.locator("caption",
                                                     has_text="Choice each participant got"))
    expect(figures.locator("tfoot")).to_contain_text("6")
    sizes = page.locator("table", has=page.locator(
        "caption", has_text="Group sizes and how mixed the groups are"))
    expect(sizes).to_contain_text("企業連携")
    first = group_section(page, "企業連携")
    expect(first.locator("tbody tr")).to_have_count(3)
    expect(first.locator("tbody")).to_contain_text("Choice 1")
    assert "鈴木 花子" not in first.inner_text()  # the sixth to sign up: the favourite was full
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "breakouts-preview.png"), full_page=True)
    expect_accessible(page)

    # Move 鈴木 花子 into the group of her first choice, by hand: she is pinned there.
    row = page.locator("tr", has_text="鈴木 花子")
    row.get_by_label("Group for 鈴木 花子").select_option(label="企業連携")
    post_and_wait(page, row.get_by_role("button", name="Move 鈴木 花子"))
    expect(page).to_have_url(round_url)
    expect(page.locator(".flash-success")).to_contain_text("Moved to 企業連携 and pinned there.")
    moved = group_section(page, "企業連携").locator("tr", has_text="鈴木 花子")
    expect(moved).to_contain_text("Pinned")
    expect(moved).to_contain_text("Choice 1")
    expect(group_section(page, "企業連携").locator(".badge-full")).to_have_text("Over capacity")
    with scene.app.app_context():
        seat = db.session.execute(select(BreakoutAssignment).where(
            BreakoutAssignment.registration_id == scene.hanako_id)).scalar_one()
        assert (seat.group_id, seat.pinned) == (scene.group_ids["企業連携"], True)

    # Publish: everyone is told, once.
    post_and_wait(page, page.get_by_role("button", name="Publish and tell 6 participants"))
    expect(page.locator(".flash-success")).to_contain_text("Published: 6 participants")
    expect(page.locator("main")).to_contain_text("Everyone placed has been told their group")
    with scene.app.app_context():
        messages = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == MessageKind.GROUP_ASSIGNED)).all()
        assert len(messages) == 6
        hers = [m for m in messages if m.registration_id == scene.hanako_id]
        assert len(hers) == 1 and "企業連携" in hers[0].body_text
        assert "佐藤 浩二" in hers[0].body_text and "zoom.example.jp" in hers[0].body_text
        db.session.expunge_all()

    # The participant's own page shows the group, its facilitator and the room's link.
    page.goto(f"{scene.url}/r/{scene.hanako_token}")
    section = page.locator("section", has=page.locator("h2", has_text="Your discussion group"))
    expect(section).to_contain_text("企業連携")
    expect(section).to_contain_text("佐藤 浩二")
    expect(section.get_by_role("link", name="Join your group's room")).to_have_attribute(
        "href", re.compile(r"^https://zoom\.example\.jp/"))
