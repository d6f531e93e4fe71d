"""The iCalendar engine: invitations, cancellations, feeds and web links.

Every file is checked byte by byte (CRLF, 75-octet folding on character
boundaries) and parsed twice: by ``icalendar`` and by the independent ``ics``
library, so a quirk of one parser cannot hide a broken file.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import ics
import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, Event

from app.engines import calendar as engine
from app.engines.calendar import (
    Attendee,
    CalendarEvent,
    DailyHours,
    Organizer,
    build_feed,
    build_invitation,
    google_calendar_url,
    outlook_calendar_url,
)

TOKYO = ZoneInfo("Asia/Tokyo")
STAMP = datetime(2025, 5, 1, 9, 30, tzinfo=TOKYO)
ORGANIZER = Organizer("events@city.example.lg.jp", "みどり市 国際交流課")
ATTENDEE = Attendee("taro@example.com", "山田 太郎")

LECTURE = CalendarEvent(
    uid="event-12-registration-34@tsudoi.example.jp",
    sequence=0,
    title="多文化共生講座",
    description="第1回：やさしい日本語\n持ち物：筆記用具",
    starts_at=datetime(2025, 6, 1, 14, 0, tzinfo=TOKYO),
    ends_at=datetime(2025, 6, 1, 16, 0, tzinfo=TOKYO),
    organizer=ORGANIZER,
    location="みどり市民会館 3階, 大会議室",
    url="https://tsudoi.example.jp/events/12",
    categories=("講座",),
    last_modified=datetime(2025, 4, 20, 12, 0, tzinfo=TOKYO),
)
ONLINE = replace(
    LECTURE,
    uid="event-13-registration-35@tsudoi.example.jp",
    location=None,
    conference_url="https://meet.example.com/j/123456?pwd=abc",
)
EXHIBITION = CalendarEvent(
    uid="event-20@tsudoi.example.jp",
    sequence=3,
    title="世界の子ども絵画展",
    description="入場無料",
    starts_at=datetime(2025, 6, 1, 10, 0, tzinfo=TOKYO),
    ends_at=datetime(2025, 6, 10, 17, 0, tzinfo=TOKYO),
    organizer=ORGANIZER,
    location="みどり市立美術館",
    daily_hours=DailyHours(
        opens=time(10, 0),
        closes=time(17, 0),
        # Mondays 2 and 9 June; 20 May is outside the period and must be ignored.
        closed_dates=frozenset({date(2025, 6, 2), date(2025, 6, 9), date(2025, 5, 20)}),
    ),
)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def physical_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, f"bare line break in {line!r}"
    return lines


def unfolded_lines(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def check_wire_format(data: bytes) -> None:
    """CRLF only, 75-octet lines, no character split across a fold, TZIDs defined."""
    for line in physical_lines(data):
        assert len(line) <= 75, f"{len(line)} octets: {line!r}"
        line.decode("utf-8")  # raises if a fold cut a multi-byte character
    lines = unfolded_lines(data)
    # Read straight from the content lines, not via icalendar, so a library bug cannot
    # hide here; whole lines only, because escaped text may contain "BEGIN:VEVENT".
    used = {m for line in lines for m in re.findall(r"^[A-Z-]+;(?:[^:]*;)?TZID=([^;:]+)", line)}
    defined = [line.removeprefix("TZID:") for line in lines if line.startswith("TZID:")]
    assert used <= set(defined), f"TZIDs without VTIMEZONE: {used - set(defined)}"
    if "BEGIN:VEVENT" in lines:
        first_event = lines.index("BEGIN:VEVENT")
        for tzid in used:
            assert lines.index(f"TZID:{tzid}") < first_event, "VTIMEZONE must precede events"


def parse_both(data: bytes) -> tuple[Calendar, ics.Calendar]:
    check_wire_format(data)
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    assert calendar.get_missing_tzids() == set()
    return calendar, ics.Calendar(data.decode("utf-8"))


def only_event(calendar: Calendar) -> Event:
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Event)
    return event


def as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def all_property_names(component: Component) -> set[str]:
    names = set(component.keys())
    for sub in component.subcomponents:
        names |= all_property_names(sub)
    return names


# --------------------------------------------------------------------------- #
# REQUEST
# --------------------------------------------------------------------------- #


def test_request_has_what_outlook_google_and_apple_need() -> None:
    data = build_invitation(LECTURE, ATTENDEE, "REQUEST", dtstamp=STAMP)
    calendar, parsed = parse_both(data)

    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(calendar["VERSION"]) == "2.0"
    assert "Tsudoi" in str(calendar["PRODID"])
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Tokyo"]

    event = only_event(calendar)
    assert str(event["UID"]) == LECTURE.uid
    assert event["SEQUENCE"] == 0
    assert event["DTSTAMP"].dt == datetime(2025, 5, 1, 0, 30, tzinfo=UTC)
    assert "DTSTAMP:20250501T003000Z" in unfolded_lines(data)
    assert event.start == LECTURE.starts_at and event.end == LECTURE.ends_at
    assert event["DTSTART"].params["TZID"] == "Asia/Tokyo"
    assert event["DTEND"].params["TZID"] == "Asia/Tokyo"
    assert str(event["SUMMARY"]) == LECTURE.title
    assert str(event["DESCRIPTION"]) == LECTURE.description
    assert str(event["LOCATION"]) == LECTURE.location
    assert str(event["URL"]) == LECTURE.url
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event["LAST-MODIFIED"].dt == datetime(2025, 4, 20, 3, 0, tzinfo=UTC)

    organizer = event["ORGANIZER"]
    assert organizer == "mailto:events@city.example.lg.jp"
    assert organizer.params["CN"] == ORGANIZER.name

    attendees = as_list(event.get("ATTENDEE"))
    assert attendees == ["mailto:taro@example.com"]
    params = attendees[0].params
    assert params["CN"] == "山田 太郎"
    assert params["ROLE"] == "REQ-PARTICIPANT"
    assert params["PARTSTAT"] == "ACCEPTED"
    assert params["RSVP"] == "FALSE"
    assert "CONFERENCE" not in event

    assert parsed.method == "REQUEST"
    (ics_event,) = parsed.events
    assert ics_event.uid == LECTURE.uid
    assert ics_event.name == LECTURE.title
    assert ics_event.description == LECTURE.description
    assert ics_event.location == LECTURE.location
    assert ics_event.begin == LECTURE.starts_at
    assert ics_event.end == LECTURE.ends_at
    assert ics_event.organizer.email == ORGANIZER.email
    assert [a.email for a in ics_event.attendees] == [ATTENDEE.email]


def test_online_request_carries_the_join_link_as_conference() -> None:
    attendee = replace(ATTENDEE, partstat="NEEDS-ACTION", rsvp=True)
    data = build_invitation(ONLINE, attendee, dtstamp=STAMP)
    calendar, parsed = parse_both(data)
    event = only_event(calendar)

    (conference,) = as_list(event.get("CONFERENCE"))
    assert conference == ONLINE.conference_url
    assert conference.params["VALUE"] == "URI"
    assert conference.params["FEATURE"] == "VIDEO"
    assert conference.params["LABEL"] == ONLINE.conference_label
    # Outlook and Google ignore CONFERENCE; without a venue the link goes to LOCATION.
    assert str(event["LOCATION"]) == ONLINE.conference_url
    attendee_params = event["ATTENDEE"].params
    assert (attendee_params["PARTSTAT"], attendee_params["RSVP"]) == ("NEEDS-ACTION", "TRUE")
    (ics_event,) = parsed.events
    assert ics_event.uid == ONLINE.uid


def test_venue_stays_the_location_when_an_event_is_also_online() -> None:
    hybrid = replace(LECTURE, conference_url="https://meet.example.com/j/1")
    event = only_event(parse_both(build_invitation(hybrid, ATTENDEE, dtstamp=STAMP))[0])
    assert str(event["LOCATION"]) == LECTURE.location
    assert as_list(event.get("CONFERENCE")) == ["https://meet.example.com/j/1"]


def test_update_keeps_uid_and_carries_the_higher_sequence() -> None:
    moved = replace(
        LECTURE,
        sequence=LECTURE.sequence + 1,
        starts_at=LECTURE.starts_at + timedelta(days=7),
        ends_at=LECTURE.ends_at + timedelta(days=7),
    )
    before = only_event(parse_both(build_invitation(LECTURE, ATTENDEE, dtstamp=STAMP))[0])
    after = only_event(parse_both(build_invitation(moved, ATTENDEE, dtstamp=STAMP))[0])
    assert after["UID"] == before["UID"]
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.start == datetime(2025, 6, 8, 14, 0, tzinfo=TOKYO)


def test_output_is_deterministic_for_etags() -> None:
    first = build_feed([LECTURE, EXHIBITION], "みどり市", STAMP)
    assert build_feed([LECTURE, EXHIBITION], "みどり市", STAMP) == first
    assert build_invitation(ONLINE, ATTENDEE, dtstamp=STAMP) == build_invitation(
        ONLINE, ATTENDEE, dtstamp=STAMP
    )


# --------------------------------------------------------------------------- #
# CANCEL
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("source", [LECTURE, ONLINE, EXHIBITION], ids=["venue", "online", "expo"])
def test_cancel_has_same_uid_and_status_cancelled(source: CalendarEvent) -> None:
    cancelled = replace(source, sequence=source.sequence + 1)
    data = build_invitation(cancelled, ATTENDEE, "CANCEL", dtstamp=STAMP)
    calendar, parsed = parse_both(data)
    assert str(calendar["METHOD"]) == "CANCEL"
    event = only_event(calendar)
    assert str(event["UID"]) == source.uid
    assert event["SEQUENCE"] == source.sequence + 1
    assert str(event["STATUS"]) == "CANCELLED"
    # Without RECURRENCE-ID the cancellation covers a whole exhibition series.
    assert "RECURRENCE-ID" not in event
    assert as_list(event.get("ATTENDEE")) == ["mailto:taro@example.com"]
    assert parsed.method == "CANCEL"
    (ics_event,) = parsed.events
    assert ics_event.uid == source.uid
    assert ics_event.status == "CANCELLED"


def test_cancelled_event_cannot_be_sent_as_request() -> None:
    with pytest.raises(ValueError, match="CANCEL"):
        build_invitation(replace(LECTURE, status="CANCELLED"), ATTENDEE, dtstamp=STAMP)


# --------------------------------------------------------------------------- #
# Feeds
# --------------------------------------------------------------------------- #


def test_feed_is_published_without_attendees_and_marks_cancellations() -> None:
    cancelled = replace(LECTURE, uid="event-99@tsudoi.example.jp", status="CANCELLED", sequence=2)
    data = build_feed(
        [LECTURE, ONLINE, cancelled, EXHIBITION],
        "みどり市のイベント",
        STAMP,
        refresh_interval=timedelta(hours=6),
    )
    calendar, parsed = parse_both(data)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["NAME"]) == "みどり市のイベント"
    assert str(calendar["X-WR-CALNAME"]) == "みどり市のイベント"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in unfolded_lines(data)
    assert "X-PUBLISHED-TTL:PT6H" in unfolded_lines(data)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Tokyo"]

    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == 4
    assert all("ATTENDEE" not in e for e in events.values())
    assert str(events[cancelled.uid]["STATUS"]) == "CANCELLED"
    assert str(events[LECTURE.uid]["STATUS"]) == "CONFIRMED"
    # A public feed never leaks the join link, even if the caller left it set.
    assert all("CONFERENCE" not in e for e in events.values())
    assert ONLINE.conference_url not in data.decode()

    assert parsed.method == "PUBLISH"
    assert {e.uid for e in parsed.events} == set(events)
    assert {e.uid: e.status for e in parsed.events}[cancelled.uid] == "CANCELLED"
    assert all(not e.attendees for e in parsed.events)


def test_personal_feed_may_include_join_links() -> None:
    data = build_feed([ONLINE], "参加予定", STAMP, include_conference_links=True)
    event = only_event(parse_both(data)[0])
    assert as_list(event.get("CONFERENCE")) == [ONLINE.conference_url]


def test_empty_feed_is_still_a_valid_calendar() -> None:
    calendar, parsed = parse_both(build_feed([], "空", STAMP))
    assert calendar.walk("VEVENT") == []
    assert not parsed.events


# --------------------------------------------------------------------------- #
# Injection
# --------------------------------------------------------------------------- #

PAYLOADS = [
    "\r\nATTENDEE:mailto:evil@example.com",
    "\nBEGIN:VALARM\nACTION:AUDIO\nTRIGGER:-PT5M\nEND:VALARM",
    "X-INJECT:1",
    "\r\nX-INJECT:1",
    "\rX-INJECT:1\r",
    '";X-INJECT=1:mailto:evil@example.com',
    "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:偽物\r\nEND:VEVENT\r\nBEGIN:VEVENT",
    "\r\n END:VCALENDAR\r\n",
    "a;b,c\\d:e ^ caret",
    "\x00\x07\x1b[31m\x85\x7f\u2028制御文字",
]


def _normalised(text: str) -> str:
    """What the engine promises to keep of a text: line breaks as LF, no controls."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = {*range(0x20), *range(0x7F, 0xA0)} - {ord("\t"), ord("\n")}
    return "".join(ch for ch in text if ord(ch) not in controls)


