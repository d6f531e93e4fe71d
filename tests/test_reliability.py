"""Reliability under load and faults, through a real gunicorn (tests/live_server.py).

* 500 concurrent sign-ups for 100 seats on PostgreSQL, 4 workers: exactly full, no 5xx;
* a worker killed with SIGKILL in the middle of a burst: every sign-up that was answered
  with its redirect is in the database, and nothing is half-written;
* PostgreSQL stopped and started again during a run (a private instance of our own, so the
  machine's cluster and the tests running beside us are left alone): clean 503 pages while
  it is down, and Tsudoi recovers by itself (pool pre-ping) once it is back;
* the SQLite default behind two workers, 100 concurrent sign-ups: no "database is locked",
  no overbooking.

The PostgreSQL tests run in the PostgreSQL pass (TSUDOI_TEST_DB=postgresql, as `make test`
and CI do), the SQLite one in the SQLite pass, so that each runs once per `make test`;
`make reliability` runs both passes of this file alone.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMessage, Registration, SeatPool
from app.models.enums import MessageKind, RegistrationStatus
from app.services.tokens import token_hash
from tests.conftest import BACKEND, csrf_token_from, make_app
from tests.factories import PASSWORD, make_event, make_user
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

CONFIRMED, WAITLISTED = RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED
REQUEST_TIMEOUT = 120
NEW_REGISTRATION = re.compile(r"/r/([A-Za-z0-9_-]{43})\?new=1$")
EXPECTED_MESSAGE = {CONFIRMED: MessageKind.CONFIRMATION, WAITLISTED: MessageKind.WAITLISTED}


def only_in(backend: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(backend != BACKEND,
                              reason=f"runs in the {backend} pass (TSUDOI_TEST_DB={backend})")


# --- clients ---------------------------------------------------------------------------------


def signup_form(csrf_token: str, n: int) -> dict[str, str]:
    email = f"reliable{n:04d}@example.jp"
    return {
        "csrf_token": csrf_token, "attendance_mode": "in_person", "name": f"信頼 太郎{n}",
        "furigana": "しんらい たろう", "email": email, "email_confirm": email,
        "organization_type": "municipality", "organization_name": "台東区役所",
        "prefecture": "13", "municipality": "13106", "consent": "y", "submit": "登録する",
    }


@dataclass(frozen=True)
class Outcome:
    status: int  # 0: the connection failed (reset, refused, closed without an answer)
    location: str = ""
    text: str = ""

    @property
    def token(self) -> str | None:
        match = NEW_REGISTRATION.search(self.location)
        return match.group(1) if self.status == 302 and match else None


def open_form(http: requests.Session, base_url: str, slug: str) -> str:
    page = http.get(f"{base_url}/events/{slug}/register", timeout=REQUEST_TIMEOUT,
                    headers={"Connection": "close"})
    assert page.status_code == 200, (page.status_code, page.text[:300])
    return csrf_token_from(page.text)


@dataclass(frozen=True)
class PreparedPost:
    """A browser's sign-up POST, as the bytes it will send, built before the burst.

    A real browser sends its request as soon as the connection is up. Hundreds of `requests`
    sessions in one Python process do not: between `connect()` and the first `send()` each
    thread waits for the GIL behind the others' request building, which took up to 8 s under
    load here, and gunicorn's gthread worker closes, unanswered, a connection that has sent
    nothing within 5 s plus its keep-alive time (its defence against slow clients). Sending
    prepared bytes right after connecting keeps the client from measuring its own queue.
    """

    address: tuple[str, int]
    request: bytes

    def send(self) -> Outcome:
        try:
            with socket.create_connection(self.address, timeout=REQUEST_TIMEOUT) as connection:
                connection.sendall(self.request)
                response = HTTPResponse(connection)
                response.begin()
                text = response.read().decode(errors="replace")
                return Outcome(response.status, response.getheader("Location") or "", text)
        except (OSError, HTTPException) as error:
            return Outcome(0, text=repr(error))


def prepare_signup(base_url: str, slug: str, n: int) -> PreparedPost:
    """Opens the form as browser `n` (a session cookie and its CSRF token) and prepares the
    POST that sends it filled in, on a connection of its own."""
    with requests.Session() as http:
        csrf_token = open_form(http, base_url, slug)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    address = urlsplit(base_url)
    assert address.hostname and address.port
    body = urlencode(signup_form(csrf_token, n)).encode()
    head = (f"POST /events/{slug}/register HTTP/1.1\r\nHost: {address.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
    return PreparedPost((address.hostname, address.port), head.encode("ascii") + body)


def concurrent_signups(base_url: str, slug: str, count: int) -> list[Outcome]:
    """`count` browsers open the form, wait for each other, then all POST at once."""
    barrier = threading.Barrier(count)

    def browser(n: int) -> Outcome:
        try:
            prepared = prepare_signup(base_url, slug, n)
        except BaseException:
            barrier.abort()  # never leave the others waiting for a client that failed
            raise
        barrier.wait(timeout=REQUEST_TIMEOUT)
        return prepared.send()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(browser, range(count)))


def failed(outcomes: list[Outcome], server: LiveServer) -> str:
    """What to show when a burst went wrong: a few failed answers and the server's own log."""
    answers = [f"{o.status}: {o.text[:300]}" for o in outcomes if o.status != 302][:5]
    return "\n".join([*answers, "--- gunicorn's error log ---", server.errors()[-4000:]])


