"""The public list of events: published, not yet over, filtered by kind, month and format."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import selectinload

from app.database import SessionLike
from app.models import Event, ProgrammeSession, SeatPool
from app.models.enums import EventFormat, EventKind, EventStatus

TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class EventFilters:
    kind: EventKind | None = None
    month: str | None = None  # YYYY-MM, in Tokyo time
    online: bool | None = None  # True: online or hybrid; False: at a venue

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EventFilters:
        """Unknown values are ignored rather than refused: a stale bookmark still works."""
        kind = args.get("kind")
        month = args.get("month")
        where = args.get("format")
        try:
            parsed_month = datetime.strptime(month, "%Y-%m").strftime("%Y-%m") if month else None
        except ValueError:
            parsed_month = None
        return cls(
            kind=EventKind(kind) if kind in {k.value for k in EventKind} else None,
            month=parsed_month,
            online={"online": True, "in_person": False}.get(where or ""),
        )

    @property
    def format_value(self) -> str:
        return {True: "online", False: "in_person"}.get(self.online, "")  # type: ignore[arg-type]


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=TOKYO)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)
    return start, end


def upcoming_events(session: SessionLike, filters: EventFilters, now: datetime) -> list[Event]:
    query = (
        select(Event)
        .where(Event.status != EventStatus.DRAFT, Event.ends_at >= now)
        .options(selectinload(Event.seat_pools), selectinload(Event.media))
        .order_by(Event.starts_at, Event.id)
    )
    if filters.kind is not None:
        query = query.where(Event.kind == filters.kind)
    if filters.online is True:
        query = query.where(Event.format.in_([EventFormat.ONLINE, EventFormat.HYBRID]))
    elif filters.online is False:
        query = query.where(Event.format.in_([EventFormat.IN_PERSON, EventFormat.HYBRID]))
    if filters.month:
        start, end = _month_bounds(filters.month)
        # An event belongs to every month it runs in (a six-week exhibition spans two).
        query = query.where(Event.starts_at < end, or_(Event.ends_at >= start))
    return list(session.execute(query).scalars())


PageVersion = tuple[object, ...]


def event_for_page(session: SessionLike, slug: str) -> Event | None:
    """A published event with everything its public page shows, in a few queries."""
    event = session.execute(
        select(Event)
        .where(Event.slug == slug, Event.status != EventStatus.DRAFT)
        .options(
            selectinload(Event.seat_pools),
            selectinload(Event.sessions).selectinload(ProgrammeSession.people),
            selectinload(Event.people),
            selectinload(Event.breakout_groups),
            selectinload(Event.exhibitors),
            selectinload(Event.media),
        )
    ).scalar_one_or_none()
    return event


# Built once: composing the statement costs more than running it on a page served from cache.
_PAGE_VERSION = (
    select(Event.id, Event.status, Event.updated_at, SeatPool.mode, SeatPool.capacity,
           SeatPool.taken)
    .outerjoin(SeatPool, SeatPool.event_id == Event.id)
    .where(Event.slug == bindparam("slug"))
    .order_by(SeatPool.mode)
)


def event_page_version(session: SessionLike, slug: str) -> PageVersion | None:
    """What a published event's public page depends on, read in one small query: the
    event's `updated_at` (which its programme and other parts also move) and its seats.

    None for an unknown slug or a draft. Time-dependent parts (registration opening and
    closing) are handled by the caller's expiry, see `page_valid_until`.
    """
    rows = session.connection().execute(_PAGE_VERSION, {"slug": slug}).all()
    if not rows or rows[0].status is EventStatus.DRAFT:
        return None
    return (rows[0].id, rows[0].status, rows[0].updated_at,
            *((row.mode, row.capacity, row.taken) for row in rows))


def page_valid_until(event: Event, now: datetime, closing_soon: timedelta) -> datetime:
    """The next moment the page of `event` could change by itself, as time passes."""
    moments = [
        event.registration_opens_at,
        event.effective_closes_at - closing_soon,
        event.effective_closes_at,
        event.lottery_draw_at,
        event.starts_at,
        event.ends_at,
    ]
    return min((moment for moment in moments if moment is not None and moment > now),
               default=now + timedelta(days=1))


# "Few seats left" on a card: at most a tenth of the seats remain, or at most this many.
FEW_SEATS_SHARE = 0.1
FEW_SEATS_AT_LEAST = 5


def few_seats_left(event: Event) -> bool:
    """Some seats remain, but few, in the pools people sign up for (first come, first served).

    A lottery's places are drawn, not taken in turn: never "few" before the draw. A pool
    without a limit always has room.
    """
    if not event.registration_required or event.lottery_open:
        return False
    pools = event.seat_pools
    if not pools or any(pool.capacity is None for pool in pools):
        return False
    capacity = sum(pool.capacity or 0 for pool in pools)
    left = sum(pool.seats_left or 0 for pool in pools)
    return 0 < left <= max(FEW_SEATS_AT_LEAST, math.ceil(capacity * FEW_SEATS_SHARE))


def month_choices(now: datetime, count: int = 6) -> list[str]:
    local = now.astimezone(TOKYO)
    months = []
    year, month = local.year, local.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
