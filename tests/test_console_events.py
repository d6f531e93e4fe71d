"""The console's event pages: create every kind, edit, notify, cancel, duplicate, publish,
capacity and waiting list, members, bad input, CSRF and the audit log."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from html import unescape
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.extensions import db
from app.i18n import TOKYO
from app.models import (
    AuditEntry,
    BreakoutGroup,
    Event,
    EventMembership,
    EventPerson,
    OutboxMessage,
    ProgrammeSession,
    Question,
    Registration,
    SeatPool,
)
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    MembershipRole,
    MessageKind,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    RegistrationStatus,
    SessionKind,
)
from app.orm import utcnow
from app.services import events as service
from app.services.registration import RegistrationClosed, cancel_registration, register
from tests.conftest import csrf_token_from
from tests.factories import (
    AuthActions,
    add_groups,
    form_data,
    make_event,
    make_lottery_event,
    make_user,
    signup,
)

ORGANIZER = "organizer@example.lg.jp"


# --- Helpers of this module -----------------------------------------------------------------


def local(value: datetime) -> str:
    """What a datetime-local input sends, in Tokyo time."""
    return value.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def next_day_at(days: int, hour: int) -> datetime:
    day = (utcnow().astimezone(TOKYO) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour), tzinfo=TOKYO)


def token_of(client: Any, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return csrf_token_from(page.text)


def submit(client: Any, url: str, data: dict[str, Any], form_url: str | None = None) -> Any:
    """Open the form page for its CSRF token, then post."""
    return client.post(url, data={"csrf_token": token_of(client, form_url or url), **data})


def press(client: Any, url: str) -> Any:
    """A button of the event's pages (publish, duplicate, remove): only the CSRF token."""
    return submit(client, url, {}, form_url="/console/password")


def event_fields(**overrides: Any) -> dict[str, Any]:
    starts = next_day_at(30, 14)
    fields: dict[str, Any] = {
        "title": "多文化共生のまちづくりに向けた連携のあり方を考える",
        "kind": "lecture",
        "format": "online",
        "starts_at": local(starts),
        "ends_at": local(starts + timedelta(hours=2)),
        "summary": "特別区と全国各地の自治体の職員が集うオンライン講演会",
        "organizer_name": "特別区長会",
    }
    fields.update(overrides)
    return fields


def settings_fields(event: Event, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "registration_required": "y",
        "waitlist_enabled": "y",
        "registration_mode": event.registration_mode.value,
        "max_preference_ranks": str(event.max_preference_ranks),
    }
    for pool in event.seat_pools:
        fields[f"capacity_{pool.mode.value}"] = "" if pool.capacity is None else str(
            pool.capacity)
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def create(client: Any, **overrides: Any) -> Event:
    response = submit(client, "/console/events/new", event_fields(**overrides))
    assert response.status_code == 302, field_errors(response.text)
    event_id = int(re.search(r"/console/events/(\d+)/", response.headers["Location"]).group(1))
    event = db.session.get(Event, event_id)
    assert event is not None
    return event


def field_errors(html: str) -> dict[str, str]:
    """The message shown next to each field, by the field's id."""
    return {match.group(1): unescape(re.sub(r"<[^>]+>", "", match.group(2))).replace(
        "Error:", "").strip() for match in re.finditer(
        r'<p class="field-error" id="([\w-]+)-error">(.*?)</p>', html, re.S)}


def messages(kind: MessageKind) -> list[OutboxMessage]:
    return list(db.session.execute(
        select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    ).scalars())


def audit_actions(event_id: int | None = None) -> list[str]:
    query = select(AuditEntry.action).order_by(AuditEntry.id)
    if event_id is not None:
        query = query.where(AuditEntry.event_id == event_id)
    return list(db.session.execute(query).scalars())


def count(model: Any) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def registrations(event: Event, *emails: str, mode: AttendanceMode = AttendanceMode.IN_PERSON,
                  **answers: Any) -> list[int]:
    return [register(db.session, event.id, signup(email, attendance_mode=mode,
                                                   answers=dict(answers))).registration_id
            for email in emails]


def statuses(ids: list[int]) -> list[RegistrationStatus]:
    db.session.expire_all()
    return [db.session.get(Registration, registration_id).status for registration_id in ids]


@pytest.fixture
def organizer(client: Any, app: Any) -> Any:
    user = make_user(ORGANIZER)
    assert AuthActions(client).login().status_code == 302
    return user


def my_event(user: Any, **fields: Any) -> Event:
    """A published event (factories.make_event) of which `user` is an organiser, on whole
    minutes as a form sends them."""
    starts = next_day_at(10, 14)
    fields = {"starts_at": starts, "ends_at": starts + timedelta(hours=2), **fields}
    event = make_event(**fields)
    db.session.add(EventMembership(event=event, user=user, role=MembershipRole.ORGANIZER))
    db.session.commit()
    return event


# --- Creating each kind ---------------------------------------------------------------------


