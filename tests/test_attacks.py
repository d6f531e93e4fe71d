"""Attacks: forged forms, snooping, guessing links, hammering, and script injection.

* CSRF: every state-changing route outside /api/ (found by walking the URL map, so a new
  route is covered the day it is added) refuses a missing or foreign token with 400, as a
  signed-in administrator (so no login redirect hides a missing check), and with a real
  manage token for the participant's own routes; nothing changes.
* Snooping: anonymous, a participant holding one manage link, and an organiser of another
  event each GET every rule of the URL map (the JSON API included) with plausible arguments,
  the ids of the other event's records; no other participant's name, e-mail or
  organisation appears in any answer.
* Links: manage, feed and join tokens carry 256 bits, are not derived from ids, and a
  brute force of random tokens finds nothing.
* Rate limits: sign-up and sign-in are limited per address, and two app processes (two
  gunicorns, like two workers or two hosts) share the counter through Redis.
* Script injection: payloads in every text field of the sign-up form and in custom
  questions come out escaped in every page, every e-mail (text and HTML), calendar files,
  and CSV/XLSX exports (formulas neutralised).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter, Rule

from app.extensions import db
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    AuditEntry,
    BreakoutGroup,
    BreakoutRound,
    CheckIn,
    Event,
    EventMembership,
    EventPerson,
    ImportBatch,
    OutboxMessage,
    ProgrammeSession,
    Question,
    Registration,
    User,
)
from app.models.attendance import AttendanceSource, ReportKind
from app.models.checkin import CheckInMethod
from app.models.enums import (
    EventFormat,
    PersonRole,
    QuestionKind,
    SessionKind,
)
from app.services.attendance import join_token
from app.services.invitations import feed_token
from app.services.registration import register
from app.services.tokens import manage_token, token_hash
from tests.conftest import csrf_token_from
from tests.factories import AuthActions, make_event, make_user, render_queued_messages, signup
from tests.live_server import LiveServer

EN = {"Accept-Language": "en"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_MESSAGE = "This form has expired or was not sent from this site"


# --------------------------------------------------------------------------------------------
# Two events, their people and records
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    admin: User
    owner: User  # organiser of event A, the victim
    stranger: User  # organiser of event B only
    event_a: Event
    event_b: Event
    participant_id: int  # a participant of A, holding their own manage link
    participant_token: str
    victims: list[Registration]  # A's other participants
    b_people: list[Registration]
    ids: dict[str, list[Any]] = field(default_factory=dict)  # A's records, by argument name

    def secrets_of(self, registrations: list[Registration]) -> list[str]:
        found = []
        for registration in registrations:
            for value in (registration.name, registration.email, registration.organization_name):
                found += [value, quote(value)]
            found.append(registration.email.split("@")[0])
        return found


def _person(event: Event, email: str, name: str, organization: str) -> Registration:
    result = register(db.session, event.id, signup(email, name=name,
                                                   organization_name=organization))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None and result.manage_token is not None
    registration.token = result.manage_token  # type: ignore[attr-defined]
    return registration


def build_world() -> World:
    admin = make_user("admin@example.lg.jp", role="admin")
    event_a = make_event(capacity=3, event_format=EventFormat.HYBRID, online_capacity=10,
                         online_url="https://meeting.example.jp/j/123", commit=False)
    event_a.questions = [Question(key="note", kind=QuestionKind.TEXT, label="ご意見")]
    event_a.breakout_groups = [BreakoutGroup(name="A班", capacity=10)]
    event_a.people = [EventPerson(role=PersonRole.SPEAKER, name="講師 一郎")]
    starts = event_a.starts_at
    event_a.sessions = [ProgrammeSession(kind=SessionKind.KEYNOTE, title="基調講演",
                                         starts_at=starts, ends_at=starts + timedelta(hours=1))]
    db.session.commit()
    owner = make_user("owner@example.lg.jp", events=[event_a])
    event_b = make_event(capacity=5)
    stranger = make_user("stranger@example.lg.jp", events=[event_b])
    participant = _person(event_a, "participant.self@example.jp", "参加 本人", "本人の会社")
    victims = [_person(event_a, f"victim{n}secret@example.jp", f"秘密 被害者{n}",
                       f"秘密組織{n}号") for n in range(4)]  # 2 confirmed, 2 waiting
    b_people = [_person(event_b, f"bperson{n}@example.jp", f"別 参加者{n}", f"別組織{n}")
                for n in range(2)]
    victim = victims[0]
    round_ = BreakoutRound(event_id=event_a.id, number=1)
    check_in = CheckIn(registration_id=victim.id, day=date.today(), method=CheckInMethod.QR,
                       nonce=secrets.token_hex(16))
    mark = AttendanceRecord(event_id=event_a.id, registration_id=victim.id,
                            source=AttendanceSource.MANUAL)
    staged = ImportBatch(token=secrets.token_hex(32), event_id=event_a.id, user_id=owner.id,
                         filename="名簿.csv", content=b"x", encoding="utf-8", row_count=1)
    report = AttendanceImport(token=secrets.token_hex(32), event_id=event_a.id,
                              kind=ReportKind.ZOOM_MEETING, shape="zoom", sha256="0" * 64,
                              content=b"x", people=1)
    db.session.add_all([round_, check_in, mark, staged, report])
    db.session.commit()
    membership = db.session.execute(select(EventMembership.id).where(
        EventMembership.event_id == event_a.id)).scalar_one()
    message = db.session.execute(select(OutboxMessage.id).where(
        OutboxMessage.registration_id == victim.id)).scalars().first()
    world = World(admin, owner, stranger, event_a, event_b, participant.id,
                  participant.token, victims, b_people)  # type: ignore[attr-defined]
    world.ids = {
        "event_id": [event_a.id],
        "registration_id": [victims[0].id, victims[3].id],
        "group_id": [event_a.breakout_groups[0].id],
        "question_id": [event_a.questions[0].id],
        "session_id": [event_a.sessions[0].id],
        "person_id": [event_a.people[0].id],
        "membership_id": [membership],
        "round_id": [round_.id],
        "mark_id": [mark.id],
        "check_in_id": [check_in.id],
        "message_id": [message],
        "user_id": [owner.id],
        "token_id": [1],
        "slug": [event_a.slug],
        "kind": ["participants", "attendance", "rosters", "summary"],
        "fmt": ["csv", "xlsx"],
        "prefecture_code": ["13"],
        "filename": ["css/app.css"],
        "import_token": [staged.token, report.token],
    }
    return world


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def urls_for(rule: Rule, candidates: dict[str, list[Any]], limit: int = 12) -> list[str]:
    """The rule filled in with every combination of plausible values (at most `limit`)."""
    names = sorted(rule.arguments)
    choices = []
    for name in names:
        if name == "token" and "/import/" in rule.rule:
            values = candidates["import_token"]
        elif name in candidates:
            values = candidates[name]
        elif isinstance(rule._converters.get(name), IntegerConverter):
            values = [1]
        else:
            values = ["x"]
        choices.append(values)
    urls = []
    for combination in itertools.islice(itertools.product(*choices), limit):
        path = rule.rule
        for name, value in zip(names, combination, strict=True):
            path = re.sub(r"<(?:[^<>:]+:)?" + name + r">", str(value), path)
        urls.append(path)
    return urls


def body_text(response: Any) -> str:
    """Everything a response says, readable: JSON without \\u escapes, workbooks unzipped."""
    data: bytes = response.data
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = b"".join(archive.read(name) for name in archive.namelist())
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("utf-8", errors="replace")
    if "json" in response.content_type:
        with contextlib.suppress(ValueError):
            text += json.dumps(json.loads(text), ensure_ascii=False)
    return text


# --------------------------------------------------------------------------------------------
# CSRF
# --------------------------------------------------------------------------------------------


def state_changing_rules(app: Flask) -> list[tuple[Rule, str]]:
    return [(rule, method) for rule in app.url_map.iter_rules()
            if not rule.rule.startswith("/api/")
            for method in sorted((rule.methods or set()) & STATE_CHANGING)]


def foreign_token(app: Flask) -> str:
    """A genuine token, but of another browser's session."""
    other = app.test_client()
    return csrf_token_from(other.get("/console/login").text)


