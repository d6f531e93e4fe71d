"""Loads the newsletter's four events (`app.demo_data`) as published events.

Dates are placed relative to the load date so that sign-up is open in a fresh demo.
Loading is idempotent by slug: an event that exists is left exactly as it is, even if its
dates have passed or someone edited it, because it may already carry registrations.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import geo
from app.database import SessionLike, write_transaction
from app.demo_data import DEMO_EVENTS, EventSpec, Person, Schedule
from app.models import (
    BreakoutGroup,
    Event,
    EventPerson,
    Exhibitor,
    ProgrammeSession,
    Question,
    SeatPool,
)
from app.models.enums import EventStatus, PersonRole, SessionKind

TOKYO = ZoneInfo("Asia/Tokyo")
# Sign-up "opened" at this local time, a few days before the load date.
REGISTRATION_OPENED_AT = time(10, 0)
LOTTERY_DRAW_AT = time(10, 0)


def load_demo(session: SessionLike, today: date) -> list[str]:
    """Create each demo event that does not exist yet; one line per event saying what happened.

    `today` is the date in Tokyo. Each event is written in its own transaction, so an
    interrupted load leaves whole events only and a second run completes it.
    """
    return [_load_one(session, spec, today) for spec in DEMO_EVENTS]


def _load_one(session: SessionLike, spec: EventSpec, today: date) -> str:
    present = f"{spec.slug}: already present, left untouched"
    try:
        with write_transaction(session):
            if _exists(session, spec.slug):
                return present
            session.add(build_event(spec, today))
    except IntegrityError:
        # Two loaders at once (PostgreSQL lets both pass the check): the unique slug
        # stops the second, which then finds the first one's event.
        if not _exists(session, spec.slug):
            raise
        session.rollback()
        return present
    return f"{spec.slug}: created ({spec.title})"


def _exists(session: SessionLike, slug: str) -> bool:
    return session.scalar(select(Event.id).where(Event.slug == slug)) is not None


def build_event(spec: EventSpec, today: date) -> Event:
    """The event with its seats, programme, people, groups, questions and exhibitors."""
    first_day, last_day, closed_days = event_days(spec.schedule, today)
    schedule = spec.schedule
    starts_at = _at(first_day, schedule.opens)
    ends_at = _at(last_day, schedule.closes)
    event = Event(
        slug=spec.slug,
        kind=spec.kind,
        status=EventStatus.PUBLISHED,
        format=spec.format,
        title=spec.title,
        summary=spec.summary,
        body=spec.body,
        organizer_name=spec.organizer_name,
        contact=spec.contact,
        venue_name=spec.venue_name,
        venue_address=spec.venue_address,
        online_url=spec.online_url,
        website_url=spec.website_url,
        timezone=str(TOKYO),
        starts_at=starts_at,
        ends_at=ends_at,
        daily_opens_at=schedule.opens if schedule.daily_hours else None,
        daily_closes_at=schedule.closes if schedule.daily_hours else None,
        closed_dates=[day.isoformat() for day in closed_days],
        themes=list(spec.themes),
        registration_required=spec.registration_required,
        registration_opens_at=_at(
            today - timedelta(days=schedule.registration_opened_days_ago),
            REGISTRATION_OPENED_AT,
        ),
        registration_closes_at=(
            starts_at
            if schedule.registration_closes_days_before is None
            else _at(
                first_day - timedelta(days=schedule.registration_closes_days_before),
                schedule.registration_closes_at,
            )
        ),
        registration_mode=spec.registration_mode,
        waitlist_enabled=spec.waitlist_enabled,
        lottery_draw_at=(
            None
            if schedule.lottery_draw_in_days is None
            else _at(today + timedelta(days=schedule.lottery_draw_in_days), LOTTERY_DRAW_AT)
        ),
        lottery_tiers=[dict(tier) for tier in spec.lottery_tiers],
        max_preference_ranks=spec.max_preference_ranks,
    )
    # Every demo event has one attendance mode, so one capacity serves its only pool.
    event.seat_pools = [
        SeatPool(mode=mode, capacity=spec.capacity, taken=0) for mode in event.attendance_modes
    ]
    event.exhibitors = [
        Exhibitor(
            position=position,
            name=name,
            municipality_code=_municipality_code(spec.exhibitors_prefecture_code, name),
        )
        for position, name in enumerate(spec.exhibitors)
    ]
    event.questions = [
        Question(
            key=question.key,
            position=position,
            kind=question.kind,
            label=question.label,
            label_en=question.label_en,
            help_text=question.help_text,
            options=list(question.options),
            options_en=list(question.options_en),
            required=question.required,
            max_length=question.max_length,
        )
        for position, question in enumerate(spec.questions)
    ]
    _add_programme(event, spec)
    _check(event)
    return event


def _add_programme(event: Event, spec: EventSpec) -> None:
    people: list[EventPerson] = []

    def person(who: Person, role: PersonRole, session: ProgrammeSession | None) -> None:
        people.append(EventPerson(
            event=event, session=session, role=role, position=len(people),
            name=who.name, affiliation=who.affiliation, title=who.title,
        ))

    if spec.moderator is not None:
        # 全体進行: the moderator belongs to the whole event, not to one session.
        person(spec.moderator, PersonRole.MODERATOR, None)

    sessions: list[ProgrammeSession] = []
    cursor = event.starts_at
    for position, item in enumerate(spec.programme):
        session = ProgrammeSession(
            kind=item.kind, position=position, title=item.title, description=item.description,
            starts_at=cursor, ends_at=cursor + timedelta(minutes=item.minutes),
        )
        cursor = session.ends_at
        sessions.append(session)
        for speaker in item.speakers:
            person(speaker, PersonRole.SPEAKER, session)
    if sessions and cursor != event.ends_at:
        raise ValueError(f"{spec.slug}: the programme ends at {cursor}, the event at "
                         f"{event.ends_at}")
    event.sessions = sessions

    breakout = next((s for s in sessions if s.kind is SessionKind.BREAKOUT), None)
    if spec.breakout_groups and breakout is None:
        raise ValueError(f"{spec.slug}: breakout groups need a breakout session")
    groups = []
    for position, group in enumerate(spec.breakout_groups):
        groups.append(BreakoutGroup(
            session=breakout, position=position, name=group.name, theme=group.theme,
            facilitator_name=group.facilitator.name,
            facilitator_affiliation=group.facilitator_label, capacity=group.capacity,
        ))
        person(group.facilitator, PersonRole.FACILITATOR, breakout)
    event.breakout_groups = groups
    event.people = people


def _municipality_code(prefecture_code: str, name: str) -> str | None:
    if not prefecture_code:
        return None
    found = geo.find_municipality(prefecture_code, name)
    # Exact names only: a near miss would mean the demo shows a name the master lacks.
    if found is None or found.name != name:
        raise ValueError(f"{name} is not a municipality of prefecture {prefecture_code}")
    return found.code


def _check(event: Event) -> None:
    """Catch a data edit that would make the demo show a closed or impossible event."""
    opens, closes = event.registration_opens_at, event.registration_closes_at
    assert opens is not None and closes is not None
    if not opens < min(closes, event.starts_at) <= event.starts_at < event.ends_at:
        raise ValueError(f"{event.slug}: registration window or dates out of order")
    if event.lottery_draw_at is not None and not opens < event.lottery_draw_at < event.starts_at:
        raise ValueError(f"{event.slug}: the lottery must be drawn before the event")


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TOKYO)


# --- the calendar -----------------------------------------------------------------------


def event_days(schedule: Schedule, today: date) -> tuple[date, date, list[date]]:
    """First day, last day and the closed days in between, for an event loaded `today`."""
    first = today + timedelta(days=schedule.starts_in_days)
    if schedule.closed_on_weekends_and_holidays:
        # A long exhibition spans its closed days: it opens and closes on open days.
        while venue_closed(first):
            first += timedelta(days=1)
        last = first + timedelta(days=schedule.days - 1)
        while venue_closed(last):
            last -= timedelta(days=1)
        closed = [day for day in _days(first, last) if venue_closed(day)]
        return first, last, closed
    # A short event runs on consecutive days, none of them a holiday or in the New Year,
    # starting on the weekday the original started on.
    length = timedelta(days=schedule.days - 1)
    while (schedule.weekday is not None and first.weekday() != schedule.weekday) or any(
        _holiday_or_new_year(day) for day in _days(first, first + length)
    ):
        first += timedelta(days=1)
    return first, first + length, []


def venue_closed(day: date) -> bool:
    """A public building's closed days: weekends, national holidays, 12/29-1/3."""
    return day.weekday() >= 5 or _holiday_or_new_year(day)


