"""Japanese typography: each language owns its labels, separators and word order.

A separator written next to a translated word in a template ({{ _("Venue") }}: …) is the same
in both languages and puts ASCII punctuation into Japanese (「会場: …」). Labels and values
therefore share one message with a placeholder (_("Venue: %(venue)s", …)), which the Japanese
catalog writes with full-width punctuation (「会場：…」). These tests render the participant's
pages and messages, the door's check-in page and the organiser's console in both languages,
and check the values in those placeholders stay escaped.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import datetime, time, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.i18n import TOKYO
from app.models import (
    BreakoutGroup,
    Event,
    EventPerson,
    OutboxMessage,
    ProgrammeSession,
    Registration,
    User,
)
from app.models.enums import (
    EventFormat,
    EventKind,
    EventStatus,
    PersonRole,
    SessionKind,
)
from app.services import breakouts, checkin
from app.services import registration as registrations
from tests.conftest import csrf_token_from
from tests.factories import (
    AuthActions,
    form_data,
    make_event,
    make_user,
    render_queued_messages,
    signup,
)

ORGANISER = "organizer@example.lg.jp"
JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}

# A Japanese character (kana, kanji, full-width forms) directly followed by ASCII punctuation
# that Japanese text writes full-width: 「会場: 」「同意します (」「第1希望）: 」.
ASCII_AFTER_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e][ ]?[:;,()]")
# The one deliberate exception: dates write the weekday as 2026年12月9日(水) (app/i18n.py).
WEEKDAY = re.compile(r"(?<=日)\([月火水木金土日]\)")

SCRIPT = "<script>alert(1)</script>"


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<title>.*?</title>", " ", html, flags=re.S)  # checked on its own
    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", "", html)))  # keeps \u3000


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, flags=re.S)
    assert match
    return unescape(match.group(1))


def ascii_after_japanese(text: str) -> list[str]:
    text = WEEKDAY.sub("", text)
    return [text[max(0, m.start() - 12):m.end() + 12] for m in ASCII_AFTER_JAPANESE.finditer(text)]


def with_programme(event: Event, text: str = "") -> Event:
    """A moderator, a keynote with a speaker, and a breakout session with two groups."""
    start = event.starts_at
    keynote = ProgrammeSession(kind=SessionKind.KEYNOTE, title=f"地域の未来{text}", position=0,
                               starts_at=start, ends_at=start + timedelta(hours=1))
    breakout = ProgrammeSession(kind=SessionKind.BREAKOUT, title=f"分科会{text}", position=1,
                                starts_at=start + timedelta(hours=1),
                                ends_at=start + timedelta(hours=2))
    event.sessions = [keynote, breakout]
    event.people = [
        EventPerson(role=PersonRole.MODERATOR, name=f"司会 花子{text}", affiliation="台東区",
                    position=0),
        EventPerson(role=PersonRole.SPEAKER, name=f"講師 一郎{text}", affiliation="千葉大学",
                    title="教授", session=keynote, position=1),
    ]
    event.breakout_groups = [
        BreakoutGroup(name=f"企業連携{text}", position=0, capacity=30, session=breakout,
                      facilitator_name=f"佐藤 浩二{text}", facilitator_affiliation=f"知立市{text}"),
        BreakoutGroup(name="地域福祉", position=1, capacity=30, session=breakout,
                      facilitator_name="川島 俊二"),
    ]
    event.max_preference_ranks = 2
    db.session.commit()
    return event


def public_event(text: str = "") -> Event:
    event = make_event(event_format=EventFormat.HYBRID, capacity=30, online_capacity=50,
                       online_url="https://meeting.example.jp/j/1", commit=False,
                       title=f"多文化共生のまちづくり{text}", venue_name=f"区民会館{text}",
                       venue_address=f"東京都台東区1-2-3{text}")
    return with_programme(event, text)


def door_event(text: str = "") -> Event:
    """An exhibition open today (Tokyo), so the check-in page counts visitors too."""
    today = checkin.today_in_tokyo()
    start = datetime.combine(today, time(9, 0), TOKYO)
    event = make_event(kind=EventKind.EXHIBITION, starts_at=start,
                       ends_at=datetime.combine(today, time(17, 0), TOKYO),
                       registration_opens_at=start - timedelta(days=30),
                       registration_closes_at=start - timedelta(days=1), commit=False,
                       title=f"展示会{text}", venue_name="区民会館")
    return with_programme(event, text)


def register(client: FlaskClient, event: Event, headers: dict[str, str],
             email: str = "taro@example.jp") -> str:
    """Signs up through the form; returns the manage page's path."""
    page = client.get(f"/events/{event.slug}/register", headers=headers)
    data = form_data(csrf_token_from(page.text), email,
                     preference_1=str(event.breakout_groups[0].id))
    response = client.post(f"/events/{event.slug}/register", data=data, headers=headers)
    assert response.status_code == 302, visible_text(response.text)[:2000]
    return str(response.headers["Location"]).split("?")[0]


