"""A sign-up for a free seat on the event as read (app/services/free_seat_signup.py), on a
connection of its own: one statement on PostgreSQL, one transaction on SQLite, the claim with
it; the same rows as the ordinary transaction through the session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import BreakoutPreference, OutboxMessage, Registration
from app.models.enums import MessageKind, RegistrationStatus
from app.services import registration as service
from tests.factories import add_groups, make_event, signup
from tests.test_registration_service import (
    _read_for_the_form,
    pool_taken,
    statements_on,
    the_seat_claim,
)

POSTGRESQL = "postgresql"


def on_postgresql() -> bool:
    return db.engine.dialect.name == POSTGRESQL


def row_of(registration_id: int) -> dict[str, Any]:
    registration = db.session.get(Registration, registration_id, populate_existing=True)
    assert registration is not None
    return {column: getattr(registration, column) for column in (
        "event_id", "status", "attendance_mode", "name", "furigana", "furigana_key",
        "organization_name", "organization_type", "prefecture_code", "municipality_code",
        "answers", "language", "waitlist_seq", "lottery_tier")}


def preferences_of(registration_id: int) -> list[tuple[int, int]]:
    return [tuple(row) for row in db.session.execute(
        select(BreakoutPreference.rank, BreakoutPreference.group_id)
        .where(BreakoutPreference.registration_id == registration_id)
        .order_by(BreakoutPreference.rank))]


def message_of(registration_id: int) -> OutboxMessage:
    return db.session.execute(select(OutboxMessage).where(
        OutboxMessage.registration_id == registration_id)).scalar_one()


def test_a_free_seat_writes_what_the_ordinary_transaction_writes(app):
    event = make_event(capacity=5)
    groups = add_groups(event, ["企業連携", "地域福祉", "地域コミュニティ"], ranks=2)
    ranking = [groups[2].id, groups[0].id, groups[1].id]
    read = _read_for_the_form(event)
    assert len(read.breakout_groups) == 3  # loaded now, not among the sign-up's statements
    with statements_on("") as statements:
        as_read = service.register(db.session, event.id, signup(
            "a@example.jp", preferences=ranking, answers={"residence": "区内在住"}),
            as_read=read)
    ordinary = service.register(db.session, event.id, signup(
        "b@example.jp", preferences=ranking, answers={"residence": "区内在住"}))
    if on_postgresql():  # claim, registration, groups and message: one statement
        assert len(statements) == 1 and statements[0].startswith(the_seat_claim()), statements
    else:  # the claim first: without a seat nothing is written; one row per ranked group
        assert [statement.split(" (")[0].split(" SET")[0] for statement in statements] == [
            "BEGIN IMMEDIATE", "UPDATE seat_pools", "INSERT INTO registrations",
            "INSERT INTO breakout_preferences", "INSERT INTO breakout_preferences",
            "INSERT INTO outbox_messages"], statements
    assert as_read.status is ordinary.status is RegistrationStatus.CONFIRMED
    assert as_read.manage_token and ordinary.manage_token
    assert row_of(as_read.registration_id) == row_of(ordinary.registration_id)
    assert preferences_of(as_read.registration_id) == preferences_of(
        ordinary.registration_id) == [(1, groups[2].id), (2, groups[0].id)]
    first, second = message_of(as_read.registration_id), message_of(ordinary.registration_id)
    assert (first.kind, first.event_id, first.language, first.status) == (
        second.kind, second.event_id, second.language, second.status)
    assert first.kind is MessageKind.CONFIRMATION and first.recipient == "a@example.jp"
    assert first.payload["status"] == "confirmed"
    registration = db.session.get(Registration, as_read.registration_id)
    assert registration is not None and registration.confirmed_at is not None
    assert first.payload["unrendered"]["confirmed_at"] == registration.confirmed_at.isoformat()
    assert pool_taken(event.id) == 2
    service_token = service.get_registration_by_token(db.session, as_read.manage_token)
    assert service_token.id == as_read.registration_id


def test_an_address_registered_already_undoes_the_claim_and_gets_its_link(app):
    event = make_event(capacity=5)
    first = service.register(db.session, event.id, signup(), as_read=_read_for_the_form(event))
    again = service.register(db.session, event.id, signup(), as_read=_read_for_the_form(event))
    assert again.already_registered and again.manage_token is None
    assert again.registration_id == first.registration_id
    assert pool_taken(event.id) == 1
    kinds = db.session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id)).scalars()
    assert list(kinds) == [MessageKind.CONFIRMATION, MessageKind.MANAGE_LINK]


def test_a_seat_gone_since_the_read_leaves_nothing_behind_and_waitlists(app):
    event = make_event(capacity=1, waitlist_enabled=True)
    groups = add_groups(event, ["A", "B"], ranks=2)
    as_read = _read_for_the_form(event)  # one seat left when the form was built
    service.register(db.session, event.id, signup("fast@example.jp"))
    late = service.register(db.session, event.id, signup(
        "late@example.jp", preferences=[groups[1].id]), as_read=as_read)
    assert late.status is RegistrationStatus.WAITLISTED
    assert pool_taken(event.id) == 1
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 2
    assert preferences_of(late.registration_id) == [(1, groups[1].id)]
    assert message_of(late.registration_id).kind is MessageKind.WAITLISTED
    assert db.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 2
