"""Confirmation of the e-mail address before a sign-up counts (double opt-in): the event
setting, the pending sign-up, the link (GET changes nothing, POST confirms), dead links,
replacement, the seat decided at confirmation, the purge, the console and the API."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, OutboxMessage, PendingSignup, Registration, SeatPool
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    MessageKind,
    OutboxStatus,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services import email_confirmation as service
from app.services import events as events_service
from app.services import privacy
from app.services.registration import EventFull, register
from app.services.tokens import token_hash
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import (
    AuthActions,
    add_groups,
    form_data,
    make_event,
    make_lottery_event,
    make_user,
    signup,
)

EN = {"Accept-Language": "en"}
LINK = re.compile(r"https?://[^/\s]+(/events/[\w-]+/confirm/([A-Za-z0-9_-]{43})\?lang=(\w+))")


# --- Helpers of this module -----------------------------------------------------------------


def confirming_event(**fields: Any) -> Event:
    return make_event(confirm_email_address=True, **fields)


def sign_up(client: FlaskClient, event: Event, headers: dict[str, str] | None = None,
            **fields: str) -> Any:
    headers = EN if headers is None else headers
    page = client.get(f"/events/{event.slug}/register", headers=headers)
    assert page.status_code == 200
    return client.post(f"/events/{event.slug}/register",
                       data=form_data(csrf_token_from(page.text), **fields), headers=headers)


def count(model: Any, *conditions: Any) -> int:
    return int(db.session.execute(
        select(func.count()).select_from(model).where(*conditions)).scalar_one())


def verification_messages() -> list[OutboxMessage]:
    return list(db.session.execute(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.EMAIL_VERIFICATION)
        .order_by(OutboxMessage.id)).scalars())


def last_link() -> str:
    """The path of the confirmation link in the newest e-mail."""
    match = LINK.search(verification_messages()[-1].body_text)
    assert match, verification_messages()[-1].body_text
    return match.group(1)


def taken(event: Event) -> int:
    return int(db.session.execute(
        select(SeatPool.taken).where(SeatPool.event_id == event.id)).scalar_one())


def open_link(client: FlaskClient, path: str) -> Any:
    return client.get(path, headers=EN)


def press_confirm(client: FlaskClient, path: str) -> Any:
    page = open_link(client, path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_token_from(page.text)}, headers=EN)


def registrations() -> list[Registration]:
    return list(db.session.execute(select(Registration).order_by(Registration.id)).scalars())


def pending_signups() -> list[PendingSignup]:
    return list(db.session.execute(select(PendingSignup).order_by(PendingSignup.id)).scalars())


# --- Off: nothing changes -------------------------------------------------------------------


def test_setting_off_keeps_the_direct_sign_up(client: FlaskClient, app: Flask) -> None:
    event = make_event()
    assert event.confirm_email_address is False
    form = client.get(f"/events/{event.slug}/register", headers=EN).text
    assert "confirm-email-hint" not in form
    response = sign_up(client, event)
    assert response.status_code == 302 and response.headers["Location"].endswith("?new=1")
    assert [r.status for r in registrations()] == [RegistrationStatus.CONFIRMED]
    assert pending_signups() == [] and verification_messages() == []


# --- On: the form creates a pending sign-up and an e-mail ------------------------------------


def test_sign_up_waits_for_the_confirmation(client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=5)
    form = client.get(f"/events/{event.slug}/register", headers=EN).text
    assert "we will email you a link to confirm your email address" in form
    assert 'aria-describedby="confirm-email-hint"' in form

    response = sign_up(client, event)

    assert response.status_code == 200
    assert "Your registration is not complete yet." in response.text
    assert "within 24 hours" in response.text and "taro@example.jp" in response.text
    assert registrations() == [] and taken(event) == 0
    (pending,) = pending_signups()
    assert pending.email_normalized == "taro@example.jp" and pending.language == "en"
    assert pending.payload["attendance_mode"] == "in_person"
    assert pending.payload["organization_type"] == "municipality"
    assert pending.expires_at - pending.created_at == timedelta(hours=24)
    (message,) = db.session.execute(select(OutboxMessage)).scalars().all()
    assert message.kind is MessageKind.EMAIL_VERIFICATION
    assert message.recipient == "taro@example.jp" and message.registration_id is None
    assert message.event_id == event.id and message.language == "en"
    assert "Please confirm your email address" in message.subject
    assert event.title in message.subject and event.title in message.body_text
    assert "山田 太郎" in message.body_text and "24 hours" in message.body_text
    path = last_link()
    # Only the token's hash is stored.
    token = LINK.search(message.body_text).group(2)  # type: ignore[union-attr]
    assert pending.token_hash == token_hash(token) and token not in str(pending.payload)
    assert path.startswith(f"/events/{event.slug}/confirm/") and path.endswith("?lang=en")


def test_the_mail_and_pages_are_japanese_by_default(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    page = sign_up(client, event, headers={})
    assert page.status_code == 200
    assert "お申し込みはまだ完了していません" in page.text
    message = verification_messages()[0]
    assert message.language == "ja" and "メールアドレス確認のお願い" in message.subject
    assert "24時間" in message.body_text
    confirm_page = client.get(last_link())
    assert '<html lang="ja">' in confirm_page.text and "申し込みを確定する" in confirm_page.text


# --- The link: GET shows, POST confirms ------------------------------------------------------


def test_opening_the_link_changes_nothing(client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=5)
    sign_up(client, event)
    path = last_link()
    for _ in range(3):  # a mail scanner, a preview, the person
        page = open_link(client, path)
        assert page.status_code == 200
        assert "Confirm my registration" in page.text and 'method="post"' in page.text
        assert page.mimetype == "text/html"
        assert "山田 太郎" in page.text and "taro@example.jp" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page.headers["X-Robots-Tag"]
    assert client.head(path).status_code == 200
    assert registrations() == [] and taken(event) == 0 and len(pending_signups()) == 1
    assert len(verification_messages()) == 1


def test_confirming_registers_and_takes_the_seat(client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=5)
    add_groups(event, ["企業連携", "地域福祉"], ranks=2)
    group_ids = [group.id for group in event.breakout_groups]
    sign_up(client, event, preference_1=str(group_ids[1]), preference_2=str(group_ids[0]))

    response = press_confirm(client, last_link())

    assert response.status_code == 302
    assert re.match(r"^/r/[A-Za-z0-9_-]{43}\?new=1$", response.headers["Location"])
    (registration,) = registrations()
    assert registration.status is RegistrationStatus.CONFIRMED
    assert registration.email == "taro@example.jp" and registration.language == "en"
    assert registration.furigana == "やまだ たろう"
    assert [p.group_id for p in registration.preferences] == [group_ids[1], group_ids[0]]
    assert taken(event) == 1 and pending_signups() == []
    kinds = [m.kind for m in db.session.execute(
        select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]
    assert kinds == [MessageKind.EMAIL_VERIFICATION, MessageKind.CONFIRMATION]
    manage = client.get(response.headers["Location"], headers=EN)
    assert manage.status_code == 200 and "You are registered." in manage.text


def test_a_used_link_answers_clearly(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    path = last_link()
    token = csrf_token_from(open_link(client, path).text)
    assert client.post(path, data={"csrf_token": token}, headers=EN).status_code == 302
    again = client.post(path, data={"csrf_token": token}, headers=EN)
    assert again.status_code == 404
    assert "This confirmation link is not valid" in again.text
    assert f'href="/events/{event.slug}/register"' in again.text
    assert again.headers["Cache-Control"] == "no-store" and again.mimetype == "text/html"
    assert open_link(client, path).status_code == 404
    assert len(registrations()) == 1 and taken(event) == 1


def test_unknown_links_answer_404_never_500(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    for token in ("x", "A" * 43, "A" * 200, "%00", "%E3%81%82", "..%2F..%2Fetc"):
        response = client.get(f"/events/{event.slug}/confirm/{token}", headers=EN)
        assert response.status_code == 404, token
        if "/" not in token.replace("%2F", "/"):  # else it is not the confirmation page
            assert "This confirmation link is not valid" in response.text, token
    # A link of another event does not work under this one's address.
    other = confirming_event()
    sign_up(client, other)
    foreign = last_link().replace(other.slug, event.slug)
    assert open_link(client, foreign).status_code == 404
    assert client.get(f"/events/no-such-event/confirm/{'A' * 43}").status_code == 404
    assert registrations() == []


def test_an_expired_link_answers_410(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    path = last_link()
    token = csrf_token_from(open_link(client, path).text)
    pending = pending_signups()[0]
    pending.created_at -= timedelta(hours=25)
    pending.expires_at -= timedelta(hours=25)
    db.session.commit()
    page = open_link(client, path)
    assert page.status_code == 410
    assert "has expired" in page.text and "fill in the registration form again" in page.text
    assert f'href="/events/{event.slug}/register"' in page.text
    posted = client.post(path, data={"csrf_token": token}, headers=EN)
    assert posted.status_code == 410
    assert registrations() == [] and taken(event) == 0


def test_the_confirmation_needs_the_csrf_token(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    path = last_link()
    open_link(client, path)
    assert client.post(path, data={}, headers=EN).status_code == 400
    assert client.post(path, data={"csrf_token": "forged"}, headers=EN).status_code == 400
    # Another browser (a scanner that POSTs without the session) cannot confirm either.
    stranger = app.test_client()
    assert stranger.post(path, data={"csrf_token": "x"}, headers=EN).status_code == 400
    assert registrations() == [] and len(pending_signups()) == 1


def test_sending_the_form_again_replaces_the_link(client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=5)
    sign_up(client, event, name="山田 太郎")
    first = last_link()
    first_message = verification_messages()[0]
    first_message.status, first_message.sent_at = OutboxStatus.SENT, utcnow()
    db.session.commit()
    sign_up(client, event, name="山田 花子", email="TARO@example.jp",
            email_confirm="TARO@example.jp")
    second = last_link()
    assert first != second and len(verification_messages()) == 2
    (pending,) = pending_signups()
    assert pending.payload["name"] == "山田 花子"
    assert open_link(client, first).status_code == 404
    assert press_confirm(client, second).status_code == 302
    (registration,) = registrations()
    assert registration.name == "山田 花子" and registration.email == "TARO@example.jp"


def test_a_replaced_link_still_unsent_is_not_sent(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    sign_up(client, event)
    (message,) = verification_messages()  # the first, never sent, is gone
    assert LINK.search(message.body_text).group(1) == last_link()  # type: ignore[union-attr]
    # Other people's pending sign-ups are not touched.
    sign_up(client, event, email="hanako@example.jp", email_confirm="hanako@example.jp")
    assert len(pending_signups()) == 2 and len(verification_messages()) == 2


def test_the_seat_is_decided_at_confirmation(client: FlaskClient, app: Flask) -> None:
    """Sent while seats were free; confirmed after they went: the waiting list."""
    event = confirming_event(capacity=1, waitlist_enabled=True)
    sign_up(client, event)
    path = last_link()
    register(db.session, event.id, signup("fast@example.jp"))
    assert taken(event) == 1
    page = open_link(client, path)
    assert "All seats are taken" in page.text
    response = client.post(path, data={"csrf_token": csrf_token_from(page.text)}, headers=EN)
    assert response.status_code == 302
    waiting = db.session.execute(select(Registration).where(
        Registration.email_normalized == "taro@example.jp")).scalar_one()
    assert waiting.status is RegistrationStatus.WAITLISTED and taken(event) == 1
    assert "number 1 on the waiting list" in client.get(response.headers["Location"],
                                                        headers=EN).text
    assert MessageKind.WAITLISTED in [m.kind for m in db.session.execute(
        select(OutboxMessage).where(OutboxMessage.registration_id == waiting.id)).scalars()]


def test_full_without_waiting_list_keeps_the_link_for_a_freed_seat(
        client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=1, waitlist_enabled=False)
    sign_up(client, event)
    path = last_link()
    page = open_link(client, path)
    register(db.session, event.id, signup("fast@example.jp"))
    refused = client.post(path, data={"csrf_token": csrf_token_from(page.text)}, headers=EN)
    assert refused.status_code == 409 and "full" in refused.text
    assert len(registrations()) == 1 and len(pending_signups()) == 1
    assert "Confirm my registration" not in open_link(client, path).text  # nothing to press


def test_lottery_entry_at_confirmation(client: FlaskClient, app: Flask) -> None:
    event = make_lottery_event(confirm_email_address=True)
    sign_up(client, event, q_residence="区内在住")
    assert registrations() == []
    assert press_confirm(client, last_link()).status_code == 302
    (entry,) = registrations()
    assert entry.status is RegistrationStatus.LOTTERY_PENDING
    assert entry.answers == {"residence": "区内在住"} and taken(event) == 0


def test_an_address_already_registered_gets_its_link_again(
        client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    registered = register(db.session, event.id, signup(name="本人 太郎"))
    response = sign_up(client, event, name="他人 次郎")
    # The page says the same as for anybody: nothing tells that the address is registered.
    assert response.status_code == 200 and "Your registration is not complete yet." in response.text
    answer = press_confirm(client, last_link())
    assert answer.status_code == 200
    assert "We have sent the link to the registration page" in answer.text
    assert "本人" not in answer.text and "/r/" not in answer.text
    assert [r.id for r in registrations()] == [registered.registration_id]
    assert pending_signups() == []
    kinds = [m.kind for m in db.session.execute(
        select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]
    assert kinds == [MessageKind.CONFIRMATION, MessageKind.EMAIL_VERIFICATION,
                     MessageKind.MANAGE_LINK]


def test_closed_events_refuse_before_any_email(client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    page = client.get(f"/events/{event.slug}/register", headers=EN)
    event.registration_closes_at = utcnow() - timedelta(minutes=1)
    event.registration_opens_at = utcnow() - timedelta(days=2)
    db.session.commit()
    response = client.post(f"/events/{event.slug}/register",
                           data=form_data(csrf_token_from(page.text)), headers=EN)
    assert response.status_code == 409
    assert pending_signups() == [] and verification_messages() == []


def test_the_event_closing_after_the_email_is_a_clear_409(
        client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    path = last_link()
    token = csrf_token_from(open_link(client, path).text)
    event.registration_closes_at = utcnow() - timedelta(minutes=1)
    event.registration_opens_at = utcnow() - timedelta(days=2)
    db.session.commit()
    page = open_link(client, path)
    assert page.status_code == 200 and "Registration closed" in page.text
    assert "Confirm my registration" not in page.text
    response = client.post(path, data={"csrf_token": token}, headers=EN)
    assert response.status_code == 409 and "has closed" in response.text
    assert registrations() == []


def test_turning_the_setting_off_leaves_sent_links_working(
        client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event)
    path = last_link()
    event.confirm_email_address = False
    db.session.commit()
    assert press_confirm(client, path).status_code == 302
    assert len(registrations()) == 1


# --- The service ----------------------------------------------------------------------------


def test_the_stored_form_round_trips(app: Flask) -> None:
    data = signup(attendance_mode=AttendanceMode.ONLINE, answers={"topics": ["A", "B"]},
                  preferences=[3, 1], language="en")
    payload = service.payload_of(data)
    assert payload["attendance_mode"] == "online" and payload["preferences"] == [3, 1]
    assert service.input_of(payload) == data
    assert service.input_of({**payload, "gone_field": 1}) == data


def test_one_link_confirms_once_even_when_pressed_twice_at_once(migrated_database: str) -> None:
    """Two confirmations racing: one registration, one seat, and the link used once."""
    with app_context_for(migrated_database) as app:
        event = confirming_event(capacity=5)
        with app.test_request_context():
            service.request_confirmation(db.session, event.id, signup())
        token = LINK.search(verification_messages()[0].body_text).group(2)  # type: ignore
        event_id = event.id
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def confirm() -> None:
            with app.app_context(), app.test_request_context():
                barrier.wait()
                try:
                    result = service.confirm_signup(db.session, token, event_id=event_id)
                    outcomes.append("resent" if result.manage_token is None else "registered")
                except service.ConfirmationLinkInvalid:
                    outcomes.append("invalid")
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        db.session.rollback()  # a fresh snapshot, after the threads' commits
        assert sorted(outcomes) == ["invalid", "registered"]
        assert count(Registration) == 1 and pending_signups() == []
        assert db.session.execute(select(SeatPool.taken)).scalar_one() == 1
        assert count(OutboxMessage, OutboxMessage.kind == MessageKind.MANAGE_LINK) == 0


def make_pending(event: Event, token: str = "t" * 43, **fields: Any) -> None:
    now = utcnow()
    db.session.add(PendingSignup(
        event_id=event.id, email_normalized="taro@example.jp", token_hash=token_hash(token),
        payload=service.payload_of(signup(**fields)), language="ja", created_at=now,
        expires_at=now + timedelta(hours=1)))
    db.session.commit()


def test_a_link_taken_during_the_registration_rolls_it_back(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other click won between reading the link and committing: nothing is kept."""
    event = confirming_event(capacity=5)
    make_pending(event)
    real_find_pending = service.find_pending

    def other_click_meanwhile(*args: Any, **kwargs: Any) -> Any:
        pending = real_find_pending(*args, **kwargs)
        with db.engine.begin() as connection:
            connection.execute(PendingSignup.__table__.delete())
        return pending

    monkeypatch.setattr(service, "find_pending", other_click_meanwhile)
    with app.test_request_context(), pytest.raises(service.ConfirmationLinkInvalid):
        service.confirm_signup(db.session, "t" * 43)
    db.session.rollback()
    assert registrations() == [] and taken(event) == 0
    assert count(OutboxMessage) == 0