def test_create_an_exhibition_with_opening_hours_and_closed_days(client, organizer):
    starts = next_day_at(20, 10)
    ends = next_day_at(24, 17)
    closed = (starts + timedelta(days=2)).date()
    response = submit(client, "/console/events/new", event_fields(
        title="魅力いっぱい ギュッと 千葉", kind="exhibition", format="in_person",
        starts_at=local(starts), ends_at=local(ends), daily_opens_at="10:00",
        daily_closes_at="17:00", closed_dates=f"{closed.isoformat()}\n",
        venue_name="東京区政会館 1階", venue_address="東京都千代田区飯田橋3-5-1",
        themes="観光\n移住"))
    assert response.status_code == 302
    event = db.session.execute(select(Event)).scalar_one()
    assert response.headers["Location"] == f"/console/events/{event.id}/settings"
    assert event.status is EventStatus.DRAFT and event.kind is EventKind.EXHIBITION
    assert (event.daily_opens_at, event.daily_closes_at) == (time(10), time(17))
    assert event.closed_dates == [closed.isoformat()] and event.closed_on(closed)
    assert event.themes == ["観光", "移住"]
    assert event.slug == f"event-{event.id}"  # a Japanese title makes no readable slug
    assert [(pool.mode, pool.capacity) for pool in event.seat_pools] == [
        (AttendanceMode.IN_PERSON, None)]
    membership = db.session.execute(select(EventMembership)).scalar_one()
    assert (membership.user_id, membership.role) == (organizer.id, MembershipRole.ORGANIZER)
    assert audit_actions(event.id) == ["event.create"]

    overview = client.get(f"/console/events/{event.id}").text
    assert "Open daily 10:00–17:00" in overview
    assert "https://www.google.com/maps/search/?api=1&amp;query=" in overview
    dashboard = client.get("/console/").text
    assert f'href="/console/events/{event.id}"' in dashboard and "New event" in dashboard


def test_create_an_online_lecture_with_programme_and_groups(client, organizer):
    event = create(client, title="Online lecture on regional cooperation")
    assert event.slug == "online-lecture-on-regional-cooperation"
    base = f"/console/events/{event.id}"
    assert submit(client, f"{base}/settings", settings_fields(
        event, capacity_online="300", max_preference_ranks="2")).status_code == 302

    keynote = submit(client, f"{base}/programme/new", {
        "kind": "keynote", "title": "基調講演", "starts_at": local(event.starts_at),
        "ends_at": local(event.starts_at + timedelta(minutes=40)),
        "people-0-role": "speaker", "people-0-name": "田村 太郎",
        "people-0-affiliation": "一般財団法人ダイバーシティ研究所", "people-0-title": "代表理事",
        "people-1-role": "speaker", "people-1-name": "", "people-1-affiliation": ""})
    assert keynote.status_code == 302, field_errors(keynote.text)
    breakout = submit(client, f"{base}/programme/new", {
        "kind": "breakout", "title": "グループ討議",
        "starts_at": local(event.starts_at + timedelta(minutes=50)),
        "ends_at": local(event.ends_at)})
    assert breakout.status_code == 302
    moderator = submit(client, f"{base}/people", {
        "role": "moderator", "name": "山田 花子", "affiliation": "特別区協議会"},
        form_url=f"{base}/programme")
    assert moderator.status_code == 302

    sessions = db.session.execute(select(ProgrammeSession).order_by(
        ProgrammeSession.starts_at)).scalars().all()
    assert [(s.kind, s.title) for s in sessions] == [
        (SessionKind.KEYNOTE, "基調講演"), (SessionKind.BREAKOUT, "グループ討議")]
    assert [(p.name, p.title) for p in sessions[0].people] == [("田村 太郎", "代表理事")]
    person = db.session.execute(select(EventPerson).where(
        EventPerson.session_id.is_(None))).scalar_one()
    assert (person.role, person.name) == (PersonRole.MODERATOR, "山田 花子")

    for name, facilitator in [("A 多文化共生", "佐賀県"), ("B 防災", "知立市")]:
        added = submit(client, f"{base}/groups", {
            "name": name, "theme": "テーマ", "facilitator_name": facilitator,
            "capacity": "30", "room": "Zoom ブレイクアウト", "session_id": str(sessions[1].id)})
        assert added.status_code == 302, field_errors(added.text)
    groups = db.session.execute(select(BreakoutGroup).order_by(BreakoutGroup.position)).scalars()
    assert [(g.name, g.capacity, g.session_id) for g in groups] == [
        ("A 多文化共生", 30, sessions[1].id), ("B 防災", 30, sessions[1].id)]

    preview = client.get(f"{base}/preview")
    assert preview.status_code == 200
    for text in ["基調講演", "田村 太郎", "山田 花子", "A 多文化共生", "Preview"]:
        assert text in preview.text
    db.session.expire_all()
    assert event.pool_for(AttendanceMode.ONLINE).capacity == 300
    assert event.max_preference_ranks == 2
    assert audit_actions(event.id) == ["event.create", "event.settings", "programme.add",
                                       "programme.add", "person.add", "group.add", "group.add"]


def test_create_a_hybrid_event_with_two_seat_pools(client, organizer):
    event = create(client, format="hybrid", venue_name="東京区政会館")
    page = client.get(f"/console/events/{event.id}/settings").text
    assert "Seats at the venue" in page and "Online places" in page
    response = submit(client, f"/console/events/{event.id}/settings", settings_fields(
        event, capacity_in_person="40", capacity_online="200"))
    assert response.status_code == 302
    pools = db.session.execute(select(SeatPool.mode, SeatPool.capacity).where(
        SeatPool.event_id == event.id).order_by(SeatPool.mode)).all()
    assert sorted(pools) == [(AttendanceMode.IN_PERSON, 40), (AttendanceMode.ONLINE, 200)]
    overview = client.get(f"/console/events/{event.id}").text
    assert "At the venue" in overview and "Online" in overview

    # Dropping the online part removes its pool while nobody has registered online.
    edited = submit(client, f"/console/events/{event.id}/edit",
                    event_fields(format="in_person", venue_name="東京区政会館"))
    assert edited.status_code == 302
    db.session.expire_all()
    assert [pool.mode for pool in event.seat_pools] == [AttendanceMode.IN_PERSON]