# --- the database's own account of what happened ----------------------------------------------


@dataclass(frozen=True)
class State:
    registrations: list[Registration]
    taken: int
    messages: list[OutboxMessage]

    def count(self, status: RegistrationStatus) -> int:
        return sum(1 for r in self.registrations if r.status is status)


def state_of(event_id: int) -> State:
    db.session.rollback()
    db.session.expire_all()
    return State(
        list(db.session.execute(select(Registration).where(
            Registration.event_id == event_id).order_by(Registration.id)).scalars()),
        db.session.execute(select(SeatPool.taken).where(
            SeatPool.event_id == event_id)).scalar_one(),
        list(db.session.execute(select(OutboxMessage).where(
            OutboxMessage.event_id == event_id)).scalars()),
    )


def assert_consistent(state: State, capacity: int) -> None:
    """No half-written sign-up: each has its one message, the seat counter matches the rows,
    nobody is confirmed beyond the capacity, and the waiting list has no gap or repeat."""
    confirmed = state.count(CONFIRMED)
    assert confirmed == state.taken <= capacity
    assert confirmed == min(capacity, len(state.registrations))
    status_of = {r.id: r.status for r in state.registrations}
    assert Counter(m.registration_id for m in state.messages) == {r: 1 for r in status_of}
    assert all(m.kind is EXPECTED_MESSAGE[status_of[m.registration_id]]  # type: ignore[index]
               for m in state.messages)
    sequence = sorted(r.waitlist_seq for r in state.registrations if r.status is WAITLISTED)
    assert sequence == list(range(1, len(sequence) + 1))
    emails = [r.email_normalized for r in state.registrations]
    assert len(emails) == len(set(emails))


