"""iCalendar engine: invitations, cancellations, feeds and "add to calendar" links.

Pure functions over frozen dataclasses; no Flask, no database. The web and mail
layers turn their models into :class:`CalendarEvent` / :class:`Attendee` and
call :func:`build_invitation`, :func:`build_feed`, :func:`google_calendar_url`
and :func:`outlook_calendar_url`.

Safety and interoperability
---------------------------
* Every piece of text reaches the output through ``icalendar`` property and
  parameter types, never through string formatting: TEXT values escape
  ``\\n ; , \\\\``, parameter values are quoted (RFC 6868 for ``"`` and line
  breaks), and URI / CAL-ADDRESS values with CR or LF are refused by the
  library. So a title such as ``"x\\r\\nATTENDEE:mailto:evil@…"`` stays one
  SUMMARY value and cannot open a new line, property or component.
* Before that, text is normalised: CRLF/CR become LF (the library would drop
  the CR anyway, so callers see the same text they would read back) and other
  control characters are removed, because RFC 5545 TEXT cannot carry them and
  strict parsers (Outlook) reject the whole file. Names and labels, which
  become parameters, have line breaks flattened to spaces: Outlook does not
  implement RFC 6868 and would show a literal ``^n``.
* URLs and e-mail addresses are not free text: they are validated and a bad
  one raises :class:`ValueError` instead of being "repaired".
* The library folds lines at 75 octets on UTF-8 character boundaries and ends
  every line with CRLF; every TZID used gets its VTIMEZONE (added from the
  tz database and checked). Output is deterministic (sorted properties, no
  generated UIDs or timestamps) so the web layer can derive ETags from it.
* ``DTSTAMP`` and ``LAST-MODIFIED`` are written in UTC as RFC 5545 requires;
  ``DTSTART``/``DTEND`` keep the event's zone (``TZID=Asia/Tokyo``) so that
  clients show Japanese local time and future tz-rule changes cannot shift them.

Multi-day exhibitions: one VEVENT with RRULE + EXDATE
-----------------------------------------------------
An exhibition with daily opening hours is emitted as a single VEVENT whose
DTSTART/DTEND are the first open day's hours, with
``RRULE:FREQ=DAILY;UNTIL=<last opening, UTC>`` and one ``EXDATE`` (same TZID
and time of day as DTSTART) per closed day inside the period. The other option,
one VEVENT per open day with UIDs derived from the base UID and the date, was
rejected because:

* iTIP (RFC 5546) and iMIP scheduling work on one UID per message. Outlook
  acts on the first VEVENT of an invitation only and Google ignores the rest,
  so per-day UIDs would need one e-mail (and one Accept/Decline) per day.
* ``METHOD:CANCEL`` with the series UID and no RECURRENCE-ID removes every
  occurrence in Outlook, Google and Apple Calendar. With per-day UIDs a
  cancellation is N messages, and a day that was later declared closed (or a
  shortened period) would leave orphans in calendars that we can no longer
  address reliably.
* A change of hours is one updated REQUEST with a higher SEQUENCE instead of N.

RRULE/EXDATE has its own pitfalls, which this module avoids: Outlook and
Google ignore an EXDATE whose time or TZID does not match DTSTART exactly, so
EXDATEs are built from DTSTART's wall-clock time in the same zone; DTSTART is
moved to the first *open* day because clients disagree on whether an EXDATE
may remove the DTSTART instance; UNTIL is in UTC as RFC 5545 requires when
DTSTART has a TZID (Google rejects a floating UNTIL). Exhibitions are marked
``TRANSP:TRANSPARENT``: a visitor drops in once, and a fortnight of 10:00–17:00
"busy" blocks would wreck their free/busy.

The web "add to calendar" links cannot carry EXDATE (Outlook's deeplink has no
recurrence at all), so for exhibitions they add the whole period as an all-day
event; the opening hours are in the .ics and on the event page.

Replies
-------
``ORGANIZER`` is whatever mailbox the caller configures; clients send iTIP
REPLYs (Accept/Decline) there. Attendees default to ``PARTSTAT=ACCEPTED`` and
``RSVP=FALSE`` because registering already is the answer: clients then file
the event without asking, and the mail layer may point ORGANIZER at a
no-reply address without losing anything that matters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Conference, Event, Timezone, vCalAddress, vDuration

__all__ = [
    "Attendee",
    "CalendarEvent",
    "DailyHours",
    "Organizer",
    "build_feed",
    "build_invitation",
    "google_calendar_url",
    "outlook_calendar_url",
]

PRODID = "-//Tsudoi//Tsudoi event registration//JA"

EventStatus = Literal["CONFIRMED", "CANCELLED"]
PartStat = Literal["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE"]
InvitationMethod = Literal["REQUEST", "CANCEL"]

DEFAULT_CONFERENCE_LABEL = "オンライン参加 / Join online"


@dataclass(frozen=True, slots=True)
class Organizer:
    """The mailbox that sends invitations and receives replies."""

    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Attendee:
    """One participant; one invitation is built per attendee."""

    email: str
    name: str
    partstat: PartStat = "ACCEPTED"
    rsvp: bool = False


@dataclass(frozen=True, slots=True)
class DailyHours:
    """Opening hours of a multi-day exhibition, in the event's time zone.

    ``closed_dates`` are the local dates inside the period when the venue is
    closed (regular closing days already expanded by the caller, because
    Japanese venues move them around public holidays).
    """

    opens: time
    closes: time
    closed_dates: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """What a calendar needs to know about one event.

    ``starts_at``/``ends_at`` are aware datetimes; for an exhibition they span
    the whole period (first day's opening to last day's closing) and
    ``daily_hours`` says when it is actually open. ``conference_url`` is the
    online join link, to be set only for people allowed to see it.
    """

    uid: str
    sequence: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    organizer: Organizer
    timezone: str = "Asia/Tokyo"
    location: str | None = None
    url: str | None = None
    conference_url: str | None = None
    conference_label: str = DEFAULT_CONFERENCE_LABEL
    status: EventStatus = "CONFIRMED"
    categories: tuple[str, ...] = ()
    last_modified: datetime | None = None
    daily_hours: DailyHours | None = None


# --------------------------------------------------------------------------- #
# Input hygiene
# --------------------------------------------------------------------------- #

_NEWLINES = re.compile(r"\r\n?")
_BLANKS = re.compile(r"\s+")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")


def _clean_text(value: str) -> str:
    value = _NEWLINES.sub("\n", value)
    # TAB and LF are the only controls RFC 5545 TEXT can represent.
    return "".join(
        ch for ch in value if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def _clean_param(value: str) -> str:
    return _BLANKS.sub(" ", _clean_text(value)).strip()


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" or ch.isspace() for ch in value)


def _check_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if _has_control(value) or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL without spaces: {value!r}")
    return value


def _check_email(value: str, what: str) -> str:
    if _has_control(value) or not _EMAIL.fullmatch(value) or ":" in value:
        raise ValueError(f"{what} is not a plain e-mail address: {value!r}")
    return value


def _check_event(event: CalendarEvent) -> None:
    if not event.uid or _has_control(event.uid):
        raise ValueError(f"UID must be non-empty without spaces or controls: {event.uid!r}")
    if event.sequence < 0:
        raise ValueError("SEQUENCE cannot be negative")
    for name in ("starts_at", "ends_at"):
        moment: datetime = getattr(event, name)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if event.ends_at <= event.starts_at:
        raise ValueError("ends_at must be after starts_at")
    if event.url is not None:
        _check_url(event.url, "url")
    if event.conference_url is not None:
        _check_url(event.conference_url, "conference_url")
    _check_email(event.organizer.email, "organizer e-mail")
    hours = event.daily_hours
    if hours is not None and hours.closes <= hours.opens:
        raise ValueError("daily_hours: closing time must be after opening time")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------- #
# Exhibition schedule
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class _Schedule:
    start: datetime
    end: datetime
    until: datetime | None  # last opening in UTC; None for a single occurrence
    exdates: tuple[datetime, ...]


def _schedule(event: CalendarEvent) -> _Schedule:
    zone = _zone(event.timezone)
    start = event.starts_at.astimezone(zone)
    end = event.ends_at.astimezone(zone)
    hours = event.daily_hours
    if hours is None:
        return _Schedule(start, end, None, ())

    # A period that ends at midnight has its last day before that midnight.
    first_day, last_day = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    open_days = [d for d in days if d not in hours.closed_dates]
    if not open_days:
        raise ValueError("the exhibition has no open day")

    def at(day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=zone)

    first, last = open_days[0], open_days[-1]
    if first == last:
        return _Schedule(at(first, hours.opens), at(first, hours.closes), None, ())
    closed = sorted(d for d in hours.closed_dates if first < d < last)
    return _Schedule(
        start=at(first, hours.opens),
        end=at(first, hours.closes),
        until=_utc(at(last, hours.opens)),
        exdates=tuple(at(d, hours.opens) for d in closed),
    )


# --------------------------------------------------------------------------- #
# iCalendar
# --------------------------------------------------------------------------- #


@lru_cache(maxsize=16)
def _vtimezone_ical(tzid: str) -> bytes:
    # Computing the transitions takes ~20 ms; invitations go out by the hundred.
    return Timezone.from_tzid(tzid).to_ical()


def _calendar(method: str) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", method)
    return calendar


def _finish(calendar: Calendar) -> bytes:
    missing = sorted(calendar.get_missing_tzids())
    for tzid in missing:
        _vtimezone_ical(tzid)  # raises for a zone without transitions before anything is built
    body = calendar.to_ical()
    if not missing:
        return body
    # Every VTIMEZONE must precede the components using it. They are spliced in as bytes,
    # serialised once per zone: parsing them back into the calendar on every invitation
    # cost more than building the invitation itself.
    first_component = body.index(b"\r\nBEGIN:", body.index(b"BEGIN:VCALENDAR") + 1) + 2
    zones = b"".join(_vtimezone_ical(tzid) for tzid in missing)
    return body[:first_component] + zones + body[first_component:]


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    common_name = _clean_param(name)
    if common_name:
        address.params["CN"] = common_name
    for key, value in params.items():
        address.params[key] = value
    return address


def _vevent(
    event: CalendarEvent,
    *,
    dtstamp: datetime,
    status: EventStatus,
    include_conference: bool,
) -> Event:
    _check_event(event)
    schedule = _schedule(event)
    vevent = Event()
    vevent.add("UID", event.uid)
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("DTSTAMP", _utc(dtstamp))
    vevent.add("DTSTART", schedule.start)
    vevent.add("DTEND", schedule.end)
    if schedule.until is not None:
        vevent.add("RRULE", {"FREQ": "DAILY", "UNTIL": schedule.until})
        for exdate in schedule.exdates:
            vevent.add("EXDATE", exdate)
    vevent.add("SUMMARY", _clean_text(event.title))
    if event.description:
        vevent.add("DESCRIPTION", _clean_text(event.description))
    location = _clean_text(event.location) if event.location else None
    if location is None and include_conference and event.conference_url:
        # Outlook and Google ignore CONFERENCE; they do make a URL in LOCATION
        # clickable, which is where Zoom/Teams invitations put it too.
        location = event.conference_url
    if location:
        vevent.add("LOCATION", location)
    if event.url:
        vevent.add("URL", event.url)
    if include_conference and event.conference_url:
        vevent.conferences = [
            Conference(
                event.conference_url,
                feature="VIDEO",
                label=_clean_param(event.conference_label),
            )
        ]
    vevent.add("ORGANIZER", _address(event.organizer.email, event.organizer.name))
    vevent.add("STATUS", status)
    vevent.add("TRANSP", "TRANSPARENT" if event.daily_hours else "OPAQUE")
    categories = [c for c in (_clean_param(c) for c in event.categories) if c]
    if categories:
        vevent.add("CATEGORIES", categories)
    if event.last_modified is not None:
        vevent.add("LAST-MODIFIED", _utc(event.last_modified))
    return vevent


def build_invitation(
    event: CalendarEvent,
    attendee: Attendee,
    method: InvitationMethod = "REQUEST",
    *,
    dtstamp: datetime,
) -> bytes:
    """An iTIP invitation (``REQUEST``) or cancellation (``CANCEL``) for one attendee.

    The caller raises ``event.sequence`` for every change of time or place and
    for the cancellation; the UID must stay the same so that clients update or
    remove the event they already have. The conference link is included when
    ``event.conference_url`` is set: the caller sets it for confirmed
    participants only.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported method {method!r}")
    _check_email(attendee.email, "attendee e-mail")
    status: EventStatus = "CANCELLED" if method == "CANCEL" else event.status
    if method == "REQUEST" and status == "CANCELLED":
        raise ValueError("a cancelled event is announced with method CANCEL")
    vevent = _vevent(event, dtstamp=dtstamp, status=status, include_conference=True)
    vevent.add(
        "ATTENDEE",
        _address(
            attendee.email,
            attendee.name,
            CUTYPE="INDIVIDUAL",
            ROLE="REQ-PARTICIPANT",
            PARTSTAT=attendee.partstat,
            RSVP="TRUE" if attendee.rsvp else "FALSE",
        ),
    )
    calendar = _calendar(method)
    calendar.add_component(vevent)
    return _finish(calendar)


