"""Builders for the API tests: tokens, headers, and an event with something in every corner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.extensions import db
from app.models import BreakoutGroup, ProgrammeSession, Question, User
from app.models.enums import QuestionKind, SessionKind
from app.services import api_tokens
from app.services.registration import register
from tests.factories import make_event, make_user, signup


def token_for(user: User, name: str = "test system") -> str:
    return api_tokens.create_token(db.session, user, name).secret


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en", **headers}


@dataclass
class World:
    """Two events with their people: tokens for an organizer, a viewer, an outsider, an
    administrator. Ids, not models: the world outlives the session that made it."""

    event_id: int
    other_id: int
    organizer: str
    viewer: str
    outsider: str
    admin: str
    registration_ids: list[int]
    group_ids: list[int]


def build_world(registrations: int = 3) -> World:
    event = make_event(capacity=50, commit=False)
    event.questions = [
        Question(key="topic", kind=QuestionKind.SINGLE_CHOICE, label="関心のあるテーマ",
                 options=["防災", "子育て"], required=False),
        Question(key="comment", kind=QuestionKind.TEXT, label="ご意見", max_length=200),
    ]
    event.sessions = [ProgrammeSession(kind=SessionKind.KEYNOTE, title="基調講演",
                                       starts_at=event.starts_at, ends_at=event.ends_at)]
    event.breakout_groups = [BreakoutGroup(name="A 防災", position=0, capacity=30),
                             BreakoutGroup(name="B 子育て", position=1, capacity=30)]
    event.max_preference_ranks = 2
    other = make_event(commit=False, title="別のイベント")
    db.session.commit()
    groups = [group.id for group in event.breakout_groups]
    ids = [register(db.session, event.id, signup(
        f"person{index}@example.jp", answers={"topic": "防災"},
        preferences=[groups[index % 2], groups[(index + 1) % 2]])).registration_id
        for index in range(registrations)]
    organizer = make_user("organizer@example.lg.jp", events=[event])
    viewer = make_user("viewer@example.lg.jp", events=[event], event_role="viewer")
    outsider = make_user("outsider@example.lg.jp", events=[other])
    admin = make_user("admin@example.lg.jp", role="admin")
    return World(event.id, other.id, token_for(organizer), token_for(viewer), token_for(outsider),
                 token_for(admin), ids, groups)


def new_registration(**fields: Any) -> dict[str, Any]:
    """What a system posts to add a registration by hand."""
    data: dict[str, Any] = {
        "attendance_mode": "in_person", "name": "佐藤 花子", "furigana": "さとう はなこ",
        "email": "hanako@example.jp", "organization_name": "台東区",
        "organization_type": "municipality", "prefecture_code": "13",
        "municipality_code": "13106", "source": "phone",
    }
    data.update(fields)
    return data