def _flattened(text: str) -> str:
    """Names and labels are parameters: line breaks become spaces."""
    return " ".join(_normalised(text).split())


def _hostile(payload: str) -> tuple[CalendarEvent, Attendee]:
    event = replace(
        ONLINE,
        title=f"講座{payload}",
        description=f"説明{payload}説明",
        location=f"会場{payload}",
        organizer=Organizer(ORGANIZER.email, f"主催{payload}"),
        conference_label=f"参加{payload}",
        categories=(f"分類{payload}", "講座"),
        # Smuggling without CR/LF is still just part of the URL value.
        url="https://tsudoi.example.jp/events/13;X-INJECT=1:x?a=1&b=%0D%0A",
    )
    return event, Attendee(ATTENDEE.email, f"太郎{payload}")


def _assert_nothing_smuggled(data: bytes, payload: str, event: CalendarEvent) -> None:
    calendar, parsed = parse_both(data)
    vevent = only_event(calendar)
    assert calendar.walk("VALARM") == []
    assert not any(name.startswith("X-INJECT") for name in all_property_names(calendar))
    allowed = {
        "BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "NAME", "X-WR-CALNAME",
        "REFRESH-INTERVAL", "X-PUBLISHED-TTL", "TZID", "COMMENT", "DTSTART", "TZNAME",
        "TZOFFSETFROM", "TZOFFSETTO", "UID", "SEQUENCE", "DTSTAMP", "DTEND", "SUMMARY",
        "DESCRIPTION", "LOCATION", "URL", "CONFERENCE", "ORGANIZER", "ATTENDEE", "STATUS",
        "TRANSP", "CATEGORIES", "LAST-MODIFIED",
    }  # fmt: skip
    for line in unfolded_lines(data):
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        assert name in allowed, f"unexpected content line {line!r}"
    assert sum(line.startswith("BEGIN:VEVENT") for line in unfolded_lines(data)) == 1

    assert as_list(vevent.get("ATTENDEE")) in ([], ["mailto:taro@example.com"])
    assert vevent["ORGANIZER"] == "mailto:events@city.example.lg.jp"
    assert str(vevent["UID"]) == event.uid

    # Round trip: the text comes back exactly (line breaks normalised to LF).
    assert str(vevent["SUMMARY"]) == _normalised(event.title)
    assert str(vevent["DESCRIPTION"]) == _normalised(event.description)
    assert str(vevent["LOCATION"]) == _normalised(event.location or "")
    assert str(vevent["URL"]) == event.url
    assert vevent["ORGANIZER"].params["CN"] == _flattened(event.organizer.name)
    assert vevent.categories == [_flattened(c) for c in event.categories]

    (ics_event,) = parsed.events
    assert not ics_event.alarms
    assert not any(line.name.startswith("X-INJECT") for line in ics_event.extra)
    assert ics_event.uid == event.uid
    assert ics_event.name == _normalised(event.title)
    assert ics_event.description == _normalised(event.description)
    assert ics_event.location == _normalised(event.location or "")
    assert len(ics_event.attendees) == len(as_list(vevent.get("ATTENDEE")))
    assert {a.email for a in ics_event.attendees} <= {"taro@example.com"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_every_text_field_of_a_request(payload: str) -> None:
    event, attendee = _hostile(payload)
    data = build_invitation(event, attendee, dtstamp=STAMP)
    _assert_nothing_smuggled(data, payload, event)
    vevent = only_event(Calendar.from_ical(data))
    assert vevent["ATTENDEE"] == "mailto:taro@example.com"
    assert vevent["ATTENDEE"].params["CN"] == _flattened(attendee.name)
    (conference,) = vevent.conferences
    assert conference.label == _flattened(event.conference_label)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_a_cancel(payload: str) -> None:
    event, attendee = _hostile(payload)
    data = build_invitation(event, attendee, "CANCEL", dtstamp=STAMP)
    _assert_nothing_smuggled(data, payload, event)
    assert str(only_event(Calendar.from_ical(data))["STATUS"]) == "CANCELLED"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_a_feed(payload: str) -> None:
    event, _ = _hostile(payload)
    data = build_feed([event], f"フィード{payload}", STAMP, include_conference_links=True)
    _assert_nothing_smuggled(data, payload, event)
    calendar = Calendar.from_ical(data)
    assert str(calendar["NAME"]) == _flattened(f"フィード{payload}")


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "https://tsudoi.example.jp/\r\nX-INJECT:1"},
        {"url": "javascript:alert(1)"},
        {"conference_url": "https://meet.example.com/\nBEGIN:VALARM"},
        {"conference_url": "https://meet.example.com/a b"},
        {"organizer": Organizer("events@example.jp\r\nX-INJECT:1", "x")},
        {"organizer": Organizer("events@example.jp;X-INJECT=1:", "x")},
        {"uid": "uid\r\nATTENDEE:mailto:evil@example.com"},
    ],
    ids=["url-crlf", "url-scheme", "conf-lf", "conf-space", "org-crlf", "org-colon", "uid"],
)
def test_addresses_and_urls_are_validated_not_repaired(bad: dict[str, object]) -> None:
    event = replace(ONLINE, **bad)
    with pytest.raises(ValueError):
        build_invitation(event, ATTENDEE, dtstamp=STAMP)
    with pytest.raises(ValueError):
        build_feed([event], "x", STAMP)