def build_feed(
    events: Iterable[CalendarEvent],
    name: str,
    dtstamp: datetime,
    *,
    description: str | None = None,
    refresh_interval: timedelta = timedelta(hours=1),
    include_conference_links: bool = False,
) -> bytes:
    """A subscribable feed (``METHOD:PUBLISH``) without attendees.

    Cancelled events stay in the feed with ``STATUS:CANCELLED`` so subscribed
    clients drop or strike them instead of keeping a stale copy. Join links
    are left out unless ``include_conference_links`` is set, so a public feed
    cannot leak them even if the caller forgot to blank ``conference_url``;
    a participant's personal feed passes ``True``.
    """
    if refresh_interval <= timedelta(0):
        raise ValueError("refresh_interval must be positive")
    calendar = _calendar("PUBLISH")
    calendar_name = _clean_param(name)
    calendar.add("NAME", calendar_name)
    calendar.add("X-WR-CALNAME", calendar_name)
    if description:
        calendar.add("DESCRIPTION", _clean_text(description))
        calendar.add("X-WR-CALDESC", _clean_text(description))
    calendar.add("REFRESH-INTERVAL", refresh_interval, parameters={"VALUE": "DURATION"})
    # RFC 7986's REFRESH-INTERVAL is not read by Outlook or Apple; they use this.
    calendar.add("X-PUBLISHED-TTL", vDuration(refresh_interval))
    for event in events:
        calendar.add_component(
            _vevent(
                event,
                dtstamp=dtstamp,
                status=event.status,
                include_conference=include_conference_links,
            )
        )
    return _finish(calendar)


