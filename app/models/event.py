"""Events, their programme, seats and custom questions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    inspect,
    update,
)
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.extensions import db
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    MediaKind,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    SessionKind,
    SignupState,
    db_enum,
)
from app.orm import JSONType, utcnow

# How long before sign-up closes the public pages say "closing soon" (CLOSING_SOON_HOURS).
CLOSING_SOON = timedelta(hours=72)


class InvalidTransition(ValueError):
    """A change of state that the record's present state does not allow (a bug in the
    caller: services check first and tell the user why)."""


class Event(db.Model):  # type: ignore[name-defined]
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        CheckConstraint(
            "registration_closes_at IS NULL OR registration_opens_at IS NULL"
            " OR registration_closes_at > registration_opens_at",
            name="window_ordered",
        ),
        CheckConstraint(
            "registration_mode <> 'lottery' OR lottery_draw_at IS NOT NULL",
            name="lottery_has_draw_date",
        ),
        CheckConstraint("max_preference_ranks BETWEEN 0 AND 10", name="ranks_range"),
        CheckConstraint("waitlist_counter >= 0", name="waitlist_counter_nonnegative"),
        Index("ix_events_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[EventKind] = mapped_column(db_enum(EventKind))
    status: Mapped[EventStatus] = mapped_column(
        db_enum(EventStatus), default=EventStatus.DRAFT
    )
    format: Mapped[EventFormat] = mapped_column(db_enum(EventFormat))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    organizer_name: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    venue_name: Mapped[str] = mapped_column(String(200), default="")
    venue_address: Mapped[str] = mapped_column(String(300), default="")
    # Shown only to confirmed participants.
    online_url: Mapped[str] = mapped_column(String(500), default="")
    website_url: Mapped[str] = mapped_column(String(500), default="")
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Tokyo")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Exhibitions: open every day between these local times, except on closed dates.
    daily_opens_at: Mapped[time | None] = mapped_column(Time)
    daily_closes_at: Mapped[time | None] = mapped_column(Time)
    closed_dates: Mapped[list[str]] = mapped_column(JSONType, default=list)
    themes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    registration_required: Mapped[bool] = mapped_column(default=True)
    registration_opens_at: Mapped[datetime | None]
    registration_closes_at: Mapped[datetime | None]
    registration_mode: Mapped[RegistrationMode] = mapped_column(
        db_enum(RegistrationMode), default=RegistrationMode.FIRST_COME
    )
    waitlist_enabled: Mapped[bool] = mapped_column(default=True)
    # Double opt-in: a sign-up becomes a registration (and gets its place) only once the
    # link e-mailed to the address is used (app/services/email_confirmation.py).
    confirm_email_address: Mapped[bool] = mapped_column(
        default=False, server_default=false())
    lottery_draw_at: Mapped[datetime | None]
    lottery_drawn_at: Mapped[datetime | None]
    # Priority tiers for the draw: [{"question": key, "any_of": [option, ...]}, ...];
    # a participant's tier is the first rule their answers meet (the rest come last).
    lottery_tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    max_preference_ranks: Mapped[int] = mapped_column(Integer, default=0)
    # Hands out waitlist order atomically, without a MAX() query under a lock.
    waitlist_counter: Mapped[int] = mapped_column(Integer, default=0)
    # iCalendar SEQUENCE of the participants' invitations: raised on every change of time or
    # place (app.services.invitations.bump_calendar_sequence) so calendars replace their copy.
    calendar_sequence: Mapped[int] = mapped_column(
        Integer, CheckConstraint("calendar_sequence >= 0", name="calendar_sequence_nonnegative"),
        default=0, server_default="0")
    # 0 sends no reminder; at most two weeks ahead.
    reminder_hours_before: Mapped[int] = mapped_column(
        Integer, CheckConstraint("reminder_hours_before BETWEEN 0 AND 336",
                                 name="reminder_hours_range"),
        default=24, server_default="24")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    seat_pools: Mapped[list[SeatPool]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="SeatPool.mode"
    )
    sessions: Mapped[list[ProgrammeSession]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        order_by="(ProgrammeSession.starts_at, ProgrammeSession.position)",
    )
    people: Mapped[list[EventPerson]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventPerson.position"
    )
    questions: Mapped[list[Question]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Question.position"
    )
    breakout_groups: Mapped[list[BreakoutGroup]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="BreakoutGroup.position"
    )
    exhibitors: Mapped[list[Exhibitor]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Exhibitor.position"
    )
    media: Mapped[list[EventMedia]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventMedia.kind"
    )

    @property
    def image(self) -> EventMedia | None:
        return next((item for item in self.media if item.kind is MediaKind.IMAGE), None)

    @property
    def flyer(self) -> EventMedia | None:
        return next((item for item in self.media if item.kind is MediaKind.FLYER), None)

    @property
    def attendance_modes(self) -> list[AttendanceMode]:
        if self.format is EventFormat.HYBRID:
            return [AttendanceMode.IN_PERSON, AttendanceMode.ONLINE]
        if self.format is EventFormat.ONLINE:
            return [AttendanceMode.ONLINE]
        return [AttendanceMode.IN_PERSON]

    @property
    def effective_closes_at(self) -> datetime:
        """Sign-up ends at the deadline, and in any case when the event starts.

        Exhibitions are visited over weeks, so their visitors may register until the end.
        """
        latest = self.ends_at if self.kind is EventKind.EXHIBITION else self.starts_at
        if self.registration_closes_at is None:
            return latest
        return min(self.registration_closes_at, latest)

    @property
    def lottery_open(self) -> bool:
        """Entries go into the draw until it has been run."""
        return self.registration_mode is RegistrationMode.LOTTERY and self.lottery_drawn_at is None

    def closed_on(self, day: date) -> bool:
        return day.isoformat() in (self.closed_dates or [])

    def pool_for(self, mode: AttendanceMode) -> SeatPool | None:
        return next((pool for pool in self.seat_pools if pool.mode is mode), None)

    def pools_full(self, modes: list[AttendanceMode] | None = None) -> bool:
        """Every pool of these modes (by default all of the event's) was full when read.

        A hint for pages: a sign-up's seat is decided by the conditional claim alone.
        """
        pools = [self.pool_for(mode) for mode in (modes or self.attendance_modes)]
        return all(pool is not None and pool.capacity is not None and pool.taken >= pool.capacity
                   for pool in pools)

    def signup_state(self, now: datetime, closing_soon: timedelta = CLOSING_SOON) -> SignupState:
        """Whether, and how, people can sign up at `now`, as the public pages say it."""
        if self.status is EventStatus.CANCELLED:
            return SignupState.CANCELLED
        if self.status is EventStatus.DRAFT:
            return SignupState.DRAFT
        return self.signup_state_once_published(now, closing_soon)

    def signup_state_once_published(
        self, now: datetime, closing_soon: timedelta = CLOSING_SOON
    ) -> SignupState:
        """The sign-up state the event has, or a draft would have, while published."""
        if not self.registration_required:
            return SignupState.NO_REGISTRATION
        if self.registration_opens_at is not None and now < self.registration_opens_at:
            return SignupState.NOT_YET_OPEN
        if now >= self.effective_closes_at:
            return SignupState.CLOSED
        if self.lottery_open:
            assert self.lottery_draw_at is not None
            if now >= self.lottery_draw_at:
                return SignupState.DRAW_PENDING
            return SignupState.LOTTERY_OPEN
        if self.pools_full():
            return SignupState.WAITLIST_OPEN if self.waitlist_enabled else SignupState.FULL
        if self.effective_closes_at - now <= closing_soon:
            return SignupState.CLOSING_SOON
        return SignupState.OPEN

    def publish(self) -> None:
        """A draft becomes public; whether it is ready is the service's to check."""
        if self.status is not EventStatus.DRAFT:
            raise InvalidTransition(f"{self!r} is {self.status}, not a draft")
        self.status = EventStatus.PUBLISHED

    def cancel(self) -> None:
        """The event will not take place; its registrations keep their status (figures)."""
        if self.status is EventStatus.CANCELLED:
            raise InvalidTransition(f"{self!r} is cancelled already")
        self.status = EventStatus.CANCELLED

    def __repr__(self) -> str:
        return f"<Event {self.slug}>"


class SeatPool(db.Model):  # type: ignore[name-defined]
    """Seats per attendance mode; `taken` counts confirmed registrations.

    Sign-up claims a seat with one conditional UPDATE (`taken < capacity`), so the
    database, not Python, decides who gets the last seat.
    """

    __tablename__ = "seat_pools"
    __table_args__ = (
        UniqueConstraint("event_id", "mode", name="uq_seat_pools_event_mode"),
        CheckConstraint("taken >= 0", name="taken_nonnegative"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("capacity IS NULL OR taken <= capacity", name="not_overbooked"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    mode: Mapped[AttendanceMode] = mapped_column(db_enum(AttendanceMode))
    capacity: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    taken: Mapped[int] = mapped_column(Integer, default=0)

    event: Mapped[Event] = relationship(back_populates="seat_pools")

    @property
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.taken, 0)


class ProgrammeSession(db.Model):  # type: ignore[name-defined]
    __tablename__ = "programme_sessions"
    __table_args__ = (CheckConstraint("ends_at >= starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SessionKind] = mapped_column(db_enum(SessionKind))
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    event: Mapped[Event] = relationship(back_populates="sessions")
    people: Mapped[list[EventPerson]] = relationship(
        back_populates="session", order_by="EventPerson.position"
    )
    breakout_groups: Mapped[list[BreakoutGroup]] = relationship(back_populates="session")


class EventPerson(db.Model):  # type: ignore[name-defined]
    """A moderator, speaker or facilitator, of the whole event or of one session."""

    __tablename__ = "event_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_sessions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[PersonRole] = mapped_column(db_enum(PersonRole))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    affiliation: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(200), default="")

    event: Mapped[Event] = relationship(back_populates="people")
    session: Mapped[ProgrammeSession | None] = relationship(back_populates="people")


class BreakoutGroup(db.Model):  # type: ignore[name-defined]
    __tablename__ = "breakout_groups"
    __table_args__ = (
        UniqueConstraint("event_id", "name", name="uq_breakout_groups_event_name"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_sessions.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    theme: Mapped[str] = mapped_column(Text, default="")
    facilitator_name: Mapped[str] = mapped_column(String(100), default="")
    facilitator_affiliation: Mapped[str] = mapped_column(String(300), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str] = mapped_column(String(500), default="")

    event: Mapped[Event] = relationship(back_populates="breakout_groups")
    session: Mapped[ProgrammeSession | None] = relationship(back_populates="breakout_groups")


class Question(db.Model):  # type: ignore[name-defined]
    """A custom question of the sign-up form; answers are stored under `key`."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("event_id", "key", name="uq_questions_event_key"),
        CheckConstraint("max_length IS NULL OR max_length > 0", name="max_length_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[QuestionKind] = mapped_column(db_enum(QuestionKind))
    label: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str] = mapped_column(String(300), default="")
    help_text: Mapped[str] = mapped_column(String(500), default="")
    options: Mapped[list[str]] = mapped_column(JSONType, default=list)
    options_en: Mapped[list[str]] = mapped_column(JSONType, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    max_length: Mapped[int | None] = mapped_column(Integer)

    event: Mapped[Event] = relationship(back_populates="questions")


class Exhibitor(db.Model):  # type: ignore[name-defined]
    """A municipality or organisation presenting at an exhibition."""

    __tablename__ = "exhibitors"
    __table_args__ = (UniqueConstraint("event_id", "name", name="uq_exhibitors_event_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    municipality_code: Mapped[str | None] = mapped_column(String(5))

    event: Mapped[Event] = relationship(back_populates="exhibitors")


class EventMedia(db.Model):  # type: ignore[name-defined]
    """An uploaded file shown with the event: its image, or its flyer (a PDF).

    The bytes live in storage (app/storage.py) under `storage_key`; this row says what they
    are and who may have them (anyone, once the event is published). A replaced file has a
    new key, and its public address (which carries the key) changes with it.
    """

    __tablename__ = "event_media"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", name="uq_event_media_event_kind"),
        # A picture without words excludes people who cannot see it (WCAG 1.1.1).
        CheckConstraint("length(description) > 0", name="description_given"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[MediaKind] = mapped_column(db_enum(MediaKind))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    # The name the organiser's file had: the flyer downloads under it.
    filename: Mapped[str] = mapped_column(String(200))
    # The image's alternative text; for a flyer, what it says in a sentence or two.
    description: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="media")


_EVENT_PARTS = (SeatPool, ProgrammeSession, EventPerson, BreakoutGroup, Question, Exhibitor,
                EventMedia)


def _part_changed(session: Session, part: Any) -> bool:
    if part in session.new or part in session.deleted:
        return True
    if isinstance(part, SeatPool):
        # `taken` moves with every sign-up; only the capacity is part of what is published.
        return bool(inspect(part).attrs.capacity.history.has_changes())
    return session.is_modified(part, include_collections=False)


@orm_event.listens_for(Session, "before_flush")
def _touch_events_whose_parts_changed(session: Session, *_args: Any) -> None:
    """An event's `updated_at` moves when its programme, people, groups, questions,
    exhibitors or capacity change, not only its own row: cached public pages and calendar
    LAST-MODIFIED stamps key on it."""
    now = utcnow()
    event_ids: set[int] = set()
    for part in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(part, _EVENT_PARTS) or not _part_changed(session, part):
            continue
        parent = part.__dict__.get("event")  # without a lazy load inside the flush
        if isinstance(parent, Event):
            if parent not in session.new:
                parent.updated_at = now
        elif part.event_id is not None:
            event_ids.add(part.event_id)
    if event_ids:
        session.connection().execute(
            update(Event.__table__).where(Event.__table__.c.id.in_(event_ids))
            .values(updated_at=now)
        )
