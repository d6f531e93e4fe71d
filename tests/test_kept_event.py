"""Sign-ups answered from the event a worker kept from an earlier request
(app/web/event_snapshots.py): one query fewer, and never a decision on an outdated event."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Event, OutboxMessage, PendingSignup, Question, Registration
from app.models.enums import EventStatus, MessageKind, QuestionKind, RegistrationStatus
from app.orm import utcnow
from app.services import registration as service
from app.web.event_snapshots import EventSnapshots, event_snapshots
from tests.conftest import app_context_for
from tests.factories import form_data, make_event, signup
from tests.test_public_web import EN, errors_of, manage_path, open_form, registration_count, sign_up
from tests.test_registration_service import statements_on, the_seat_claim


def event_snapshots_of(app) -> EventSnapshots:
    with app.test_request_context():
        snapshots = event_snapshots()
    assert snapshots is not None
    return snapshots


def post(client, event, token, **fields):
    return client.post(f"/events/{event.slug}/register", data=form_data(token, **fields),
                       headers=EN)


def kept_signup(client, event) -> str:
    """A first sign-up, which leaves the event kept; returns a token for the next form."""
    manage_path(sign_up(client, event, email="first@example.jp"))
    return open_form(client, event)


def messages_of(kind: MessageKind) -> int:
    return db.session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == kind)).scalar_one()


def change_elsewhere(event: Event, change) -> None:
    """An organiser's change, committed by another session (another worker, say)."""
    with Session(db.engine) as other:
        target = other.get(Event, event.id)
        change(other, target)
        other.commit()
    db.session.expire_all()


def test_a_kept_event_decides_without_reading_the_event_again(client, app):
    event = make_event(capacity=5)
    token = kept_signup(client, event)
    path = f"/events/{event.slug}/register"  # the test's own copy of the event is expired
    with statements_on("events") as statements:
        response = client.post(path, data=form_data(token, email="second@example.jp"))
    manage_path(response)
    # No read of the event at all: the seat claim itself checks its version.
    assert [s.split(" SET")[0] for s in statements] == [the_seat_claim()], statements
    second = db.session.execute(select(Registration).where(
        Registration.email == "second@example.jp")).scalar_one()
    assert second.status is RegistrationStatus.CONFIRMED


def test_with_kept_events_switched_off_every_signup_reads_the_event(migrated_database):
    with app_context_for(migrated_database, EVENT_SNAPSHOTS_ENABLED=False) as app:
        client = app.test_client()
        event = make_event(capacity=5)
        token = kept_signup(client, event)
        path = f"/events/{event.slug}/register"
        with statements_on("events") as statements:
            manage_path(client.post(path, data=form_data(token, email="second@example.jp")))
        assert any(s.startswith("SELECT events.id, events.slug") for s in statements)
        assert registration_count() == 2


def test_a_question_added_since_the_event_was_kept_must_be_answered(client, app):
    event = make_event(capacity=5)
    token = kept_signup(client, event)  # the form was open before the question came
    change_elsewhere(event, lambda _session, target: target.questions.append(Question(
        key="source", kind=QuestionKind.TEXT, label="何で知りましたか", required=True)))
    refused = post(client, event, token, email="second@example.jp")
    assert refused.status_code == 422
    assert "Please answer “何で知りましたか”." in unescape(refused.text)
    assert registration_count() == 1
    answered = post(client, event, token, email="second@example.jp", q_source="広報紙")
    manage_path(answered)
    assert db.session.execute(select(Registration.answers).where(
        Registration.email == "second@example.jp")).scalar_one() == {"source": "広報紙"}


def test_confirming_the_address_switched_on_since_the_event_was_kept_is_asked_for(client, app):
    event = make_event(capacity=5)
    token = kept_signup(client, event)
    change_elsewhere(event, lambda _session, target: setattr(
        target, "confirm_email_address", True))
    response = post(client, event, token, email="second@example.jp")
    assert response.status_code == 200
    assert registration_count() == 1
    assert db.session.execute(select(func.count()).select_from(PendingSignup)).scalar_one() == 1


@pytest.mark.parametrize("change", [
    lambda _session, target: setattr(target, "status", EventStatus.CANCELLED),
    lambda _session, target: setattr(target, "registration_closes_at",
                                     utcnow() - timedelta(minutes=1)),
], ids=["cancelled", "closed"])
def test_an_event_cancelled_or_closed_since_it_was_kept_refuses(client, app, change):
    event = make_event(capacity=5)
    token = kept_signup(client, event)
    change_elsewhere(event, change)
    assert post(client, event, token, email="second@example.jp").status_code == 409
    assert registration_count() == 1


def test_an_event_that_filled_up_since_it_was_kept_refuses_with_its_message(client, app):
    event = make_event(capacity=2, waitlist_enabled=False)
    token = kept_signup(client, event)  # kept with a seat left, which then goes
    manage_path(sign_up(app.test_client(), event, email="fast@example.jp"))
    response = post(client, event, token, email="late@example.jp")
    assert response.status_code == 409 and "Full" in response.text
    assert registration_count() == 2
    # The copy kept with a seat left is dropped: the next one refuses without writing.
    path = f"/events/{event.slug}/register"
    with statements_on("seat_pools") as statements:
        later = client.post(path, data=form_data(token, email="later@example.jp"), headers=EN)
    assert later.status_code == 409
    assert not [s for s in statements if s.startswith("UPDATE")], statements


