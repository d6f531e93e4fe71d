"""Calendar files on the web: "add to calendar" on the event and manage pages, the public feed
(webcal, <link rel="alternate">, ?kind=), the personal feed, and conditional GET.

Every file is parsed by icalendar and by ics and checked on the wire (CRLF, 75 octets).
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ics
import pytest
from icalendar import Calendar

from app.database import write_transaction
from app.extensions import db
from app.models import Event, OutboxMessage, Registration
from app.models.enums import AttendanceMode, EventFormat, EventKind, EventStatus
from app.orm import utcnow
from app.services import registration as service
from app.services.invitations import feed_token
from app.services.messages import manage_url
from app.services.tokens import manage_token
from tests.factories import make_event, render_queued_messages, signup
from tests.test_calendar_engine import check_wire_format

EN = {"Accept-Language": "en"}


def parse(data: bytes) -> tuple[Calendar, ics.Calendar]:
    check_wire_format(data)
    calendar = Calendar.from_ical(data)
    assert calendar.get_missing_tzids() == set()
    return calendar, ics.Calendar(data.decode("utf-8"))


def vevents(data: bytes) -> dict[str, Any]:
    calendar, parsed = parse(data)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert {e.uid for e in parsed.events} == set(events)
    return events


def register(event: Event, email: str = "taro@example.jp", **fields: Any) -> Registration:
    result = service.register(db.session, event.id, signup(email, **fields))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def token_of(registration: Registration) -> str:
    return manage_token(registration.manage_key)


def is_calendar(response: Any) -> None:
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.mimetype_params.get("charset") == "utf-8"
    assert response.headers["ETag"] and response.headers["Last-Modified"]


# --- the event page --------------------------------------------------------------------------


def test_event_page_offers_the_file_google_outlook_and_the_feed(client, app):
    event = make_event(venue_name="みどり市民会館")
    page = client.get(f"/events/{event.slug}", headers=EN)
    assert f'href="/events/{event.slug}/calendar.ics"' in page.text
    google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', page.text)
    outlook = re.search(r'href="(https://outlook\.live\.com/[^"]+)"', page.text)
    assert google and outlook and "outlook.office.com" in page.text
    params = parse_qs(urlsplit(google.group(1).replace("&amp;", "&")).query)
    assert params["text"] == [event.title] and params["location"] == ["みどり市民会館"]
    assert 'href="webcal://localhost/calendar.ics"' in page.text


def test_every_public_page_advertises_the_feed(client, app):
    event = make_event()
    for path in ("/", f"/events/{event.slug}", "/privacy"):
        page = client.get(path)
        assert re.search(r'<link rel="alternate" type="text/calendar" title="[^"]+" '
                         r'href="http://localhost/calendar.ics">', page.text), path


def test_event_download_is_the_public_event_without_attendee_or_join_link(client, app):
    event = make_event(event_format=EventFormat.ONLINE, online_url="https://zoom.example/j/42",
                       summary="オンライン講座")
    response = client.get(f"/events/{event.slug}/calendar.ics")
    is_calendar(response)
    assert response.headers["Content-Disposition"] == f'attachment; filename="{event.slug}.ics"'
    assert "public" in response.headers["Cache-Control"]
    (vevent,) = vevents(response.data).values()
    assert str(vevent["UID"]) == f"event-{event.id}@localhost"
    assert str(vevent["SUMMARY"]) == event.title
    assert str(vevent["URL"]) == f"http://localhost/events/{event.slug}"
    assert "ATTENDEE" not in vevent and "CONFERENCE" not in vevent
    assert b"zoom.example" not in response.data and b"/j/" not in response.data


def test_an_exhibition_downloads_with_its_opening_hours(client, app):
    now = utcnow()
    event = make_event(kind=EventKind.EXHIBITION, starts_at=now + timedelta(days=10),
                       ends_at=now + timedelta(days=16), daily_opens_at=time(10),
                       daily_closes_at=time(17), venue_name="美術館")
    response = client.get(f"/events/{event.slug}/calendar.ics")
    (vevent,) = vevents(response.data).values()
    assert "RRULE" in vevent and vevent.start.time() == time(10)
    page = client.get(f"/events/{event.slug}", headers=EN)
    assert "the calendar file has the daily opening hours" in page.text


def test_conditional_get_answers_304_until_the_event_changes(client, app):
    event = make_event()
    path = f"/events/{event.slug}/calendar.ics"
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    with write_transaction(db.session):
        db.session.get(Event, event.id).title = "新しい題名"
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_drafts_and_unknown_events_have_no_file(client, app):
    draft = make_event(status=EventStatus.DRAFT)
    assert client.get(f"/events/{draft.slug}/calendar.ics").status_code == 404
    assert client.get("/events/no-such-event/calendar.ics").status_code == 404


# --- the public feed -------------------------------------------------------------------------


def test_public_feed_lists_published_events_and_marks_cancelled_ones(client, app):
    lecture = make_event(title="講演会")
    exhibition = make_event(title="展示会", kind=EventKind.EXHIBITION)
    cancelled = make_event(title="中止", status=EventStatus.CANCELLED)
    make_event(title="下書き", status=EventStatus.DRAFT)
    make_event(title="昔の行事", starts_at=utcnow() - timedelta(days=400),
               ends_at=utcnow() - timedelta(days=399), registration_opens_at=None,
               registration_closes_at=None)
    response = client.get("/calendar.ics", headers=EN)
    is_calendar(response)
    assert "Content-Disposition" not in response.headers  # subscribed, not downloaded
    calendar, _parsed = parse(response.data)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Tsudoi events"
    events = vevents(response.data)
    assert {str(e["SUMMARY"]) for e in events.values()} == {"講演会", "展示会", "中止"}
    assert str(events[f"event-{cancelled.id}@localhost"]["STATUS"]) == "CANCELLED"
    assert events[f"event-{cancelled.id}@localhost"]["SEQUENCE"] == 1
    assert str(events[f"event-{lecture.id}@localhost"]["STATUS"]) == "CONFIRMED"

    only_exhibitions = vevents(client.get("/calendar.ics?kind=exhibition").data)
    assert list(only_exhibitions) == [f"event-{exhibition.id}@localhost"]
    online = make_event(title="オンライン", event_format=EventFormat.ONLINE)
    assert list(vevents(client.get("/calendar.ics?format=online").data)) == [
        f"event-{online.id}@localhost"]
    assert f"event-{online.id}@localhost" not in vevents(
        client.get("/calendar.ics?format=in_person").data)


def test_public_feed_revalidates_with_its_etag(client, app):
    make_event()
    first = client.get("/calendar.ics")
    etag = first.headers["ETag"]
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    make_event(title="追加")
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 200


def test_an_event_the_engine_refuses_does_not_break_the_feed(client, app):
    good = make_event(title="正常")
    broken = make_event(title="時間なし")
    with write_transaction(db.session):
        found = db.session.get(Event, broken.id)
        found.ends_at = found.starts_at  # the database allows it; iCalendar does not
    events = vevents(client.get("/calendar.ics").data)
    assert list(events) == [f"event-{good.id}@localhost"]
    assert client.get(f"/events/{broken.slug}/calendar.ics").status_code == 404


# --- the manage page and the personal invitation ---------------------------------------------


def test_manage_page_offers_the_personal_invitation_and_feed(client, app):
    event = make_event(event_format=EventFormat.ONLINE, capacity=5,
                       online_url="https://zoom.example/j/42")
    registration = register(event, attendance_mode=AttendanceMode.ONLINE)
    token = token_of(registration)
    page = client.get(f"/r/{token}", headers=EN)
    assert f'href="/r/{token}/calendar.ics"' in page.text
    feed = f"webcal://localhost/feeds/{registration.id}/{feed_token(registration)}/calendar.ics"
    assert f'href="{feed}"' in page.text
    google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', page.text)
    assert google and f"localhost/j/{registration.id}-" in google.group(1)  # personal join link

    response = client.get(f"/r/{token}/calendar.ics")
    is_calendar(response)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    calendar, _parsed = parse(response.data)
    assert str(calendar["METHOD"]) == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == f"registration-{registration.id}@localhost"
    assert vevent["ATTENDEE"] == "mailto:taro@example.jp"
    assert str(vevent["URL"]) == manage_url(registration)
    (conference,) = vevent.conferences
    assert f"/j/{registration.id}-" in conference.uri
    # The same entry as the mailed invitation: same UID and SEQUENCE.
    render_queued_messages()
    mailed = db.session.execute(db.select(OutboxMessage)).scalar_one()
    assert mailed.payload["calendar"]["uid"] == str(vevent["UID"])
    assert mailed.payload["calendar"]["sequence"] == vevent["SEQUENCE"]

    etag = response.headers["ETag"]
    assert client.get(f"/r/{token}/calendar.ics",
                      headers={"If-None-Match": etag}).status_code == 304


def test_waitlisted_and_cancelled_registrations_have_no_calendar(client, app):
    event = make_event(capacity=1)
    first = register(event, "first@example.jp")
    waiting = register(event, "waiting@example.jp")
    page = client.get(f"/r/{token_of(waiting)}", headers=EN)
    assert f"/r/{token_of(waiting)}/calendar.ics" not in page.text
    assert "Add to your calendar" not in page.text and "/feeds/" not in page.text
    assert client.get(f"/r/{token_of(waiting)}/calendar.ics").status_code == 404
    service.cancel_registration(db.session, first.id)
    assert client.get(f"/r/{token_of(first)}/calendar.ics").status_code == 404
    assert client.get("/r/not-a-token/calendar.ics").status_code == 404


# --- the personal feed -----------------------------------------------------------------------


def test_personal_feed_holds_the_address_registrations_and_marks_cancelled_ones(client, app):
    lecture = make_event(title="講座", capacity=5)
    online = make_event(title="オンライン", event_format=EventFormat.ONLINE, capacity=5)
    full = make_event(title="満席", capacity=1)
    first = register(lecture, "Taro@Example.jp")
    register(online, "taro@example.jp", attendance_mode=AttendanceMode.ONLINE)
    register(full, "someone@example.jp")
    waiting = register(full, "taro@example.jp")
    cancelled = register(make_event(title="取消"), "taro@example.jp")
    register(make_event(title="他人"), "hanako@example.jp")
    service.cancel_registration(db.session, cancelled.id)

    path = f"/feeds/{waiting.id}/{feed_token(waiting)}/calendar.ics"
    response = client.get(path)
    is_calendar(response)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Robots-Tag"] == "noindex"
    events = vevents(response.data)
    by_title = {str(e["SUMMARY"]): e for e in events.values()}
    assert set(by_title) == {"講座", "オンライン", "取消"}  # not the waiting list, not others
    assert str(by_title["取消"]["STATUS"]) == "CANCELLED"
    assert str(by_title["講座"]["STATUS"]) == "CONFIRMED"
    assert str(by_title["講座"]["UID"]) == f"registration-{first.id}@localhost"
    assert "/j/" in str(by_title["オンライン"]["LOCATION"])
    assert b"/r/" not in response.data  # no manage links in a feed kept on others' servers
    assert all("ATTENDEE" not in e for e in events.values())

    etag = response.headers["ETag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    service.cancel_registration(db.session, first.id)
    after = client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    titles = {str(e["SUMMARY"]): str(e["STATUS"]) for e in vevents(after.data).values()}
    assert titles["講座"] == "CANCELLED"


@pytest.mark.parametrize("bad", ["manage", "other", "garbage"])
def test_personal_feed_needs_its_own_token(client, app, bad):
    mine = register(make_event(), "taro@example.jp")
    other = register(make_event(), "hanako@example.jp")
    token = {"manage": token_of(mine), "other": feed_token(other), "garbage": "x" * 43}[bad]
    assert client.get(f"/feeds/{mine.id}/{token}/calendar.ics").status_code == 404
    assert client.get(f"/feeds/999999/{feed_token(mine)}/calendar.ics").status_code == 404


# --- injection ---------------------------------------------------------------------------------

PAYLOADS = [
    "\r\nATTENDEE:mailto:evil@example.com",
    "\nBEGIN:VALARM\nACTION:AUDIO\nTRIGGER:-PT5M\nEND:VALARM",
    "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nEND:VEVENT",
    '<script>alert(1)</script>";X-INJECT=1:x',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_stays_text_in_every_file(client, app, payload):
    event = make_event(title=f"講座{payload}", summary=f"説明{payload}",
                       venue_name=f"会場{payload}", venue_address=f"住所{payload}",
                       organizer_name=f"主催{payload}", themes=[f"テーマ{payload}"])
    registration = register(event, name=f"太郎{payload}"[:100])
    render_queued_messages()
    files = [
        client.get(f"/events/{event.slug}/calendar.ics").data,
        client.get("/calendar.ics").data,
        client.get(f"/r/{token_of(registration)}/calendar.ics").data,
        client.get(f"/feeds/{registration.id}/{feed_token(registration)}/calendar.ics").data,
        db.session.execute(db.select(OutboxMessage)).scalar_one().payload["calendar"]["ics"]
        .encode(),
    ]
    for data in files:
        calendar, parsed = parse(data)
        (vevent,) = calendar.walk("VEVENT")
        (parsed_event,) = parsed.events
        assert calendar.walk("VALARM") == [] and not parsed_event.alarms
        assert str(vevent["UID"]) != "evil"
        attendees = vevent.get("ATTENDEE")
        assert attendees is None or attendees == "mailto:taro@example.jp"
        lines = data.decode().replace("\r\n ", "").split("\r\n")
        assert not any(line.startswith(("X-INJECT", "ATTENDEE:mailto:evil")) for line in lines)
    page = client.get(f"/events/{event.slug}")
    assert "<script>alert(1)</script>" not in page.text