def test_a_link_refused_for_a_full_event_confirms_once_a_seat_opens(app: Flask) -> None:
    event = confirming_event(capacity=0, waitlist_enabled=False)
    make_pending(event)
    with app.test_request_context(), pytest.raises(EventFull):
        service.confirm_signup(db.session, "t" * 43)
    assert len(pending_signups()) == 1
    db.session.get(SeatPool, db.session.execute(select(SeatPool.id)).scalar_one()).capacity = 1
    db.session.commit()
    with app.test_request_context():
        result = service.confirm_signup(db.session, "t" * 43)
    assert result.status is RegistrationStatus.CONFIRMED
    assert pending_signups() == [] and len(registrations()) == 1


def test_a_failed_registration_keeps_the_pending_sign_up(app: Flask) -> None:
    event = confirming_event(capacity=0, waitlist_enabled=False)
    make_pending(event)
    with app.test_request_context(), pytest.raises(EventFull):
        service.confirm_signup(db.session, "t" * 43)
    assert len(pending_signups()) == 1 and registrations() == []


def test_the_database_refuses_two_pending_sign_ups_of_one_address(app: Flask) -> None:
    from sqlalchemy.exc import IntegrityError

    event = confirming_event()
    now = utcnow()
    for token in ("a", "b"):
        db.session.add(PendingSignup(event_id=event.id, email_normalized="taro@example.jp",
                                     token_hash=token_hash(token), payload={}, language="ja",
                                     created_at=now, expires_at=now + timedelta(hours=1)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_link_lifetime_is_configurable(migrated_database: str) -> None:
    with app_context_for(migrated_database, EMAIL_CONFIRMATION_HOURS=2) as app:
        event = confirming_event()
        response = sign_up(app.test_client(), event)
        assert "within 2 hours" in response.text
        (pending,) = pending_signups()
        assert pending.expires_at - pending.created_at == timedelta(hours=2)
        assert "2 hours" in verification_messages()[0].body_text


# --- Personal data --------------------------------------------------------------------------


def test_pending_sign_ups_are_in_no_list_or_figure(client: FlaskClient, app: Flask) -> None:
    event = confirming_event(capacity=5)
    sign_up(client, event, name="未確認 花子", email="mikakunin@example.jp",
            email_confirm="mikakunin@example.jp")
    assert events_service.active_registrant_count(db.session, event.id) == 0
    figures = events_service.event_figures(db.session, event)
    assert [(f.confirmed, f.waitlisted, f.seats_left) for f in figures] == [(0, 0, 5)]
    make_user(events=[event])
    console = app.test_client()
    AuthActions(console).login()
    listing = console.get(f"/console/events/{event.id}/registrants")
    assert listing.status_code == 200 and "未確認" not in listing.text
    stats = console.get(f"/console/events/{event.id}/stats")
    assert stats.status_code == 200 and "未確認" not in stats.text
    overview = console.get(f"/console/events/{event.id}")
    assert "Email address confirmation: on" in overview.text
    assert "1 sign-up waiting for the email address to be confirmed" in overview.text


def test_purge_deletes_expired_pending_sign_ups_and_their_mail(
        client: FlaskClient, app: Flask) -> None:
    event = confirming_event()
    sign_up(client, event, email="old@example.jp", email_confirm="old@example.jp")
    sign_up(client, event, email="new@example.jp", email_confirm="new@example.jp")
    old_pending, _new_pending = pending_signups()
    old_message, new_message = verification_messages()
    old_pending.created_at -= timedelta(hours=30)
    old_pending.expires_at -= timedelta(hours=30)
    old_message.created_at -= timedelta(hours=30)
    old_message.status, old_message.sent_at = OutboxStatus.SENT, utcnow()
    db.session.commit()

    dry = privacy.purge_ended_events(db.session, dry_run=True)
    assert dry.counts.pending_signups == 1 and len(pending_signups()) == 2
    report = privacy.purge_ended_events(db.session)

    assert report.counts.pending_signups == 1 and report.counts.messages == 1
    assert [p.email_normalized for p in pending_signups()] == ["new@example.jp"]
    db.session.refresh(old_message)
    assert (old_message.recipient, old_message.body_text) == (privacy.SCRUBBED_RECIPIENT, "")
    assert service.SCRUBBED_RECIPIENT == privacy.SCRUBBED_RECIPIENT
    db.session.refresh(new_message)
    assert new_message.recipient == "new@example.jp" and new_message.body_text
    assert privacy.purge_ended_events(db.session).counts.pending_signups == 0
    # The live link still works after the purge.
    assert press_confirm(client, LINK.search(new_message.body_text).group(1)  # type: ignore
                         ).status_code == 302


def test_the_purge_command_reports_pending_sign_ups(app: Flask) -> None:
    event = confirming_event()
    now = utcnow()
    db.session.add(PendingSignup(event_id=event.id, email_normalized="old@example.jp",
                                 token_hash=token_hash("old"), payload={}, language="ja",
                                 created_at=now - timedelta(days=2),
                                 expires_at=now - timedelta(days=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["privacy", "purge"])
    assert result.exit_code == 0, result.output
    assert "1 expired unconfirmed sign-up(s) deleted" in result.output
    assert pending_signups() == []


def test_deleting_the_event_deletes_its_pending_sign_ups(client: FlaskClient, app: Flask
                                                         ) -> None:
    event = confirming_event()
    sign_up(client, event)
    db.session.delete(db.session.get(Event, event.id))
    db.session.commit()
    assert pending_signups() == []


# --- Organiser side -------------------------------------------------------------------------


def settings_fields(event: Event, **overrides: str) -> dict[str, str]:
    fields = {"registration_required": "y", "waitlist_enabled": "y",
              "registration_mode": event.registration_mode.value,
              "max_preference_ranks": str(event.max_preference_ranks),
              "capacity_in_person": "10"}
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value}


def test_the_console_toggles_the_setting(app: Flask) -> None:
    event = make_event()
    make_user(events=[event])
    console = app.test_client()
    AuthActions(console).login()
    url = f"/console/events/{event.id}/settings"
    page = console.get(url)
    assert page.status_code == 200
    assert 'name="confirm_email_address"' in page.text
    assert "Links expire after 24 hours" in page.text
    assert 'aria-describedby="confirm_email_address-hint"' in page.text
    token = csrf_token_from(page.text)

    on = console.post(url, data={"csrf_token": token,
                                 **settings_fields(event, confirm_email_address="y")})
    assert on.status_code == 302
    db.session.refresh(event)
    assert event.confirm_email_address is True
    assert "checked" in re.search(r'<input[^>]*name="confirm_email_address"[^>]*>',
                                  console.get(url).text).group(0)  # type: ignore[union-attr]

    bad = console.post(url, data={"csrf_token": token, **settings_fields(
        event, confirm_email_address="y", max_preference_ranks="99")})
    assert bad.status_code == 422
    off = console.post(url, data={"csrf_token": token, **settings_fields(event)})
    assert off.status_code == 302
    db.session.refresh(event)
    assert event.confirm_email_address is False
    assert console.post(url, data=settings_fields(event)).status_code == 400  # no CSRF token


def test_a_viewer_cannot_change_the_setting(app: Flask) -> None:
    event = make_event()
    make_user(events=[event], event_role="viewer")
    console = app.test_client()
    AuthActions(console).login()
    token = csrf_token_from(console.get("/console/password").text)
    response = console.post(f"/console/events/{event.id}/settings", data={
        "csrf_token": token, **settings_fields(event, confirm_email_address="y")})
    assert response.status_code in (403, 404)
    db.session.refresh(event)
    assert event.confirm_email_address is False


def test_duplicates_copy_the_setting(app: Flask) -> None:
    event = confirming_event()
    user = make_user(events=[event])
    copy = events_service.duplicate_event(db.session, user, event.id)
    assert copy.confirm_email_address is True


def test_the_api_shows_the_setting(app: Flask) -> None:
    from app.web.api.schemas import EventSchema

    event = confirming_event(event_format=EventFormat.IN_PERSON)
    body = EventSchema().dump(event)
    assert body["registration"]["confirm_email_address"] is True


def test_the_link_points_at_the_public_base_url(app: Flask) -> None:
    event = confirming_event()
    with app.test_request_context():
        url = service.confirm_url(event, "abc", "en")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == (
        "http", "localhost", f"/events/{event.slug}/confirm/abc", "lang=en")


# --- In a browser, with axe-core --------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_journey_in_a_browser_is_accessible(migrated_database: str, lang: str) -> None:
    """Form → "check your email" → the link → confirmed; a dead link. No serious or critical
    axe-core finding (WCAG 2.1 AA) on any of these pages, and Japanese pages in Japanese."""
    from pathlib import Path

    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    from tests.browser_support import (
        CHROMIUM,
        CHROMIUM_ARGS,
        LiveServer,
        empty_all_tables,
        live_app,
    )

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    app = live_app(migrated_database)
    japanese = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
    blocking: list[str] = []
    with app.app_context():
        empty_all_tables()
        event = confirming_event(venue_name="東京区政会館")
        slug = event.slug
    server = LiveServer(app).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)
            context = browser.new_context(locale="ja-JP" if lang == "ja" else "en-GB",
                                          timezone_id="Asia/Tokyo")
            context.set_default_timeout(5_000)
            page = context.new_page()
            axe = Axe()

            def audit(name: str, status: int = 200) -> None:
                expect(page.locator("html")).to_have_attribute("lang", lang)
                if lang == "ja":
                    heading = page.locator("main h1").inner_text()
                    assert japanese.search(heading), (name, heading)
                found = axe.run(page, options={
                    "runOnly": {"type": "tag",
                                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                    "resultTypes": ["violations"]}).response["violations"]
                blocking.extend(f"{name}: {v['id']} {v['help']}" for v in found
                                if v["impact"] in ("serious", "critical"))

            page.goto(f"{server.url}/events/{slug}/register")
            expect(page.locator("#confirm-email-hint")).to_be_visible()
            audit("form")
            page.fill("#name", "山田 太郎")
            page.fill("#furigana", "ヤマダ タロウ")
            page.fill("#email", "browser@example.jp")
            page.fill("#email_confirm", "browser@example.jp")
            page.select_option("#organization_type", "municipality")
            page.fill("#organization_name", "台東区")
            with page.expect_response(re.compile(r"/municipalities/13\.json$")):
                page.select_option("#prefecture", "13")
            page.select_option("#municipality", "13106")
            page.check("#consent")
            page.click("#submit")
            expect(page.locator("main [role=status]")).to_contain_text("browser@example.jp")
            audit("check your email")
            with app.app_context():
                path = last_link()
            page.goto(server.url + path)
            audit("confirm")
            page.locator("main form .button").click()
            expect(page).to_have_url(re.compile(r"/r/[A-Za-z0-9_-]{43}\?new=1$"))
            audit("registered")
            response = page.goto(server.url + path)
            assert response is not None and response.status == 404
            expect(page.locator("main a.button")).to_have_attribute(
                "href", f"/events/{slug}/register")
            audit("used link", 404)
            browser.close()
    finally:
        server.stop()
        with app.app_context():
            empty_all_tables()
            db.engine.dispose()
    assert not blocking, blocking