@pytest.mark.parametrize(
    "email", ["taro@example.com\r\nATTENDEE:mailto:evil@example.com", "taro", "a b@example.com"]
)
def test_attendee_address_is_validated(email: str) -> None:
    with pytest.raises(ValueError):
        build_invitation(LECTURE, Attendee(email, "太郎"), dtstamp=STAMP)


# --------------------------------------------------------------------------- #
# Folding
# --------------------------------------------------------------------------- #

LONG_TITLE = "「多文化共生のまちづくりに向けた連携のあり方を考える」" * 6


@pytest.mark.parametrize("padding", ["", "a", "ab", "abc"])
def test_long_japanese_text_folds_at_75_octets_on_character_boundaries(padding: str) -> None:
    # The ASCII padding shifts where the 3-byte characters meet the 75-octet limit.
    event = replace(
        ONLINE,
        title=padding + LONG_TITLE,
        description=padding + LONG_TITLE + "\n" + LONG_TITLE,
        location=padding + "みどり市民会館" * 20,
        conference_label=padding + "オンライン参加" * 12,
    )
    attendee = Attendee(ATTENDEE.email, padding + "寿限無寿限無五劫の擦り切れ" * 6)
    for data in (
        build_invitation(event, attendee, dtstamp=STAMP),
        build_feed([event], padding + LONG_TITLE, STAMP, include_conference_links=True),
    ):
        lines = physical_lines(data)
        assert sum(line.startswith(b" ") for line in lines) > 10, "long values must fold"
        for line in lines:
            assert len(line) <= 75
            line.decode("utf-8")
        calendar, parsed = parse_both(data)
        vevent = only_event(calendar)
        assert str(vevent["SUMMARY"]) == padding + LONG_TITLE
        assert str(vevent["DESCRIPTION"]) == event.description
        (ics_event,) = parsed.events
        assert ics_event.name == padding + LONG_TITLE
    invitation = only_event(Calendar.from_ical(build_invitation(event, attendee, dtstamp=STAMP)))
    assert invitation["ATTENDEE"].params["CN"] == attendee.name