def test_create_a_lottery_festival_with_priority_tiers(client, organizer):
    starts = next_day_at(40, 10)
    event = create(client, title="特別区全国連携 ふるさと祭り", kind="festival",
                   format="in_person", venue_name="日比谷公園", starts_at=local(starts),
                   ends_at=local(starts + timedelta(days=1, hours=7)))
    base = f"/console/events/{event.id}"
    question = submit(client, f"{base}/questions", {
        "label": "お住まい", "kind": "single_choice", "options": "区内在住\n区内在勤・在学\nその他",
        "required": "y", "key": "residence", "label_en": "Where do you live?",
        "options_en": "In the ward\nWork or study in the ward\nElsewhere"})
    assert question.status_code == 302, field_errors(question.text)
    draw = starts - timedelta(days=10)
    response = submit(client, f"{base}/settings", settings_fields(
        event, registration_mode="lottery", lottery_draw_at=local(draw),
        lottery_tiers="residence: 区内在住\nresidence：区内在勤・在学",
        capacity_in_person="500"))
    assert response.status_code == 302, field_errors(response.text)
    db.session.expire_all()
    assert event.registration_mode is RegistrationMode.LOTTERY
    assert event.lottery_draw_at == draw
    assert event.lottery_tiers == [{"question": "residence", "any_of": ["区内在住"]},
                                   {"question": "residence", "any_of": ["区内在勤・在学"]}]
    page = client.get(f"{base}/settings").text
    assert "residence: 区内在住" in page  # the tiers are shown back as they were written

    # The tiers name questions and options that exist.
    wrong = submit(client, f"{base}/settings", settings_fields(
        event, registration_mode="lottery", lottery_draw_at=local(draw),
        lottery_tiers="residence: 都外在住", capacity_in_person="500"))
    assert wrong.status_code == 422
    assert "“都外在住” is not an option" in field_errors(wrong.text)["lottery_tiers"]
    # A draw on the day of the event comes too late.
    late = submit(client, f"{base}/settings", settings_fields(
        event, registration_mode="lottery", lottery_draw_at=local(starts + timedelta(hours=1)),
        capacity_in_person="500"))
    assert late.status_code == 422
    assert field_errors(late.text)["lottery_draw_at"] == "The draw must be before the event."
    # A question the tiers use cannot be removed.
    removed = press(client, f"{base}/questions/{event.questions[0].id}/delete")
    assert removed.status_code == 302
    assert count(Question) == 1
    assert "lottery tiers use this question" in client.get(f"{base}/questions").text


def test_a_viewer_account_cannot_create_events(client, app):
    make_user("viewer@example.lg.jp", role="viewer")
    AuthActions(client).login("viewer@example.lg.jp")
    assert client.get("/console/events/new").status_code == 403
    assert "New event" not in client.get("/console/").text


# --- Editing and telling the registrants ----------------------------------------------------


def test_a_change_of_time_or_place_is_mailed_to_active_registrants_only(client, organizer):
    event = my_event(organizer, capacity=1, venue_name="東京区政会館",
                     venue_address="東京都千代田区飯田橋3-5-1")
    confirmed, waiting, leaving = registrations(
        event, "confirmed@example.jp", "waiting@example.jp", "leaving@example.jp")
    cancel_registration(db.session, leaving)
    assert statuses([confirmed, waiting, leaving]) == [
        RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.CANCELLED]
    base = f"/console/events/{event.id}"
    unchanged = {"kind": "lecture", "format": "in_person", "title": event.title,
                 "starts_at": local(event.starts_at), "ends_at": local(event.ends_at),
                 "venue_name": event.venue_name, "venue_address": event.venue_address,
                 "slug": event.slug}

    summary_only = submit(client, f"{base}/edit", {**unchanged, "summary": "新しい概要"})
    assert summary_only.status_code == 302
    assert messages(MessageKind.EVENT_CHANGED) == []

    later = event.starts_at + timedelta(hours=1)
    moved = submit(client, f"{base}/edit", {
        **unchanged, "summary": "新しい概要", "starts_at": local(later),
        "ends_at": local(event.ends_at + timedelta(hours=1)), "venue_name": "練馬区役所"})
    assert moved.status_code == 302
    sent = messages(MessageKind.EVENT_CHANGED)
    assert sorted(m.recipient for m in sent) == ["confirmed@example.jp", "waiting@example.jp"]
    body = sent[0].body_text
    assert "→" in body and "練馬区役所" in body and "東京区政会館" in body
    assert audit_actions(event.id)[-2:] == ["event.update", "event.update"]
    entry = db.session.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.details["notified"] == 2 and "venue_name" in entry.details["fields"]