def database_fingerprint() -> tuple[Any, ...]:
    db.session.expire_all()
    return (
        db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
        db.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one(),
        tuple(db.session.execute(select(Registration.id, Registration.status, Registration.name)
                                 .order_by(Registration.id)).all()),
        tuple(db.session.execute(select(Event.id, Event.status, Event.title)
                                 .order_by(Event.id)).all()),
        tuple(db.session.execute(select(User.id, User.role, User.password_hash)
                                 .order_by(User.id)).all()),
    )


def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(
    app: Flask, client: FlaskClient, world: World
) -> None:
    rules = state_changing_rules(app)
    assert len(rules) > 30, "the URL map walk found too few routes"
    candidates = {**world.ids, "token": [world.participant_token]}
    wrong = foreign_token(app)
    AuthActions(client).login("admin@example.lg.jp")
    before = database_fingerprint()
    accepted = []
    for rule, method in rules:
        for url in urls_for(rule, candidates, limit=2):
            for data in ({}, {"csrf_token": "forged"}, {"csrf_token": wrong}):
                response = client.open(url, method=method, data=data, headers=EN)
                if response.status_code != 400 or CSRF_MESSAGE not in response.text:
                    accepted.append((method, url, data, response.status_code))
    assert accepted == []
    assert database_fingerprint() == before
    # The sweep really was signed in: the same session reaches the console.
    assert client.get("/console/", headers=EN).status_code == 200