# --------------------------------------------------------------------------- #
# Exhibitions
# --------------------------------------------------------------------------- #


def _occurrences(vevent: Event) -> list[datetime]:
    """Expand RRULE minus EXDATE with dateutil, independently of the engine."""
    rule = vevent["RRULE"].to_ical().decode()
    exdates = [d.dt for prop in as_list(vevent.get("EXDATE")) for d in prop.dts]
    rules = rrulestr(f"RRULE:{rule}", dtstart=vevent.start, forceset=True)
    for exdate in exdates:
        rules.exdate(exdate)
    return list(rules)


def test_exhibition_is_one_daily_series_without_the_closed_days() -> None:
    data = build_invitation(EXHIBITION, ATTENDEE, dtstamp=STAMP)
    calendar, parsed = parse_both(data)
    vevent = only_event(calendar)

    assert vevent.start == datetime(2025, 6, 1, 10, 0, tzinfo=TOKYO)
    assert vevent.end == datetime(2025, 6, 1, 17, 0, tzinfo=TOKYO)
    rrule = vevent["RRULE"]
    assert rrule["FREQ"] == ["DAILY"]
    # UNTIL is UTC because DTSTART has a TZID (RFC 5545 3.3.10).
    assert rrule["UNTIL"] == [datetime(2025, 6, 10, 1, 0, tzinfo=UTC)]
    assert "RRULE:FREQ=DAILY;UNTIL=20250610T010000Z" in unfolded_lines(data)
    exdate_lines = [line for line in unfolded_lines(data) if line.startswith("EXDATE")]
    # Same TZID and wall-clock time as DTSTART, or Outlook and Google ignore them.
    assert exdate_lines == [
        "EXDATE;TZID=Asia/Tokyo:20250602T100000",
        "EXDATE;TZID=Asia/Tokyo:20250609T100000",
    ]
    assert str(vevent["TRANSP"]) == "TRANSPARENT"

    expected = [datetime(2025, 6, day, 10, 0, tzinfo=TOKYO) for day in (1, 3, 4, 5, 6, 7, 8, 10)]
    assert _occurrences(vevent) == expected
    (ics_event,) = parsed.events
    assert ics_event.uid == EXHIBITION.uid