def test_lottery_entrants_are_told_of_a_new_meeting_link(app):
    user = make_user(ORGANIZER)
    event = make_lottery_event(event_format=EventFormat.ONLINE, online_url="https://a.example/1")
    db.session.add(EventMembership(event=event, user=user, role=MembershipRole.ORGANIZER))
    db.session.commit()
    registrations(event, "entrant@example.jp", mode=AttendanceMode.ONLINE, residence="区内在住")
    details = service.EventDetails(kind=event.kind, format=event.format, title=event.title,
                                   starts_at=event.starts_at, ends_at=event.ends_at,
                                   slug=event.slug, online_url="https://b.example/2")
    service.update_event(db.session, user, event.id, details)
    [message] = messages(MessageKind.EVENT_CHANGED)
    assert message.recipient == "entrant@example.jp"
    assert "https://b.example/2" not in message.body_text  # only on the registration page


def test_moving_the_start_moves_the_programme(client, organizer):
    event = my_event(organizer, venue_name="会場")
    db.session.add(ProgrammeSession(event=event, kind=SessionKind.KEYNOTE, title="基調講演",
                                    starts_at=event.starts_at,
                                    ends_at=event.starts_at + timedelta(hours=1)))
    db.session.commit()
    later = event.starts_at + timedelta(days=7)
    response = submit(client, f"/console/events/{event.id}/edit", event_fields(
        title=event.title, format="in_person", venue_name="会場", slug=event.slug,
        starts_at=local(later), ends_at=local(later + timedelta(hours=2))))
    assert response.status_code == 302, field_errors(response.text)
    db.session.expire_all()
    assert event.sessions[0].starts_at == later.replace(second=0, microsecond=0)


def test_the_address_of_a_published_event_stays(client, organizer):
    event = my_event(organizer, venue_name="会場")
    response = submit(client, f"/console/events/{event.id}/edit", event_fields(
        title=event.title, format="in_person", venue_name="会場", slug="a-new-address",
        starts_at=local(event.starts_at), ends_at=local(event.ends_at)))
    assert response.status_code == 422
    assert "cannot change" in field_errors(response.text)["slug"]


# --- Cancelling -----------------------------------------------------------------------------


def test_cancelling_tells_every_active_registrant_and_stops_sign_up(client, organizer):
    event = my_event(organizer, capacity=1, venue_name="会場")
    confirmed, waiting, gone = registrations(event, "a@example.jp", "b@example.jp",
                                             "c@example.jp")
    cancel_registration(db.session, gone)
    base = f"/console/events/{event.id}"
    page = client.get(f"{base}/cancel")
    assert "2 active registrants" in page.text

    empty = submit(client, f"{base}/cancel", {"reason": "  "})
    assert empty.status_code == 422
    assert db.session.get(Event, event.id).status is EventStatus.PUBLISHED

    done = submit(client, f"{base}/cancel", {"reason": "台風の接近により中止します。"})
    assert done.status_code == 302
    db.session.expire_all()
    assert event.status is EventStatus.CANCELLED
    sent = messages(MessageKind.EVENT_CANCELLED)
    assert sorted(m.recipient for m in sent) == ["a@example.jp", "b@example.jp"]
    assert all("台風の接近により中止します。" in m.body_text for m in sent)
    # Registrations keep their status, so the figures stay as they were.
    assert statuses([confirmed, waiting, gone]) == [
        RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.CANCELLED]
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "event.cancel")).scalar_one()
    assert entry.details == {"reason": "台風の接近により中止します。", "notified": 2}

    with pytest.raises(RegistrationClosed):
        register(db.session, event.id, signup("late@example.jp"))
    public = client.get(f"/events/{event.slug}/register", headers={"Accept-Language": "en"})
    refused = client.post(f"/events/{event.slug}/register",
                          data=form_data(csrf_token_from(client.get("/console/password").text),
                                         "late@example.jp"))
    assert public.status_code == 200 and refused.status_code == 409
    # A cancelled event is no longer changed, and cannot be cancelled twice.
    again = submit(client, f"{base}/edit", event_fields(title="x"))
    assert again.status_code == 409
    assert "cancelled" in client.get(f"{base}/cancel").text


# --- Duplicating ----------------------------------------------------------------------------


def test_duplicate_copies_the_event_without_registrations(client, organizer):
    event = my_event(organizer, capacity=2, venue_name="会場", slug="tokyo-lecture",
                     lottery_drawn_at=None)
    keynote = ProgrammeSession(event=event, kind=SessionKind.KEYNOTE, title="基調講演",
                               starts_at=event.starts_at, ends_at=event.ends_at)
    db.session.add_all([
        keynote,
        EventPerson(event=event, session=keynote, role=PersonRole.SPEAKER, name="田村 太郎"),
        EventPerson(event=event, role=PersonRole.MODERATOR, name="山田 花子")])
    [group] = add_groups(event, ["A 多文化共生"], ranks=1)
    group.session = keynote
    db.session.add(Question(event=event, key="residence", kind=QuestionKind.TEXT,
                            label="お住まい"))
    db.session.commit()
    registrations(event, "a@example.jp", "b@example.jp", "c@example.jp")

    response = press(client, f"/console/events/{event.id}/duplicate")
    assert response.status_code == 302
    copy = db.session.execute(select(Event).where(Event.id != event.id)).scalar_one()
    assert response.headers["Location"] == f"/console/events/{copy.id}/edit"
    assert copy.status is EventStatus.DRAFT and copy.slug == "tokyo-lecture-2"
    assert (copy.title, copy.venue_name, copy.max_preference_ranks) == (
        event.title, "会場", 1)
    assert [(p.mode, p.capacity, p.taken) for p in copy.seat_pools] == [
        (AttendanceMode.IN_PERSON, 2, 0)]
    assert [s.title for s in copy.sessions] == ["基調講演"]
    assert sorted((p.name, p.session_id) for p in copy.people) == [
        ("山田 花子", None), ("田村 太郎", copy.sessions[0].id)]
    assert [(g.name, g.session_id) for g in copy.breakout_groups] == [
        ("A 多文化共生", copy.sessions[0].id)]
    assert [q.key for q in copy.questions] == ["residence"]
    assert copy.waitlist_counter == 0
    assert db.session.execute(select(func.count()).select_from(Registration).where(
        Registration.event_id == copy.id)).scalar_one() == 0
    assert [(m.user_id, m.role) for m in db.session.execute(select(EventMembership).where(
        EventMembership.event_id == copy.id)).scalars()] == [
        (organizer.id, MembershipRole.ORGANIZER)]
    assert audit_actions(copy.id) == ["event.duplicate"]
    # The original is untouched.
    db.session.expire_all()
    assert event.pool_for(AttendanceMode.IN_PERSON).taken == 2 and len(event.sessions) == 1