def registered_at_the_door(event: Event, email: str, **fields: Any) -> Registration:
    result = registrations.register(
        db.session, event.id,
        signup(email, preferences=[event.breakout_groups[0].id], **fields),
        now=event.starts_at - timedelta(days=2))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def participant_pages(client: FlaskClient, event: Event, headers: dict[str, str],
                      email: str = "taro@example.jp") -> dict[str, str]:
    manage = register(client, event, headers, email)
    return {path: client.get(path, headers=headers).text
            for path in (f"/events/{event.slug}", f"/events/{event.slug}/register", manage,
                         f"{manage}/edit", f"{manage}/cancel", f"{manage}/delete")}


def door_page(client: FlaskClient, event: Event, language: str, query: str = "") -> str:
    """The check-in page as the event's organiser, in `language`."""
    if db.session.execute(select(User).where(User.email == ORGANISER)).first() is None:
        make_user(ORGANISER, events=[event])
    AuthActions(client, language).login(ORGANISER)
    response = client.get(f"/console/events/{event.id}/checkin?q={query}")
    assert response.status_code == 200
    return response.text


def message_bodies() -> list[str]:
    render_queued_messages()
    return list(db.session.execute(
        select(OutboxMessage.body_text).order_by(OutboxMessage.id)).scalars())


# --- no ASCII punctuation in Japanese ---------------------------------------------------------


def test_participant_pages_and_messages_write_japanese_punctuation(
    app: Flask, client: FlaskClient
) -> None:
    event = public_event()
    pages = participant_pages(client, event, JA)
    for path, html in pages.items():
        assert '<html lang="ja"' in html
        assert not ascii_after_japanese(visible_text(html)), path
        assert not ascii_after_japanese(title_of(html).split(" | ")[0]), path
    event_page, _, manage, _, cancel, delete = (visible_text(html) for html in pages.values())
    assert "会場：区民会館（東京都台東区1-2-3）" in manage
    assert re.search(r"受付コード：\d+-[A-Z2-7]+", manage)
    assert "会場参加：残り29席（定員30席）" in event_page
    assert "オンライン参加：残り50席（定員50席）" in event_page
    assert "コーディネーター：司会 花子（台東区）" in event_page
    assert "基調講演：地域の未来" in event_page
    # Japanese puts the affiliation before the name.
    assert "企業連携（ファシリテーター：知立市\u3000佐藤 浩二）" in event_page
    assert "地域福祉（ファシリテーター：川島 俊二）" in event_page
    assert "東京都台東区1-2-3（地図）" in event_page
    manage_title = title_of(pages[list(pages)[2]]).split(" | ")[0]
    assert manage_title == "お申し込み内容：多文化共生のまちづくり"
    # Confirmation pages: the buttons say what they do, and "keep" is not the same on both.
    assert "お申し込みをキャンセルする" in cancel and "キャンセルしない" in cancel
    assert "個人情報を削除する" in delete and "削除しない" in delete
    assert "キャンセルしない" not in delete

    [body] = message_bodies()
    assert not ascii_after_japanese(body), body
    assert "イベント名：多文化共生のまちづくり\n日時：" in body
    assert "会場：区民会館（東京都台東区1-2-3）\n" in body
    assert re.search(r"\n受付コード：\d+-[A-Z2-7]+", body)