def test_exhibition_closed_on_first_and_last_day_starts_and_ends_on_open_days() -> None:
    hours = DailyHours(
        time(9, 30),
        time(16, 30),
        frozenset({date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 5), date(2025, 6, 10)}),
    )
    exhibition = replace(EXHIBITION, daily_hours=hours)
    vevent = only_event(parse_both(build_feed([exhibition], "展示", STAMP))[0])
    # Clients disagree on whether EXDATE may remove the DTSTART instance, so never rely on it.
    assert vevent.start == datetime(2025, 6, 3, 9, 30, tzinfo=TOKYO)
    assert vevent.end == datetime(2025, 6, 3, 16, 30, tzinfo=TOKYO)
    assert _occurrences(vevent) == [
        datetime(2025, 6, day, 9, 30, tzinfo=TOKYO) for day in (3, 4, 6, 7, 8, 9)
    ]


def test_exhibition_with_one_open_day_is_a_plain_event() -> None:
    hours = DailyHours(time(10), time(17), frozenset({date(2025, 6, 1)}))
    exhibition = replace(
        EXHIBITION, ends_at=datetime(2025, 6, 2, 17, tzinfo=TOKYO), daily_hours=hours
    )
    vevent = only_event(parse_both(build_invitation(exhibition, ATTENDEE, dtstamp=STAMP))[0])
    assert "RRULE" not in vevent and "EXDATE" not in vevent
    assert vevent.start == datetime(2025, 6, 2, 10, tzinfo=TOKYO)


