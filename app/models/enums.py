"""The states and kinds the database knows; stored as short strings with CHECK constraints."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum


class StrEnum(enum.StrEnum):
    pass


class EventKind(StrEnum):
    EXHIBITION = "exhibition"
    LECTURE = "lecture"
    FESTIVAL = "festival"
    OTHER = "other"


class EventStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class EventFormat(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


class AttendanceMode(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"


class RegistrationMode(StrEnum):
    FIRST_COME = "first_come"
    LOTTERY = "lottery"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    LOTTERY_PENDING = "lottery_pending"
    NOT_DRAWN = "not_drawn"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (
    RegistrationStatus.CONFIRMED,
    RegistrationStatus.WAITLISTED,
    RegistrationStatus.LOTTERY_PENDING,
)


class SignupState(StrEnum):
    """What the public sees about sign-up for an event right now (`Event.signup_state`)."""

    NO_REGISTRATION = "no_registration"
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSING_SOON = "closing_soon"
    LOTTERY_OPEN = "lottery_open"
    DRAW_PENDING = "draw_pending"
    WAITLIST_OPEN = "waitlist_open"
    FULL = "full"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    DRAFT = "draft"

    @property
    def accepts_signups(self) -> bool:
        return self in (SignupState.OPEN, SignupState.CLOSING_SOON, SignupState.LOTTERY_OPEN,
                        SignupState.WAITLIST_OPEN)


class OrganizationType(StrEnum):
    MUNICIPALITY = "municipality"
    NATIONAL_GOVERNMENT = "national_government"
    COMPANY = "company"
    NPO = "npo"
    UNIVERSITY = "university"
    INDIVIDUAL = "individual"
    OTHER = "other"


class QuestionKind(StrEnum):
    TEXT = "text"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"


class SessionKind(StrEnum):
    OPENING = "opening"
    KEYNOTE = "keynote"
    CASE_TALK = "case_talk"
    BREAKOUT = "breakout"
    PANEL = "panel"
    OTHER = "other"


class PersonRole(StrEnum):
    MODERATOR = "moderator"
    SPEAKER = "speaker"
    FACILITATOR = "facilitator"


class MediaKind(StrEnum):
    """An event's picture for its page and cards, and its flyer (a PDF)."""

    IMAGE = "image"
    FLYER = "flyer"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARKED = "parked"


class MessageKind(StrEnum):
    CONFIRMATION = "confirmation"
    WAITLISTED = "waitlisted"
    LOTTERY_ENTERED = "lottery_entered"
    PROMOTED = "promoted"
    LOTTERY_WON = "lottery_won"
    LOTTERY_NOT_DRAWN = "lottery_not_drawn"
    CANCELLED_BY_PARTICIPANT = "cancelled_by_participant"
    MANAGE_LINK = "manage_link"
    REGISTRATION_UPDATED = "registration_updated"
    CANCELLED_BY_ORGANIZER = "cancelled_by_organizer"
    EVENT_CHANGED = "event_changed"
    EVENT_CANCELLED = "event_cancelled"
    ANNOUNCEMENT = "announcement"
    GROUP_ASSIGNED = "group_assigned"
    REMINDER = "reminder"
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a message kind, not a secret)


class UserRole(StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"
    VIEWER = "viewer"


class MembershipRole(StrEnum):
    """A user's part in one event: organisers edit it, viewers only read."""

    ORGANIZER = "organizer"
    VIEWER = "viewer"


def db_enum(enum_class: type[StrEnum], **kwargs: Any) -> Enum:
    """A VARCHAR with a CHECK constraint on the enum's values (portable, no PG enum type)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        name=enum_class.__name__.lower(),
        **kwargs,
    )