def test_participant_routes_refuse_forged_forms_with_a_real_manage_link(
    client: FlaskClient, world: World
) -> None:
    token = world.participant_token
    for path in (f"/r/{token}/cancel", f"/r/{token}/edit", f"/r/{token}/delete",
                 f"/events/{world.event_a.slug}/register"):
        assert client.get(path).status_code == 200  # the page exists and opens
        assert client.post(path, data={"csrf_token": "x"}).status_code == 400
        assert client.post(path).status_code == 400
    registration = db.session.get(Registration, world.participant_id)
    assert registration is not None and registration.is_active


# --------------------------------------------------------------------------------------------
# Snooping: a crawl of the whole URL map
# --------------------------------------------------------------------------------------------


@dataclass
class Crawl:
    requests: int = 0
    leaks: list[tuple[str, int, str]] = field(default_factory=list)
    errors: list[tuple[str, int]] = field(default_factory=list)


def crawl(app: Flask, client: FlaskClient, candidates: dict[str, list[Any]],
          forbidden: list[str], headers: dict[str, str] | None = None,
          prefix: str = "") -> Crawl:
    found = Crawl()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or not rule.rule.startswith(prefix):
            continue
        for url in urls_for(rule, candidates):
            response = client.get(url, headers={**EN, **(headers or {})})
            text = body_text(response)
            response.close()  # files and streamed exports hold resources until closed
            found.requests += 1
            if response.status_code >= 500:
                found.errors.append((url, response.status_code))
            found.leaks += [(url, response.status_code, secret) for secret in forbidden
                            if secret in text]
    return found


def test_anonymous_crawl_finds_no_participant_data(
    app: Flask, client: FlaskClient, world: World
) -> None:
    candidates = {**world.ids, "token": ["A" * 43, f"{world.victims[0].id}-{'B' * 43}"]}
    forbidden = [*world.secrets_of(world.victims + world.b_people), "参加 本人"]
    result = crawl(app, client, candidates, forbidden)
    assert result.requests > 80
    assert (result.leaks, result.errors) == ([], [])


