"""Check-in at the door: codes, search, once per day, nonces, undo, tally, figures, QR, access."""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.i18n import TOKYO
from app.models import AuditEntry, CheckIn, Event, OutboxMessage, Registration, VisitorTally
from app.models.checkin import CheckInMethod
from app.models.enums import AttendanceMode, EventFormat, EventKind, EventStatus, MessageKind
from app.services import checkin as service
from app.services import registration as registrations
from app.services.errors import NotFound
from app.services.permissions import PermissionDenied
from app.services.tokens import manage_token
from tests.factories import AuthActions, make_event, make_user, render_queued_messages, signup

QR = CheckInMethod.QR
SEARCH = CheckInMethod.SEARCH
CHECKED_IN = service.Outcome.CHECKED_IN
ALREADY = service.Outcome.ALREADY_CHECKED_IN
NONCE_IN_PAGE = re.compile(r'name="nonce" value="([^"]+)"')


# --- builders --------------------------------------------------------------------------------


def door_event(*, days: int = 1, kind: EventKind = EventKind.LECTURE, capacity: int = 10,
               closed: tuple[date, ...] = (), **fields: Any) -> Event:
    """An event that runs today (Tokyo) and for `days - 1` more days; sign-up closed."""
    today = service.today_in_tokyo()
    start = datetime.combine(today, time(9, 0), TOKYO)
    end = datetime.combine(today + timedelta(days=days - 1), time(17, 0), TOKYO)
    return make_event(capacity=capacity, kind=kind, starts_at=start, ends_at=end,
                      registration_opens_at=start - timedelta(days=30),
                      registration_closes_at=start - timedelta(days=1),
                      closed_dates=[day.isoformat() for day in closed], **fields)


def registered(event: Event, email: str = "taro@example.jp", **fields: Any) -> Registration:
    """Signed up two days before the event (while sign-up was open)."""
    result = registrations.register(db.session, event.id, signup(email, **fields),
                                    now=event.starts_at - timedelta(days=2))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def code_of(registration: Registration) -> str:
    code = service.check_in_code(registration)
    assert code is not None
    return code


def nonce() -> str:
    return secrets.token_urlsafe(18)


def rows(registration_id: int | None = None) -> list[CheckIn]:
    db.session.rollback()  # a fresh snapshot: other threads may have committed
    query = select(CheckIn).order_by(CheckIn.id)
    if registration_id is not None:
        query = query.where(CheckIn.registration_id == registration_id)
    return list(db.session.execute(query).scalars())


@pytest.fixture
def event(app: Flask) -> Event:
    return door_event()


@pytest.fixture
def organizer(event: Event) -> Any:
    return make_user(events=[event])


# --- the check-in code ---------------------------------------------------------------------


def test_the_code_identifies_the_registration_without_its_manage_token(event):
    registration = registered(event)
    code = code_of(registration)
    assert re.fullmatch(rf"{registration.id}-[A-Z2-7]{{8}}", code)
    token = manage_token(registration.manage_key)
    assert token not in code and code.split("-")[1] not in token
    assert service.parse_code(code) == (registration.id, code.split("-")[1])
    # Typed on a Japanese phone: full width, lower case, spaces, a long vowel mark for "-".
    tag = code.split("-")[1]
    wide_id = str(registration.id).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    typed = f" {wide_id}ー{tag[:4].lower()} {tag[4:]} "
    assert service.parse_code(typed) == (registration.id, tag)
    assert service.parse_code("12-ABC") is None and service.parse_code("hello") is None


def test_only_confirmed_in_person_registrations_have_a_code(app):
    event = door_event(capacity=1, event_format=EventFormat.HYBRID)
    confirmed = registered(event, "a@example.jp")
    waiting = registered(event, "b@example.jp")
    online = registered(event, "c@example.jp", attendance_mode=AttendanceMode.ONLINE)
    assert service.check_in_code(confirmed) is not None
    assert service.check_in_code(waiting) is None
    assert online.status.value == "confirmed" and service.check_in_code(online) is None


# --- checking in ---------------------------------------------------------------------------


