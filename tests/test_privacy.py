"""Personal data retention: `flask privacy purge`, and a participant deleting their own data."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    AuditEntry,
    CheckIn,
    Event,
    ImportBatch,
    OutboxMessage,
    Question,
    Registration,
)
from app.models.attendance import AttendanceSource, MatchMethod, ReportKind
from app.models.checkin import CheckInMethod
from app.models.enums import (
    AttendanceMode,
    MessageKind,
    OrganizationType,
    OutboxStatus,
    QuestionKind,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services.invitations import feed_token
from app.services.privacy import placeholder_email, purge_ended_events
from app.services.registration import register
from app.services.tokens import manage_token
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import make_event, make_user, signup

EN = {"Accept-Language": "en"}
CONFIRMED, WAITLISTED = RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED
CANCELLED = RegistrationStatus.CANCELLED


def event_with_people(ended_days_ago: int, people: int = 3, capacity: int = 2
                      ) -> tuple[Event, list[tuple[int, str]]]:
    """An event that ended `ended_days_ago` days ago, with a free-text and a choice question,
    and people who signed up while it was open; returns (id, manage token) pairs."""
    opened = utcnow() - timedelta(days=ended_days_ago + 11)  # ends at opened + 10 days 2 h
    event = make_event(capacity=capacity, now=opened, commit=False)
    event.questions = [
        Question(key="note", kind=QuestionKind.TEXT, label="ご意見", position=0),
        Question(key="residence", kind=QuestionKind.SINGLE_CHOICE, label="お住まい",
                 options=["区内在住", "その他"], position=1),
    ]
    db.session.commit()
    registered = []
    for n in range(people):
        result = register(db.session, event.id, signup(
            f"person{n}@example.jp", name=f"個人 情報{n}", furigana="こじん じょうほう",
            organization_name=f"秘密の団体{n}", organization_type=OrganizationType.NPO,
            answers={"note": f"私の電話は 090-0000-000{n}", "residence": "区内在住"},
        ), now=opened + timedelta(hours=n))
        assert result.manage_token is not None
        registered.append((result.registration_id, result.manage_token))
    return event, registered


def registrations_of(event: Event) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.execute(
        select(Registration).where(Registration.event_id == event.id).order_by(Registration.id)
    ).scalars())


def audit_actions() -> list[str]:
    return list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def add_attendance(event: Event, registration_id: int) -> None:
    """A matched Zoom row with the name and address the report wrote, and a guest's row."""
    report = AttendanceImport(
        token=hashlib.sha256(str(event.id).encode()).hexdigest(), event_id=event.id,
        kind=ReportKind.ZOOM_MEETING, shape="zoom", filename="report.csv",
        sha256="0" * 64, content=b"Name,Email\n\xe5\x80\x8b\xe4\xba\xba,person0@example.jp\n",
        people=2)
    db.session.add(report)
    db.session.flush()
    db.session.add_all([
        AttendanceRecord(event_id=event.id, registration_id=registration_id,
                         import_id=report.id, source=AttendanceSource.ZOOM,
                         matched_by=MatchMethod.EMAIL, seconds=3600,
                         raw_name="個人 情報0", raw_email="person0@example.jp"),
        AttendanceRecord(event_id=event.id, import_id=report.id, source=AttendanceSource.ZOOM,
                         seconds=600, raw_name="ゲスト 花子", raw_email="guest@example.jp"),
    ])
    db.session.commit()


# --- flask privacy purge --------------------------------------------------------------------