def _holiday_or_new_year(day: date) -> bool:
    new_year = (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)
    return new_year or day in japanese_holidays(day.year)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@cache
def japanese_holidays(year: int) -> frozenset[date]:
    """Japan's national holidays (国民の祝日) under the law as it stands since 2020.

    Only future dates are scheduled, so the one-off moves of 2020-2021 and any earlier
    law do not matter; the equinox formula holds for 1980-2099.
    """

    def nth_monday(month: int, n: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))

    def equinox(base: float) -> int:
        return int(base + 0.242194 * (year - 1980) - (year - 1980) // 4)

    holidays = {
        date(year, 1, 1),
        nth_monday(1, 2),  # 成人の日
        date(year, 2, 11),
        date(year, 2, 23),
        date(year, 3, equinox(20.8431)),  # 春分の日
        date(year, 4, 29),
        date(year, 5, 3),
        date(year, 5, 4),
        date(year, 5, 5),
        nth_monday(7, 3),  # 海の日
        date(year, 8, 11),
        nth_monday(9, 3),  # 敬老の日
        date(year, 9, equinox(23.2488)),  # 秋分の日
        nth_monday(10, 2),  # スポーツの日
        date(year, 11, 3),
        date(year, 11, 23),
    }
    # 国民の休日: a day between two holidays is one too (it happens in September).
    for day in sorted(holidays):
        between = day + timedelta(days=1)
        if between not in holidays and between + timedelta(days=1) in holidays:
            holidays.add(between)
    # 振替休日: a holiday on a Sunday moves to the next day that is not a holiday.
    for day in sorted(holidays):
        if day.weekday() == 6:
            substitute = day + timedelta(days=1)
            while substitute in holidays:
                substitute += timedelta(days=1)
            holidays.add(substitute)
    return frozenset(holidays)