def test_participant_with_a_manage_link_sees_only_their_own_data(
    app: Flask, client: FlaskClient, world: World
) -> None:
    participant = db.session.get(Registration, world.participant_id)
    assert participant is not None
    tokens = [world.participant_token, feed_token(participant), join_token(participant)]
    ids = {**world.ids, "token": tokens,
           "registration_id": [participant.id] + world.ids["registration_id"]}
    result = crawl(app, client, ids, world.secrets_of(world.victims + world.b_people))
    assert (result.leaks, result.errors) == ([], [])
    # The crawl did open the participant's own pages.
    assert "participant.self" in client.get(f"/r/{world.participant_token}").text


def test_organizer_of_another_event_sees_nothing_of_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    forbidden = [*world.secrets_of(world.victims), "参加 本人", "participant.self"]
    AuthActions(client).login("stranger@example.lg.jp")
    assert "別 参加者0" in client.get(
        f"/console/events/{world.event_b.id}/registrants").text  # signed in, sees B
    # A's ids everywhere; then B's event with A's records inside it (insecure direct object
    # references across events).
    mixed = {**world.ids, "event_id": [world.event_b.id]}
    for candidates in (world.ids, mixed):
        result = crawl(app, client, candidates, forbidden)
        assert (result.leaks, result.errors) == ([], [])


def test_the_api_gives_nothing_to_strangers(
    app: Flask, client: FlaskClient, world: World
) -> None:
    if not any(rule.rule.startswith("/api/") for rule in app.url_map.iter_rules()):
        pytest.skip("no JSON API in this build")
    from app.services.api_tokens import create_token

    forbidden = [*world.secrets_of(world.victims), "参加 本人", "participant.self"]
    stranger = create_token(db.session, world.stranger, "crawler").secret
    owner = create_token(db.session, world.owner, "owner").secret
    mixed = {**world.ids, "event_id": [world.event_b.id]}
    for headers, candidates in (({}, world.ids), ({"Authorization": "Bearer tsd_" + "x" * 43},
                                                  world.ids),
                                ({"Authorization": f"Bearer {stranger}"}, world.ids),
                                ({"Authorization": f"Bearer {stranger}"}, mixed)):
        result = crawl(app, client, candidates, forbidden, headers, prefix="/api/")
        assert result.requests > 5
        assert (result.leaks, result.errors) == ([], [])
    # The same crawl with the owner's token does find A's people: the check can see leaks.
    seen = crawl(app, client, world.ids, forbidden, {"Authorization": f"Bearer {owner}"},
                 prefix="/api/")
    assert seen.leaks


def test_the_crawl_can_see_a_leak(app: Flask, client: FlaskClient, world: World) -> None:
    """The owner crawling their own event finds the names: the crawl is not blind."""
    AuthActions(client).login("owner@example.lg.jp")
    result = crawl(app, client, world.ids, world.secrets_of(world.victims[:1]),
                   prefix="/console/")
    assert {secret for _url, _status, secret in result.leaks} >= {
        world.victims[0].name, world.victims[0].email}


# --------------------------------------------------------------------------------------------
# Unguessable links
# --------------------------------------------------------------------------------------------


TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, URL-safe base64 without padding


def test_manage_feed_and_join_tokens_are_long_random_and_not_sequential(app: Flask) -> None:
    event = make_event(capacity=None)
    tokens, registrations = [], []
    for n in range(60):
        result = register(db.session, event.id, signup(f"t{n}@example.jp"))
        assert result.manage_token is not None
        tokens.append(result.manage_token)
        registrations.append(db.session.get(Registration, result.registration_id))
    feeds = [feed_token(r) for r in registrations]
    joins = [join_token(r).split("-", 1)[1] for r in registrations]
    for family in (tokens, feeds, joins):
        assert all(TOKEN.match(token) for token in family)
        assert len(set(family)) == len(family)
        # No shared prefixes between neighbours, no visible counter: characters spread over
        # the whole alphabet like random bytes do (60 x 43 draws from 64 symbols).
        assert all(a[:4] != b[:4] for a, b in itertools.pairwise(family))
        assert len(set("".join(family))) > 55
    assert not set(tokens) & set(feeds) and not set(tokens) & set(joins)
    # Derived from a random per-registration key under the server's secret, not from the id.
    keys = [r.manage_key for r in registrations]
    assert len(set(keys)) == len(keys) and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)
    assert [manage_token(r.manage_key) for r in registrations] == tokens
    for registration, token in zip(registrations, tokens, strict=True):
        # Only a hash is stored: a copy of the database opens nobody's registration.
        assert registration.manage_token_hash == token_hash(token)
        assert token not in (registration.manage_key, registration.manage_token_hash)