def test_purge_anonymises_old_events_and_keeps_the_figures(app: Flask, client: FlaskClient
                                                           ) -> None:
    old, old_people = event_with_people(ended_days_ago=200)
    recent, recent_people = event_with_people(ended_days_ago=10)
    first_id, first_token = old_people[0]
    add_attendance(old, first_id)
    db.session.add(CheckIn(registration_id=first_id, day=date(2025, 1, 1),
                           method=CheckInMethod.QR, nonce="n" * 32))
    user = make_user(events=[old])
    db.session.add(ImportBatch(token="t" * 64, event_id=old.id, user_id=user.id,
                               filename="名簿.csv", content="個人 情報".encode(),
                               encoding="utf-8", row_count=1))
    for message in db.session.execute(select(OutboxMessage)).scalars():
        message.status, message.sent_at = OutboxStatus.SENT, utcnow()
    db.session.commit()
    before = {r.id: r for r in registrations_of(old)}
    snapshot = {r.id: (r.status, r.attendance_mode, r.prefecture_code, r.municipality_code,
                       r.organization_type, r.created_at, r.confirmed_at, r.waitlist_seq)
                for r in before.values()}
    old_feed = feed_token(before[first_id])
    assert client.get(f"/r/{first_token}").status_code == 200

    report = purge_ended_events(db.session, days=180)

    assert (report.events, report.counts.registrations) == (1, 3)
    for registration in registrations_of(old):
        assert registration.name == "—"
        assert registration.furigana == registration.furigana_key == ""
        assert registration.email == registration.email_normalized == placeholder_email(
            registration.id)
        assert registration.organization_name == ""
        assert registration.answers == {"residence": "区内在住"}  # the choice stays, the text goes
        assert (registration.status, registration.attendance_mode, registration.prefecture_code,
                registration.municipality_code, registration.organization_type,
                registration.created_at, registration.confirmed_at,
                registration.waitlist_seq) == snapshot[registration.id]
    # Every link is dead: manage, calendar feed, and the one in the e-mails.
    assert client.get(f"/r/{first_token}").status_code == 404
    assert client.get(f"/feeds/{first_id}/{old_feed}/calendar.ics").status_code == 404
    # Messages keep their kind and subject only; attendance keeps its minutes.
    messages = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.event_id == old.id)).scalars().all()
    assert messages and all(m.body_text == "" and m.payload == {} for m in messages)
    assert all("@example.jp" not in m.recipient for m in messages)
    records = db.session.execute(select(AttendanceRecord).where(
        AttendanceRecord.event_id == old.id).order_by(AttendanceRecord.id)).scalars().all()
    assert [(r.raw_name, r.raw_email, r.seconds, r.registration_id) for r in records] == [
        ("", "", 3600, first_id), ("", "", 600, None)]
    assert db.session.execute(select(AttendanceImport.content)).scalar_one() == b""
    assert db.session.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 0
    assert db.session.execute(select(CheckIn.registration_id)).scalar_one() == first_id
    # The recent event is untouched, its links still work.
    assert [r.email for r in registrations_of(recent)] == [
        f"person{n}@example.jp" for n in range(3)]
    assert client.get(f"/r/{recent_people[0][1]}").status_code == 200
    # One audit entry, with counts and no personal data.
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "privacy.purge")).scalar_one()
    assert entry.event_id == old.id and entry.details["registrations"] == 3
    assert "example.jp" not in str(entry.details)


def test_purge_is_idempotent(app: Flask) -> None:
    old, _people = event_with_people(ended_days_ago=200)
    purge_ended_events(db.session, days=180)
    first = [(r.email, r.manage_key, r.manage_token_hash) for r in registrations_of(old)]
    again = purge_ended_events(db.session, days=180)
    assert (again.events, again.counts.registrations) == (0, 0)
    assert [(r.email, r.manage_key, r.manage_token_hash) for r in registrations_of(old)] == first
    assert audit_actions().count("privacy.purge") == 1


def test_active_registrations_of_the_same_event_keep_the_unique_index(app: Flask) -> None:
    """Confirmed and waitlisted rows stay active: each needs a placeholder of its own."""
    old, _people = event_with_people(ended_days_ago=365, people=4, capacity=2)
    assert [r.status for r in registrations_of(old)] == [CONFIRMED] * 2 + [WAITLISTED] * 2
    purge_ended_events(db.session, days=180)
    emails = [r.email_normalized for r in registrations_of(old)]
    assert len(set(emails)) == 4 and all(e.endswith("@invalid") for e in emails)


def test_dry_run_counts_and_changes_nothing(app: Flask) -> None:
    old, _people = event_with_people(ended_days_ago=200)
    report = purge_ended_events(db.session, days=180, dry_run=True)
    assert (report.dry_run, report.events, report.counts.registrations) == (True, 1, 3)
    assert all(r.email.endswith("@example.jp") for r in registrations_of(old))
    assert "privacy.purge" not in audit_actions()


def test_retention_days_boundary(app: Flask) -> None:
    event_with_people(ended_days_ago=30)
    assert purge_ended_events(db.session, days=31).counts.registrations == 0
    assert purge_ended_events(db.session, days=29).counts.registrations == 3


def test_unsent_messages_are_deleted_and_sent_ones_emptied(app: Flask) -> None:
    old, people = event_with_people(ended_days_ago=200, people=2)
    sent, _pending = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.event_id == old.id).order_by(OutboxMessage.id)).scalars().all()
    sent.status, sent.sent_at = OutboxStatus.SENT, utcnow()
    db.session.commit()
    purge_ended_events(db.session, days=180)
    (left,) = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.event_id == old.id)).scalars().all()
    assert (left.id, left.status, left.kind) == (sent.id, OutboxStatus.SENT,
                                                  MessageKind.CONFIRMATION)
    assert (left.recipient, left.body_text, left.payload) == ("deleted@invalid", "", {})
    assert people[1][0] != left.registration_id


