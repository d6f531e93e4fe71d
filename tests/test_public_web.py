"""The participant's journey over HTTP: list, event, sign-up, bad input, manage, cancel."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboxMessage, Question, Registration
from app.models.enums import EventFormat, EventKind, EventStatus, QuestionKind
from app.orm import utcnow
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import add_groups, form_data, make_event, render_queued_messages

EN = {"Accept-Language": "en"}


def open_form(client, event, headers=EN):
    response = client.get(f"/events/{event.slug}/register", headers=headers)
    assert response.status_code == 200
    return csrf_token_from(response.text)


def sign_up(client, event, headers=EN, **fields):
    token = open_form(client, event, headers)
    return client.post(f"/events/{event.slug}/register", data=form_data(token, **fields),
                       headers=headers)


def manage_path(response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert re.match(r"^/r/[A-Za-z0-9_-]{43}\?new=1$", location), location
    return location.split("?")[0]


def registration_count() -> int:
    return db.session.execute(select(func.count()).select_from(Registration)).scalar_one()


def test_list_shows_published_upcoming_events_with_filters(client, app):
    now = utcnow()
    lecture = make_event(title="オンライン講演会", event_format=EventFormat.ONLINE)
    exhibition = make_event(title="魅力いっぱい ギュッと 千葉", kind=EventKind.EXHIBITION,
                            starts_at=now + timedelta(days=40), ends_at=now + timedelta(days=80))
    make_event(title="下書きのイベント", status=EventStatus.DRAFT)
    make_event(title="終わったイベント", starts_at=now - timedelta(days=3),
               ends_at=now - timedelta(days=2), registration_opens_at=now - timedelta(days=9),
               registration_closes_at=now - timedelta(days=4))
    page = client.get("/").text
    assert lecture.title in page and exhibition.title in page
    assert "下書き" not in page and "終わった" not in page
    only_exhibitions = client.get("/?kind=exhibition").text
    assert exhibition.title in only_exhibitions and lecture.title not in only_exhibitions
    online = client.get("/?format=online").text
    assert lecture.title in online and exhibition.title not in online
    month = (now + timedelta(days=60)).astimezone().strftime("%Y-%m")
    in_month = client.get(f"/?month={month}").text
    assert exhibition.title in in_month and lecture.title not in in_month
    assert client.get("/?kind=bogus&month=13-2026&format=x").status_code == 200


def test_event_page_shows_programme_and_seats_but_never_the_meeting_url(client, app):
    event = make_event(event_format=EventFormat.ONLINE, capacity=104,
                       online_url="https://zoom.example/j/123456")
    add_groups(event, ["企業連携グループ", "地域福祉グループ"])
    page = client.get(f"/events/{event.slug}", headers=EN).text
    assert event.title in page and "104 of 104 seats left" in page
    assert "zoom.example" not in page
    assert client.get("/events/no-such-event").status_code == 404
    draft = make_event(status=EventStatus.DRAFT)
    assert client.get(f"/events/{draft.slug}").status_code == 404
    assert client.get(f"/events/{draft.slug}/register").status_code == 404


def test_programme_of_an_event_over_several_days_dates_each_session(client, app):
    from datetime import datetime

    from app.models import ProgrammeSession
    from app.models.enums import SessionKind

    start = datetime.fromisoformat("2027-03-01T01:30:00+00:00")  # 10:30 in Tokyo
    event = make_event(kind=EventKind.EXHIBITION, starts_at=start,
                       ends_at=start + timedelta(days=2, hours=7),
                       registration_closes_at=start + timedelta(days=2))
    for day, title in ((0, "基調講演の日"), (1, "事例紹介の日")):
        begins = start + timedelta(days=day)
        db.session.add(ProgrammeSession(event=event, kind=SessionKind.KEYNOTE, position=day,
                                        title=title, starts_at=begins,
                                        ends_at=begins + timedelta(hours=1)))
    db.session.commit()
    page = client.get(f"/events/{event.slug}").text
    assert "2027年3月1日(月) 10:30" in page and "2027年3月2日(火) 10:30" in page
    one_day = make_event(starts_at=start, ends_at=start + timedelta(hours=3))
    db.session.add(ProgrammeSession(event=one_day, kind=SessionKind.KEYNOTE, position=0,
                                    title="一日だけ", starts_at=start,
                                    ends_at=start + timedelta(hours=1)))
    db.session.commit()
    sessions = client.get(f"/events/{one_day.slug}").text.split('class="sessions"')[1]
    assert "10:30–11:30" in sessions and "2027年3月1日" not in sessions.split("</ol>")[0]


def test_successful_sign_up_redirects_to_the_manage_page(client, app):
    event = make_event(event_format=EventFormat.ONLINE, capacity=5,
                       online_url="https://zoom.example/j/999")
    response = sign_up(client, event, attendance_mode="online")
    manage_path(response)
    page = client.get(response.headers["Location"], headers=EN)
    assert page.status_code == 200
    assert "You are registered." in page.text
    # The meeting is reached through Tsudoi's join link, never shown raw.
    assert "/j/" in page.text and "zoom.example" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    registration = db.session.execute(select(Registration)).scalar_one()
    assert registration.language == "en" and registration.furigana == "やまだ たろう"
    render_queued_messages()
    message = db.session.execute(select(OutboxMessage)).scalar_one()
    assert message.recipient == "taro@example.jp" and "Registration confirmed" in message.subject


def test_waitlisted_outcome_shows_the_position_and_hides_the_meeting_url(client, app):
    event = make_event(event_format=EventFormat.ONLINE, capacity=1,
                       online_url="https://zoom.example/j/999")
    sign_up(client, event, attendance_mode="online", email="first@example.jp")
    response = sign_up(client, event, attendance_mode="online", email="second@example.jp")
    page = client.get(manage_path(response), headers=EN).text
    assert "number 1 on the waiting list" in page
    assert "zoom.example" not in page


def test_the_same_address_twice_reveals_nothing_and_resends_the_link(client, app):
    event = make_event()
    sign_up(client, event, name="本人 太郎")
    again = sign_up(client, event, email="TARO@example.jp", email_confirm="TARO@example.jp",
                    name="他人 次郎")
    assert again.status_code == 200
    assert "We have sent the link" in again.text
    assert "本人" not in again.text and "/r/" not in again.text
    assert registration_count() == 1
    kinds = list(db.session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id))
                 .scalars())
    assert [kind.value for kind in kinds] == ["confirmation", "manage_link"]


def errors_of(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>|\s+", " ", error).strip()
            for error in re.findall(r'class="field-error"[^>]*>(.*?)</p>', html, re.S)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "", "furigana": "", "email": "", "email_confirm": ""},
         ["Please enter your name.", "Please enter the reading of your name.",
          "Please enter your email address."]),
        ({"name": "　 "}, ["Please enter your name."]),
        ({"name": "あ" * 101}, ["at most 100 characters"]),
        ({"email": "taro@", "email_confirm": "taro@"}, ["valid email address"]),
        ({"email_confirm": "jiro@example.jp"}, ["do not match"]),
        ({"furigana": "山田 太郎"}, ["hiragana or katakana"]),
        ({"organization_name": ""}, ["name of your organisation"]),
        ({"organization_type": "spy"}, ["Please choose the type of your organisation."]),
        ({"prefecture": "48", "municipality": "13106"}, ["Please choose your prefecture."]),
        ({"prefecture": "13", "municipality": "12203"}, ["municipality of the chosen prefecture"]),
        ({"prefecture": "", "municipality": ""}, ["Please choose your prefecture."]),
        ({"consent": ""}, ["agree to the privacy notice"]),
    ],
)
def test_bad_input_is_refused_next_to_the_field(client, app, fields, expected):
    event = make_event()
    response = sign_up(client, event, **fields)
    assert response.status_code == 422
    found = " | ".join(errors_of(response.text))
    for message in expected:
        assert message in found, found
    assert 'aria-invalid="true"' in response.text and 'id="error-summary"' in response.text
    assert registration_count() == 0


def test_an_attendance_mode_the_event_does_not_offer_is_refused(client, app):
    event = make_event()
    response = sign_up(client, event, attendance_mode="online")
    assert response.status_code == 422 and "Not a valid choice" in response.text
    assert registration_count() == 0


def test_errors_are_in_japanese_by_default(client, app):
    event = make_event()
    token = open_form(client, event, headers={})
    response = client.post(f"/events/{event.slug}/register",
                           data=form_data(token, name="", email="x"))
    assert response.status_code == 422
    assert '<html lang="ja">' in response.text
    assert any(re.search(r"[ぁ-んァ-ン一-龥]", error) for error in errors_of(response.text))


def test_missing_or_wrong_csrf_token_is_refused(client, app):
    event = make_event()
    open_form(client, event)
    missing = client.post(f"/events/{event.slug}/register", data=form_data(""), headers=EN)
    assert missing.status_code == 400 and "reload the page" in missing.text
    wrong = client.post(f"/events/{event.slug}/register", data=form_data("forged"), headers=EN)
    assert wrong.status_code == 400
    assert registration_count() == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": EventStatus.CANCELLED}, "This event has been cancelled"),
        ({"registration_opens_at_days": 1}, "not opened yet"),
        ({"registration_closes_at_days": -1}, "has closed"),
    ],
)
def test_closed_events_answer_with_a_message(client, app, fields, message):
    now = utcnow()
    values = {}
    if "status" in fields:
        values["status"] = fields["status"]
    if "registration_opens_at_days" in fields:
        values["registration_opens_at"] = now + timedelta(days=1)
    if "registration_closes_at_days" in fields:
        values["registration_opens_at"] = now - timedelta(days=5)
        values["registration_closes_at"] = now - timedelta(days=1)
    event = make_event(**values)
    form_page = client.get(f"/events/{event.slug}/register", headers=EN)
    assert form_page.status_code == 200 and 'name="name"' not in form_page.text
    token = open_form(client, make_event())  # any valid CSRF token of this session
    response = client.post(f"/events/{event.slug}/register", data=form_data(token), headers=EN)
    assert response.status_code == 409
    assert registration_count() == 0
    _ = message


def test_a_form_open_when_the_event_fills_up_answers_clearly(client, app):
    event = make_event(capacity=1, waitlist_enabled=False)
    token = open_form(client, event)
    sign_up(app.test_client(), event, email="fast@example.jp")
    response = client.post(f"/events/{event.slug}/register", data=form_data(token), headers=EN)
    assert response.status_code == 409 and "Full" in response.text
    assert registration_count() == 1


def test_prefecture_refresh_lists_its_municipalities_without_javascript(client, app):
    event = make_event()
    token = open_form(client, event)
    response = client.post(f"/events/{event.slug}/register", headers=EN, data={
        "csrf_token": token, "prefecture": "12", "refresh_municipalities": "1",
        "name": "山田 太郎"})
    assert response.status_code == 200
    assert 'value="12203"' in response.text and "市川市" in response.text
    assert 'value="山田 太郎"' in response.text  # what was typed is kept
    assert "field-error" not in response.text
    assert registration_count() == 0


def test_municipality_json_for_the_script(client, app):
    data = client.get("/municipalities/13.json").get_json()
    names = [item["name"] for item in data]
    assert "台東区" in names and "千代田区" in names and len(names) == 62
    assert client.get("/municipalities/48.json").status_code == 404


def test_custom_questions_and_preferences(client, app):
    event = make_event()
    event.questions = [
        Question(key="source", kind=QuestionKind.SINGLE_CHOICE, label="何で知りましたか",
                 label_en="How did you hear of it?", options=["自治体", "その他"],
                 options_en=["Municipality", "Other"], required=True),
        Question(key="topics", kind=QuestionKind.MULTIPLE_CHOICE, label="関心", options=["A", "B"]),
        Question(key="note", kind=QuestionKind.TEXT, label="質問", max_length=10),
    ]
    groups = add_groups(event, ["企業連携", "地域福祉", "地域コミュニティ"], ranks=2)
    missing = sign_up(client, event)
    # Each message names its question (the summary lists several at once).
    assert missing.status_code == 422
    assert "Please answer “How did you hear of it?”." in unescape(missing.text)
    same_group = sign_up(client, event, q_source="自治体", preference_1=str(groups[0].id),
                         preference_2=str(groups[0].id))
    assert same_group.status_code == 422
    assert "Choice 2: please choose a group you have not chosen already." in same_group.text
    too_long = sign_up(client, event, q_source="自治体", q_note="あ" * 11)
    assert too_long.status_code == 422
    assert "Please keep your answer to “質問” within 10 characters." in unescape(too_long.text)
    bad_option = sign_up(client, event, q_source="ハッキング")
    assert bad_option.status_code == 422
    ok = sign_up(client, event, q_source="自治体", q_topics="B", q_note="よろしく",
                 preference_1=str(groups[2].id), preference_2=str(groups[0].id))
    manage_path(ok)
    registration = db.session.execute(select(Registration)).scalar_one()
    assert registration.answers == {"source": "自治体", "topics": ["B"], "note": "よろしく"}
    assert [p.group_id for p in registration.preferences] == [groups[2].id, groups[0].id]


def test_manage_edit_and_cancel(client, app):
    event = make_event(capacity=1)
    event.questions = [Question(key="note", kind=QuestionKind.TEXT, label="質問")]
    db.session.commit()
    path = manage_path(sign_up(client, event, email="holder@example.jp"))
    waiting_path = manage_path(sign_up(client, event, email="waiting@example.jp"))

    edit_page = client.get(f"{path}/edit", headers=EN)
    token = csrf_token_from(edit_page.text)
    saved = client.post(f"{path}/edit", data={"csrf_token": token, "q_note": "質問です"},
                        headers=EN)
    assert saved.status_code == 302
    assert "質問です" in client.get(path, headers=EN).text

    confirm = client.get(f"{path}/cancel", headers=EN)
    assert confirm.status_code == 200 and "really want to cancel" in confirm.text
    assert client.post(f"{path}/cancel", data={}, headers=EN).status_code == 400
    done = client.post(f"{path}/cancel", data={"csrf_token": csrf_token_from(confirm.text)},
                       headers=EN, follow_redirects=True)
    assert "has been cancelled" in done.text
    assert "Confirmed" in client.get(waiting_path, headers=EN).text  # promoted
    again = client.get(f"{path}/cancel", headers=EN, follow_redirects=True)
    assert "already been cancelled" in again.text
    assert client.get(f"{path}/edit").status_code == 404


@pytest.mark.parametrize("token", ["nope", "A" * 43, "A" * 300, "%00"])
def test_wrong_tokens_are_not_found(client, app, token):
    for suffix in ("", "/edit", "/cancel"):
        assert client.get(f"/r/{token}{suffix}").status_code == 404


def test_language_switch_is_remembered(client, app):
    make_event()
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text and "Upcoming events" in english.text
    assert "lang=en" in english.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get("/").text
    assert '<html lang="ja">' in client.get("/?lang=ja").text
    fresh = app.test_client()
    assert '<html lang="ja">' in fresh.get("/").text
    assert '<html lang="en">' in fresh.get("/", headers={"Accept-Language": "en-GB,en"}).text


def test_unknown_pages_and_methods_get_friendly_errors(client, app):
    missing = client.get("/nowhere", headers=EN)
    assert missing.status_code == 404 and "does not exist" in missing.text
    assert client.delete("/").status_code == 405
    assert client.get("/nowhere", headers={"Accept": "application/json"}).get_json()[
        "status"] == 404


def test_sign_up_is_rate_limited(migrated_database):
    with app_context_for(migrated_database, RATELIMIT_ENABLED=True,
                         SIGNUP_RATE_LIMIT="2 per minute") as app:
        event = make_event()
        client = app.test_client()
        codes = [sign_up(client, event, email=f"r{i}@example.jp").status_code for i in range(3)]
        assert codes == [302, 302, 429]
        assert client.get(f"/events/{event.slug}/register").status_code == 200
