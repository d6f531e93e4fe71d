"""The JSON API: personal tokens, access by role, every endpoint, pages, ETags, problems."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.i18n import TOKYO
from app.models import ApiToken, AuditEntry, Event, OutboxMessage, Registration, User
from app.models.enums import EventStatus, RegistrationStatus
from app.services import checkin
from tests.api_support import World, bearer, build_world, new_registration, token_for
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import AuthActions, make_event, make_user
from tests.registrant_builders import bulk_registrations

PROBLEM = "application/problem+json"


@pytest.fixture
def world(app) -> World:
    return build_world()


def event_path(world: World, rest: str = "") -> str:
    return f"/api/v1/events/{world.event_id}{rest}"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "about:blank" and body["status"] == status
    assert body["title"] and body["detail"]
    return body


# --- tokens in the console ------------------------------------------------------------------


def test_console_creates_shows_once_and_revokes_a_token_stored_hashed(client, app):
    event = make_event()
    make_user(events=[event])
    auth = AuthActions(client)
    auth.login()
    page = client.get("/console/tokens")
    assert page.status_code == 200 and "API tokens" in page.text
    created = client.post("/console/tokens", data={
        "csrf_token": csrf_token_from(page.text), "name": "受付システム"})
    assert created.status_code == 201
    secret = re.search(r'value="(tsd_[A-Za-z0-9_-]{43})"', created.text).group(1)
    assert created.headers["Cache-Control"] == "no-store"

    [token] = db.session.execute(select(ApiToken)).scalars()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.hint == secret[:10] and token.name == "受付システム"
    listed = client.get("/console/tokens")
    assert "受付システム" in listed.text and secret[:10] in listed.text
    assert secret not in listed.text  # shown once only

    answer = client.get("/api/v1/events", headers=bearer(secret))
    assert answer.status_code == 200
    assert [item["id"] for item in answer.get_json()["data"]] == [event.id]
    db.session.refresh(token)
    assert token.last_used_at is not None

    revoked = client.post(f"/console/tokens/{token.id}/revoke",
                          data={"csrf_token": csrf_token_from(listed.text)})
    assert revoked.status_code == 302
    refused = client.get("/api/v1/events", headers=bearer(secret))
    assert_problem(refused, 401)
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="tsudoi", error="invalid_token"'
    actions = list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
                   .scalars())
    assert actions[-2:] == ["api_token.create", "api_token.revoke"]


def test_token_form_checks_its_name_and_csrf(client, app):
    make_user()
    AuthActions(client).login()
    page = client.get("/console/tokens")
    empty = client.post("/console/tokens", data={"csrf_token": csrf_token_from(page.text),
                                                 "name": "  "})
    assert empty.status_code == 422 and "Please give the token a name." in empty.text
    assert client.post("/console/tokens", data={"name": "x"}).status_code == 400
    assert db.session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 0


def test_nobody_revokes_another_users_token(client, app):
    other = make_user("other@example.lg.jp")
    foreign = token_for(other)
    make_user()
    AuthActions(client).login()
    [token] = db.session.execute(select(ApiToken)).scalars()
    page = client.get("/console/tokens")
    assert "test system" not in page.text
    answer = client.post(f"/console/tokens/{token.id}/revoke",
                         data={"csrf_token": csrf_token_from(page.text)})
    assert answer.status_code == 404
    assert client.get("/api/v1/events", headers=bearer(foreign)).status_code == 200


@pytest.mark.parametrize("header", [
    None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer tsd_short", "Bearer " + "tsd_" + "A" * 43,
])
def test_missing_malformed_or_unknown_tokens_get_401(client, app, header):
    headers = {"Authorization": header} if header else {}
    answer = client.get("/api/v1/events", headers=headers)
    assert_problem(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="tsudoi"')


def test_a_deactivated_account_token_stops_working(client, world):
    user = db.session.execute(select(User).where(User.email == "organizer@example.lg.jp")
                              ).scalar_one()
    user.active = False
    db.session.commit()
    assert_problem(client.get("/api/v1/events", headers=bearer(world.organizer)), 401)


def test_the_session_cookie_is_no_credential_and_no_csrf_token_is_needed(client, world):
    AuthActions(client).login("organizer@example.lg.jp")
    assert client.get("/console/").status_code == 200
    # Signed in to the console, yet without a token the API answers 401, even to a POST.
    assert_problem(client.post(event_path(world, "/registrations"),
                               json=new_registration()), 401)
    # CSRF protection is on: the console refuses a POST without its token...
    assert client.post("/console/tokens", data={"name": "x"}).status_code == 400
    # ...while the API, with a bearer token, needs none.
    added = client.post(event_path(world, "/registrations"), json=new_registration(),
                        headers=bearer(world.organizer))
    assert added.status_code == 201, added.text


# --- who sees what -----------------------------------------------------------------------------

READS = ["", "/sessions", "/groups", "/questions", "/registrations", "/registrations/{rid}",
         "/stats", "/breakouts"]


@pytest.mark.parametrize("rest", READS)
def test_reads_follow_the_users_part_in_the_event(client, world, rest):
    path = event_path(world, rest.format(rid=world.registration_ids[0]))
    for token, status in [(world.organizer, 200), (world.viewer, 200), (world.admin, 200),
                          (world.outsider, 404)]:
        answer = client.get(path, headers=bearer(token))
        assert answer.status_code == status, (token, answer.text)
    assert_problem(client.get(path), 401)
    other = f"/api/v1/events/{world.other_id}{rest.format(rid=world.registration_ids[0])}"
    assert_problem(client.get(other, headers=bearer(world.organizer)), 404)


def _writes(world: World) -> list[tuple[str, str, dict]]:
    rid = world.registration_ids[0]
    return [
        ("PATCH", "", {"summary": "要約"}),
        ("POST", "/registrations", new_registration()),
        ("POST", f"/registrations/{rid}/cancel", {"reason": "重複"}),
        ("POST", "/checkins", {"code": "1-ABCDEFGH"}),
        ("POST", "/breakouts/rounds", {}),
        ("POST", "/breakouts/run", {"round_id": 1}),
    ]


def test_writes_need_an_organizer(client, world):
    for method, rest, body in _writes(world):
        path = event_path(world, rest)
        assert_problem(client.open(path, method=method, json=body,
                                   headers=bearer(world.viewer)), 403)
        assert_problem(client.open(path, method=method, json=body,
                                   headers=bearer(world.outsider)), 404)
        assert_problem(client.open(path, method=method, json=body), 401)
    export = event_path(world, "/exports/participants.csv")
    assert_problem(client.get(export, headers=bearer(world.viewer)), 403)
    assert db.session.execute(select(func.count()).select_from(Registration)).scalar_one() == 3


def test_event_list_shows_the_users_events_and_everything_to_an_admin(client, world):
    mine = client.get("/api/v1/events", headers=bearer(world.organizer)).get_json()
    assert [item["id"] for item in mine["data"]] == [world.event_id]
    everything = client.get("/api/v1/events", headers=bearer(world.admin)).get_json()
    assert {item["id"] for item in everything["data"]} == {world.event_id, world.other_id}
    drafts = client.get("/api/v1/events?status=draft", headers=bearer(world.admin)).get_json()
    assert drafts["data"] == [] and drafts["meta"]["total"] == 0


def test_a_viewer_limited_to_a_group_sees_only_its_people(client, world):
    user = make_user("facilitator@example.lg.jp", events=[db.session.get(Event, world.event_id)],
                     event_role="viewer")
    user.memberships[0].breakout_group_id = world.group_ids[0]
    db.session.commit()
    token = token_for(user)
    listed = client.get(event_path(world, "/registrations"), headers=bearer(token)).get_json()
    # build_world gives people 0 and 2 the first group as their first choice.
    assert {item["id"] for item in listed["data"]} == {world.registration_ids[0],
                                                       world.registration_ids[2]}
    hidden = event_path(world, f"/registrations/{world.registration_ids[1]}")
    assert_problem(client.get(hidden, headers=bearer(token)), 404)


# --- events ------------------------------------------------------------------------------------


def test_public_list_needs_no_token_and_has_no_personal_or_private_data(client, app):
    event = make_event(online_url="https://zoom.us/j/123?pwd=secret", contact="担当 山田 03-0000")
    make_event(status=EventStatus.DRAFT, slug="draft-event")
    answer = client.get("/api/v1/public/events")
    assert answer.status_code == 200
    [item] = answer.get_json()["data"]
    assert item["id"] == event.id and item["registration_state"] == "open"
    assert item["page_url"].endswith(f"/events/{event.slug}")
    assert "online_url" not in item and "contact" not in item
    assert "zoom.us" not in answer.text and "山田" not in answer.text
    assert "Cache-Control" not in answer.headers or "private" not in answer.headers[
        "Cache-Control"]


def test_an_event_as_its_organizers_see_it(client, world):
    answer = client.get(event_path(world), headers=bearer(world.organizer))
    body = answer.get_json()
    assert body["id"] == world.event_id and body["status"] == "published"
    assert body["registration"]["mode"] == "first_come"
    assert body["seat_pools"] == [{"mode": "in_person", "capacity": 50}]
    assert answer.headers["Cache-Control"] == "private, no-cache"
    sessions = client.get(event_path(world, "/sessions"), headers=bearer(world.organizer))
    assert [item["title"] for item in sessions.get_json()] == ["基調講演"]
    groups = client.get(event_path(world, "/groups"), headers=bearer(world.organizer))
    assert [item["id"] for item in groups.get_json()] == world.group_ids


def test_patch_changes_fields_through_the_event_service(client, world):
    answer = client.patch(event_path(world), json={"title": "新しい題名", "venue_name": "区民会館"},
                          headers=bearer(world.organizer))
    assert answer.status_code == 200, answer.text
    assert answer.get_json()["title"] == "新しい題名"
    assert answer.headers["ETag"].startswith('W/"')
    event = db.session.get(Event, world.event_id)
    assert (event.title, event.venue_name) == ("新しい題名", "区民会館")
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "event.update")
                               ).scalar_one()
    assert set(entry.details["fields"]) == {"title", "venue_name"}
    # A change of place is e-mailed to the three registrants, as from the console.
    told = db.session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "event_changed")).scalar_one()
    assert told == 3


def test_patch_reports_every_invalid_field(client, world):
    answer = client.patch(event_path(world), json={
        "title": "x" * 201, "website_url": "javascript:alert(1)", "starts_at": "2026-04-01",
        "colour": "red"}, headers=bearer(world.organizer))
    body = assert_problem(answer, 422)
    assert set(body["errors"]) == {"title", "website_url", "starts_at", "colour"}
    assert body["errors"]["title"] == ["Please use at most 200 characters."]
    assert body["errors"]["colour"] == ["Unknown field."]
    service_refusal = client.patch(event_path(world), json={
        "ends_at": "2020-01-01T10:00:00+09:00"}, headers=bearer(world.organizer))
    body = assert_problem(service_refusal, 422)
    assert body["errors"] == {"ends_at": ["The end must be after the start."]}
    assert body["code"] == "event_error"


def test_etags_answer_304_and_if_match_prevents_lost_updates(client, world):
    path = event_path(world)
    first = client.get(path, headers=bearer(world.organizer))
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = client.get(path, headers=bearer(world.organizer, **{"If-None-Match": etag}))
    assert again.status_code == 304 and again.data == b""

    changed = client.patch(path, json={"summary": "一人目の変更"},
                           headers=bearer(world.organizer, **{"If-Match": etag}))
    assert changed.status_code == 200
    stale = client.patch(path, json={"summary": "二人目の変更"},
                         headers=bearer(world.organizer, **{"If-Match": etag}))
    assert_problem(stale, 412)
    assert db.session.get(Event, world.event_id).summary == "一人目の変更"
    fresh = client.patch(path, json={"summary": "二人目の変更"},
                         headers=bearer(world.organizer,
                                        **{"If-Match": changed.headers["ETag"]}))
    assert fresh.status_code == 200
    current = client.get(path, headers=bearer(world.organizer))
    assert current.headers["ETag"] == fresh.headers["ETag"] != etag

    listed = client.get("/api/v1/events", headers=bearer(world.organizer))
    cached = client.get("/api/v1/events",
                        headers=bearer(world.organizer, **{"If-None-Match": listed.headers[
                            "ETag"]}))
    assert cached.status_code == 304


def test_statistics_are_counts(client, world):
    body = client.get(event_path(world, "/stats"), headers=bearer(world.viewer)).get_json()
    assert body["status"]["confirmed"] == 3 and body["status"]["signups"] == 3
    assert body["attendance"]["rate"] is None
    assert body["by_mode"] == [{"key": "in_person", "label": "At the venue", "signups": 3,
                                "confirmed": 3, "attended": 0, "rate": 0.0}]
    assert "person0@example.jp" not in str(body)


# --- registrations -----------------------------------------------------------------------------


def test_registrations_are_paginated_with_link_headers(client, world):
    bulk_registrations(db.session.get(Event, world.event_id), 57)
    path = event_path(world, "/registrations")
    first = client.get(path + "?per_page=25", headers=bearer(world.organizer))
    body = first.get_json()
    assert len(body["data"]) == 25
    assert body["meta"] == {"page": 1, "per_page": 25, "total": 60, "pages": 3}
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"',
                                                        first.headers["Link"]))
    assert set(links) == {"first", "next", "last"}
    assert links["next"] == f"{path}?per_page=25&page=2"
    last = client.get(links["last"], headers=bearer(world.organizer)).get_json()
    assert len(last["data"]) == 10 and last["meta"]["page"] == 3
    beyond = client.get(path + "?per_page=25&page=40", headers=bearer(world.organizer))
    assert beyond.get_json()["meta"]["page"] == 3
    assert 'rel="prev"' in beyond.headers["Link"] and 'rel="next"' not in beyond.headers["Link"]
    seen = {item["id"] for page in (1, 2, 3) for item in client.get(
        f"{path}?per_page=25&page={page}", headers=bearer(world.organizer)).get_json()["data"]}
    assert len(seen) == 60

    bad = client.get(path + "?per_page=7&page=0&status=gone", headers=bearer(world.organizer))
    assert set(assert_problem(bad, 422)["errors"]) == {"per_page", "page", "status"}


def test_registrations_are_filtered_and_searched(client, world):
    path = event_path(world, "/registrations")
    found = client.get(path + "?q=person1", headers=bearer(world.organizer)).get_json()
    assert [item["id"] for item in found["data"]] == [world.registration_ids[1]]
    assert found["data"][0]["preferences"] == [world.group_ids[1], world.group_ids[0]]
    assert found["data"][0]["answers"] == {"topic": "防災"}
    none = client.get(path + "?status=cancelled", headers=bearer(world.organizer)).get_json()
    assert none["data"] == [] and none["meta"]["total"] == 0


def test_adding_a_registration_by_hand(client, world):
    answer = client.post(event_path(world, "/registrations"), json=new_registration(
        answers={"topic": "子育て", "comment": "よろしく"}, preferences=world.group_ids[::-1],
        language="en"), headers=bearer(world.organizer))
    assert answer.status_code == 201, answer.text
    body = answer.get_json()
    assert body["status"] == "confirmed" and body["preferences"] == world.group_ids[::-1]
    assert answer.headers["Location"] == event_path(world, f"/registrations/{body['id']}")
    registration = db.session.get(Registration, body["id"])
    assert registration.answers == {"topic": "子育て", "comment": "よろしく"}
    assert db.session.execute(select(OutboxMessage.kind).where(
        OutboxMessage.registration_id == body["id"])).scalars().all() == ["confirmation"]
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "registration.add_by_hand")).scalar_one()
    assert entry.details["source"] == "phone"

    again = client.post(event_path(world, "/registrations"), json=new_registration(),
                        headers=bearer(world.organizer))
    body = assert_problem(again, 409)
    assert body["code"] == "registrant_conflict" and "email" in body["errors"]


def test_adding_a_registration_reports_every_invalid_field(client, world):
    answer = client.post(event_path(world, "/registrations"), json=new_registration(
        furigana="Sato", email="not-an-address", municipality_code="27100",
        answers={"topic": "宇宙", "nonexistent": "x"}), headers=bearer(world.organizer))
    body = assert_problem(answer, 422)
    assert set(body["errors"]) == {"furigana", "email", "municipality_code", "answers.topic",
                                   "answers.nonexistent"}
    missing = client.post(event_path(world, "/registrations"), json={},
                          headers=bearer(world.organizer))
    errors = assert_problem(missing, 422)["errors"]
    assert errors["name"] == ["This field is required."]
    not_json = client.post(event_path(world, "/registrations"), data="{oops",
                           content_type="application/json", headers=bearer(world.organizer))
    assert_problem(not_json, 400)


def test_cancelling_hands_the_seat_on(client, app):
    world = build_world(registrations=2)
    event = db.session.get(Event, world.event_id)
    event.seat_pools[0].capacity = 2
    db.session.commit()
    waiting = client.post(event_path(world, "/registrations"), json=new_registration(),
                          headers=bearer(world.organizer)).get_json()
    assert waiting["status"] == "waitlisted"
    path = event_path(world, f"/registrations/{world.registration_ids[0]}/cancel")
    answer = client.post(path, json={"reason": "ご本人から電話"}, headers=bearer(world.organizer))
    assert answer.status_code == 200, answer.text
    body = answer.get_json()
    assert body["registration"]["status"] == "cancelled"
    assert body["promoted_registration_id"] == waiting["id"]
    assert db.session.get(Registration, waiting["id"]).status is RegistrationStatus.CONFIRMED
    assert assert_problem(client.post(path, json={}, headers=bearer(world.organizer)),
                          409)["code"] == "registrant_conflict"


# --- check-in, breakouts, attendance, exports ----------------------------------------------


def test_check_in_by_code(client, world):
    registration = db.session.get(Registration, world.registration_ids[0])
    code = checkin.check_in_code(registration)
    day = db.session.get(Event, world.event_id).starts_at.astimezone(TOKYO).date().isoformat()
    path = event_path(world, "/checkins")
    first = client.post(path, json={"code": code, "day": day}, headers=bearer(world.organizer))
    assert first.status_code == 201, first.text
    assert first.get_json()["outcome"] == "checked_in"
    assert first.get_json()["registration_id"] == registration.id
    second = client.post(path, json={"code": code, "day": day}, headers=bearer(world.organizer))
    assert second.status_code == 200
    assert second.get_json()["outcome"] == "already_checked_in"
    unknown = client.post(path, json={"code": "999-ABCDEFGH", "day": day},
                          headers=bearer(world.organizer))
    assert "code" in assert_problem(unknown, 422)["errors"]
    # A receipt number no database integer can hold is an unknown code too, not a 500.
    huge = client.post(path, json={"code": "999999999999-ABCDEFGH", "day": day},
                       headers=bearer(world.organizer))
    assert "code" in assert_problem(huge, 422)["errors"]
    closed = client.post(path, json={"code": code, "day": "2030-01-01"},
                         headers=bearer(world.organizer))
    assert "day" in assert_problem(closed, 422)["errors"]


def test_breakout_round_is_created_run_and_read(client, world):
    created = client.post(event_path(world, "/breakouts/rounds"), json={},
                          headers=bearer(world.organizer))
    assert created.status_code == 201, created.text
    round_id = created.get_json()["id"]
    ran = client.post(event_path(world, "/breakouts/run"),
                      json={"round_id": round_id, "diversity": ["prefecture"], "penalty": 3},
                      headers=bearer(world.organizer))
    assert ran.status_code == 200, ran.text
    body = ran.get_json()
    assert body["placed"] == 3 and body["round"]["penalty"] == 3
    seated = {member["registration_id"] for group in body["round"]["groups"]
              for member in group["members"]}
    assert seated == set(world.registration_ids)
    [listed] = client.get(event_path(world, "/breakouts"), headers=bearer(world.viewer)
                          ).get_json()
    assert listed["id"] == round_id and listed["diversity"] == ["prefecture"]
    wrong = client.post(event_path(world, "/breakouts/run"),
                        json={"round_id": round_id, "diversity": ["shoe_size"]},
                        headers=bearer(world.organizer))
    assert "diversity" in assert_problem(wrong, 422)["errors"]
    missing = client.post(event_path(world, "/breakouts/run"), json={"round_id": 999},
                          headers=bearer(world.organizer))
    assert_problem(missing, 404)


ZOOM_REPORT = ("Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),"
               "Participants,\r\n"
               "81234567890,Online lecture,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,"
               "host@example.lg.jp,101,2,\r\n\r\n"
               "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,"
               "\r\n"
               "Yamada Taro,person0@example.jp,10/05/2026 06:03:00 PM,10/05/2026 06:40:30 PM,"
               "38,Yes,\r\n"
               "Someone,someone@example.com,10/05/2026 06:00:00 PM,10/05/2026 06:30:00 PM,"
               "30,Yes,\r\n")


def test_attendance_report_is_uploaded_then_accepted(client, world):
    path = event_path(world, "/attendance/imports")
    staged = client.post(path, data={"report": (io.BytesIO(ZOOM_REPORT.encode()), "zoom.csv")},
                         content_type="multipart/form-data", headers=bearer(world.organizer))
    assert staged.status_code == 201, staged.text
    body = staged.get_json()
    assert body["status"] == "pending" and body["kind"] == "zoom_meeting"
    assert body["people"] == 2
    accepted = client.post(f"{path}/{body['token']}/accept", headers=bearer(world.organizer))
    assert accepted.status_code == 200, accepted.text
    assert accepted.get_json() == {"matched": 1, "unmatched": 1, "replaced": 0}
    twice = client.post(f"{path}/{body['token']}/accept", headers=bearer(world.organizer))
    assert_problem(twice, 409)
    broken = client.post(path, data={"report": (io.BytesIO(b"not a report"), "x.csv")},
                         content_type="multipart/form-data", headers=bearer(world.organizer))
    assert "report" in assert_problem(broken, 422)["errors"]
    nothing = client.post(path, headers=bearer(world.organizer))
    assert "report" in assert_problem(nothing, 422)["errors"]


def test_csv_export_holds_personal_data_only_when_asked_and_is_audited(client, world):
    path = event_path(world, "/exports/participants.csv")
    plain = client.get(path, headers=bearer(world.organizer))
    assert plain.status_code == 200
    assert plain.mimetype == "text/csv"
    assert "attachment;" in plain.headers["Content-Disposition"]
    text = plain.data.decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 4 and "person0@example.jp" not in text
    personal = client.get(path + "?columns=receipt,email&encoding=cp932",
                          headers=bearer(world.organizer))
    assert personal.headers["Content-Type"] == "text/csv; charset=Windows-31J"
    assert "person0@example.jp" in personal.data.decode("cp932")
    entries = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "export.download").order_by(AuditEntry.id)).scalars().all()
    assert [entry.details["personal"] for entry in entries] == [[], ["email"]]
    wrong = client.get(path + "?columns=shoe_size", headers=bearer(world.organizer))
    assert "columns" in assert_problem(wrong, 422)["errors"]
    assert_problem(client.get(event_path(world, "/exports/secrets.csv"),
                              headers=bearer(world.organizer)), 404)


# --- errors, escaping, rate limit, documentation ------------------------------------------


def test_xss_payloads_come_back_as_json_data(client, world):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    changed = client.patch(event_path(world), json={"title": payload, "summary": payload},
                           headers=bearer(world.organizer))
    assert changed.status_code == 200
    assert changed.mimetype == "application/json"
    assert changed.get_json()["title"] == payload
    assert changed.headers["X-Content-Type-Options"] == "nosniff"
    added = client.post(event_path(world, "/registrations"),
                        json=new_registration(name=payload, email="x@example.jp"),
                        headers=bearer(world.organizer))
    assert added.get_json()["name"] == payload.strip()
    unknown = client.get("/api/v1/<script>alert(1)</script>", headers=bearer(world.organizer))
    assert_problem(unknown, 404)
    assert "<script>" not in unknown.text


def test_every_error_under_api_is_a_problem(client, world):
    assert_problem(client.get("/api/v1/nowhere", headers=bearer(world.organizer)), 404)
    not_allowed = client.delete(event_path(world), headers=bearer(world.organizer))
    assert_problem(not_allowed, 405)
    assert "PATCH" in not_allowed.headers["Allow"]
    too_big = client.get("/api/v1/events/99999999999", headers=bearer(world.organizer))
    assert_problem(too_big, 404)
    japanese = client.get("/api/v1/events/999", headers={
        "Authorization": f"Bearer {world.organizer}", "Accept-Language": "ja"})
    assert_problem(japanese, 404)
    control = client.patch(event_path(world), json={"title": "a\x00b"},
                           headers=bearer(world.organizer))
    assert assert_problem(control, 422)["errors"] == {
        "title": ["Please remove control characters."]}


def test_api_requests_are_rate_limited_per_token(migrated_database):
    with app_context_for(migrated_database, RATELIMIT_ENABLED=True,
                         API_RATE_LIMIT="2 per minute") as limited:
        client = limited.test_client()
        user = make_user()
        token = token_for(user)
        for _ in range(2):
            assert client.get("/api/v1/events", headers=bearer(token)).status_code == 200
        refused = client.get("/api/v1/events", headers=bearer(token))
        assert_problem(refused, 429)
        assert int(refused.headers["Retry-After"]) > 0
        # Another token has its own allowance.
        assert client.get("/api/v1/events", headers=bearer(token_for(user, "second"))
                          ).status_code == 200


def test_openapi_document_describes_the_api(client, app):
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    spec = answer.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "tsd_ token"}
    assert spec["security"] == [{"bearerAuth": []}]
    public = spec["paths"]["/api/v1/public/events"]["get"]
    assert public["security"] == []
    patch = spec["paths"]["/api/v1/events/{event_id}"]["patch"]
    assert {"401", "403", "404", "412", "422"} <= set(patch["responses"])
    problem = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert problem == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_documentation_page_runs_under_the_content_security_policy(client, app):
    page = client.get("/api/docs")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip()
                           for attrs, body in scripts)
    assert 'data-spec-url="/api/openapi.json"' in page.text
    for asset in ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css",
                  "js/api-docs.js", "vendor/swagger-ui/LICENSE"):
        response = client.get(f"/static/{asset}")
        response.close()  # a file response holds the file open until closed
        assert response.status_code == 200


def test_registration_window_is_not_checked_for_hand_added_people(client, app):
    event = make_event(registration_closes_at=None)
    event.registration_opens_at = event.starts_at - timedelta(days=1)
    db.session.commit()
    token = token_for(make_user(events=[event]))
    answer = client.post(f"/api/v1/events/{event.id}/registrations", json=new_registration(),
                         headers=bearer(token))
    assert answer.status_code == 201, answer.text