# --------------------------------------------------------------------------- #
# Web "add to calendar" links
# --------------------------------------------------------------------------- #


def _link_details(event: CalendarEvent, include_conference_link: bool) -> str:
    parts: list[str] = []
    if event.description:
        parts.append(_clean_text(event.description))
    if event.url:
        parts.append(event.url)
    if include_conference_link and event.conference_url:
        parts.append(f"{_clean_param(event.conference_label)}: {event.conference_url}")
    return "\n\n".join(parts)


def _link_location(event: CalendarEvent, include_conference_link: bool) -> str:
    if event.location:
        return _clean_param(event.location)
    if include_conference_link and event.conference_url:
        return event.conference_url
    return ""


def _all_day_span(event: CalendarEvent) -> tuple[date, date]:
    """First and last open day of an exhibition (inclusive)."""
    schedule = _schedule(event)
    zone = _zone(event.timezone)
    last = schedule.until.astimezone(zone) if schedule.until else schedule.start
    return schedule.start.date(), last.date()


def _query(params: Sequence[tuple[str, str]]) -> str:
    # quote, not quote_plus: Outlook's deeplink shows a "+" for a space literally.
    # "/" stays readable because both services document it unencoded (dates, path).
    return urlencode([(k, v) for k, v in params if v], safe="/", quote_via=quote)


