"""Every message that gives a seat carries the check-in code and the QR link, for the door.

The confirmation, the promotion from the waiting list and the lottery win all confirm a
registration: an in-person participant needs the code at the reception whichever way the
seat came, and someone taking part online has no door to pass (and is told where the link
to join is instead).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Event, OutboxMessage, Registration
from app.models.enums import AttendanceMode, EventFormat, MessageKind, RegistrationStatus
from app.orm import utcnow
from app.services import lottery
from app.services import registration as registrations
from app.services.checkin import check_in_code
from app.services.mailer import Outgoing, build_email
from app.services.reminders import queue_due_reminders
from app.services.tokens import manage_token
from tests.factories import make_event, make_lottery_event, signup

IN_PERSON = AttendanceMode.IN_PERSON
ONLINE = AttendanceMode.ONLINE
ONLINE_LINE = "The link to join online is on your registration page."


def sign_up(event: Event, email: str, mode: AttendanceMode, **fields: Any) -> Registration:
    result = registrations.register(db.session, event.id, signup(
        email, attendance_mode=mode, language="en", **fields))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def message_to(registration: Registration, kind: MessageKind) -> OutboxMessage:
    return db.session.execute(select(OutboxMessage).where(
        OutboxMessage.registration_id == registration.id, OutboxMessage.kind == kind)
    ).scalar_one()


def qr_link(registration: Registration) -> str:
    return f"http://localhost/r/{manage_token(registration.manage_key)}/qr.svg"


def assert_door_pass(message: OutboxMessage, registration: Registration) -> None:
    code = check_in_code(registration)
    assert code is not None
    assert f"{qr_link(registration)}\nCheck-in code: {code}\n" in message.body_text
    assert ONLINE_LINE not in message.body_text


def assert_no_door_pass(message: OutboxMessage, registration: Registration) -> None:
    assert check_in_code(registration) is None
    assert "qr.svg" not in message.body_text and "Check-in code" not in message.body_text
    assert ONLINE_LINE in message.body_text


def promoted_after_a_cancellation(mode: AttendanceMode) -> Registration:
    """The second of two people for one seat, promoted when the first cancels."""
    event = make_event(event_format=EventFormat.HYBRID, capacity=1, online_capacity=1)
    first = sign_up(event, "first@example.jp", mode)
    second = sign_up(event, "second@example.jp", mode)
    assert second.status is RegistrationStatus.WAITLISTED
    promoted = registrations.cancel_registration(db.session, first.id)
    assert promoted is not None and promoted.id == second.id
    db.session.refresh(second)
    assert second.status is RegistrationStatus.CONFIRMED
    return second


def test_a_promotion_to_an_in_person_seat_carries_the_check_in_code(app):
    registration = promoted_after_a_cancellation(IN_PERSON)
    message = message_to(registration, MessageKind.PROMOTED)
    assert_door_pass(message, registration)
    # Right after the news, before the event's details, as in the confirmation.
    assert message.body_text.index("now confirmed.\n\nAt the reception") < \
        message.body_text.index("Event:")


def test_a_promotion_to_an_online_seat_points_to_the_join_link_instead(app):
    registration = promoted_after_a_cancellation(ONLINE)
    assert_no_door_pass(message_to(registration, MessageKind.PROMOTED), registration)


def test_the_lottery_win_carries_the_check_in_code_only_for_the_door(app):
    event = make_lottery_event(event_format=EventFormat.HYBRID, capacity=1, online_capacity=1)
    answers = {"residence": "その他"}
    in_person = [sign_up(event, f"door{n}@example.jp", IN_PERSON, answers=answers)
                 for n in range(2)]
    online = sign_up(event, "online@example.jp", ONLINE, answers=answers)
    assert event.lottery_draw_at is not None
    assert lottery.draw(db.session, event.id, seed="fixed",
                        now=event.lottery_draw_at + timedelta(minutes=1)).won == 2
    db.session.expire_all()
    # One seat for two in-person entrants: one wins it, the other waits.
    winner, loser = sorted(in_person, key=lambda r: r.status is not RegistrationStatus.CONFIRMED)
    assert (winner.status, loser.status) == (RegistrationStatus.CONFIRMED,
                                             RegistrationStatus.WAITLISTED)
    assert_door_pass(message_to(winner, MessageKind.LOTTERY_WON), winner)
    assert_no_door_pass(message_to(online, MessageKind.LOTTERY_WON), online)
    # Not drawn: nothing to show at the door yet.
    not_drawn = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.registration_id == loser.id)).scalars().all()
    assert not_drawn and all("qr.svg" not in m.body_text for m in not_drawn)


def test_the_html_part_links_the_qr_code_too(app):
    registration = promoted_after_a_cancellation(IN_PERSON)
    row = message_to(registration, MessageKind.PROMOTED)
    outgoing = Outgoing(row.id, row.kind, row.recipient, row.language, row.subject,
                        row.body_text, row.payload, row.created_at)
    email = build_email(outgoing, sender="Tsudoi <no-reply@example.jp>")
    html = email.get_body(("html",))
    assert html is not None
    content = html.get_content()
    link = qr_link(registration)
    assert f'<a href="{link}">{link}</a>' in content
    assert check_in_code(registration) in content


def test_the_reminder_before_the_event_carries_the_check_in_code_for_the_door(app):
    now = utcnow()
    event = make_event(event_format=EventFormat.HYBRID, capacity=5, online_capacity=5,
                       now=now - timedelta(days=3), starts_at=now + timedelta(hours=20),
                       ends_at=now + timedelta(hours=22),
                       registration_closes_at=now + timedelta(hours=19),
                       online_url="https://zoom.example/j/1")
    venue = sign_up(event, "venue@example.jp", IN_PERSON)
    online = sign_up(event, "online@example.jp", ONLINE)
    for registration in (venue, online):  # confirmed long before the reminder time
        registration.confirmed_at = now - timedelta(days=2)
    db.session.commit()
    assert queue_due_reminders(db.session) == 2
    at_the_door = message_to(venue, MessageKind.REMINDER)
    code = check_in_code(venue)
    assert f"{qr_link(venue)}\nCheck-in code: {code}" in at_the_door.body_text
    from_home = message_to(online, MessageKind.REMINDER)
    assert "qr.svg" not in from_home.body_text and "Check-in code" not in from_home.body_text