def test_brute_forcing_random_tokens_finds_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    victim = world.victims[0].id
    hits = []
    for _ in range(150):
        guess = secrets.token_urlsafe(32)
        for path in (f"/r/{guess}", f"/r/{guess}/calendar.ics", f"/r/{guess}/cancel",
                     f"/feeds/{victim}/{guess}/calendar.ics", f"/j/{victim}-{guess}"):
            response = client.get(path)
            if response.status_code != 404:
                hits.append((path, response.status_code))
    assert hits == []


# --------------------------------------------------------------------------------------------
# Rate limits shared through Redis
# --------------------------------------------------------------------------------------------

REDIS_URL = os.environ.get("TSUDOI_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_db() -> str:
    import redis

    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.flushdb()  # our own database number: only our counters live there
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable: {error}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


def limited_pair(database_url: str, logs: Path, storage: str | None) -> list[LiveServer]:
    """Two separate app processes (one worker each) behind one trusted proxy."""
    env = {"RATELIMIT_ENABLED": "true", "TRUSTED_PROXIES": "1",
           "SIGNUP_RATE_LIMIT": "3 per minute", "LOGIN_RATE_LIMIT_PER_ADDRESS": "3 per minute",
           "LOGIN_RATE_LIMIT_PER_ACCOUNT": "100 per minute"}
    if storage:
        env["REDIS_URL"] = storage
    return [LiveServer(database_url, logs / f"{storage is not None}-{n}", workers=1, threads=4,
                       extra_env=env) for n in range(2)]


def attempts_until_limited(servers: list[LiveServer], slug: str, address: str, what: str,
                           tries: int = 8) -> list[int]:
    """Statuses of alternate POSTs to the two servers, all from one client address."""
    statuses = []
    headers = {"X-Forwarded-For": address, "Accept-Language": "en"}
    for n in range(tries):
        server = servers[n % 2]
        with requests.Session() as http:
            http.headers.update(headers)
            if what == "signup":
                url = f"{server.url}/events/{slug}/register"
                form = http.get(url, timeout=30).text
                email = f"limit{n}.{secrets.token_hex(3)}@example.jp"
                data = {"csrf_token": csrf_token_from(form), "attendance_mode": "in_person",
                        "name": "連打 太郎", "furigana": "れんだ たろう", "email": email,
                        "email_confirm": email, "organization_type": "individual",
                        "prefecture": "13", "municipality": "13106", "consent": "y"}
            else:
                url = f"{server.url}/console/login"
                data = {"csrf_token": csrf_token_from(http.get(url, timeout=30).text),
                        "email": "nobody@example.lg.jp", "password": "wrong password"}
            response = http.post(url, data=data, timeout=30, allow_redirects=False)
            statuses.append(response.status_code)
    return statuses


@pytest.mark.slow
def test_signup_and_login_limits_are_per_address_and_shared_through_redis(
    app: Flask, migrated_database: str, tmp_path: Path, redis_db: str
) -> None:
    slug = make_event(capacity=None).slug
    servers = limited_pair(migrated_database, tmp_path, redis_db)
    try:
        for server in servers:
            server.start()
        signups = attempts_until_limited(servers, slug, "203.0.113.10", "signup")
        logins = attempts_until_limited(servers, slug, "203.0.113.10", "login")
        other_address = attempts_until_limited(servers, slug, "203.0.113.20", "signup", tries=2)
    finally:
        for server in servers:
            server.stop()
    # Three per minute in all, whichever process answers: the fourth is refused everywhere.
    assert signups == [302, 302, 302] + [429] * 5
    assert logins == [401, 401, 401] + [429] * 5
    assert other_address == [302, 302]  # per address (the proxy's X-Forwarded-For)


@pytest.mark.slow
def test_without_redis_each_process_counts_alone(
    app: Flask, migrated_database: str, tmp_path: Path
) -> None:
    """The control: with memory storage the two processes let twice as many through, which
    is what the shared counter above prevents."""
    slug = make_event(capacity=None).slug
    servers = limited_pair(migrated_database, tmp_path, None)
    try:
        for server in servers:
            server.start()
        signups = attempts_until_limited(servers, slug, "203.0.113.30", "signup")
    finally:
        for server in servers:
            server.stop()
    assert signups == [302] * 6 + [429] * 2


@pytest.mark.slow
def test_a_redis_outage_does_not_stop_signups(
    app: Flask, migrated_database: str, tmp_path: Path
) -> None:
    """Rate limiting protects sign-up; it must not become the reason sign-up fails."""
    import socket

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        nowhere = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    slug = make_event(capacity=None).slug
    server = LiveServer(migrated_database, tmp_path, workers=1, threads=4, extra_env={
        "RATELIMIT_ENABLED": "true", "REDIS_URL": nowhere})
    with server:
        signups = attempts_until_limited([server, server], slug, "127.0.0.1", "signup",
                                         tries=2)
        logins = attempts_until_limited([server, server], slug, "127.0.0.1", "login", tries=1)
        ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert (signups, logins) == ([302, 302], [401])
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unavailable"


# --------------------------------------------------------------------------------------------
# Script injection
# --------------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
JAVASCRIPT = "javascript:alert(1)"
FORMULAS = ['=HYPERLINK("https://evil.example/","x")', "+1+1", "-1+1", "@SUM(1+1)"]
# What must never appear unescaped in HTML.
RAW_MARKERS = ("<script>alert", "<img src=x", 'href="javascript:', "href='javascript:",
               'src="javascript:', 'action="javascript:')


def hostile_event() -> Event:
    """An event whose custom questions carry payloads in their labels and options too."""
    event = make_event(capacity=2, event_format=EventFormat.HYBRID, online_capacity=10,
                       online_url="https://meeting.example.jp/j/1", commit=False)
    event.questions = [
        Question(key="note", kind=QuestionKind.TEXT, label=f"ご意見 {SCRIPT}",
                 help_text=IMAGE, position=0),
        Question(key="choice", kind=QuestionKind.SINGLE_CHOICE, label=f"選択 {IMAGE}",
                 options=[SCRIPT, IMAGE, JAVASCRIPT], position=1),
        Question(key="many", kind=QuestionKind.MULTIPLE_CHOICE, label="複数",
                 options=[SCRIPT, FORMULAS[0]], position=2),
    ]
    event.breakout_groups = [BreakoutGroup(name=f"班 {SCRIPT}", capacity=10)]
    event.max_preference_ranks = 1
    db.session.commit()
    return event


def hostile_forms(csrf_token: str, event: Event) -> Iterator[dict[str, str]]:
    """Sign-ups with a payload in every field that takes free text and still validates."""
    payloads = [SCRIPT, IMAGE, JAVASCRIPT, *FORMULAS]
    choices = [SCRIPT, IMAGE, JAVASCRIPT]
    for n, payload in enumerate(payloads):
        email = f"hostile{n}@example.jp"
        yield {
            "csrf_token": csrf_token, "attendance_mode": ["in_person", "online"][n % 2],
            "name": payload, "furigana": "あたっく", "email": email, "email_confirm": email,
            "organization_type": "company", "organization_name": payload,
            "prefecture": "13", "municipality": "13106",
            "q_note": f"{payload}\n{JAVASCRIPT}\nhttps://evil.example/{payload}",
            "q_choice": choices[n % 3], "q_many": [SCRIPT, FORMULAS[0]],  # type: ignore[dict-item]
            "preference_1": str(event.breakout_groups[0].id), "consent": "y",
        }


def assert_escaped(where: str, html: str) -> None:
    found = [marker for marker in RAW_MARKERS if marker in html]
    assert not found, f"{where}: unescaped {found}"


@pytest.fixture
def hostile(app: Flask, client: FlaskClient) -> tuple[Event, list[str]]:
    """The hostile sign-ups, made through the real form; returns the event and the tokens."""
    event = hostile_event()
    tokens = []
    for form in hostile_forms("", event):
        page = client.get(f"/events/{event.slug}/register", headers=EN)
        assert_escaped("sign-up form", page.text)
        form["csrf_token"] = csrf_token_from(page.text)
        response = client.post(f"/events/{event.slug}/register", data=form, headers=EN)
        assert response.status_code == 302, (form["name"], response.text[:2000])
        tokens.append(response.headers["Location"].split("/r/")[1].split("?")[0])
    render_queued_messages()  # as the mail worker does before sending them
    return event, tokens


def test_refused_payloads_are_escaped_in_the_form_that_shows_them_again(
    client: FlaskClient, app: Flask
) -> None:
    event = hostile_event()
    for payload in (SCRIPT, IMAGE):
        page = client.get(f"/events/{event.slug}/register", headers=EN)
        fields = {name: payload for name in ("name", "furigana", "email", "email_confirm",
                                             "organization_name", "q_note")}
        response = client.post(f"/events/{event.slug}/register", headers=EN, data={
            "csrf_token": csrf_token_from(page.text), "organization_type": "company",
            "prefecture": "13", "municipality": payload, "q_choice": payload, **fields})
        assert response.status_code == 422
        assert_escaped("refused sign-up", response.text)
        assert "&lt;script&gt;" in response.text or "&#34;&gt;&lt;img" in response.text


def test_payloads_are_escaped_in_every_page(
    app: Flask, client: FlaskClient, hostile: tuple[Event, list[str]]
) -> None:
    event, tokens = hostile
    make_user("admin@example.lg.jp", role="admin")
    registrations = list(db.session.execute(select(Registration).where(
        Registration.event_id == event.id).order_by(Registration.id)).scalars())
    assert [r.name for r in registrations] == [SCRIPT, IMAGE, JAVASCRIPT, *FORMULAS]
    pages = 0
    for token in tokens:  # the participant's own pages
        for path in ("", "/edit", "/cancel", "/delete"):
            response = client.get(f"/r/{token}{path}", headers=EN)
            assert response.status_code == 200
            assert_escaped(f"/r/…{path}", response.text)
            pages += 1
    manage = client.get(f"/r/{tokens[0]}", headers=EN).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in manage  # shown, escaped
    # Every console page of the event, as an administrator who sees everything.
    AuthActions(client).login("admin@example.lg.jp")
    candidates = {"event_id": [event.id], "registration_id": [r.id for r in registrations[:3]],
                  "slug": [event.slug], "kind": ["participants", "rosters"],
                  "fmt": ["csv"], "group_id": [event.breakout_groups[0].id],
                  "question_id": [q.id for q in event.questions[:2]], "import_token": ["x"]}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.rule.startswith("/api/"):
            continue
        for url in urls_for(rule, candidates, limit=4):
            response = client.get(url, headers=EN)
            html = response.text if response.mimetype == "text/html" else None
            response.close()
            if html is not None:
                assert_escaped(url, html)
                pages += 1
    for query in (SCRIPT, IMAGE):  # searches echo the query back
        for path in (f"/console/events/{event.id}/registrants",
                     f"/console/events/{event.id}/checkin"):
            response = client.get(path, query_string={"q": query}, headers=EN)
            assert_escaped(f"{path}?q=", response.text)
    detail = client.get(f"/console/events/{event.id}/registrants/{registrations[0].id}",
                        headers=EN).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert pages > 40


def test_payloads_are_escaped_in_every_email(
    app: Flask, hostile: tuple[Event, list[str]]
) -> None:
    from app.services.mailer import Outgoing, build_email, render_html

    messages = list(db.session.execute(select(OutboxMessage)).scalars())
    assert len(messages) == 7
    for message in messages:
        outgoing = Outgoing(message.id, message.kind, message.recipient, message.language,
                            message.subject, message.body_text, dict(message.payload),
                            message.created_at)
        html = render_html(outgoing)
        assert_escaped(f"HTML mail {message.id}", html)
        # Only whole-line http(s) URLs become links: the one typed into an answer stays text
        # unless it is whole-line, and javascript: never does.
        assert 'href="javascript' not in html
        email = build_email(outgoing, sender="Tsudoi <no-reply@example.lg.jp>")
        parts = [part.get_content() for part in email.walk()
                 if part.get_content_type() == "text/html"]
        assert parts and all(SCRIPT not in part for part in parts)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in render_html(Outgoing(
        m.id, m.kind, m.recipient, m.language, m.subject, m.body_text, dict(m.payload),
        m.created_at)) for m in messages)


