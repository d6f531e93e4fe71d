"""The registration use cases against the real database: seats, waitlist, duplicates, cancel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Event, OutboxMessage, Registration, SeatPool
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventStatus,
    MessageKind,
    RegistrationStatus,
    SignupState,
)
from app.orm import utcnow
from app.services import registration as service
from app.services.errors import NotFound
from app.services.tokens import token_hash
from tests.factories import add_groups, make_event, signup


def messages_for(email: str) -> list[MessageKind]:
    return list(db.session.execute(
        select(OutboxMessage.kind).where(OutboxMessage.recipient == email)
        .order_by(OutboxMessage.id)).scalars())


def pool_taken(event_id: int, mode: AttendanceMode = AttendanceMode.IN_PERSON) -> int:
    return db.session.execute(select(SeatPool.taken).where(
        SeatPool.event_id == event_id, SeatPool.mode == mode)).scalar_one()


def test_confirms_while_seats_last_then_waitlists_in_order(app):
    event = make_event(capacity=2)
    results = [service.register(db.session, event.id, signup(f"p{i}@example.jp"))
               for i in range(5)]
    assert [r.status for r in results] == [RegistrationStatus.CONFIRMED] * 2 + [
        RegistrationStatus.WAITLISTED] * 3
    assert pool_taken(event.id) == 2
    waiting = [db.session.get(Registration, r.registration_id) for r in results[2:]]
    assert [service.waitlist_position(db.session, r) for r in waiting] == [1, 2, 3]
    assert messages_for("p0@example.jp") == [MessageKind.CONFIRMATION]
    assert messages_for("p4@example.jp") == [MessageKind.WAITLISTED]


def test_full_event_without_waitlist_refuses(app):
    event = make_event(capacity=1, waitlist_enabled=False)
    service.register(db.session, event.id, signup("a@example.jp"))
    with pytest.raises(service.EventFull):
        service.register(db.session, event.id, signup("b@example.jp"))
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 1
    assert messages_for("b@example.jp") == []


def test_unlimited_capacity_always_confirms(app):
    event = make_event(capacity=None)
    for i in range(20):
        result = service.register(db.session, event.id, signup(f"v{i}@example.jp"))
        assert result.status is RegistrationStatus.CONFIRMED
    assert pool_taken(event.id) == 20


def test_same_address_twice_creates_nothing_and_resends_the_link(app):
    event = make_event(capacity=5)
    first = service.register(db.session, event.id, signup("Taro@Example.jp"))
    again = service.register(db.session, event.id, signup(" ｔａｒｏ@example.JP ", name="他人"))
    assert again.already_registered and again.manage_token is None
    assert again.registration_id == first.registration_id
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 1
    assert pool_taken(event.id) == 1
    kinds = list(db.session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id))
                 .scalars())
    assert kinds == [MessageKind.CONFIRMATION, MessageKind.MANAGE_LINK]
    link_message = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.MANAGE_LINK)).scalar_one()
    assert first.manage_token in link_message.body_text
    assert link_message.recipient == "Taro@Example.jp"


def test_register_again_after_cancelling(app):
    event = make_event(capacity=1)
    first = service.register(db.session, event.id, signup("a@example.jp"))
    service.cancel_registration(db.session, first.registration_id)
    again = service.register(db.session, event.id, signup("a@example.jp"))
    assert again.status is RegistrationStatus.CONFIRMED and not again.already_registered
    assert pool_taken(event.id) == 1


def test_cancelling_a_confirmed_seat_promotes_the_first_waiting(app):
    event = make_event(capacity=1)
    holder = service.register(db.session, event.id, signup("holder@example.jp"))
    first = service.register(db.session, event.id, signup("first@example.jp"))
    service.register(db.session, event.id, signup("second@example.jp"))
    promoted = service.cancel_registration(db.session, holder.registration_id)
    assert promoted is not None and promoted.id == first.registration_id
    db.session.expire_all()
    assert db.session.get(Registration, first.registration_id).status is (
        RegistrationStatus.CONFIRMED)
    assert pool_taken(event.id) == 1
    assert messages_for("first@example.jp")[-1] is MessageKind.PROMOTED
    assert messages_for("holder@example.jp")[-1] is MessageKind.CANCELLED_BY_PARTICIPANT
    second = db.session.execute(select(Registration).where(
        Registration.email == "second@example.jp")).scalar_one()
    assert service.waitlist_position(db.session, second) == 1


def test_cancelling_without_waitlist_frees_the_seat(app):
    event = make_event(capacity=1)
    holder = service.register(db.session, event.id, signup("holder@example.jp"))
    assert service.cancel_registration(db.session, holder.registration_id) is None
    assert pool_taken(event.id) == 0
    assert service.register(db.session, event.id, signup("new@example.jp")).status is (
        RegistrationStatus.CONFIRMED)


def test_cancelling_a_waitlisted_registration_keeps_the_seats(app):
    event = make_event(capacity=1)
    service.register(db.session, event.id, signup("holder@example.jp"))
    waiting = service.register(db.session, event.id, signup("waiting@example.jp"))
    assert service.cancel_registration(db.session, waiting.registration_id) is None
    assert pool_taken(event.id) == 1


def test_cancelling_twice_is_refused(app):
    event = make_event()
    result = service.register(db.session, event.id, signup())
    service.cancel_registration(db.session, result.registration_id)
    with pytest.raises(service.RegistrationError):
        service.cancel_registration(db.session, result.registration_id)
    assert pool_taken(event.id) == 0


def test_hybrid_events_count_each_mode_separately(app):
    event = make_event(event_format=EventFormat.HYBRID, capacity=1, online_capacity=2)
    venue = service.register(db.session, event.id, signup("v1@example.jp"))
    venue_full = service.register(db.session, event.id, signup("v2@example.jp"))
    online = [service.register(db.session, event.id, signup(
        f"o{i}@example.jp", attendance_mode=AttendanceMode.ONLINE)) for i in range(3)]
    assert venue.status is RegistrationStatus.CONFIRMED
    assert venue_full.status is RegistrationStatus.WAITLISTED
    assert [r.status for r in online] == [RegistrationStatus.CONFIRMED] * 2 + [
        RegistrationStatus.WAITLISTED]
    # A freed venue seat goes to the venue waitlist, never to an online waiter.
    service.cancel_registration(db.session, venue.registration_id)
    db.session.expire_all()
    assert db.session.get(Registration, venue_full.registration_id).status is (
        RegistrationStatus.CONFIRMED)
    assert db.session.get(Registration, online[2].registration_id).status is (
        RegistrationStatus.WAITLISTED)


def test_an_in_person_only_event_refuses_online_attendance(app):
    event = make_event()
    with pytest.raises(service.RegistrationError) as raised:
        service.register(db.session, event.id, signup(attendance_mode=AttendanceMode.ONLINE))
    assert raised.value.field == "attendance_mode"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"status": EventStatus.CANCELLED}, service.RegistrationClosed),
        ({"registration_opens_at_delta": timedelta(hours=1)}, service.RegistrationClosed),
        ({"registration_closes_at_delta": timedelta(hours=-1)}, service.RegistrationClosed),
    ],
)
def test_closed_events_accept_nobody(app, changes, error):
    now = utcnow()
    fields = {}
    if "status" in changes:
        fields["status"] = changes["status"]
    if "registration_opens_at_delta" in changes:
        fields["registration_opens_at"] = now + changes["registration_opens_at_delta"]
    if "registration_closes_at_delta" in changes:
        fields["registration_closes_at"] = now + changes["registration_closes_at_delta"]
        fields["registration_opens_at"] = now - timedelta(days=2)
    event = make_event(**fields)
    with pytest.raises(error):
        service.register(db.session, event.id, signup())
    assert db.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0


def test_signup_closes_when_the_event_starts_even_before_the_deadline(app):
    now = utcnow()
    event = make_event(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=2),
                       registration_opens_at=now - timedelta(days=3),
                       registration_closes_at=now + timedelta(hours=1))
    assert event.signup_state(now) is SignupState.CLOSED
    with pytest.raises(service.RegistrationClosed):
        service.register(db.session, event.id, signup())


def test_registration_states(app):
    now = utcnow()
    def state(event: Event, now: datetime) -> SignupState:
        return event.signup_state(now)

    states = SignupState
    event = make_event(capacity=1, now=now)
    assert state(event, now) is states.OPEN
    assert state(event, event.effective_closes_at - timedelta(hours=2)) is states.CLOSING_SOON
    assert state(event, event.registration_opens_at - timedelta(seconds=1)) is states.NOT_YET_OPEN
    assert state(event, event.effective_closes_at) is states.CLOSED
    service.register(db.session, event.id, signup(), now=now)
    db.session.refresh(event.seat_pools[0])
    assert state(event, now) is states.WAITLIST_OPEN
    event.waitlist_enabled = False
    assert state(event, now) is states.FULL
    event.status = EventStatus.DRAFT
    assert state(event, now) is states.DRAFT
    event.status = EventStatus.CANCELLED
    assert state(event, now) is states.CANCELLED


def test_drafts_are_not_public(app):
    event = make_event(status=EventStatus.DRAFT)
    with pytest.raises(NotFound):
        service.get_event(db.session, event.slug)
    assert service.get_event(db.session, event.slug, published_only=False).id == event.id


def test_names_furigana_and_emails_are_normalised(app):
    event = make_event()
    result = service.register(db.session, event.id, signup(
        "ＨＡＮＡＫＯ@Example.JP", name="  佐藤　 花子 ", furigana="ｻﾄｳ　ﾊﾅｺ"))
    registration = db.session.get(Registration, result.registration_id)
    assert registration.name == "佐藤 花子"
    assert registration.furigana == "さとう はなこ"
    assert registration.furigana_key == "さとうはなこ"
    assert registration.email_normalized == "hanako@example.jp"


def test_manage_tokens_are_long_random_and_stored_only_as_a_hash(app):
    event = make_event()
    tokens = [service.register(db.session, event.id, signup(f"t{i}@example.jp")).manage_token
              for i in range(3)]
    assert len(set(tokens)) == 3
    for token in tokens:
        assert token and len(token) >= 43  # 256 bits in URL-safe base64
        registration = service.get_registration_by_token(db.session, token)
        assert registration.manage_token_hash == token_hash(token)
        stored = db.session.execute(text(
            "SELECT manage_key, manage_token_hash FROM registrations WHERE id = :id"),
            {"id": registration.id}).one()
        assert token not in stored
    for bad in ["", "x", tokens[0][:-1], tokens[0] + "A", "A" * 500]:
        with pytest.raises(NotFound):
            service.get_registration_by_token(db.session, bad)


def test_tokens_depend_on_the_secret_key(app):
    from app.services.tokens import manage_token

    key = "00" * 32
    with_first_secret = manage_token(key)
    app.config["SECRET_KEY"] = "another-secret"
    assert manage_token(key) != with_first_secret


def test_preferences_are_ranked_validated_and_truncated(app):
    event = make_event()
    names = ["企業連携", "地域福祉", "地域コミュニティ", "多文化共生全般"]
    groups = add_groups(event, names, ranks=2)
    ids = [group.id for group in groups]
    result = service.register(db.session, event.id, signup(preferences=[ids[2], ids[0], ids[1]]))
    registration = db.session.get(Registration, result.registration_id)
    assert [(p.rank, p.group_id) for p in registration.preferences] == [(1, ids[2]), (2, ids[0])]
    with pytest.raises(service.RegistrationError):
        service.register(db.session, event.id, signup("b@example.jp", preferences=[ids[1], ids[1]]))
    other = make_event()
    foreign = add_groups(other, ["他のイベント"])[0]
    with pytest.raises(service.RegistrationError):
        service.register(db.session, event.id, signup("c@example.jp", preferences=[foreign.id]))
    # A refused sign-up leaves no seat taken and no message behind.
    assert pool_taken(event.id) == 1
    assert messages_for("b@example.jp") == [] and messages_for("c@example.jp") == []


def test_update_changes_answers_and_preferences(app):
    event = make_event()
    groups = add_groups(event, ["A", "B"], ranks=2)
    result = service.register(db.session, event.id, signup(preferences=[groups[0].id]))
    service.update_registration(db.session, result.registration_id, answers={"q": "はい"},
                                preferences=[groups[1].id, groups[0].id])
    registration = db.session.get(Registration, result.registration_id)
    db.session.refresh(registration)
    assert registration.answers == {"q": "はい"}
    assert [p.group_id for p in registration.preferences] == [groups[1].id, groups[0].id]
    assert messages_for("taro@example.jp")[-1] is MessageKind.REGISTRATION_UPDATED


def test_the_database_refuses_overbooking_on_its_own(app):
    event = make_event(capacity=1)
    with pytest.raises(IntegrityError):
        db.session.execute(update(SeatPool).where(SeatPool.event_id == event.id)
                           .values(taken=2))
        db.session.flush()
    db.session.rollback()


def test_the_database_refuses_a_second_active_registration(app):
    event = make_event(capacity=5)
    first = service.register(db.session, event.id, signup())
    registration = db.session.get(Registration, first.registration_id)
    clone = Registration(**{
        column: getattr(registration, column) for column in (
            "event_id", "status", "attendance_mode", "name", "furigana", "furigana_key",
            "email", "email_normalized", "organization_name", "organization_type",
            "prefecture_code", "municipality_code", "answers", "manage_key", "consented_at")
    }, manage_token_hash="f" * 64)
    db.session.add(clone)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    clone = db.session.merge(clone)
    clone.status = RegistrationStatus.CANCELLED
    clone.cancelled_at = utcnow()
    db.session.add(clone)
    db.session.commit()  # a cancelled duplicate is history, not a conflict


def test_a_seat_taken_between_the_read_and_the_claim_sends_the_person_to_the_waiting_list(
        app, monkeypatch):
    """The seats read in the transaction are only a hint; the claim at the end decides.

    The hint is made wrong on purpose (as if a sign-up committed between the read and the
    claim); the registration must then be waitlisted, with the waiting-list message only.
    """
    event = make_event(capacity=1)
    service.register(db.session, event.id, signup("first@example.jp"))
    monkeypatch.setattr(Event, "pools_full", lambda *_args: False)
    result = service.register(db.session, event.id, signup("second@example.jp"))
    assert result.status is RegistrationStatus.WAITLISTED
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    assert registration.waitlist_seq == 1 and registration.confirmed_at is None
    assert messages_for("second@example.jp") == [MessageKind.WAITLISTED]
    taken = db.session.execute(select(SeatPool.taken).where(SeatPool.event_id == event.id))
    assert taken.scalar_one() == 1


def test_a_seat_taken_between_the_read_and_the_claim_of_an_event_without_waitlist_refuses(
        app, monkeypatch):
    event = make_event(capacity=1, waitlist_enabled=False)
    service.register(db.session, event.id, signup("first@example.jp"))
    monkeypatch.setattr(Event, "pools_full", lambda *_args: False)
    with pytest.raises(service.EventFull):
        service.register(db.session, event.id, signup("second@example.jp"))
    assert messages_for("second@example.jp") == []
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 1


def _read_for_the_form(event: Event) -> Event:
    """The event as the sign-up view reads it before the write transaction."""
    db.session.expire_all()
    return service.get_event(db.session, event.slug, with_form=True)


def _change_elsewhere(event_id: int, change: Callable[[Session, Event], None]) -> None:
    """An organiser's change, committed by another session between the read and the write."""
    with Session(db.engine) as other:
        target = other.get(Event, event_id)
        assert target is not None
        change(other, target)
        other.commit()


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement sent meanwhile, COMMIT and ROLLBACK included, as SQLAlchemy sends them."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    def commit(_conn: Any) -> None:
        seen.append("COMMIT")

    listeners: list[tuple[str, Any]] = [("before_cursor_execute", before), ("commit", commit)]
    for name, listener in listeners:
        sqlalchemy_event.listen(db.engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            sqlalchemy_event.remove(db.engine, name, listener)


def _from_the_claim(sent: list[str]) -> list[str]:
    """The statements from the first claim of a seat to the commit, as verb and table."""
    first = next(n for n, statement in enumerate(sent) if statement.startswith("UPDATE seat_pools"))
    last = sent.index("COMMIT", first)
    return [_verb_and_table(statement) for statement in sent[first:last + 1]]


def _verb_and_table(statement: str) -> str:
    words = statement.split()
    if words[0] == "SELECT":
        return "SELECT " + words[words.index("FROM") + 1]
    if words[0] in ("INSERT", "DELETE"):
        return f"{words[0]} {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    return statement


def test_the_seat_is_claimed_last_so_its_row_is_locked_only_for_the_claim_and_the_commit(app):
    """Every sign-up for an event claims its seat on the same pool row, which PostgreSQL locks
    from the claim to the end of the transaction: everything else is written before."""
    event = make_event(capacity=5)
    groups = add_groups(event, ["A", "B"])
    with statements() as sent:
        result = service.register(db.session, event.id, signup(
            preferences=[groups[1].id, groups[0].id]))
    assert result.status is RegistrationStatus.CONFIRMED
    assert _from_the_claim(sent) == ["UPDATE seat_pools", "COMMIT"], sent
    written = " ".join(sent[:len(sent) - 1 - sent[::-1].index("COMMIT")])
    for table in ("INSERT INTO registrations", "INSERT INTO breakout_preferences",
                  "INSERT INTO outbox_messages"):
        assert table in written, sent


def test_an_organizers_registration_writes_its_audit_row_before_the_claim(app):
    from app.services import registrants

    event = make_event(capacity=5)
    with statements() as sent:
        registrants.add_registration_by_hand(db.session, None, event.id, signup(),
                                             source="phone")
    assert _from_the_claim(sent) == ["UPDATE seat_pools", "COMMIT"], sent
    assert "INSERT INTO audit_entries" in " ".join(sent)


def test_with_no_seat_left_the_place_on_the_waiting_list_is_taken_last(app):
    """No seat: the pool is locked, claimed once more, and the registration and its message
    are restated as waitlisted, in the statements before the commit; nothing else."""
    event = make_event(capacity=1)
    service.register(db.session, event.id, signup("first@example.jp"))
    with statements() as sent:
        result = service.register(db.session, event.id, signup("second@example.jp"))
    assert result.status is RegistrationStatus.WAITLISTED
    after_the_claim = _from_the_claim(sent)
    assert after_the_claim[:4] == [
        "UPDATE seat_pools", "SELECT seat_pools", "UPDATE seat_pools", "UPDATE events"], sent
    assert sorted(after_the_claim[4:]) == [
        "COMMIT", "UPDATE outbox_messages", "UPDATE registrations"], sent
    assert messages_for("second@example.jp") == [MessageKind.WAITLISTED]
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None and registration.waitlist_seq == 1
    assert registration.confirmed_at is None
    assert pool_taken(event.id) == 1


def _cancel(_session: Session, event: Event) -> None:
    event.status = EventStatus.CANCELLED


def _close(_session: Session, event: Event) -> None:
    event.registration_closes_at = utcnow() - timedelta(minutes=1)


def _online_only(_session: Session, event: Event) -> None:
    event.format = EventFormat.ONLINE
    event.seat_pools[0].mode = AttendanceMode.ONLINE


@pytest.mark.parametrize(("change", "error"), [
    (_cancel, service.RegistrationClosed),
    (_close, service.RegistrationClosed),
    (_online_only, service.RegistrationError),
])
def test_an_event_changed_since_the_form_was_read_is_decided_on_as_it_is_now(app, change, error):
    event = make_event(capacity=5)
    _read_for_the_form(event)  # the form's copy, still in the session
    _change_elsewhere(event.id, change)
    with pytest.raises(error):
        service.register(db.session, event.id, signup())
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0


def test_an_event_deleted_since_the_form_was_read_does_not_exist(app):
    event = make_event(capacity=5)
    event_id = event.id
    _read_for_the_form(event)
    _change_elsewhere(event_id, lambda other, target: other.delete(target))
    with pytest.raises(service.NotFound):
        service.register(db.session, event_id, signup())
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 0


def test_a_group_removed_since_the_form_was_read_cannot_be_chosen(app):
    event = make_event(capacity=5)
    groups = add_groups(event, ["A", "B"])
    removed = groups[1].id
    assert len(_read_for_the_form(event).breakout_groups) == 2
    _change_elsewhere(event.id, lambda other, target: other.delete(
        next(group for group in target.breakout_groups if group.id == removed)))
    with pytest.raises(service.RegistrationError) as raised:
        service.register(db.session, event.id, signup(preferences=[removed]))
    assert raised.value.field == "preferences"
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 0


def test_a_seat_freed_since_the_form_was_read_full_goes_to_the_next_person(app):
    """The form was read when the event was full; a seat freed since goes to the next person
    rather than a "full" answer."""
    event = make_event(capacity=1, waitlist_enabled=False)
    service.register(db.session, event.id, signup("first@example.jp"))
    assert _read_for_the_form(event).signup_state(utcnow()) is SignupState.FULL
    with db.engine.begin() as elsewhere:  # the first person cancels, in another request
        elsewhere.execute(update(SeatPool.__table__)
                          .where(SeatPool.__table__.c.event_id == event.id).values(taken=0))
    result = service.register(db.session, event.id, signup("second@example.jp"))
    assert result.status is RegistrationStatus.CONFIRMED
    assert pool_taken(event.id) == 1


def test_state_changes_on_the_models_refuse_what_the_state_does_not_allow(app):
    from app.models.event import InvalidTransition

    now = utcnow()
    event = make_event(capacity=5, status=EventStatus.DRAFT)
    assert event.signup_state(now) is SignupState.DRAFT
    assert event.signup_state_once_published(now) is SignupState.OPEN  # what a preview shows
    event.publish()
    assert event.status is EventStatus.PUBLISHED and event.signup_state(now) is SignupState.OPEN
    with pytest.raises(InvalidTransition):
        event.publish()
    result = service.register(db.session, event.id, signup())
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    registration.cancel(now)
    assert registration.status is RegistrationStatus.CANCELLED and registration.cancelled_at
    with pytest.raises(InvalidTransition):
        registration.cancel(now)
    with pytest.raises(InvalidTransition):
        registration.waitlist(7)
    with pytest.raises(InvalidTransition):
        registration.not_drawn()
    db.session.rollback()
    event.cancel()
    assert event.signup_state(now) is SignupState.CANCELLED
    with pytest.raises(InvalidTransition):
        event.cancel()


def test_only_someone_waiting_or_drawn_can_be_confirmed(app):
    from app.models.event import InvalidTransition

    event = make_event(capacity=1)
    holder = db.session.get(Registration, service.register(
        db.session, event.id, signup("holder@example.jp")).registration_id)
    waiting = db.session.get(Registration, service.register(
        db.session, event.id, signup("waiting@example.jp")).registration_id)
    assert holder is not None and waiting is not None
    with pytest.raises(InvalidTransition):
        holder.confirm(utcnow())
    waiting.confirm(utcnow())
    assert waiting.status is RegistrationStatus.CONFIRMED and waiting.confirmed_at is not None
    db.session.rollback()