def test_check_in_by_code_then_again_is_harmless_and_says_when(event, organizer):
    registration = registered(event)
    first = service.check_in(db.session, organizer, event.id, code_of(registration), QR, nonce())
    assert (first.outcome, first.registration_id, first.replayed) == (
        CHECKED_IN, registration.id, False)
    assert first.day == service.today_in_tokyo()
    second = service.check_in(db.session, organizer, event.id, registration.id, SEARCH, nonce())
    assert second.outcome is ALREADY
    assert (second.check_in_id, second.checked_in_at) == (first.check_in_id, first.checked_in_at)
    (row,) = rows()
    assert (row.method, row.checked_in_by_id, row.undone_at) == (QR, organizer.id, None)
    audit = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "check_in.create")).scalars().all()
    assert [(a.target_id, a.event_id, a.details["method"]) for a in audit] == [
        (row.id, event.id, "qr")]


def test_a_retried_post_with_the_same_nonce_writes_nothing_new(event, organizer):
    registration = registered(event)
    once = nonce()
    first = service.check_in(db.session, organizer, event.id, registration.id, SEARCH, once)
    again = service.check_in(db.session, organizer, event.id, registration.id, SEARCH, once)
    assert again.outcome is CHECKED_IN and again.replayed
    assert again.check_in_id == first.check_in_id and len(rows()) == 1
    other = registered(event, "hanako@example.jp")
    with pytest.raises(service.NonceUsed):  # the same form cannot check in someone else
        service.check_in(db.session, organizer, event.id, other.id, SEARCH, once)
    assert len(rows()) == 1


def _race(app: Flask, attempts: list[tuple[int | str, str]], event_id: int, user_id: int
          ) -> list[service.CheckInResult | Exception]:
    """Each attempt in its own thread, app context and session, released together."""
    from app.models import User

    barrier = threading.Barrier(len(attempts))

    def attempt(target: int | str, once: str) -> service.CheckInResult | Exception:
        with app.app_context():
            actor = db.session.get(User, user_id)
            barrier.wait(timeout=30)
            try:
                return service.check_in(db.session, actor, event_id, target, SEARCH, once)
            except Exception as error:  # returned for the test to inspect
                return error

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(lambda args: attempt(*args), attempts))