# --- Publishing and preview -----------------------------------------------------------------


def test_a_draft_is_previewed_then_published(client, organizer):
    event = create(client, format="in_person")
    base = f"/console/events/{event.id}"
    assert client.get(f"/events/{event.slug}").status_code == 404
    preview = client.get(f"{base}/preview")
    assert preview.status_code == 200
    assert event.title in preview.text and "nobody else can see it" in preview.text
    assert 'name="robots" content="noindex"' in preview.text

    overview = client.get(base).text
    assert "Please give the venue before publishing." in overview
    refused = press(client, f"{base}/publish")
    assert refused.status_code == 302
    assert "Please give the venue" in client.get(base).text
    assert db.session.get(Event, event.id).status is EventStatus.DRAFT

    assert submit(client, f"{base}/edit", event_fields(
        title=event.title, format="in_person", venue_name="東京区政会館",
        slug=event.slug)).status_code == 302
    published = press(client, f"{base}/publish")
    assert published.status_code == 302
    db.session.expire_all()
    assert event.status is EventStatus.PUBLISHED
    assert client.get(f"/events/{event.slug}").status_code == 200
    assert audit_actions(event.id) == ["event.create", "event.update", "event.publish"]
    again = press(client, f"{base}/publish")
    assert again.status_code == 302 and "already been published" in client.get(base).text


# --- Capacity and the waiting list ----------------------------------------------------------


def test_raising_capacity_confirms_people_waiting_in_order(client, organizer):
    event = my_event(organizer, capacity=1, venue_name="会場")
    ids = registrations(event, "first@example.jp", "second@example.jp", "third@example.jp",
                        "fourth@example.jp")
    base = f"/console/events/{event.id}"
    response = submit(client, f"{base}/settings", settings_fields(event,
                                                                  capacity_in_person="3"))
    assert response.status_code == 302
    assert "2 people on the waiting list are now confirmed" in client.get(base).text
    assert statuses(ids) == [RegistrationStatus.CONFIRMED] * 3 + [RegistrationStatus.WAITLISTED]
    assert [m.recipient for m in messages(MessageKind.PROMOTED)] == [
        "second@example.jp", "third@example.jp"]
    pool = db.session.execute(select(SeatPool).where(SeatPool.event_id == event.id)).scalar_one()
    assert (pool.capacity, pool.taken) == (3, 3)

    lower = submit(client, f"{base}/settings", settings_fields(event, capacity_in_person="2"))
    assert lower.status_code == 422
    assert field_errors(lower.text)["capacity_in_person"] == (
        "3 places are already confirmed: the capacity cannot be lower.")
    db.session.expire_all()
    assert (pool.capacity, pool.taken) == (3, 3)

    unlimited = submit(client, f"{base}/settings", settings_fields(event,
                                                                   capacity_in_person=""))
    assert unlimited.status_code == 302
    assert statuses(ids) == [RegistrationStatus.CONFIRMED] * 4
    entries = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "event.settings").order_by(AuditEntry.id)).scalars().all()
    assert [entry.details["promoted"] for entry in entries] == [ids[1:3], ids[3:]]


def test_the_registration_mode_is_fixed_once_people_registered(client, organizer):
    event = my_event(organizer, venue_name="会場")
    registrations(event, "a@example.jp")
    response = submit(client, f"/console/events/{event.id}/settings", settings_fields(
        event, registration_mode="lottery",
        lottery_draw_at=local(event.starts_at - timedelta(days=2))))
    assert response.status_code == 422
    assert "can no longer change" in field_errors(response.text)["registration_mode"]


# --- Questions ------------------------------------------------------------------------------