def test_english_keeps_its_own_punctuation(app: Flask, client: FlaskClient) -> None:
    event = public_event()
    pages = participant_pages(client, event, EN)
    event_page, _, manage, _, _, delete = (visible_text(html) for html in pages.values())
    assert "Venue: 区民会館 (東京都台東区1-2-3)" in manage
    assert re.search(r"Check-in code: \d+-[A-Z2-7]+", manage)
    assert "At the venue: 29 of 30 seats left" in event_page
    assert "Moderator: 司会 花子（台東区）" in event_page
    assert "Keynote: 地域の未来" in event_page
    assert "企業連携 (facilitator: 佐藤 浩二, 知立市)" in event_page
    assert "No, keep my data" in delete
    [body] = message_bodies()
    assert "Event: 多文化共生のまちづくり\nWhen: " in body
    assert "Venue: 区民会館 (東京都台東区1-2-3)\n" in body


def test_the_check_in_page_writes_japanese_punctuation(app: Flask, client: FlaskClient) -> None:
    event = door_event()
    registered_at_the_door(event, "taro@example.jp")
    html = door_page(client, event, "ja", query="山田")
    text = visible_text(html)
    assert not ascii_after_japanese(text)
    assert title_of(html).split(" | ")[0] == "受付：展示会"
    assert "受付済み：0人\u3000来場者：0人\u3000合計：0人" in text
    assert "分科会（第1希望）：企業連携" in text
    english = visible_text(door_page(client, event, "en", query="山田"))
    assert "Checked in: 0 · Visitors: 0 · Total: 0" in english
    assert "Group (first choice): 企業連携" in english


# --- the organiser's console ------------------------------------------------------------------

ADMIN = "admin@example.lg.jp"
# A Zoom participant report (Japanese export) with one person: the attendance pages then have an
# upload waiting for the organiser's check.
ZOOM_REPORT = (
    "ミーティングID,トピック,開始時刻,終了時刻,ユーザーメール,所要時間（分）,参加者\r\n"
    "812 3456 7890,市民講座,2026/10/05 17:55:12,2026/10/05 19:35:40,"
    "bosai@city.example.lg.jp,101,1\r\n\r\n"
    "名前 (元の名前),ユーザーメール,参加時刻,退出時刻,所要時間（分）,ゲスト\r\n"
    "山田 太郎,p0@example.jp,2026/10/05 18:03:00,2026/10/05 18:40:30,38,はい\r\n"
)


def console_pages(client: FlaskClient, language: str, text: str = "") -> dict[str, str]:
    """The console's pages about one event with three registrations, a published breakout
    round of its breakout session and a report waiting to be checked, as an administrator
    reads them in `language`; keyed by a short name."""
    event = public_event(text)
    for number in range(3):
        registered_at_the_door(event, f"p{number}@example.jp", name=f"山田 太郎{number}")
    admin = make_user(ADMIN, role="admin", events=[event])
    session = next(item for item in event.sessions if item.kind is SessionKind.BREAKOUT)
    round_ = breakouts.create_round(db.session, admin, event.id, session.id)
    breakouts.run(db.session, admin, event.id, round_.id, diversity=[], penalty=2)
    breakouts.publish(db.session, admin, event.id, round_.id)
    first = db.session.execute(select(Registration).order_by(Registration.id)).scalars().first()
    assert first is not None

    AuthActions(client, language).login(ADMIN)
    base = f"/console/events/{event.id}"
    form = client.get(f"{base}/attendance/import")
    uploaded = client.post(f"{base}/attendance/import", data={
        "csrf_token": csrf_token_from(form.text),
        "report": (io.BytesIO(ZOOM_REPORT.encode()), "participants.csv")},
        content_type="multipart/form-data")
    assert uploaded.status_code == 303, visible_text(uploaded.text)[:2000]
    rounds = f"{base}/breakouts/{round_.id}"
    paths = {
        "dashboard": "/console/", "overview": base, "registrants": f"{base}/registrants",
        "registrant": f"{base}/registrants/{first.id}",
        "edit": f"{base}/registrants/{first.id}/edit", "new": f"{base}/registrants/new",
        "import": f"{base}/registrants/import", "announce": f"{base}/registrants/announce",
        "breakouts": f"{base}/breakouts", "round": rounds, "round exports": f"{rounds}/exports",
        "teams": f"{rounds}/teams", "rosters": f"{rounds}/rosters",
        "attendance": f"{base}/attendance", "report check": str(uploaded.headers["Location"]),
        "stats": f"{base}/stats", "report": f"{base}/report", "all stats": "/console/stats",
        "downloads": f"{base}/exports", "preview": f"{base}/preview",
        "outbox": "/console/outbox", "audit": "/console/audit", "users": "/console/users",
        "tokens": "/console/tokens",
    }
    pages = {}
    for name, path in paths.items():
        response = client.get(path)
        assert response.status_code == 200, path
        pages[name] = response.text
    return pages