@pytest.fixture
def slow_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the first request inside its transaction a moment, so the second one arrives
    while the first has decided but not committed: the window a retried POST falls into."""
    original = service._active_check_in

    def slow(*args: Any) -> CheckIn | None:
        found = original(*args)
        threading.Event().wait(0.3)
        return found

    monkeypatch.setattr(service, "_active_check_in", slow)


def test_the_same_nonce_twice_at_once_makes_one_row(app, event, organizer, slow_decision):
    registration = registered(event)
    once = nonce()
    results = _race(app, [(registration.id, once), (registration.id, once)], event.id,
                    organizer.id)
    assert all(isinstance(r, service.CheckInResult) for r in results), results
    assert {r.outcome for r in results} == {CHECKED_IN}  # type: ignore[union-attr]
    assert sorted(r.replayed for r in results) == [False, True]  # type: ignore[union-attr]
    assert len(rows(registration.id)) == 1


def test_two_scanners_at_once_check_in_once(app, event, organizer, slow_decision):
    registration = registered(event)
    code = code_of(registration)
    results = _race(app, [(code, nonce()), (registration.id, nonce())], event.id, organizer.id)
    outcomes = Counter(r.outcome for r in results)  # type: ignore[union-attr]
    assert outcomes == {CHECKED_IN: 1, ALREADY: 1}
    assert len(rows(registration.id)) == 1


def test_with_the_services_checks_switched_off_the_database_still_refuses(
    app, event, organizer, monkeypatch
):
    """The race above is real: without the service's look-ups both requests try to insert,
    and only the unique index on the nonce stands between them and a second row."""
    monkeypatch.setattr(service, "_by_nonce", lambda *args: None)
    monkeypatch.setattr(service, "_active_check_in", lambda *args: None)
    registration = registered(event)
    once = nonce()
    results = _race(app, [(registration.id, once), (registration.id, once)], event.id,
                    organizer.id)
    assert sorted(type(r).__name__ for r in results) == ["CheckInResult", "IntegrityError"]
    assert len(rows(registration.id)) == 1


def test_the_database_allows_one_active_check_in_per_day_and_unique_nonces(event):
    registration = registered(event)
    today = service.today_in_tokyo()
    db.session.add(CheckIn(registration_id=registration.id, day=today, method=QR, nonce="a" * 16))
    db.session.commit()
    for duplicate in (CheckIn(registration_id=registration.id, day=today, method=QR,
                              nonce="b" * 16),
                      CheckIn(registration_id=registration.id, day=today + timedelta(days=1),
                              method=QR, nonce="a" * 16)):
        db.session.add(duplicate)
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_undo_keeps_the_row_and_allows_checking_in_again(event, organizer):
    registration = registered(event)
    first = service.check_in(db.session, organizer, event.id, registration.id, SEARCH, nonce())
    undone = service.undo_check_in(db.session, organizer, event.id, first.check_in_id)
    assert not undone.already_undone and undone.registration_id == registration.id
    assert service.undo_check_in(db.session, organizer, event.id,
                                 first.check_in_id).already_undone
    assert service.day_figures(db.session, event.id)[0].checked_in == 0
    again = service.check_in(db.session, organizer, event.id, registration.id, SEARCH, nonce())
    assert again.outcome is CHECKED_IN and again.check_in_id != first.check_in_id
    old, new = rows()
    assert old.undone_at is not None and old.undone_by_id == organizer.id
    assert new.undone_at is None
    assert service.day_figures(db.session, event.id)[0].checked_in == 1
    actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
    assert list(actions) == ["check_in.create", "check_in.undo", "check_in.create"]


def test_multi_day_exhibition_checks_in_once_per_open_day(app):
    today = service.today_in_tokyo()
    closed = today + timedelta(days=1)
    event = door_event(days=3, kind=EventKind.EXHIBITION, closed=(closed,),
                       daily_opens_at=time(10), daily_closes_at=time(17))
    organizer = make_user(events=[event])
    assert service.open_days(event) == [today, today + timedelta(days=2)]
    registration = registered(event)
    code = code_of(registration)
    for day in service.open_days(event):
        assert service.check_in(db.session, organizer, event.id, code, QR, nonce(),
                                day).outcome is CHECKED_IN
        assert service.check_in(db.session, organizer, event.id, code, QR, nonce(),
                                day).outcome is ALREADY
    with pytest.raises(service.NotOpenDay):
        service.check_in(db.session, organizer, event.id, code, QR, nonce(), closed)
    with pytest.raises(service.NotOpenDay):
        service.check_in(db.session, organizer, event.id, code, QR, nonce(),
                         today + timedelta(days=3))
    assert sorted(row.day for row in rows()) == service.open_days(event)


def test_only_confirmed_registrations_of_this_event_are_checked_in(event, organizer):
    confirmed = registered(event, "a@example.jp")
    cancelled = registered(event, "c@example.jp")
    registrations.cancel_registration(db.session, cancelled.id)
    small = door_event(capacity=1)
    elsewhere = registered(small, "first@example.jp")
    waiting = registered(small, "wait@example.jp")
    admin = make_user("admin@example.lg.jp", role="admin")
    with force_locale("en"):
        with pytest.raises(service.NotConfirmed, match="has been cancelled") as refused:
            service.check_in(db.session, organizer, event.id, cancelled.id, SEARCH, nonce())
        assert refused.value.registration_id == cancelled.id
        with pytest.raises(service.NotConfirmed, match="is on the waiting list"):
            service.check_in(db.session, admin, small.id, waiting.id, SEARCH, nonce())
        with pytest.raises(service.WrongEvent, match="registered for another event"):
            service.check_in(db.session, admin, event.id, code_of(elsewhere), QR, nonce())
        for forged in (f"{confirmed.id}-AAAAAAAA", "99999-AAAAAAAA", "not a code"):
            with pytest.raises(service.UnknownCode):
                service.check_in(db.session, organizer, event.id, forged, QR, nonce())
    with pytest.raises(NotFound):  # an id of another event's registration: a forged form
        service.check_in(db.session, organizer, event.id, elsewhere.id, SEARCH, nonce())
    with pytest.raises(NotFound):  # and no access to the other event at all
        service.check_in(db.session, organizer, small.id, elsewhere.id, SEARCH, nonce())
    assert rows() == []


def test_viewers_may_not_check_in(event):
    viewer = make_user("viewer@example.lg.jp", events=[event], event_role="viewer")
    registration = registered(event)
    with pytest.raises(PermissionDenied):
        service.check_in(db.session, viewer, event.id, registration.id, SEARCH, nonce())


# --- visitors and figures --------------------------------------------------------------------


def test_the_tally_never_goes_below_zero(app):
    event = door_event(days=2, kind=EventKind.EXHIBITION)
    organizer = make_user(events=[event])
    today = service.today_in_tokyo()
    counts = [service.tally(db.session, organizer, event.id, today, delta)
              for delta in (1, 1, -1, -1, -1)]
    assert [(c.count, c.changed) for c in counts] == [
        (1, True), (2, True), (1, True), (0, True), (0, False)]
    assert service.tally(db.session, organizer, event.id, None, -1).changed is False
    with pytest.raises(service.TallyError):
        service.tally(db.session, organizer, event.id, today, 5)
    with pytest.raises(service.NotOpenDay):
        service.tally(db.session, organizer, event.id, today + timedelta(days=5), 1)
    with pytest.raises(IntegrityError):  # and the database agrees
        db.session.execute(update(VisitorTally).values(count=-1))
        db.session.commit()
    db.session.rollback()
    assert db.session.execute(select(AuditEntry.action)).scalars().all() == [
        "visitor_tally.change"] * 4


def test_lectures_with_registration_have_no_tally(event, organizer):
    with pytest.raises(service.TallyError):
        service.tally(db.session, organizer, event.id, None, 1)


def test_day_figures_per_day(app):
    today = service.today_in_tokyo()
    event = door_event(days=2, kind=EventKind.EXHIBITION)
    organizer = make_user(events=[event])
    people = [registered(event, f"p{n}@example.jp") for n in range(3)]
    for person in people:
        service.check_in(db.session, organizer, event.id, person.id, SEARCH, nonce(), today)
    service.check_in(db.session, organizer, event.id, people[0].id, SEARCH, nonce(),
                     today + timedelta(days=1))
    for _ in range(4):
        service.tally(db.session, organizer, event.id, today, 1)
    figures = service.day_figures(db.session, event.id)
    assert [(f.day, f.checked_in, f.visitors, f.total) for f in figures] == [
        (today, 3, 4, 7), (today + timedelta(days=1), 1, 0, 1)]


# --- the door page -----------------------------------------------------------------------------


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


def page_url(event: Event, **args: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in args.items())
    return f"/console/events/{event.id}/checkin" + (f"?{query}" if query else "")


def post_check_in(client, auth, event: Event, **fields: Any) -> Any:
    data = {"csrf_token": auth.csrf_token(), "nonce": nonce(),
            "day": service.today_in_tokyo().isoformat(), "method": "search"}
    data.update(fields)
    return client.post(f"/console/events/{event.id}/checkin", data=data)


def test_search_by_name_furigana_and_email_then_check_in(client, auth, event, organizer):
    registration = registered(event, "Taro.Yamada@Example.jp")
    registered(event, "hanako@example.jp", name="佐藤 花子", furigana="さとう はなこ")
    auth.login()
    for query in ("山田太郎", "やまだ", "ヤマダ　タロウ", "taro.yamada@example"):
        page = client.get(page_url(event, q=query))
        assert page.status_code == 200 and "山田 太郎" in page.text, query
        assert "佐藤 花子" not in page.text
    assert "Nobody matches" in client.get(page_url(event, q="鈴木")).text
    done = post_check_in(client, auth, event, registration_id=str(registration.id))
    assert done.status_code == 303
    shown = client.get(done.headers["Location"]).text
    assert "Checked in: 山田 太郎." in shown and "Checked in at" in shown
    again = post_check_in(client, auth, event, registration_id=str(registration.id))
    time_text = rows()[0].checked_in_at.astimezone(TOKYO).strftime("%-H:%M")
    assert f"already checked in at {time_text} today" in client.get(
        again.headers["Location"]).text
    assert len(rows()) == 1


def test_page_nonces_make_a_resubmitted_form_harmless(client, auth, event, organizer):
    registration = registered(event)
    auth.login()
    page = client.get(page_url(event))
    once = NONCE_IN_PAGE.search(page.text).group(1)
    form = {"code": code_of(registration), "method": "qr", "nonce": once}
    assert post_check_in(client, auth, event, **form).status_code == 303
    repeat = post_check_in(client, auth, event, **form)
    assert repeat.status_code == 303
    assert "Checked in: 山田 太郎." in client.get(repeat.headers["Location"]).text
    assert len(rows()) == 1 and rows()[0].method is QR


def test_refusals_say_why(client, auth, app):
    event = door_event(capacity=1)
    make_user(events=[event])
    registered(event, "first@example.jp")
    waiting = registered(event, "wait@example.jp", name="待機 次郎")
    other_event = door_event()
    elsewhere = registered(other_event, "else@example.jp", name="別所 三郎")
    auth.login()
    refused = post_check_in(client, auth, event, registration_id=str(waiting.id))
    assert refused.status_code == 409
    assert "Not confirmed: 待機 次郎 is on the waiting list." in refused.text
    assert f'id="person-{waiting.id}"' in refused.text  # the person is shown with it
    wrong = post_check_in(client, auth, event, code=code_of(elsewhere), method="qr")
    assert wrong.status_code == 409 and "registered for another event" in wrong.text
    unknown = post_check_in(client, auth, event, code="123-ABCDEFGH", method="manual")
    assert unknown.status_code == 422 and "This code is not known" in unknown.text
    assert rows() == []


def test_undo_and_tally_through_the_page(client, auth, app):
    event = door_event(kind=EventKind.EXHIBITION)
    make_user(events=[event])
    registration = registered(event)
    auth.login()
    post_check_in(client, auth, event, registration_id=str(registration.id))
    (row,) = rows()
    today = service.today_in_tokyo().isoformat()
    undone = client.post(f"/console/events/{event.id}/checkin/{row.id}/undo",
                         data={"csrf_token": auth.csrf_token(), "day": today})
    assert undone.status_code == 303
    assert "Check-in undone: 山田 太郎." in client.get(undone.headers["Location"]).text
    assert rows()[0].undone_at is not None
    for delta in ("1", "1", "-1"):
        tallied = client.post(f"/console/events/{event.id}/checkin/tally", data={
            "csrf_token": auth.csrf_token(), "day": today, "delta": delta})
        assert tallied.status_code == 303
    page = client.get(page_url(event)).text
    assert "1 visitor</strong>" in page and "Visitors without registration" in page
    assert 'name="delta" value="1"' in page


def test_the_page_is_a_phone_page_without_inline_script(client, auth, event, organizer):
    auth.login()
    page = client.get(page_url(event))
    assert page.status_code == 200
    assert "<script>" not in page.text and "onclick" not in page.text
    assert "/static/js/checkin.js" in page.text
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    # A single-day lecture has no tally.
    assert "Visitors without registration" not in page.text


@pytest.mark.parametrize(("fields", "message"), [
    ({"nonce": "short"}, None),
    ({"day": "2001-01-01"}, "days the event is open"),
    ({"day": "yesterday"}, "days the event is open"),
    ({"method": "telepathy"}, None),
    ({"code": "", "registration_id": ""}, "check-in code"),
    ({"registration_id": "abc"}, None),
    ({"code": "x" * 61}, "at most 60"),
])
def test_bad_check_in_input_is_422(client, auth, event, organizer, fields, message):
    registration = registered(event)
    auth.login()
    data = {"registration_id": str(registration.id)}
    data.update(fields)
    response = post_check_in(client, auth, event, **data)
    assert response.status_code == 422
    if message:
        assert message in response.text
    assert rows() == []


def test_other_bad_input_is_422(client, auth, app):
    event = door_event(kind=EventKind.EXHIBITION)
    make_user(events=[event])
    auth.login()
    today = service.today_in_tokyo().isoformat()
    assert client.get(page_url(event, day="2001-01-01")).status_code == 422
    assert client.get(page_url(event, q="x" * 101)).status_code == 422
    assert client.get(page_url(event, shown="abc")).status_code == 422
    for data in ({"day": today, "delta": "5"}, {"day": today, "delta": "many"}, {"delta": "1"}):
        response = client.post(f"/console/events/{event.id}/checkin/tally",
                               data={"csrf_token": auth.csrf_token(), **data})
        assert response.status_code == 422, data
    undo = client.post(f"/console/events/{event.id}/checkin/1/undo",
                       data={"csrf_token": auth.csrf_token(), "day": "nope"})
    assert undo.status_code == 422
    assert db.session.execute(select(VisitorTally)).scalars().all() == []


def test_missing_csrf_token_is_400(client, auth, event, organizer):
    registration = registered(event)
    auth.login()
    today = service.today_in_tokyo().isoformat()
    for url, data in [
        (f"/console/events/{event.id}/checkin",
         {"nonce": nonce(), "day": today, "method": "search",
          "registration_id": str(registration.id)}),
        (f"/console/events/{event.id}/checkin/1/undo", {"day": today}),
        (f"/console/events/{event.id}/checkin/tally", {"day": today, "delta": "1"}),
    ]:
        assert client.post(url, data=data).status_code == 400, url
    assert rows() == []


def test_access_anonymous_other_event_viewer_and_admin(client, auth, app):
    event, theirs = door_event(), door_event()
    make_user(events=[event])
    make_user("viewer@example.lg.jp", events=[theirs], event_role="viewer")
    make_user("admin@example.lg.jp", role="admin")
    registration = registered(theirs)
    assert client.get(page_url(theirs)).status_code == 302  # anonymous: to the login page
    auth.login()
    assert client.get(page_url(event)).status_code == 200
    assert client.get(page_url(theirs)).status_code == 404
    assert post_check_in(client, auth, theirs,
                         registration_id=str(registration.id)).status_code == 404
    client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    auth.login("viewer@example.lg.jp")
    assert client.get(page_url(theirs)).status_code == 403
    assert post_check_in(client, auth, theirs,
                         registration_id=str(registration.id)).status_code == 403
    client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    auth.login("admin@example.lg.jp")
    assert post_check_in(client, auth, theirs,
                         registration_id=str(registration.id)).status_code == 303
    assert len(rows()) == 1


def test_undo_of_another_events_check_in_is_404(client, auth, app):
    event, theirs = door_event(), door_event()
    organizer = make_user(events=[event, theirs])
    registration = registered(theirs)
    result = service.check_in(db.session, organizer, theirs.id, registration.id, SEARCH,
                              nonce())
    auth.login()
    response = client.post(f"/console/events/{event.id}/checkin/{result.check_in_id}/undo",
                           data={"csrf_token": auth.csrf_token(),
                                 "day": service.today_in_tokyo().isoformat()})
    assert response.status_code == 404
    assert rows()[0].undone_at is None


# --- the participant's QR code -----------------------------------------------------------------


def test_manage_page_shows_the_qr_code_only_when_confirmed(client, app):
    event = door_event(capacity=1)
    confirmed = registered(event, "a@example.jp")
    waiting = registered(event, "b@example.jp")
    client.set_cookie("lang", "en")
    token = manage_token(confirmed.manage_key)
    page = client.get(f"/r/{token}")
    code = code_of(confirmed)
    assert f'src="/r/{token}/qr.svg"' in page.text and code in page.text
    image = client.get(f"/r/{token}/qr.svg")
    assert image.status_code == 200 and image.mimetype == "image/svg+xml"
    assert image.headers["Cache-Control"] == "no-store"
    # The QR code holds the check-in code, and nothing that could open the registration.
    assert image.data == service.qr_svg(code)
    assert token not in image.text and confirmed.manage_key not in image.text
    waiting_token = manage_token(waiting.manage_key)
    assert "qr.svg" not in client.get(f"/r/{waiting_token}").text
    assert client.get(f"/r/{waiting_token}/qr.svg").status_code == 404
    registrations.cancel_registration(db.session, confirmed.id)
    assert "qr.svg" not in client.get(f"/r/{token}").text
    assert client.get(f"/r/{token}/qr.svg").status_code == 404


def test_confirmation_message_links_to_the_qr_code(app):
    event = door_event()
    registration = registered(event)
    render_queued_messages()
    message = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.CONFIRMATION)).scalar_one()
    token = manage_token(registration.manage_key)
    assert f"http://localhost/r/{token}/qr.svg" in message.body_text
    assert code_of(registration) in message.body_text


def test_nobody_is_checked_in_or_counted_at_a_cancelled_event(app):
    event = door_event(kind=EventKind.EXHIBITION)
    organizer = make_user(events=[event])
    registration = registered(event)
    code = code_of(registration)
    event.status = EventStatus.CANCELLED
    db.session.commit()
    with pytest.raises(service.CheckInError):
        service.check_in(db.session, organizer, event.id, code, QR, nonce())
    with pytest.raises(service.CheckInError):
        service.tally(db.session, organizer, event.id, None, 1)
    assert service.check_in_code(registration) is None
    assert rows() == []
