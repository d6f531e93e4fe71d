"""Builders for test data: an open event, and a valid sign-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.extensions import db
from app.models import BreakoutGroup, Event, Question, SeatPool
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    OrganizationType,
    QuestionKind,
    RegistrationMode,
)
from app.orm import utcnow
from app.services.registration import RegistrationInput

_counter = 0


def make_event(
    *,
    capacity: int | None = 10,
    online_capacity: int | None = None,
    event_format: EventFormat = EventFormat.IN_PERSON,
    now: datetime | None = None,
    commit: bool = True,
    **fields: Any,
) -> Event:
    """A published event starting in ten days, with registration open since yesterday."""
    global _counter
    _counter += 1
    now = now or utcnow()
    values: dict[str, Any] = {
        "slug": f"event-{_counter}",
        "kind": EventKind.LECTURE,
        "format": event_format,
        "status": EventStatus.PUBLISHED,
        "title": "多文化共生のまちづくりに向けた連携のあり方を考える",
        "starts_at": now + timedelta(days=10),
        "ends_at": now + timedelta(days=10, hours=2),
        "registration_opens_at": now - timedelta(days=1),
        "registration_closes_at": now + timedelta(days=9),
    }
    values.update(fields)
    event = Event(**values)
    pools = []
    if event_format in (EventFormat.IN_PERSON, EventFormat.HYBRID):
        pools.append(SeatPool(mode=AttendanceMode.IN_PERSON, capacity=capacity))
    if event_format in (EventFormat.ONLINE, EventFormat.HYBRID):
        pools.append(SeatPool(mode=AttendanceMode.ONLINE,
                              capacity=online_capacity if event_format is EventFormat.HYBRID
                              else capacity))
    event.seat_pools = pools
    db.session.add(event)
    if commit:
        db.session.commit()
    return event


def make_lottery_event(**fields: Any) -> Event:
    now = fields.pop("now", None) or utcnow()
    event = make_event(
        now=now,
        registration_mode=RegistrationMode.LOTTERY,
        lottery_draw_at=now + timedelta(days=3),
        lottery_tiers=[{"question": "residence", "any_of": ["区内在住"]},
                       {"question": "residence", "any_of": ["区内在勤・在学"]}],
        commit=False,
        **fields,
    )
    event.questions = [Question(key="residence", kind=QuestionKind.SINGLE_CHOICE, label="お住まい",
                                options=["区内在住", "区内在勤・在学", "その他"], required=True)]
    db.session.commit()
    return event


def add_groups(event: Event, names: list[str], ranks: int = 3) -> list[BreakoutGroup]:
    event.max_preference_ranks = ranks
    groups = [BreakoutGroup(name=name, position=index, capacity=30)
              for index, name in enumerate(names)]
    event.breakout_groups = groups
    db.session.commit()
    return groups


def signup(email: str = "taro@example.jp", **fields: Any) -> RegistrationInput:
    values: dict[str, Any] = {
        "attendance_mode": AttendanceMode.IN_PERSON,
        "name": "山田 太郎",
        "furigana": "ヤマダ タロウ",
        "email": email,
        "organization_name": "台東区",
        "organization_type": OrganizationType.MUNICIPALITY,
        "prefecture_code": "13",
        "municipality_code": "13106",
    }
    values.update(fields)
    return RegistrationInput(**values)


def form_data(csrf_token: str, email: str = "taro@example.jp", **fields: str) -> dict[str, str]:
    """What a browser posts for a valid sign-up."""
    data = {
        "csrf_token": csrf_token,
        "attendance_mode": "in_person",
        "name": "山田 太郎",
        "furigana": "ヤマダ タロウ",
        "email": email,
        "email_confirm": email,
        "organization_type": "municipality",
        "organization_name": "台東区",
        "prefecture": "13",
        "municipality": "13106",
        "consent": "y",
        "submit": "1",
    }
    data.update(fields)
    return data


PASSWORD = "correct horse battery staple"


def make_user(email: str = "organizer@example.lg.jp", role: str = "organizer",
              events: list[Event] | None = None, event_role: str = "organizer") -> Any:
    """An account, optionally a member of some events."""
    from app.models import EventMembership, User
    from app.models.enums import MembershipRole, UserRole
    from app.services.accounts import hash_password

    user = User(email=email, password_hash=hash_password(PASSWORD), role=UserRole(role))
    user.memberships = [EventMembership(event=event, role=MembershipRole(event_role))
                        for event in events or []]
    db.session.add(user)
    db.session.commit()
    return user


class AuthActions:
    """Signs a test client in and out through the real login form."""

    def __init__(self, client: Any, language: str = "en") -> None:
        self.client = client
        client.set_cookie("lang", language)  # the tests read English messages

    def login(self, email: str = "organizer@example.lg.jp", password: str = PASSWORD) -> Any:
        import re

        page = self.client.get("/console/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert token
        return self.client.post("/console/login", data={
            "csrf_token": token.group(1), "email": email, "password": password})

    def csrf_token(self) -> str:
        import re

        page = self.client.get("/console/password")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert token
        return token.group(1)


def render_queued_messages() -> int:
    """What the mail worker does first: render the sign-up messages queued unrendered
    (app/services/messages.py), so a test can read them as they will be sent."""
    from app.database import write_transaction
    from app.extensions import db
    from app.services.messages import render_queued

    with write_transaction(db.session):
        return render_queued(db.session)