def test_questions_are_edited_reordered_and_keep_their_answers(client, organizer):
    event = make_lottery_event(venue_name="会場")
    db.session.add(EventMembership(event=event, user=organizer, role=MembershipRole.ORGANIZER))
    db.session.commit()
    base = f"/console/events/{event.id}"
    assert submit(client, f"{base}/questions", {
        "label": "ご意見", "kind": "text", "max_length": "200"}).status_code == 302
    keys = [q.key for q in db.session.get(Event, event.id).questions]
    assert keys == ["residence", "q1"]
    registrations(event, "a@example.jp", residence="その他")
    residence = event.questions[0]

    # Options chosen by someone, or used by the tiers, stay.
    dropped = submit(client, f"{base}/questions/{residence.id}", {
        "label": "お住まい", "kind": "single_choice", "options": "区内在住\n区内在勤・在学",
        "required": "y"})
    assert dropped.status_code == 422
    assert "その他" in field_errors(dropped.text)["options"]
    retyped = submit(client, f"{base}/questions/{residence.id}", {
        "label": "お住まい", "kind": "text"})
    assert retyped.status_code == 422 and "kind" in field_errors(retyped.text)
    renamed = submit(client, f"{base}/questions/{residence.id}", {
        "label": "お住まいはどちらですか", "kind": "single_choice",
        "options": "区内在住\n区内在勤・在学\nその他\n都外", "required": "y"})
    assert renamed.status_code == 302
    assert "1 registrants have answered" in client.get(
        f"{base}/questions/{residence.id}").text

    moved = submit(client, f"{base}/questions/{residence.id}/move", {"direction": "down"},
                   form_url=f"{base}/questions")
    assert moved.status_code == 302
    db.session.expire_all()
    assert [q.key for q in db.session.get(Event, event.id).questions] == ["q1", "residence"]
    text_question = db.session.get(Event, event.id).questions[0]
    assert press(client, f"{base}/questions/{text_question.id}/delete").status_code == 302
    assert [q.key for q in db.session.get(Event, event.id).questions] == ["residence"]
    assert audit_actions(event.id) == ["question.add", "question.update", "question.move",
                                       "question.remove"]


def test_a_chosen_group_is_not_removed(client, organizer):
    event = my_event(organizer, venue_name="会場")
    chosen, free = add_groups(event, ["A", "B"], ranks=1)
    register(db.session, event.id, signup("a@example.jp", preferences=[chosen.id]))
    base = f"/console/events/{event.id}"
    assert press(client, f"{base}/groups/{chosen.id}/delete").status_code == 302
    assert "Registrants have chosen this group" in client.get(f"{base}/groups").text
    assert press(client, f"{base}/groups/{free.id}/delete").status_code == 302
    assert [g.name for g in db.session.execute(select(BreakoutGroup)).scalars()] == ["A"]


# --- Members --------------------------------------------------------------------------------


def test_members_give_colleagues_and_facilitators_access(client, organizer, app):
    event = my_event(organizer, venue_name="会場")
    [group] = add_groups(event, ["A 多文化共生"])
    make_user("colleague@example.lg.jp")
    make_user("facilitator@example.lg.jp", role="viewer")
    base = f"/console/events/{event.id}"

    colleague_client, facilitator_client = app.test_client(), app.test_client()
    AuthActions(colleague_client).login("colleague@example.lg.jp")
    AuthActions(facilitator_client).login("facilitator@example.lg.jp")
    assert colleague_client.get(base).status_code == 404

    unknown = submit(client, f"{base}/members", {"email": "nobody@example.lg.jp",
                                                 "role": "organizer"})
    assert unknown.status_code == 422 and "no account" in field_errors(unknown.text)["email"]
    viewer_as_organizer = submit(client, f"{base}/members", {
        "email": "facilitator@example.lg.jp", "role": "organizer"})
    assert viewer_as_organizer.status_code == 422
    assert "role" in field_errors(viewer_as_organizer.text)

    assert submit(client, f"{base}/members", {"email": "Colleague@example.lg.jp",
                                              "role": "organizer"}).status_code == 302
    assert submit(client, f"{base}/members", {
        "email": "facilitator@example.lg.jp", "role": "viewer",
        "breakout_group_id": str(group.id)}).status_code == 302
    assert colleague_client.get(f"{base}/edit").status_code == 200
    assert "Colleague" not in client.get(f"{base}/members").text  # stored normalised

    # The viewer sees the event but changes nothing.
    assert facilitator_client.get(base).status_code == 200
    assert facilitator_client.get(f"{base}/programme").status_code == 200
    assert facilitator_client.get(f"{base}/edit").status_code == 403
    token = csrf_token_from(facilitator_client.get("/console/password").text)
    for url, data in [(f"{base}/edit", event_fields()), (f"{base}/publish", {}),
                      (f"{base}/groups", {"name": "C"}), (f"{base}/cancel", {"reason": "x"}),
                      (f"{base}/duplicate", {})]:
        response = facilitator_client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 403, url
    assert count(Event) == 1 and count(BreakoutGroup) == 1

    memberships = {m.user.email: m for m in service.members(db.session, event.id)}
    assert memberships["facilitator@example.lg.jp"].breakout_group_id == group.id
    removed = press(client, f"{base}/members/{memberships['colleague@example.lg.jp'].id}/delete")
    assert removed.status_code == 302
    assert colleague_client.get(base).status_code == 404
    last = press(client, f"{base}/members/{memberships[ORGANIZER].id}/delete")
    assert last.status_code == 302
    assert "at least one organiser" in client.get(f"{base}/members").text
    assert audit_actions(event.id) == ["member.add", "member.add", "member.remove"]