def test_cli_uses_the_configured_retention(migrated_database: str) -> None:
    with app_context_for(migrated_database, PRIVACY_RETENTION_DAYS=5) as app:
        old, _people = event_with_people(ended_days_ago=10)
        runner = app.test_cli_runner()
        dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "3 registration(s) would be anonymised" in dry.output
        assert runner.invoke(args=["privacy", "purge", "--days", "30"]).output.startswith(
            "0 event(s)")
        result = runner.invoke(args=["privacy", "purge"])
        assert result.exit_code == 0, result.output
        assert "3 registration(s) anonymised" in result.output
        assert all(r.email.endswith("@invalid") for r in registrations_of(old))
        assert runner.invoke(args=["privacy", "purge", "--days", "-1"]).exit_code == 2


# --- a participant deletes their own data ---------------------------------------------------


def open_event_with_people(people: int = 3, capacity: int = 2) -> tuple[Event, list[tuple[int,
                                                                                         str]]]:
    event = make_event(capacity=capacity)
    registered = []
    for n in range(people):
        result = register(db.session, event.id, signup(f"person{n}@example.jp",
                                                       name=f"個人 情報{n}"))
        assert result.manage_token is not None
        registered.append((result.registration_id, result.manage_token))
    return event, registered


def test_participant_deletes_their_data_and_the_next_person_gets_the_seat(
    app: Flask, client: FlaskClient
) -> None:
    event, people = open_event_with_people()
    (mine, token), _other, (waiting, _waiting_token) = people
    manage = client.get(f"/r/{token}", headers=EN)
    assert f'href="/r/{token}/delete"' in manage.text and "Delete my data" in manage.text
    page = client.get(f"/r/{token}/delete", headers=EN)
    assert page.status_code == 200 and "cancelled" in page.text
    assert client.post(f"/r/{token}/delete", headers=EN).status_code == 400  # no CSRF token

    response = client.post(f"/r/{token}/delete", data={"csrf_token": csrf_token_from(page.text)},
                           headers=EN)

    assert response.status_code == 302 and response.headers["Location"] == "/r/deleted"
    done = client.get("/r/deleted", headers=EN)
    assert done.status_code == 200 and "Your data has been deleted" in done.text
    assert client.get(f"/r/{token}", headers=EN).status_code == 404
    assert client.get(f"/r/{token}/delete", headers=EN).status_code == 404
    registration = db.session.get(Registration, mine)
    assert registration is not None
    assert (registration.status, registration.email, registration.name) == (
        CANCELLED, placeholder_email(mine), "—")
    assert db.session.get(Registration, waiting).status is CONFIRMED  # type: ignore[union-attr]
    assert event.seat_pools[0].taken == 2
    # Nothing left to send to the person who left; the promoted person is told.
    kinds = {(m.registration_id, m.kind) for m in db.session.execute(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).scalars()}
    assert (waiting, MessageKind.PROMOTED) in kinds
    assert not any(registration_id == mine for registration_id, _kind in kinds)
    assert all("person0@example.jp" not in m.body_text and m.recipient != "person0@example.jp"
               for m in db.session.execute(select(OutboxMessage)).scalars())
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "registration.delete_own_data")).scalar_one()
    assert (entry.target_id, entry.details) == (mine, {"status": "confirmed"})


def test_a_cancelled_registration_can_be_deleted_too(app: Flask, client: FlaskClient) -> None:
    _event, people = open_event_with_people(people=1)
    (mine, token), = people
    page = client.get(f"/r/{token}/cancel")
    client.post(f"/r/{token}/cancel", data={"csrf_token": csrf_token_from(page.text)})
    page = client.get(f"/r/{token}/delete", headers=EN)
    assert "will be cancelled" not in page.text
    client.post(f"/r/{token}/delete", data={"csrf_token": csrf_token_from(page.text)})
    registration = db.session.get(Registration, mine)
    assert registration is not None and registration.email == placeholder_email(mine)
    assert registration.status is CANCELLED


def test_links_derived_from_the_manage_key_die_with_it(app: Flask, client: FlaskClient) -> None:
    event = make_event(capacity=5)
    result = register(db.session, event.id, signup(attendance_mode=AttendanceMode.IN_PERSON))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    feed = f"/feeds/{registration.id}/{feed_token(registration)}/calendar.ics"
    assert client.get(feed).status_code == 200
    page = client.get(f"/r/{result.manage_token}/delete")
    client.post(f"/r/{result.manage_token}/delete",
                data={"csrf_token": csrf_token_from(page.text)})
    assert client.get(feed).status_code == 404
    db.session.expire_all()
    assert manage_token(registration.manage_key) != result.manage_token


def test_the_confirmation_page_leaks_nothing(app: Flask, client: FlaskClient) -> None:
    page = client.get("/r/deleted", headers=EN)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert not re.search(r"/r/[A-Za-z0-9_-]{43}", page.text)


def test_unknown_tokens_are_404(client: FlaskClient) -> None:
    assert client.get("/r/" + "A" * 43 + "/delete").status_code == 404