@pytest.fixture
def gunicorn(migrated_database: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Starts servers on the test database; each is stopped after the test."""
    servers: list[LiveServer] = []

    def start(workers: int = 4, database_url: str = migrated_database) -> LiveServer:
        server = LiveServer(database_url, tmp_path / f"gunicorn-{len(servers)}", workers=workers)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


# --- load -----------------------------------------------------------------------------------


@only_in("postgresql")
def test_500_concurrent_signups_for_100_seats_on_postgresql(
    app: Flask, gunicorn: Callable[..., LiveServer]
) -> None:
    server = gunicorn(workers=4)
    event = make_event(capacity=100, waitlist_enabled=True)

    outcomes = concurrent_signups(server.url, event.slug, 500)

    assert Counter(o.status for o in outcomes) == {302: 500}, failed(outcomes, server)
    tokens = [o.token for o in outcomes]
    assert None not in tokens and len(set(tokens)) == 500
    state = state_of(event.id)
    assert (state.count(CONFIRMED), state.count(WAITLISTED), state.taken) == (100, 400, 100)
    assert {r.manage_token_hash for r in state.registrations} == {
        token_hash(t) for t in tokens if t}
    assert_consistent(state, 100)
    assert server.problems_since() == []


@only_in("postgresql")
def test_a_worker_killed_mid_burst_loses_no_answered_signup(
    app: Flask, gunicorn: Callable[..., LiveServer]
) -> None:
    server = gunicorn(workers=4)
    capacity, count, clients = 60, 240, 24
    event = make_event(capacity=capacity, waitlist_enabled=True)
    event_id, slug = event.id, event.slug  # the threads have no app context
    answered = threading.Semaphore(0)
    killed: list[int] = []

    def browser(n: int) -> Outcome:
        try:
            return prepare_signup(server.url, slug, n).send()
        # The worker died under us: before its answer, or (a form's GET) in the middle of it.
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                AssertionError):
            return Outcome(0)
        finally:
            answered.release()

    def assassin() -> None:
        for _ in range(count // 4):  # a quarter of the burst is through: strike
            answered.acquire(timeout=REQUEST_TIMEOUT)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    with ThreadPoolExecutor(max_workers=clients + 1) as pool:
        strike = pool.submit(assassin)
        outcomes = list(pool.map(browser, range(count)))
        strike.result()

    statuses = Counter(o.status for o in outcomes)
    print(f"SIGKILL mid-burst: {dict(statuses)} (0: connection lost)")
    assert killed and set(statuses) <= {0, 302}, statuses
    assert statuses[0] >= 1, "the killed worker was serving nobody: this test proved nothing"
    assert statuses[302] >= count // 2  # the others and the replacement worker went on
    # Every answered sign-up is in the database, and nothing is half-written.
    state = state_of(event_id)
    stored = {r.manage_token_hash for r in state.registrations}
    assert {token_hash(o.token) for o in outcomes if o.token} <= stored
    assert statuses[302] <= len(state.registrations) <= count
    assert_consistent(state, capacity)
    # The master replaced the worker, and the new one serves.
    assert killed[0] not in server.worker_pids() and len(server.worker_pids()) == 4
    assert prepare_signup(server.url, slug, 9999).send().token
    assert server.problems_since() == []


@only_in("sqlite")
def test_sqlite_default_with_two_workers_under_100_concurrent_signups(
    app: Flask, gunicorn: Callable[..., LiveServer]
) -> None:
    server = gunicorn(workers=2)
    event = make_event(capacity=30, waitlist_enabled=True)

    outcomes = concurrent_signups(server.url, event.slug, 100)

    assert Counter(o.status for o in outcomes) == {302: 100}, failed(outcomes, server)
    state = state_of(event.id)
    assert (state.count(CONFIRMED), state.count(WAITLISTED)) == (30, 70)
    assert_consistent(state, 30)
    log = server.errors()
    assert "database is locked" not in log and "Traceback" not in log
    assert server.problems_since() == []


# --- PostgreSQL goes away and comes back ------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL instance of this test alone: initdb into a temporary folder, any port."""

    bin_dir: Path
    root: Path
    port: int = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:  # initdb refuses root; the folder must belong to postgres
            shutil.chown(self.root, user="postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.root / "data"), "-A", "trust",
                  "-U", "postgres", "-E", "UTF8", "--no-sync")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-o", options,
                  "-l", str(self.root / "postgresql.log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast",
                  "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.root / "data" / "postmaster.pid").exists()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if not found or (os.geteuid() == 0 and shutil.which("runuser") is None):
        reason = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are missing"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ", and CI must run this test")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="tsudoi-pg-"))
    server = PrivatePostgres(Path(found[-1]).parent, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Answer:
    sent: float
    at: float  # answered
    status: int
    text: str


@only_in("postgresql")
def test_postgresql_restart_gives_clean_503s_and_tsudoi_recovers_by_itself(
    private_postgres: PrivatePostgres, gunicorn: Callable[..., LiveServer]
) -> None:
    import psycopg
    from flask_migrate import upgrade

    with psycopg.connect(private_postgres.admin_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE tsudoi")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{private_postgres.port}/tsudoi"
    with make_app(url).app_context():
        upgrade(revision="heads")
        slug = make_event(capacity=1000).slug
        make_user(events=[])
        db.session.remove()
        db.engine.dispose()
    server = gunicorn(workers=2, database_url=url)
    answers: list[Answer] = []
    stop = threading.Event()

    def visitor(n: int) -> None:
        """Reads the event page and signs up, over and over, like the public would."""
        with requests.Session() as http:
            http.headers["Accept-Language"] = "en"
            while not stop.is_set():
                sent = time.monotonic()
                page = http.get(f"{server.url}/events/{slug}/register", timeout=30)
                answers.append(Answer(sent, time.monotonic(), page.status_code, page.text))
                if page.status_code == 200:
                    n += 1000
                    sent = time.monotonic()
                    response = http.post(f"{server.url}/events/{slug}/register",
                                         data=signup_form(csrf_token_from(page.text), n),
                                         timeout=30, allow_redirects=False)
                    answers.append(Answer(sent, time.monotonic(), response.status_code,
                                          response.text))
                time.sleep(0.05)

    def organizer() -> None:
        """Signed in to the console: the session's user is loaded from the database."""
        with requests.Session() as http:
            http.headers["Accept-Language"] = "en"
            login = f"{server.url}/console/login"
            signed_in = http.post(login, timeout=30, allow_redirects=False, data={
                "csrf_token": csrf_token_from(http.get(login, timeout=30).text),
                "email": "organizer@example.lg.jp", "password": PASSWORD})
            assert signed_in.status_code == 302, signed_in.text[:500]
            while not stop.is_set():
                sent = time.monotonic()
                page = http.get(f"{server.url}/console/", timeout=30, allow_redirects=False)
                answers.append(Answer(sent, time.monotonic(), page.status_code, page.text))
                time.sleep(0.05)

    with ThreadPoolExecutor(max_workers=5) as pool:
        visitors = [pool.submit(visitor, n) for n in range(4)] + [pool.submit(organizer)]
        try:
            time.sleep(2)
            stopping = time.monotonic()
            private_postgres.stop()
            down = time.monotonic()
            time.sleep(3)
            ready = requests.get(f"{server.url}/readyz", timeout=30)
            alive = requests.get(f"{server.url}/healthz", timeout=30)
            starting = time.monotonic()
            private_postgres.start()
            up = time.monotonic()
            deadline = up + 30
            while time.monotonic() < deadline and not any(
                    a.sent > up and a.status in (200, 302) for a in answers):
                time.sleep(0.2)
            time.sleep(2)  # a little more traffic after the recovery
        finally:
            stop.set()
        for future in visitors:
            future.result()
    recovered = min((a.at for a in answers if a.sent > up and a.status in (200, 302)),
                    default=None)

    assert (ready.status_code, ready.json()["checks"]["database"]) == (503, "unavailable")
    assert alive.status_code == 200  # alive, just not ready: no restart loop
    before = Counter(a.status for a in answers if a.at < stopping)
    assert before and set(before) <= {200, 302}, before
    # Asked and answered while the database was down (answers in flight when it stopped
    # may have been read in time, and are judged only by the last check below).
    outage = [a for a in answers if down < a.sent and a.at < starting]
    assert outage and {a.status for a in outage} == {503}, Counter(a.status for a in outage)
    assert all("temporarily unavailable" in a.text for a in outage)
    assert all("Traceback" not in a.text and "psycopg" not in a.text for a in outage)
    assert recovered is not None and recovered - up < 30, "Tsudoi did not recover by itself"
    # Once one request has worked, they all do: no stale pooled connection is handed out.
    after = [a for a in answers if recovered is not None and a.sent > recovered]
    assert after and {a.status for a in after} <= {200, 302}, Counter(a.status for a in after)
    assert {a.status for a in answers} <= {200, 302, 503}
    access = server.access_log.read_text()
    assert not re.search(r'" 50[0-24-9] ', access)  # 503 only, never a 500
    assert server.process is not None and server.process.poll() is None