def test_a_kept_copy_that_still_showed_a_seat_goes_once_the_waiting_list_begins(client, app):
    event = make_event(capacity=2, waitlist_enabled=True)
    token = kept_signup(client, event)  # kept with a seat left, which then goes
    manage_path(sign_up(app.test_client(), event, email="fast@example.jp"))
    manage_path(post(client, event, token, email="late@example.jp"))
    assert event_snapshots_of(app).get(event.slug) is None
    # The next sign-up keeps a fresh copy, full, and goes straight to the waiting list:
    # no claim that checks the event's version, as a seat expected would send.
    with statements_on("seat_pools") as statements:
        manage_path(post(client, event, token, email="later@example.jp"))
    assert statements and not [s for s in statements if "events.updated_at = " in s], statements
    kept = event_snapshots_of(app).get(event.slug)
    assert kept is not None and kept.seat_pools[0].taken == 2
    waiting = db.session.execute(select(Registration.email).where(
        Registration.status == RegistrationStatus.WAITLISTED).order_by(
        Registration.waitlist_seq)).scalars()
    assert list(waiting) == ["late@example.jp", "later@example.jp"]


def test_a_missing_or_forged_csrf_token_is_refused_with_a_kept_event(client, app):
    event = make_event(capacity=5)
    kept_signup(client, event)
    assert post(client, event, "").status_code == 400
    assert post(client, event, "forged", email="second@example.jp").status_code == 400
    assert registration_count() == 1


def test_an_invalid_form_gets_its_messages_once(client, app):
    event = make_event(capacity=5)
    token = kept_signup(client, event)
    response = post(client, event, token, email="second@example.jp", name="")
    assert response.status_code == 422
    assert errors_of(response.text) == ["Error:  Please enter your name."]
    assert registration_count() == 1


def test_an_address_registered_already_gets_its_link_once(client, app):
    event = make_event(capacity=5)
    token = kept_signup(client, event)
    kept = event_snapshots_of(app).get(event.slug)
    response = post(client, event, token, email="first@example.jp")
    assert response.status_code == 200 and event.title in response.text
    assert registration_count() == 1
    assert messages_of(MessageKind.MANAGE_LINK) == 1
    assert kept is not None and event_snapshots_of(app).get(event.slug) is kept  # still good


def test_register_refuses_to_decide_on_a_kept_event_that_changed(app):
    event = make_event(capacity=5)
    kept = service.event_for_signup_form(db.session.session_factory, event.slug)
    assert kept is not None
    change_elsewhere(event, lambda _session, target: setattr(target, "title", "新しい題"))
    with pytest.raises(service.KeptEventOutdated):
        service.register(db.session, event.id, signup(), as_read=kept, as_read_kept=True)
    assert registration_count() == 0 and messages_of(MessageKind.CONFIRMATION) == 0


def test_register_refuses_to_decide_on_a_kept_event_that_would_refuse(app):
    event = make_event(capacity=5, status=EventStatus.CANCELLED)
    kept = service.event_for_signup_form(db.session.session_factory, event.slug)
    assert kept is not None
    with pytest.raises(service.KeptEventOutdated):
        service.register(db.session, event.id, signup(), as_read=kept, as_read_kept=True)
    assert registration_count() == 0


def test_the_kept_event_is_a_detached_copy_with_what_the_form_needs(app):
    event = make_event(capacity=5)
    event.questions = [Question(key="note", kind=QuestionKind.TEXT, label="質問")]
    db.session.commit()
    kept = service.event_for_signup_form(db.session.session_factory, event.slug)
    assert kept is not None and kept is not event
    assert kept not in db.session
    assert [q.key for q in kept.questions] == ["note"] and kept.breakout_groups == []
    assert [pool.capacity for pool in kept.seat_pools] == [5]
    assert service.event_for_signup_form(db.session.session_factory, "no-such-event") is None
    draft = make_event(status=EventStatus.DRAFT)
    assert service.event_for_signup_form(db.session.session_factory, draft.slug) is None


def test_kept_events_are_bounded_and_forgotten_only_when_still_the_same():
    snapshots = EventSnapshots(max_entries=2)
    first, second, third = Event(slug="a"), Event(slug="b"), Event(slug="c")
    snapshots.put("a", first)
    snapshots.put("b", second)
    assert snapshots.get("a") is first  # now the most recent
    snapshots.put("c", third)
    assert snapshots.get("b") is None and len(snapshots) == 2
    newer = Event(slug="a")
    snapshots.put("a", newer)
    snapshots.forget("a", first)  # another thread's outdated copy: the newer one stays
    assert snapshots.get("a") is newer
    snapshots.forget("a", newer)
    assert snapshots.get("a") is None