def google_calendar_url(event: CalendarEvent, *, include_conference_link: bool = False) -> str:
    """A Google Calendar "create event" link prefilled with the event."""
    _check_event(event)
    if event.daily_hours is not None:
        first, last = _all_day_span(event)
        # Google's all-day range is end-exclusive.
        dates = f"{first:%Y%m%d}/{last + timedelta(days=1):%Y%m%d}"
    else:
        dates = "/".join(f"{_utc(m):%Y%m%dT%H%M%SZ}" for m in (event.starts_at, event.ends_at))
    params = [
        ("action", "TEMPLATE"),
        ("text", _clean_param(event.title)),
        ("dates", dates),
        ("details", _link_details(event, include_conference_link)),
        ("location", _link_location(event, include_conference_link)),
        ("ctz", event.timezone),
    ]
    return "https://calendar.google.com/calendar/render?" + _query(params)


def outlook_calendar_url(
    event: CalendarEvent,
    *,
    include_conference_link: bool = False,
    work_account: bool = False,
) -> str:
    """An Outlook on the web "new event" link prefilled with the event.

    ``work_account`` targets Microsoft 365 (outlook.office.com) instead of
    Outlook.com; the two do not redirect to each other.
    """
    _check_event(event)
    if event.daily_hours is not None:
        first, last = _all_day_span(event)
        times = [
            ("startdt", first.isoformat()),
            ("enddt", (last + timedelta(days=1)).isoformat()),
            ("allday", "true"),
        ]
    else:
        # UTC with "Z": the deeplink reads a time without it in the viewer's own
        # zone, and numeric offsets are not documented to work.
        times = [
            (key, f"{_utc(moment):%Y-%m-%dT%H:%M:%SZ}")
            for key, moment in (("startdt", event.starts_at), ("enddt", event.ends_at))
        ]
    params = [
        ("path", "/calendar/action/compose"),
        ("rru", "addevent"),
        *times,
        ("subject", _clean_param(event.title)),
        ("body", _link_details(event, include_conference_link)),
        ("location", _link_location(event, include_conference_link)),
    ]
    host = "outlook.office.com" if work_account else "outlook.live.com"
    return f"https://{host}/calendar/0/deeplink/compose?" + _query(params)