def test_payloads_cannot_break_out_of_calendar_files(
    client: FlaskClient, hostile: tuple[Event, list[str]]
) -> None:
    from icalendar import Calendar

    _event, tokens = hostile
    documents = [client.get(f"/r/{token}/calendar.ics").data for token in tokens[:3]]
    documents += [m.payload["calendar"]["ics"].encode() for m in db.session.execute(
        select(OutboxMessage)).scalars() if "calendar" in (m.payload or {})]
    assert len(documents) > 3
    allowed = re.compile(rb"^(?:[A-Z-]+[;:]|[ \t])")  # properties, or folded continuations
    names = set()
    for document in documents:
        lines = document.split(b"\r\n")
        assert all(line == b"" or allowed.match(line) for line in lines), document[:2000]
        events = Calendar.from_ical(document).walk("VEVENT")
        assert len(events) == 1
        attendee = events[0].get("ATTENDEE")
        if attendee is not None:
            assert str(attendee).startswith("mailto:hostile")
            names.add(attendee.params.get("CN"))
    # The quote in the name is encoded (RFC 6868), so it cannot end the parameter early.
    assert {SCRIPT, IMAGE} <= names


def test_exports_neutralise_formulas_and_keep_payloads_as_text(
    app: Flask, client: FlaskClient, hostile: tuple[Event, list[str]]
) -> None:
    from openpyxl import load_workbook

    from app.services.exports import assignment_rounds, columns_for

    event, _tokens = hostile
    make_user("admin@example.lg.jp", role="admin")
    AuthActions(client).login("admin@example.lg.jp")
    keys = ",".join(c.key for c in columns_for(event, assignment_rounds(db.session, event.id)))
    base = f"/console/events/{event.id}/exports/participants"
    csv_response = client.get(f"{base}.csv", query_string={"columns": keys})
    assert csv_response.status_code == 200, csv_response.text[:1000]
    rows = list(csv.reader(io.StringIO(csv_response.data.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    for formula in FORMULAS:
        assert "'" + formula in cells  # the name and the organisation, made inert
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert SCRIPT in cells  # a spreadsheet shows text as it was typed
    xlsx_response = client.get(f"{base}.xlsx", query_string={"columns": keys})
    assert xlsx_response.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx_response.data)).active
    values = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert not [cell.coordinate for cell in values if cell.data_type == "f"]
    texts = [cell.value for cell in values if isinstance(cell.value, str)]
    assert all("'" + formula in texts for formula in FORMULAS)
    assert not [text for text in texts if text[:1] in ("=", "+", "-", "@")]


def test_payloads_are_stored_as_typed(app: Flask, hostile: tuple[Event, list[str]]) -> None:
    """Escaping is the output's job: the database keeps what was typed."""
    event, _tokens = hostile
    stored = set(db.session.execute(select(Registration.organization_name).where(
        Registration.event_id == event.id)).scalars())
    assert stored == {SCRIPT, IMAGE, JAVASCRIPT, *FORMULAS}