def test_console_pages_write_japanese_punctuation(app: Flask, client: FlaskClient) -> None:
    pages = console_pages(client, "ja")
    text = {name: visible_text(html) for name, html in pages.items()}
    for name, html in pages.items():
        assert '<html lang="ja"' in html, name
        assert not ascii_after_japanese(text[name]), name
        assert not ascii_after_japanese(title_of(html).split(" | ")[0]), name
    assert title_of(pages["registrants"]).split(" | ")[0] == "申込者：多文化共生のまちづくり"
    assert "参加確定：3\u3000キャンセル待ち：0\u3000" in text["registrants"]
    assert "台東区（自治体）" in text["registrant"]
    assert "東京都台東区1-2-3（地図）" in text["overview"]
    round_page = text["round"]
    assert "第1回の割り当て：分科会" in round_page
    assert "東京都：3（均等な割合 2人、1人超過）" in round_page
    assert "ファシリテーター：佐藤 浩二（知立市）" in round_page
    teams = text["teams"]
    assert "ルーム1：企業連携" in teams and "ファシリテーター：佐藤 浩二" in teams
    assert "多文化共生のまちづくり\u30002026年" in text["rosters"]
    assert f"確認待ち（{ADMIN}）" in text["attendance"]
    assert re.search(r"\d+分（変更）", text["report check"])
    # The charts' descriptions list their series as Japanese does (、), not with ", ".
    assert "項目ごとの申込数、参加確定です。" in text["stats"]
    assert "\u3000区民会館" in text["report"]
    assert "プレビュー：公開ページ" in text["preview"]


