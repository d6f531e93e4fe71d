"""Mail delivery through a real SMTP server (aiosmtpd, in-process), with calendar invitations.

What is checked at the server, never at a mock: MIME structure and encodings (Japanese
subjects and bodies), the HTML alternative, the text/calendar part (method REQUEST or
CANCEL, parsed by icalendar and by ics), who gets which invitation, retries with backoff
when the server is down, parking, stale claims, two workers at once (each message arrives
exactly once), reminders queued once however many runs overlap, injection attempts, and
sign-up messages queued unrendered and rendered by the worker.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.commands.mail import make_sender_factory
from app.database import write_transaction
from app.extensions import db
from app.models import AuditEntry, Event, OutboxMessage, Registration
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventStatus,
    MessageKind,
    OutboxStatus,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services import lottery, privacy, registrants
from app.services import registration as service
from app.services.checkin import check_in_code
from app.services.events import notify_registrants
from app.services.invitations import bump_calendar_sequence
from app.services.mailer import Outgoing, SmtpSender, SmtpSettings, build_email
from app.services.messages import is_unrendered
from app.services.outbox import RetryPolicy, claim_due, deliver_pending, run_worker
from app.services.reminders import queue_due_reminders
from tests.conftest import csrf_token_from
from tests.factories import (
    AuthActions,
    form_data,
    make_event,
    make_lottery_event,
    make_user,
    signup,
)
from tests.mail_support import (
    Inbox,
    calendar_part,
    free_port,
    invitation,
    part_of_type,
    password_checker,
    run_threads,
    self_signed_certificate,
    server_tls_context,
    smtp_config,
    smtp_server,
)

EN = {"Accept-Language": "en"}


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def smtp(app: Flask) -> Iterator[Inbox]:
    """A running SMTP server, and the app configured to send to it."""
    with smtp_server() as (inbox, port):
        app.config.update(smtp_config(port))
        yield inbox


def sender(app: Flask) -> SmtpSender:
    return SmtpSender(SmtpSettings.from_config(app.config))


def deliver(app: Flask, *, now: datetime | None = None, policy: RetryPolicy | None = None,
            limit: int = 50) -> Any:
    moment = now
    return deliver_pending(db.session, sender(app), policy=policy, limit=limit,
                           now=(lambda: moment) if moment else utcnow)


def deliver_all(app: Flask, **kwargs: Any) -> None:
    """Until nothing is due (messages to one person go one per round)."""
    while deliver(app, **kwargs).claimed:
        pass


def outbox(**filters: Any) -> list[OutboxMessage]:
    db.session.commit()
    query = select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)
    return list(db.session.execute(query).scalars())


def register(event: Event, email: str = "taro@example.jp", **fields: Any) -> Registration:
    result = service.register(db.session, event.id, signup(email, **fields))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def only(messages: list[Any]) -> Any:
    assert len(messages) == 1, messages
    return messages[0]


def text_of(message: Any, subtype: str = "plain") -> str:
    part = part_of_type(message, f"text/{subtype}")
    assert part is not None
    return str(part.get_content())


# --- MIME, encodings, the invitation -----------------------------------------------------------


def test_confirmation_arrives_as_utf8_mime_with_html_and_a_request(app, smtp):
    event = make_event(venue_name="みどり市民会館 3階", venue_address="みどり市中央1-2-3")
    registration = register(event)
    queued = only(outbox())
    report = deliver(app)
    assert (report.sent, report.retrying, report.parked) == (1, 0, 0)

    received = only(smtp.received)
    assert received.recipients == ["taro@example.jp"]
    assert received.sender == "no-reply@city.example.lg.jp"
    raw_headers = received.raw.split(b"\r\n\r\n", 1)[0]
    raw_headers.decode("ascii")  # 7-bit on the wire: Japanese only as encoded-words
    assert b"=?utf-8?" in raw_headers

    message = received.message
    assert message["Subject"] == queued.subject and "【多文化共生" in message["Subject"]
    assert message["From"].addresses[0].display_name == "みどり市 国際交流課"
    assert message["Message-ID"].startswith(f"<tsudoi.outbox.{queued.id}.")
    assert message["Auto-Submitted"] == "auto-generated"

    # multipart/mixed: [multipart/alternative: plain, html, calendar], application/ics
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain", "text/html", "text/calendar"]
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    for part in alternative.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("base64", "quoted-printable", "7bit")

    plain = text_of(message)
    assert plain.replace("\r\n", "\n").strip() == queued.body_text.strip()
    assert "山田 太郎" in plain and "/r/" in plain
    html = text_of(message, "html")
    manage_link = re.search(r"http://localhost/r/[A-Za-z0-9_-]+", plain)
    assert manage_link and f'<a href="{manage_link.group(0)}"' in html
    assert '<html lang="ja">' in html

    invite = invitation(message)
    assert invite.method == "REQUEST" and invite.parsed.method == "REQUEST"
    vevent = invite.event
    assert str(vevent["UID"]) == f"registration-{registration.id}@localhost"
    assert vevent["SEQUENCE"] == 0
    assert vevent["ATTENDEE"] == "mailto:taro@example.jp"
    assert vevent["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert vevent["ATTENDEE"].params["RSVP"] == "FALSE"
    assert vevent["ORGANIZER"] == "mailto:no-reply@city.example.lg.jp"
    assert str(vevent["LOCATION"]) == "みどり市民会館 3階 (みどり市中央1-2-3)"
    assert str(vevent["URL"]) == manage_link.group(0)
    assert "DTSTAMP" in vevent and "CONFERENCE" not in vevent
    assert [str(tz["TZID"]) for tz in invite.calendar.walk("VTIMEZONE")] == ["Asia/Tokyo"]
    (ics_event,) = invite.parsed.events
    assert ics_event.uid == str(vevent["UID"])
    assert [a.email for a in ics_event.attendees] == ["taro@example.jp"]

    assert only(outbox()).status is OutboxStatus.SENT
    assert deliver(app).claimed == 0  # nothing twice


def test_english_participant_gets_english_text(app, smtp):
    register(make_event(), language="en")
    deliver(app)
    message = only(smtp.received).message
    assert "Registration confirmed" in message["Subject"]
    assert "Dear 山田 太郎," in text_of(message)
    assert '<html lang="en">' in text_of(message, "html")


def test_online_participants_get_their_join_link_as_conference(app, smtp):
    event = make_event(event_format=EventFormat.HYBRID, capacity=5, online_capacity=5,
                       venue_name="みどり市民会館", online_url="https://zoom.example/j/1")
    online = register(event, "online@example.jp", attendance_mode=AttendanceMode.ONLINE)
    register(event, "venue@example.jp")
    deliver(app)

    online_event = invitation(only(smtp.to("online@example.jp"))).event
    (conference,) = online_event.conferences
    assert re.fullmatch(rf"http://localhost/j/{online.id}-[A-Za-z0-9_-]+", conference.uri)
    assert str(online_event["LOCATION"]) == conference.uri  # what Outlook and Google show
    venue_event = invitation(only(smtp.to("venue@example.jp"))).event
    assert "CONFERENCE" not in venue_event and str(venue_event["LOCATION"]) == "みどり市民会館"
    assert "/j/" not in invitation(only(smtp.to("venue@example.jp"))).raw.decode()


def test_waitlisted_get_no_invitation_until_promoted(app, smtp):
    event = make_event(capacity=1)
    first = register(event, "first@example.jp")
    waiting = register(event, "waiting@example.jp")
    assert waiting.status is RegistrationStatus.WAITLISTED
    deliver(app)
    assert calendar_part(only(smtp.to("waiting@example.jp"))) is None

    service.cancel_registration(db.session, first.id)
    deliver_all(app)
    cancel = invitation(smtp.to("first@example.jp")[-1])
    assert cancel.method == "CANCEL"
    promoted = smtp.to("waiting@example.jp")[-1]
    request = invitation(promoted)
    assert request.method == "REQUEST"
    assert str(request.event["UID"]) == f"registration-{waiting.id}@localhost"


def test_participant_cancellation_is_a_cancel_with_the_same_uid_and_a_higher_sequence(app, smtp):
    registration = register(make_event())
    deliver(app)
    service.cancel_registration(db.session, registration.id)
    deliver(app)
    first, second = smtp.to("taro@example.jp")
    request, cancel = invitation(first), invitation(second)
    assert (request.method, cancel.method) == ("REQUEST", "CANCEL")
    assert cancel.event["UID"] == request.event["UID"]
    assert cancel.event["SEQUENCE"] > request.event["SEQUENCE"]
    assert str(cancel.event["STATUS"]) == "CANCELLED"
    assert cancel.parsed.method == "CANCEL"
    assert part_of_type(second, "application/ics").get_filename() == "cancel.ics"


def test_a_waitlisted_persons_cancellation_carries_no_cancel(app, smtp):
    event = make_event(capacity=1)
    register(event, "first@example.jp")
    waiting = register(event, "waiting@example.jp")
    service.cancel_registration(db.session, waiting.id)
    deliver_all(app)
    assert all(calendar_part(m) is None for m in smtp.to("waiting@example.jp"))


def test_moving_a_confirmed_participant_to_the_waiting_list_cancels_their_entry(app, smtp):
    event = make_event(capacity=1)
    holder = register(event, "holder@example.jp")
    waiting = register(event, "waiting@example.jp")
    deliver_all(app)
    registrants.move_to_waitlist(db.session, None, holder.id)  # the seat goes to "waiting"
    deliver_all(app)
    request, cancel = (invitation(m) for m in smtp.to("holder@example.jp"))
    assert cancel.method == "CANCEL" and cancel.event["UID"] == request.event["UID"]
    assert (request.event["SEQUENCE"], cancel.event["SEQUENCE"]) == (0, 1)
    promoted = invitation(smtp.to("waiting@example.jp")[-1])
    assert promoted.method == "REQUEST"
    assert str(promoted.event["UID"]) == f"registration-{waiting.id}@localhost"

    # Confirmed again (over capacity): the same UID comes back above the CANCEL.
    registrants.confirm_from_waitlist(db.session, None, holder.id, over_capacity=True)
    deliver_all(app)
    again = invitation(smtp.to("holder@example.jp")[-1])
    assert again.method == "REQUEST" and again.event["UID"] == request.event["UID"]
    assert again.event["SEQUENCE"] == 2
    with write_transaction(db.session):
        notify_registrants(db.session, db.session.get(Event, event.id),
                           MessageKind.EVENT_CHANGED, changes="")
    deliver_all(app)
    assert invitation(smtp.to("holder@example.jp")[-1]).event["SEQUENCE"] == 3


def test_a_change_of_time_is_an_update_with_a_higher_sequence(app, smtp):
    event = make_event(capacity=1)
    confirmed = register(event, "first@example.jp")
    register(event, "waiting@example.jp")
    deliver_all(app)
    with write_transaction(db.session):
        event = db.session.get(Event, event.id)
        event.starts_at += timedelta(days=7)
        event.ends_at += timedelta(days=7)
        # What the event-editing service does; the hook raises the sequence.
        notify_registrants(db.session, event, MessageKind.EVENT_CHANGED, changes="")
    deliver_all(app)

    before, after = (invitation(m) for m in smtp.to("first@example.jp"))
    assert after.method == "REQUEST"
    assert after.event["UID"] == before.event["UID"] == f"registration-{confirmed.id}@localhost"
    assert (before.event["SEQUENCE"], after.event["SEQUENCE"]) == (0, 1)
    assert after.event.start == before.event.start + timedelta(days=7)
    # The waiting list hears of the change, without a calendar entry.
    assert calendar_part(smtp.to("waiting@example.jp")[-1]) is None


def test_a_change_of_place_is_an_update_too_and_bumps_add_up(app, smtp):
    event = make_event()
    register(event)
    deliver(app)
    with write_transaction(db.session):
        event = db.session.get(Event, event.id)
        assert bump_calendar_sequence(event) == 1  # e.g. an earlier change, not mailed
        event.venue_name = "新会場"
        notify_registrants(db.session, event, MessageKind.EVENT_CHANGED, changes="")
    deliver(app)
    update = invitation(smtp.to("taro@example.jp")[-1])
    assert update.event["SEQUENCE"] == 2 and str(update.event["LOCATION"]) == "新会場"


def test_event_cancellation_cancels_every_confirmed_entry(app, smtp):
    event = make_event(capacity=1)
    register(event, "first@example.jp")
    register(event, "waiting@example.jp")
    deliver_all(app)
    with write_transaction(db.session):
        event = db.session.get(Event, event.id)
        event.status = EventStatus.CANCELLED
        notify_registrants(db.session, event, MessageKind.EVENT_CANCELLED, reason="台風のため")
    deliver_all(app)
    request, cancel = (invitation(m) for m in smtp.to("first@example.jp"))
    assert cancel.method == "CANCEL" and cancel.event["UID"] == request.event["UID"]
    assert cancel.event["SEQUENCE"] > request.event["SEQUENCE"]
    assert "台風のため" in text_of(smtp.to("first@example.jp")[-1])
    assert calendar_part(smtp.to("waiting@example.jp")[-1]) is None


def test_lottery_winners_get_a_request_and_the_others_none(app, smtp):
    event = make_lottery_event(capacity=1, waitlist_enabled=False)
    for number in range(3):
        service.register(db.session, event.id,
                         signup(f"p{number}@example.jp", answers={"residence": "その他"}))
    lottery.draw(db.session, event.id, seed="s", force=True)
    deliver_all(app)
    assert len(smtp.received) == 6  # entry receipts, then the results
    with_calendar = [r for r in smtp.received if calendar_part(r.message) is not None]
    winner = only(outbox(kind=MessageKind.LOTTERY_WON))
    assert [r.recipients for r in with_calendar] == [[winner.recipient]]
    assert invitation(with_calendar[0].message).method == "REQUEST"


def test_an_invitation_does_not_overtake_its_cancellation(app):
    """A CANCEL waits behind the unsent REQUEST of the same registration."""
    inbox = Inbox(refuse={"taro@example.jp": "451 4.3.0 Try again later"})
    with smtp_server(inbox=inbox) as (_inbox, port):
        app.config.update(smtp_config(port))
        registration = register(make_event())
        assert deliver(app).retrying == 1
        service.cancel_registration(db.session, registration.id)
        inbox.refuse.clear()
        assert deliver(app).claimed == 0  # the cancellation waits for the invitation
        later = utcnow() + timedelta(hours=1)
        deliver_all(app, now=later)
    first, second = (invitation(m).method for m in inbox.to("taro@example.jp"))
    assert (first, second) == ("REQUEST", "CANCEL")


# --- failures, retries, parking ----------------------------------------------------------------


def test_server_down_then_up_sends_exactly_once(app):
    port = free_port()  # nothing listens here yet
    app.config.update(smtp_config(port, MAIL_RETRY_BASE_SECONDS=60))
    register(make_event(), "a@example.jp")
    register(make_event(), "b@example.jp")
    before = utcnow()
    report = deliver(app)
    assert (report.sent, report.retrying, report.released) == (0, 1, 1)
    first, second = outbox()
    assert all(m.status is OutboxStatus.PENDING for m in (first, second))
    assert first.attempts == 1 and "Connection" in first.last_error
    assert second.attempts == 0 and second.last_error.startswith("not tried")
    # Backoff with jitter: between half and all of the first delay.
    assert before + timedelta(seconds=29) <= first.next_attempt_at <= utcnow() + timedelta(
        seconds=61)
    assert second.next_attempt_at == first.next_attempt_at

    with smtp_server(port=port) as (inbox, _port):
        assert deliver(app).claimed == 0  # not due yet
        later = utcnow() + timedelta(minutes=2)
        assert deliver(app, now=later).sent == 2
        assert deliver(app, now=later + timedelta(hours=1)).claimed == 0
    assert inbox.count_by_recipient() == {"a@example.jp": 1, "b@example.jp": 1}
    assert [m.attempts for m in outbox()] == [2, 1]


def test_sign_up_succeeds_while_smtp_is_down(app, client):
    app.config.update(smtp_config(free_port()))
    event = make_event()
    page = client.get(f"/events/{event.slug}/register", headers=EN)
    response = client.post(f"/events/{event.slug}/register",
                           data=form_data(csrf_token_from(page.text)), headers=EN)
    assert response.status_code == 302 and "/r/" in response.headers["Location"]
    message = only(outbox())
    assert message.status is OutboxStatus.PENDING and message.attempts == 0


def test_messages_that_keep_failing_are_parked_and_shown_to_admins(app, client):
    inbox = Inbox(refuse={"grey@example.jp": "451 4.7.1 Greylisted",
                          "gone@example.jp": "550 5.1.1 No such user"})
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=1))
    with smtp_server(inbox=inbox) as (_inbox, port):
        app.config.update(smtp_config(port))
        register(make_event(), "grey@example.jp")
        register(make_event(), "gone@example.jp")
        register(make_event(), "fine@example.jp")
        report = deliver(app, policy=policy)
        # A permanent refusal parks at once; the connection stays usable for the next one.
        assert (report.sent, report.retrying, report.parked) == (1, 1, 1)
        moment = utcnow()
        for _ in range(2):
            moment += timedelta(minutes=5)
            deliver(app, policy=policy, now=moment)
    grey, gone, fine = outbox()
    assert (grey.status, grey.attempts) == (OutboxStatus.PARKED, 3)
    assert (gone.status, gone.attempts) == (OutboxStatus.PARKED, 1)
    assert "550" in gone.last_error and "451" in grey.last_error
    assert fine.status is OutboxStatus.SENT

    make_user("admin@example.lg.jp", role="admin")
    make_user("organizer@example.lg.jp")
    auth = AuthActions(client)
    auth.login("organizer@example.lg.jp")
    assert client.get("/console/outbox").status_code == 403
    client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    auth.login("admin@example.lg.jp")
    page = client.get("/console/outbox")
    assert page.status_code == 200
    assert 'id="count-parked">2<' in page.text
    assert "gone@example.jp" in page.text and "No such user" in page.text
    assert "Outgoing mail" in client.get("/console/").text  # in the admin's navigation

    response = client.post(f"/console/outbox/{gone.id}/retry",
                           data={"csrf_token": csrf_token_from(page.text)})
    assert response.status_code == 303
    gone = db.session.get(OutboxMessage, gone.id, populate_existing=True)
    assert (gone.status, gone.attempts) == (OutboxStatus.PENDING, 0)
    assert db.session.execute(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "outbox.retry")
    ).scalar_one() == 1
    again = client.post(f"/console/outbox/{gone.id}/retry",
                        data={"csrf_token": csrf_token_from(page.text)}, headers=EN)
    assert again.status_code == 303  # not parked any more: refused with a message
    assert client.post(f"/console/outbox/{gone.id}/retry").status_code == 400  # no CSRF


def test_a_claim_left_by_a_dead_worker_is_taken_back(app, smtp):
    register(make_event())
    policy = RetryPolicy(claim_timeout=timedelta(minutes=15))
    claimed, _ = claim_due(db.session, policy, worker="dead", limit=10)
    assert len(claimed) == 1  # and the worker dies before sending
    assert deliver(app, policy=policy).claimed == 0
    later = utcnow() + timedelta(minutes=16)
    report = deliver(app, policy=policy, now=later)
    assert (report.reclaimed, report.sent) == (1, 1)
    message = only(outbox())
    assert (message.status, message.attempts) == (OutboxStatus.SENT, 2)
    assert len(smtp.received) == 1


def test_a_stopping_worker_puts_its_batch_back(app, smtp):
    register(make_event(), "a@example.jp")
    register(make_event(), "b@example.jp")
    stop = threading.Event()
    stop.set()  # SIGTERM arrived while the batch was being claimed
    report = deliver_pending(db.session, sender(app), stop=stop)
    assert (report.sent, report.released) == (0, 2) and smtp.received == []
    assert {(m.status, m.attempts) for m in outbox()} == {(OutboxStatus.PENDING, 0)}
    assert deliver(app).sent == 2


def test_a_claim_takes_at_most_the_batch_size(app):
    event = make_event(capacity=None)
    for number in range(20):
        register(event, f"p{number:02d}@example.jp")
    claimed, _ = claim_due(db.session, RetryPolicy(), worker="w", limit=3)
    assert [outgoing.recipient for outgoing, _attempts in claimed] == [
        "p00@example.jp", "p01@example.jp", "p02@example.jp"]
    assert len(outbox(status=OutboxStatus.SENDING)) == 3


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_deliver_every_message_exactly_once(app, migrated_database, workers):
    inbox = Inbox(delay=0.01)  # a slow server makes the workers overlap
    with smtp_server(inbox=inbox) as (_inbox, port):
        app.config.update(smtp_config(port))
        event = make_event(capacity=None)
        emails = [f"p{number:02d}@example.jp" for number in range(40)]
        for email in emails:
            register(event, email)
        db.session.commit()

        def work(_index: int) -> int:
            sent = 0
            with app.app_context():
                while True:
                    report = deliver_pending(db.session, sender(app), limit=3)
                    sent += report.sent
                    if not report.claimed:
                        return sent

        per_worker = run_threads(workers, work)
    assert sum(per_worker) == 40
    assert sum(1 for count in per_worker if count) >= 2, per_worker  # they really shared
    assert inbox.count_by_recipient() == dict.fromkeys(emails, 1)
    assert {m.status for m in outbox()} == {OutboxStatus.SENT}


# --- reminders ---------------------------------------------------------------------------------


def reminder_event(hours_until_start: float, **fields: Any) -> Event:
    now = utcnow()
    return make_event(
        now=now - timedelta(days=3),
        starts_at=now + timedelta(hours=hours_until_start),
        ends_at=now + timedelta(hours=hours_until_start + 2),
        registration_closes_at=now + timedelta(hours=hours_until_start - 1),
        **fields,
    )


def register_at(event: Event, email: str, when: datetime, **fields: Any) -> Registration:
    result = service.register(db.session, event.id, signup(email, **fields), now=when)
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def test_reminders_are_queued_once_even_when_runs_overlap(app, smtp):
    event = reminder_event(20, event_format=EventFormat.HYBRID, capacity=5, online_capacity=5,
                           venue_name="みどり市民会館", online_url="https://zoom.example/j/1")
    early = utcnow() - timedelta(days=2)
    venue = register_at(event, "venue@example.jp", early)
    online = register_at(event, "online@example.jp", early, attendance_mode=AttendanceMode.ONLINE)
    # Confirmed after the reminder time: the confirmation says it all.
    register_at(event, "late@example.jp", utcnow() - timedelta(hours=1))
    register_at(reminder_event(30), "later@example.jp", early)  # due only in 6 hours
    db.session.commit()

    def run(_index: int) -> int:
        with app.app_context():
            return queue_due_reminders(db.session)

    counts = run_threads(4, run)
    assert sum(counts) == 2
    runner = app.test_cli_runner()
    assert "0 reminder(s) queued" in runner.invoke(args=["mail", "reminders"]).output
    reminders = outbox(kind=MessageKind.REMINDER)
    assert sorted(m.registration_id for m in reminders) == sorted([venue.id, online.id])

    deliver_all(app)
    online_mail = only([m for m in smtp.to("online@example.jp") if "/j/" in text_of(m)])
    assert re.search(rf"http://localhost/j/{online.id}-\S+", text_of(online_mail))
    venue_mail = smtp.to("venue@example.jp")[-1]
    assert "みどり市民会館" in text_of(venue_mail) and "/j/" not in text_of(venue_mail)


def test_a_moved_event_is_reminded_again(app):
    event = reminder_event(20)
    register_at(event, "taro@example.jp", utcnow() - timedelta(days=2))
    assert queue_due_reminders(db.session) == 1
    with write_transaction(db.session):
        event = db.session.get(Event, event.id)
        event.starts_at += timedelta(hours=1)
        event.ends_at += timedelta(hours=1)
    assert queue_due_reminders(db.session) == 1
    assert queue_due_reminders(db.session) == 0


def test_no_reminder_when_switched_off_or_cancelled(app):
    register_at(reminder_event(20, reminder_hours_before=0), "a@example.jp",
                utcnow() - timedelta(days=2))
    cancelled = register_at(reminder_event(20), "b@example.jp", utcnow() - timedelta(days=2))
    service.cancel_registration(db.session, cancelled.id)
    assert queue_due_reminders(db.session) == 0


def test_the_worker_loop_queues_reminders_and_sends(app, smtp):
    event = reminder_event(20)
    register_at(event, "taro@example.jp", utcnow() - timedelta(days=2))
    db.session.commit()
    stop = threading.Event()
    reports = []

    def loop() -> None:
        with app.app_context():
            run_worker(db.session, make_sender_factory(), stop,
                       policy=RetryPolicy.from_config(app.config), poll_seconds=0.05,
                       between_batches=lambda: queue_due_reminders(db.session),
                       on_report=reports.append)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        for _ in range(200):
            if len(smtp.received) >= 2:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(smtp.received) == 2
    assert {(m.kind, m.status) for m in outbox()} == {
        (MessageKind.CONFIRMATION, OutboxStatus.SENT), (MessageKind.REMINDER, OutboxStatus.SENT)}
    assert sum(report.sent for report in reports) == 2


def test_an_idle_worker_finds_a_message_committed_meanwhile_at_its_next_poll(app, smtp):
    """The outbox table is the queue: a worker with nothing to do looks again every
    `poll_seconds`, and finds what any other session committed meanwhile."""
    stop = threading.Event()
    looked = threading.Event()

    def loop() -> None:
        with app.app_context():
            run_worker(db.session, make_sender_factory(), stop,
                       policy=RetryPolicy.from_config(app.config), poll_seconds=0.2,
                       between_batches=looked.set)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        assert looked.wait(timeout=30)  # it has found the outbox empty at least once
        register(make_event(), "later@example.jp")  # committed by this, another session
        committed = time.monotonic()
        while not smtp.received and time.monotonic() - committed < 30:
            time.sleep(0.02)
        delay = time.monotonic() - committed
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [item.recipients for item in smtp.received] == [["later@example.jp"]]
    assert delay < 5  # one poll interval and the sending, with room for a busy machine


def test_the_mail_worker_polls_every_two_seconds_by_default(app):
    from app.commands.mail import POLL_SECONDS, send_command

    interval = next(option for option in send_command.params if option.name == "interval")
    assert interval.default == POLL_SECONDS == 2.0


# --- injection ---------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script>"\'&<img src=x onerror=alert(2)>'
SMUGGLED = "\r\nBcc: evil@example.com\r\nATTENDEE:mailto:evil@example.com\r\nBEGIN:VALARM"


def test_hostile_names_and_titles_are_escaped_in_html_and_harmless_in_ics(app, smtp):
    event = make_event(title=f"講座{HOSTILE}{SMUGGLED}", venue_name=f"会場{SMUGGLED}",
                       summary=f"説明{HOSTILE}\nhttps://evil.example/phish\"><script>")
    register(event, name="太郎<script>x</script>\r\nBcc: e@example.com\r\nBEGIN:VALARM")
    deliver(app)
    received = only(smtp.received)
    assert received.recipients == ["taro@example.jp"]  # no smuggled Bcc
    message = received.message
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    html = text_of(message, "html")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://evil.example' not in html  # a typed URL does not become a link

    invite = invitation(message)
    assert invite.calendar.walk("VALARM") == []
    assert invite.event["ATTENDEE"] == "mailto:taro@example.jp"  # one, not a list
    lines = invite.raw.decode().replace("\r\n ", "").split("\r\n")
    smuggled = ("BEGIN:VALARM", "ATTENDEE:mailto:evil", "Bcc")
    assert not any(line.startswith(smuggled) for line in lines)
    (ics_event,) = invite.parsed.events
    assert [a.email for a in ics_event.attendees] == ["taro@example.jp"]
    assert not ics_event.alarms


def test_a_message_that_cannot_be_built_is_parked_not_retried(app, smtp):
    register(make_event())
    with write_transaction(db.session):
        only(outbox()).recipient = "taro@example.jp\r\nBcc: evil@example.com"
    report = deliver(app)
    assert report.parked == 1 and smtp.received == []


def test_build_email_without_a_calendar_is_plain_and_html_only(app):
    outgoing = Outgoing(1, MessageKind.WAITLISTED, "a@example.jp", "ja", "件名\r\nBcc: x@y",
                        "本文\n", {}, utcnow())
    message = build_email(outgoing, sender="Tsudoi <no-reply@example.jp>")
    assert message["Subject"] == "件名 Bcc: x@y"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


# --- TLS and authentication --------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_starttls_with_authentication(app, certificate):
    cert, key = certificate
    server = {"tls_context": server_tls_context(cert, key), "require_starttls": True,
              "authenticator": password_checker("tsudoi", "s3cret-password"),
              "auth_required": True}
    with smtp_server(**server) as (inbox, port):
        app.config.update(smtp_config(port, MAIL_USE_TLS=True, MAIL_CA_FILE=str(cert),
                                      MAIL_USERNAME="tsudoi", MAIL_PASSWORD="s3cret-password"))
        register(make_event())
        assert deliver(app).sent == 1
        app.config.update(MAIL_PASSWORD="wrong", MAIL_TIMEOUT=1)
        register(make_event(), "hanako@example.jp")
        report = deliver(app)  # refused (aiosmtpd answers a failed AUTH slowly)
        assert (report.sent, report.retrying) == (0, 1)
    assert len(inbox.received) == 1


def test_implicit_tls_and_an_untrusted_certificate(app, certificate):
    cert, key = certificate
    with smtp_server(ssl_context=server_tls_context(cert, key)) as (inbox, port):
        app.config.update(smtp_config(port, MAIL_USE_SSL=True))
        register(make_event())
        report = deliver(app)  # the system CAs do not know our certificate: refused
        assert report.retrying == 1 and "CERTIFICATE_VERIFY_FAILED" in report.errors[0]
        app.config["MAIL_CA_FILE"] = str(cert)
        assert deliver(app, now=utcnow() + timedelta(hours=1)).sent == 1
    assert len(inbox.received) == 1


# --- a sign-up's message, rendered by the worker ---------------------------------------------
# The sign-up request only writes the row (kind, recipient, the registration's status and
# confirmation time); the worker renders text and invitation when it claims it. What arrives
# is what the participant was told at sign-up, even when the registration changed before
# the worker ran; anything queued later for the registration renders the earlier row first.


def test_the_sign_up_request_queues_the_message_unrendered(app, client):
    event = make_event(title="多文化共生講座")
    page = client.get(f"/events/{event.slug}/register")
    response = client.post(f"/events/{event.slug}/register",
                           data=form_data(csrf_token_from(page.text)))
    assert response.status_code == 302
    [message] = outbox()
    assert message.kind is MessageKind.CONFIRMATION and message.recipient == "taro@example.jp"
    assert is_unrendered(message) and message.subject == "" and message.body_text == ""
    assert message.payload["status"] == "confirmed"
    # Not claimable as it is: the claim renders it first.
    claimed, _ = claim_due(db.session, RetryPolicy(), worker="w", limit=10)
    [(outgoing, _attempts)] = claimed
    assert outgoing.subject == "【多文化共生講座】お申し込み確定のお知らせ"
    assert "参加が確定しました。" in outgoing.body_text
    assert outgoing.payload["calendar"]["method"] == "REQUEST"
    assert not is_unrendered(outbox()[0])


def test_the_worker_sends_what_the_sign_up_would_have_said(app, smtp):
    event = make_event(venue_name="みどり市民会館", venue_address="みどり市中央1-2-3")
    registration = register(event)
    code = check_in_code(registration)
    deliver_all(app)
    [received] = smtp.received
    text = text_of(received.message)
    assert "山田 太郎 様" in text and "参加が確定しました。" in text
    assert code is not None and f"受付コード：{code}" in text
    sent = invitation(received.message)
    assert sent.method == "REQUEST"
    [vevent] = sent.calendar.walk("VEVENT")
    assert str(vevent["UID"]) == f"registration-{registration.id}@localhost"
    assert [m.status for m in outbox()] == [OutboxStatus.SENT]


def test_a_cancellation_before_the_worker_ran_follows_the_confirmation(app, smtp):
    event = make_event()
    registration = register(event)
    code = check_in_code(registration)
    service.cancel_registration(db.session, registration.id)
    confirmation, cancellation = outbox()
    # The cancellation rendered the confirmation first, as of sign-up.
    assert not is_unrendered(confirmation)
    assert confirmation.payload["calendar"]["method"] == "REQUEST"
    assert code is not None and code in confirmation.body_text
    assert cancellation.payload["calendar"]["method"] == "CANCEL"
    assert (cancellation.payload["calendar"]["sequence"]
            > confirmation.payload["calendar"]["sequence"])
    deliver_all(app)
    methods = [invitation(item.message).method for item in smtp.received]
    assert methods == ["REQUEST", "CANCEL"]
    assert "参加が確定しました。" in text_of(smtp.received[0].message)


def test_someone_promoted_before_the_worker_ran_was_told_they_were_waiting_first(app, smtp):
    event = make_event(capacity=1, waitlist_enabled=True)
    first = register(event, "first@example.jp")
    waiting = register(event, "waiting@example.jp")
    assert waiting.status is RegistrationStatus.WAITLISTED
    service.cancel_registration(db.session, first.id)
    theirs = [m for m in outbox() if m.recipient == "waiting@example.jp"]
    assert [m.kind for m in theirs] == [MessageKind.WAITLISTED, MessageKind.PROMOTED]
    assert "calendar" not in theirs[0].payload and "キャンセル待ち" in theirs[0].body_text
    assert "受付コード" not in theirs[0].body_text
    assert theirs[1].payload["calendar"]["method"] == "REQUEST"
    deliver_all(app)
    assert smtp.count_by_recipient() == {"first@example.jp": 2, "waiting@example.jp": 2}


def test_a_seat_lost_during_the_sign_up_turns_its_message_into_the_waiting_list(
    app, monkeypatch
):
    event = make_event(capacity=1, waitlist_enabled=True)
    register(event, "first@example.jp")
    # The pools as read said a seat was free; the claim then found none.
    monkeypatch.setattr(Event, "pools_full", lambda _event, _modes=None: False)
    late = register(event, "late@example.jp")
    assert late.status is RegistrationStatus.WAITLISTED and late.confirmed_at is None
    message = outbox()[-1]
    assert message.kind is MessageKind.WAITLISTED and message.payload["status"] == "waitlisted"
    claimed, _ = claim_due(db.session, RetryPolicy(), worker="w", limit=10)
    by_recipient = {outgoing.recipient: outgoing for outgoing, _attempts in claimed}
    assert "キャンセル待ち" in by_recipient["late@example.jp"].body_text
    assert "calendar" not in by_recipient["late@example.jp"].payload


def test_data_deleted_before_the_worker_ran_sends_nothing(app, smtp):
    event = make_event()
    registration = register(event)
    privacy.delete_own_data(db.session, registration.id)
    assert outbox() == []
    deliver_all(app)
    assert smtp.received == []


def test_a_registration_changed_before_the_worker_ran_is_written_as_it_is_now(app, smtp):
    """Only the status and the confirmation are kept from sign-up; names and the event are
    as they are when the worker writes, like any message rendered a moment later."""
    event = make_event(title="旧題")
    registration = register(event)
    event.title = "新題"
    db.session.commit()
    deliver_all(app)
    [received] = smtp.received
    assert "新題" in str(received.message["Subject"])
    assert registration.status is RegistrationStatus.CONFIRMED


def test_a_message_that_cannot_be_written_is_parked_and_the_others_go(
    app, smtp, client, monkeypatch
):
    from app.services import messages

    event = make_event()
    register(event, "broken@example.jp")
    register(event, "fine@example.jp")
    compose = messages._compose

    def broken_for_one(kind: Any, registration: Any, **kwargs: Any) -> Any:
        if registration.email == "broken@example.jp":
            raise RuntimeError("a template that cannot be rendered")
        return compose(kind, registration, **kwargs)

    monkeypatch.setattr(messages, "_compose", broken_for_one)
    deliver_all(app)
    assert smtp.count_by_recipient() == {"fine@example.jp": 1}
    broken = only(outbox(recipient="broken@example.jp"))
    assert broken.status is OutboxStatus.PARKED and is_unrendered(broken)
    assert "could not be written: RuntimeError" in broken.last_error

    # Fixed, then retried from the console: written and sent.
    monkeypatch.setattr(messages, "_compose", compose)
    make_user("admin@example.lg.jp", role="admin")
    auth = AuthActions(client)
    auth.login("admin@example.lg.jp")
    page = client.get("/console/outbox", headers=EN)
    assert "broken@example.jp" in page.text and "(not written yet)" in page.text
    client.post(f"/console/outbox/{broken.id}/retry",
                data={"csrf_token": csrf_token_from(page.text)})
    deliver_all(app)
    assert smtp.count_by_recipient() == {"fine@example.jp": 1, "broken@example.jp": 1}
    assert only(outbox(recipient="broken@example.jp")).subject.endswith("お申し込み確定のお知らせ")