def test_exhibition_without_open_days_or_with_inverted_hours_is_refused() -> None:
    period = frozenset(date(2025, 6, d) for d in range(1, 11))
    with pytest.raises(ValueError, match="no open day"):
        build_feed(
            [replace(EXHIBITION, daily_hours=DailyHours(time(10), time(17), period))], "x", STAMP
        )
    with pytest.raises(ValueError, match="closing"):
        build_feed([replace(EXHIBITION, daily_hours=DailyHours(time(17), time(10)))], "x", STAMP)


# --------------------------------------------------------------------------- #
# Time zones
# --------------------------------------------------------------------------- #


def test_every_tzid_used_has_its_vtimezone() -> None:
    new_york = ZoneInfo("America/New_York")
    abroad = replace(
        LECTURE,
        uid="abroad@tsudoi.example.jp",
        timezone="America/New_York",
        starts_at=datetime(2025, 7, 4, 9, tzinfo=new_york),
        ends_at=datetime(2025, 7, 4, 11, tzinfo=new_york),
    )
    # Given in UTC, shown in the event's zone.
    utc_given = replace(
        LECTURE,
        uid="utc@tsudoi.example.jp",
        starts_at=LECTURE.starts_at.astimezone(UTC),
        ends_at=LECTURE.ends_at.astimezone(UTC),
    )
    data = build_feed([abroad, utc_given, EXHIBITION], "混在", STAMP)
    calendar, parsed = parse_both(data)
    assert sorted(tz["TZID"] for tz in calendar.walk("VTIMEZONE")) == [
        "America/New_York",
        "Asia/Tokyo",
    ]
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert events["utc@tsudoi.example.jp"]["DTSTART"].params["TZID"] == "Asia/Tokyo"
    assert events["utc@tsudoi.example.jp"].start == LECTURE.starts_at
    assert events["abroad@tsudoi.example.jp"]["DTSTART"].params["TZID"] == "America/New_York"
    begins = {e.uid: e.begin for e in parsed.events}
    assert begins["abroad@tsudoi.example.jp"] == datetime(2025, 7, 4, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        {"starts_at": datetime(2025, 6, 1, 14)},
        {"ends_at": LECTURE.starts_at},
        {"timezone": "Asia/Nowhere"},
        {"sequence": -1},
    ],
    ids=["naive", "empty", "unknown-zone", "negative-sequence"],
)
def test_invalid_events_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_invitation(replace(LECTURE, **bad), ATTENDEE, dtstamp=STAMP)