def test_the_console_in_english_keeps_its_punctuation(app: Flask, client: FlaskClient) -> None:
    pages = console_pages(client, "en")
    text = {name: visible_text(html) for name, html in pages.items()}
    assert title_of(pages["registrants"]).split(" | ")[0] == "Registrants: 多文化共生のまちづくり"
    assert "Confirmed: 3 · On the waiting list: 0 · " in text["registrants"]
    assert "台東区 (Local government)" in text["registrant"]
    assert "東京都台東区1-2-3 (map)" in text["overview"]
    round_page = text["round"]
    assert "Round 1: 分科会" in round_page
    assert "Tokyo: 3 (fair share 2; 1 above)" in round_page
    assert "Facilitator: 佐藤 浩二 (知立市)" in round_page
    assert "Room 1: 企業連携" in text["teams"]
    assert "多文化共生のまちづくり · " in text["rosters"]
    assert f"Waiting for your check ({ADMIN})" in text["attendance"]
    assert "Sign-ups and Confirmed for each line" in text["stats"]
    assert " · 区民会館" in text["report"]
    assert "Preview: this is how the public page looks." in text["preview"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_values_placed_in_console_messages_are_escaped(
    app: Flask, client: FlaskClient, language: str
) -> None:
    pages = console_pages(client, language, SCRIPT)
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        # Markup the template builds itself stays markup, not escaped twice.
        for tag in ("strong", "span", "a href"):
            assert f"&lt;{tag}" not in html, (name, tag)
    assert re.search(r"<title>[^<]*多文化共生のまちづくり&lt;script&gt;", pages["registrants"])
    assert "佐藤 浩二&lt;script&gt;alert(1)&lt;/script&gt;" in pages["round"]
    assert "東京都台東区1-2-3&lt;script&gt;alert(1)&lt;/script&gt;" in pages["overview"]


# --- one English word, two meanings -----------------------------------------------------------


def test_a_cancelled_registration_and_a_cancelled_event_are_told_apart(
    app: Flask, client: FlaskClient
) -> None:
    event = door_event()
    registration = registered_at_the_door(event, "taro@example.jp")
    registrations.cancel_registration(db.session, registration.id)
    card = visible_text(door_page(client, event, "ja", query="山田"))
    assert "キャンセル済み" in card and "中止" not in card

    called_off = make_event(status=EventStatus.CANCELLED, title="取りやめた講演会")
    page = visible_text(client.get(f"/events/{called_off.slug}", headers=JA).text)
    assert "中止" in page and "キャンセル済み" not in page


def test_the_format_of_an_event_is_not_a_way_of_taking_part(
    app: Flask, client: FlaskClient
) -> None:
    online = make_event(event_format=EventFormat.ONLINE, title="オンライン講演会")
    listing = visible_text(client.get("/", headers=JA).text)
    assert "オンライン開催" in listing  # the event's tag
    page = visible_text(client.get(f"/events/{online.slug}", headers=JA).text)
    assert "オンライン開催" in page and "オンライン参加" in page  # the tag; the joining link


# --- values inside translated messages stay escaped ---------------------------------------


def test_values_placed_in_messages_are_escaped(app: Flask, client: FlaskClient) -> None:
    public = public_event(SCRIPT)
    door = door_event(SCRIPT)
    registered_at_the_door(door, "taro@example.jp")
    for headers, language in ((JA, "ja"), (EN, "en")):
        pages = participant_pages(client, public, headers, f"{language}@example.jp")
        pages["check-in"] = door_page(client, door, language, query="山田")
        for where, html in pages.items():
            assert "<script>alert" not in html, (language, where)
            # Markup the template builds itself stays markup, not escaped twice.
            assert "&lt;strong&gt;" not in html and "&lt;a href" not in html, (language, where)
        event_page = pages[f"/events/{public.slug}"]
        for value in ("佐藤 浩二", "知立市", "企業連携", "東京都台東区1-2-3", "地域の未来",
                      "司会 花子"):
            assert f"{value}&lt;script&gt;alert(1)&lt;/script&gt;" in event_page, (language, value)
        assert re.search(r"<strong>(<span lang=\"ja\">)?企業連携&lt;script&gt;", event_page)
        assert "分科会（第1希望）：企業連携&lt;script&gt;" in pages["check-in"] or language == "en"
    bodies = message_bodies()  # plain text: nothing to escape, and nothing escaped
    assert len(bodies) == 3 and not any("&lt;" in body for body in bodies)
    for body in bodies[1:]:
        assert f"イベント名：多文化共生のまちづくり{SCRIPT}" in body or \
            f"Event: 多文化共生のまちづくり{SCRIPT}" in body
        assert f"区民会館{SCRIPT}（東京都台東区1-2-3{SCRIPT}）" in body or \
            f"区民会館{SCRIPT} (東京都台東区1-2-3{SCRIPT})" in body


@pytest.mark.parametrize("language", ["ja", "en"])
def test_flash_messages_in_japanese_end_with_a_full_stop(
    app: Flask, client: FlaskClient, language: str
) -> None:
    event = door_event()
    registration = registered_at_the_door(event, "taro@example.jp")
    door_page(client, event, language)
    token = AuthActions(client, language).csrf_token()  # before: a page shows the flashes
    day = checkin.today_in_tokyo().isoformat()
    done = client.post(f"/console/events/{event.id}/checkin", data={
        "csrf_token": token, "nonce": secrets.token_urlsafe(18), "day": day,
        "method": "search", "registration_id": str(registration.id)})
    counted = client.post(f"/console/events/{event.id}/checkin/tally", data={
        "csrf_token": token, "day": day, "delta": "1"})
    assert done.status_code == 303 and counted.status_code == 303
    flashes = re.findall(r'<p class="flash flash-\w+">(.*?)</p>',
                         client.get(counted.headers["Location"]).text)
    if language == "ja":
        assert flashes[0] == "山田 太郎 さんを受付しました。"
        assert re.fullmatch(r".+の来場者数は1人になりました。", flashes[1])
    else:
        assert flashes[0] == "Checked in: 山田 太郎."
        assert re.fullmatch(r"Visitors on .+: 1\.", flashes[1])


def test_sentences_follow_each_other_as_each_language_writes_them() -> None:
    from app.i18n import join_sentences

    assert join_sentences("保存しました。", "2人が参加確定になりました。", language="ja") == (
        "保存しました。2人が参加確定になりました。")
    assert join_sentences("Saved.", "2 people are now confirmed.", language="en") == (
        "Saved. 2 people are now confirmed.")
    assert join_sentences("Saved.", "", language="en") == "Saved."