def test_ids_of_another_event_are_not_found(client, organizer):
    mine = my_event(organizer, venue_name="会場")
    theirs = make_event()
    [group] = add_groups(theirs, ["A"])
    item = ProgrammeSession(event=theirs, kind=SessionKind.OTHER, title="x",
                            starts_at=theirs.starts_at, ends_at=theirs.ends_at)
    db.session.add(item)
    db.session.commit()
    base = f"/console/events/{mine.id}"
    assert client.get(f"{base}/groups/{group.id}").status_code == 404
    assert client.get(f"{base}/programme/{item.id}").status_code == 404
    assert press(client, f"{base}/groups/{group.id}/delete").status_code == 404
    assert press(client, f"{base}/programme/{item.id}/delete").status_code == 404
    assert count(BreakoutGroup) == 1 and count(ProgrammeSession) == 1


# --- Bad input ------------------------------------------------------------------------------

BAD_EVENT_INPUT = [
    ({"title": ""}, "title", "This field is required."),
    ({"starts_at": "next tuesday"}, "starts_at", "Please enter a date and time"),
    ({"ends_at": local(next_day_at(29, 14))}, "ends_at", "The end must be after the start."),
    ({"daily_opens_at": "10:00"}, "daily_closes_at", "both the opening and the closing"),
    ({"daily_opens_at": "18:00", "daily_closes_at": "9:00"}, "daily_closes_at",
     "closing time must be after"),
    ({"daily_opens_at": "25:00", "daily_closes_at": "26:00"}, "daily_opens_at",
     "Please enter a time"),
    ({"closed_dates": "2020-01-01"}, "closed_dates", "is not a day of the event"),
    ({"closed_dates": "someday"}, "closed_dates", "Line 1 is not a date"),
    ({"online_url": "javascript:alert(1)"}, "online_url", "starting with https://"),
    ({"website_url": "www.example.jp"}, "website_url", "starting with https://"),
    ({"slug": "Tokyo Expo"}, "slug", "lower-case letters"),
    ({"kind": "concert"}, "kind", "Not a valid choice"),
    ({"title": "あ" * 201}, "title", "at most 200 characters"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_EVENT_INPUT)
def test_bad_input_in_the_event_form(client, organizer, change, field, message):
    before = count(Event), count(AuditEntry)
    response = submit(client, "/console/events/new", event_fields(**change))
    assert response.status_code == 422
    assert message in field_errors(response.text).get(field, ""), field_errors(response.text)
    assert (count(Event), count(AuditEntry)) == before


def test_bad_input_when_editing_writes_nothing(client, organizer):
    event = my_event(organizer, venue_name="会場")
    make_event(slug="taken-address", status=EventStatus.DRAFT)
    draft = create(client, title="下書き")
    before = count(AuditEntry)
    taken = submit(client, f"/console/events/{draft.id}/edit", event_fields(
        title="下書き", slug="taken-address"))
    assert taken.status_code == 422
    assert field_errors(taken.text)["slug"] == "Another event already uses this address."
    registrations(event, "a@example.jp")
    online = submit(client, f"/console/events/{event.id}/edit", event_fields(
        title=event.title, format="online", slug=event.slug,
        starts_at=local(event.starts_at), ends_at=local(event.ends_at)))
    assert online.status_code == 422 and "format" in field_errors(online.text)
    assert count(AuditEntry) == before and messages(MessageKind.EVENT_CHANGED) == []
    db.session.expire_all()
    assert event.format is EventFormat.IN_PERSON and draft.slug != "taken-address"


BAD_SETTINGS = [
    ({"registration_opens_at": "2030-01-02T10:00", "registration_closes_at": "2030-01-01T10:00"},
     "registration_closes_at", "Registration must close after it opens."),
    ({"capacity_in_person": "-1"}, "capacity_in_person", "0 or more"),
    ({"capacity_in_person": "many"}, "capacity_in_person", "Please enter a whole number."),
    ({"max_preference_ranks": "11"}, "max_preference_ranks", "from 0 to 10"),
    ({"registration_mode": "lottery"}, "lottery_draw_at", "Please give the date of the draw."),
    ({"registration_mode": "raffle"}, "registration_mode", "Not a valid choice"),
    ({"lottery_tiers": "residence"}, "lottery_tiers", "Tier 1: please write"),
    ({"registration_mode": "lottery", "lottery_draw_at": "2020-01-01T10:00",
      "registration_opens_at": "2020-02-01T10:00"}, "lottery_draw_at",
     "after registration opens"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_SETTINGS)
def test_bad_input_in_the_settings_form(client, organizer, change, field, message):
    event = my_event(organizer, venue_name="会場")
    before = count(AuditEntry)
    response = submit(client, f"/console/events/{event.id}/settings",
                      settings_fields(event, **change))
    assert response.status_code == 422
    assert message in field_errors(response.text).get(field, ""), field_errors(response.text)
    db.session.expire_all()
    assert event.registration_mode is RegistrationMode.FIRST_COME
    assert event.pool_for(AttendanceMode.IN_PERSON).capacity == 10
    assert count(AuditEntry) == before


def _programme_cases(event: Event) -> list[tuple[str, dict[str, Any], str, str]]:
    start, end = event.starts_at, event.ends_at
    base = f"/console/events/{event.id}"
    session = {"kind": "keynote", "title": "基調講演", "starts_at": local(start),
               "ends_at": local(start + timedelta(hours=1))}
    group = {"name": "A", "capacity": "10"}
    question = {"label": "お住まい", "kind": "single_choice", "options": "区内\n区外"}
    return [
        (f"{base}/programme/new", {**session, "starts_at": local(start - timedelta(hours=1))},
         "starts_at", "cannot start before the event"),
        (f"{base}/programme/new", {**session, "ends_at": local(end + timedelta(hours=1))},
         "ends_at", "cannot end after the event"),
        (f"{base}/programme/new", {**session, "ends_at": local(start)}, "ends_at",
         "The end must be after the start."),
        (f"{base}/programme/new", {**session, "title": ""}, "title", "This field is required."),
        (f"{base}/programme/new", {**session, "people-0-name": "あ" * 101}, "people-0-name",
         "at most 100 characters"),
        (f"{base}/people", {"role": "moderator", "name": ""}, "name", "This field is required."),
        (f"{base}/groups", {**group, "name": ""}, "name", "This field is required."),
        (f"{base}/groups", {**group, "name": "既存"}, "name", "Another group"),
        (f"{base}/groups", {**group, "capacity": "-3"}, "capacity", "0 or more"),
        (f"{base}/groups", {**group, "session_id": "999999"}, "session_id",
         "Not a valid choice"),
        (f"{base}/questions", {**question, "options": "区内"}, "options", "at least two options"),
        (f"{base}/questions", {**question, "options": "区内\n区内"}, "options",
         "Each option must be different."),
        (f"{base}/questions", {**question, "options_en": "Inside"}, "options_en",
         "one English option for each option"),
        (f"{base}/questions", {**question, "key": "Residence!"}, "key", "lower-case letters"),
        (f"{base}/questions", {**question, "key": "residence"}, "key", "Another question"),
        (f"{base}/questions", {**question, "kind": "text", "max_length": "0"}, "max_length",
         "from 1 to 5000"),
        (f"{base}/members", {"email": "not an address", "role": "viewer"}, "email",
         "valid email address"),
        (f"{base}/members", {"email": "x@example.jp", "role": "owner"}, "role",
         "Not a valid choice"),
        (f"{base}/cancel", {"reason": ""}, "reason", "Please give the reason"),
        (f"{base}/cancel", {"reason": "あ" * 1001}, "reason", "at most 1000 characters"),
    ]


def test_bad_input_in_the_programme_group_question_member_and_cancel_forms(client, organizer):
    event = my_event(organizer, venue_name="会場")
    db.session.add(BreakoutGroup(event=event, name="既存"))
    db.session.add(Question(event=event, key="residence", kind=QuestionKind.TEXT, label="x"))
    db.session.commit()
    before = [count(model) for model in (ProgrammeSession, EventPerson, BreakoutGroup, Question,
                                         EventMembership, AuditEntry, OutboxMessage)]
    form_pages = {f"/console/events/{event.id}/people": f"/console/events/{event.id}/programme"}
    for url, data, field, message in _programme_cases(event):
        response = submit(client, url, data, form_url=form_pages.get(url))
        assert response.status_code == 422, (url, data, response.status_code)
        errors = field_errors(response.text)
        assert message in errors.get(field, ""), (url, field, errors)
    after = [count(model) for model in (ProgrammeSession, EventPerson, BreakoutGroup, Question,
                                        EventMembership, AuditEntry, OutboxMessage)]
    assert after == before
    assert db.session.get(Event, event.id).status is EventStatus.PUBLISHED


def test_every_form_needs_its_csrf_token(client, organizer):
    event = my_event(organizer, venue_name="会場")
    [group] = add_groups(event, ["A"])
    base = f"/console/events/{event.id}"
    before = count(AuditEntry), count(Event), count(BreakoutGroup)
    for url, data in [
        ("/console/events/new", event_fields()),
        (f"{base}/edit", event_fields()),
        (f"{base}/settings", settings_fields(event)),
        (f"{base}/programme/new", {"kind": "other", "title": "x"}),
        (f"{base}/people", {"role": "moderator", "name": "x"}),
        (f"{base}/groups", {"name": "B"}),
        (f"{base}/groups/{group.id}", {"name": "C"}),
        (f"{base}/groups/{group.id}/delete", {}),
        (f"{base}/questions", {"label": "x", "kind": "text"}),
        (f"{base}/members", {"email": ORGANIZER, "role": "viewer"}),
        (f"{base}/publish", {}),
        (f"{base}/cancel", {"reason": "x"}),
        (f"{base}/duplicate", {}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 400, url
    assert (count(AuditEntry), count(Event), count(BreakoutGroup)) == before
    assert db.session.get(Event, event.id).status is EventStatus.PUBLISHED


def test_a_closed_day_is_a_date_of_the_event(app):
    """The service's own checks, without the form: what another caller would meet."""
    user = make_user(ORGANIZER)
    starts = next_day_at(5, 10)
    details = service.EventDetails(
        kind=EventKind.EXHIBITION, format=EventFormat.IN_PERSON, title="展示",
        starts_at=starts, ends_at=starts + timedelta(days=3),
        closed_dates=[date(2000, 1, 1)])
    with pytest.raises(service.EventError) as raised:
        service.create_event(db.session, user, details)
    assert raised.value.field == "closed_dates"
    assert count(Event) == 0


def test_a_lottery_whose_draw_date_has_passed_is_not_published(app):
    now = utcnow()
    event = make_lottery_event(status=EventStatus.DRAFT, venue_name="会場", now=now)
    assert service.publication_problems(event, now) == []
    later = now + timedelta(days=4)
    with force_locale("en"):
        problems = [str(problem) for problem in service.publication_problems(event, later)]
    assert problems == [
        "The date of the lottery draw has passed. Please choose a later one in the "
        "registration settings."]