def test_naive_dtstamp_is_refused() -> None:
    with pytest.raises(ValueError):
        build_invitation(LECTURE, ATTENDEE, dtstamp=datetime(2025, 5, 1))


# --------------------------------------------------------------------------- #
# Web links
# --------------------------------------------------------------------------- #

TRICKY = replace(
    LECTURE,
    title="講座 A&B=C #1 + 100% ?",
    description="説明\n2行目 & more",
    location="会場 / 3F #2",
)


def _query(url: str) -> dict[str, str]:
    query = urlsplit(url).query
    # Fully encoded: nothing that could end a parameter or be read as a space.
    assert re.fullmatch(r"[A-Za-z0-9%&=._~/-]*", query), query
    return {key: values[0] for key, values in parse_qs(query, strict_parsing=True).items()}


def test_google_link_encodes_japanese_and_special_characters() -> None:
    url = google_calendar_url(TRICKY)
    assert url.startswith("https://calendar.google.com/calendar/render?")
    params = _query(url)
    assert params["action"] == "TEMPLATE"
    assert params["text"] == TRICKY.title
    assert params["dates"] == "20250601T050000Z/20250601T070000Z"
    assert params["details"] == f"{TRICKY.description}\n\n{TRICKY.url}"
    assert params["location"] == TRICKY.location
    assert params["ctz"] == "Asia/Tokyo"


def test_outlook_link_encodes_japanese_and_special_characters() -> None:
    url = outlook_calendar_url(TRICKY)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "outlook.live.com")
    assert parts.path == "/calendar/0/deeplink/compose"
    params = _query(url)
    assert params["path"] == "/calendar/action/compose"
    assert params["rru"] == "addevent"
    assert params["subject"] == TRICKY.title
    assert params["startdt"] == "2025-06-01T05:00:00Z"
    assert params["enddt"] == "2025-06-01T07:00:00Z"
    assert params["body"] == f"{TRICKY.description}\n\n{TRICKY.url}"
    assert params["location"] == TRICKY.location
    assert "allday" not in params
    assert urlsplit(outlook_calendar_url(TRICKY, work_account=True)).netloc == "outlook.office.com"


def test_links_leave_out_the_join_link_unless_asked() -> None:
    for build in (google_calendar_url, outlook_calendar_url):
        assert "meet.example.com" not in build(ONLINE)
        assert ONLINE.conference_url in str(_query(build(ONLINE, include_conference_link=True)))


def test_links_for_an_exhibition_cover_the_period_as_all_day() -> None:
    google = _query(google_calendar_url(EXHIBITION))
    assert google["dates"] == "20250601/20250611"  # end-exclusive
    outlook = _query(outlook_calendar_url(EXHIBITION))
    assert (outlook["startdt"], outlook["enddt"], outlook["allday"]) == (
        "2025-06-01",
        "2025-06-11",
        "true",
    )


def test_link_text_cannot_inject_parameters() -> None:
    hostile = replace(LECTURE, title="x&dates=19700101T000000Z/19700101T010000Z\r\n&ctz=UTC")
    params = _query(google_calendar_url(hostile))
    assert params["dates"] == "20250601T050000Z/20250601T070000Z"
    assert params["ctz"] == "Asia/Tokyo"
    assert params["text"] == "x&dates=19700101T000000Z/19700101T010000Z &ctz=UTC"


# --------------------------------------------------------------------------- #
# Purity
# --------------------------------------------------------------------------- #


def test_engine_imports_neither_flask_nor_the_database() -> None:
    source = Path(engine.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "sqlalchemy", "flask_sqlalchemy", "app"}


def test_exhibition_period_may_end_at_midnight() -> None:
    until_midnight = replace(EXHIBITION, ends_at=datetime(2025, 6, 11, 0, 0, tzinfo=TOKYO))
    vevent = only_event(parse_both(build_feed([until_midnight], "展示", STAMP))[0])
    assert _occurrences(vevent)[-1] == datetime(2025, 6, 10, 10, 0, tzinfo=TOKYO)


def test_attendee_without_a_name_gets_no_empty_cn() -> None:
    data = build_invitation(LECTURE, Attendee("hanako@example.com", " \r\n"), dtstamp=STAMP)
    attendee = only_event(parse_both(data)[0])["ATTENDEE"]
    assert attendee == "mailto:hanako@example.com"
    assert "CN" not in attendee.params
