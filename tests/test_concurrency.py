"""No overbooking, proven: concurrent sign-ups and cancellations through a real server.

The HTTP tests run gunicorn (4 workers x 8 threads, gthread) against the test database:
SQLite by default, PostgreSQL with TSUDOI_TEST_DB=postgresql. Every client has its own
`requests.Session`, fetches the form for its CSRF token first, then waits at a barrier so
the POSTs really arrive together.

The last tests do what pretix does: first show that the race is real when the capacity
check takes no lock (a naive "count, then insert"), then run the real service the same way
and show that it never overbooks. A concurrency test that could not fail proves nothing.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.extensions import db
from app.models import OutboxMessage, Registration, SeatPool
from app.models.enums import (
    AttendanceMode,
    MessageKind,
    OrganizationType,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services.registration import RegistrationInput, register
from app.services.tokens import token_hash
from tests.conftest import csrf_token_from
from tests.factories import make_event
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

CONFIRMED = RegistrationStatus.CONFIRMED
WAITLISTED = RegistrationStatus.WAITLISTED
CANCELLED = RegistrationStatus.CANCELLED
REQUEST_TIMEOUT = 120  # seconds; a request queued behind a whole burst on two cores
NEW_REGISTRATION = re.compile(r"/r/([A-Za-z0-9_-]+)\?new=1$")


# --- the server and the data ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = LiveServer(migrated_database, tmp_path_factory.mktemp("gunicorn"))
    with server:
        yield server


@pytest.fixture
def server(live_server: LiveServer, app: Flask) -> Iterator[LiveServer]:
    """The running server, for a test whose data lives in the `app` fixture's database.

    Afterwards, the server's own logs must show no 5xx, traceback or database error.
    """
    position = live_server.log_position()
    yield live_server
    assert live_server.process is not None and live_server.process.poll() is None, (
        "gunicorn died during the test:\n" + live_server.errors()[-5000:]
    )
    assert live_server.problems_since(position) == []


def create_event(capacity: int) -> tuple[int, str]:
    """A published in-person lecture, open for sign-up, with a waiting list."""
    event = make_event(capacity=capacity, waitlist_enabled=True,
                       title="多文化共生のまちづくりに向けた連携のあり方を考える（同時申込試験）")
    return event.id, event.slug


def email_for(n: int) -> str:
    return f"participant{n:04d}@example.jp"


def signup_input(n: int) -> RegistrationInput:
    return RegistrationInput(
        attendance_mode=AttendanceMode.IN_PERSON,
        name=f"台東 花子{n}",
        furigana="たいとう はなこ",
        email=email_for(n),
        organization_name="台東区役所",
        organization_type=OrganizationType.MUNICIPALITY,
        prefecture_code="13",
        municipality_code="13106",
    )


def signup_form(csrf_token: str, email: str, n: int) -> dict[str, str]:
    """What a browser sends; `refresh_municipalities` is left out, as when "Register" is hit."""
    return {
        "csrf_token": csrf_token,
        "attendance_mode": "in_person",
        "name": f"台東 太郎{n}",
        "furigana": "たいとう たろう",
        "email": email,
        "email_confirm": email,
        "organization_type": "municipality",
        "organization_name": "台東区役所 企画課",
        "prefecture": "13",
        "municipality": "13106",
        "consent": "y",
        "submit": "登録する",
    }


@dataclass(frozen=True)
class Snapshot:
    registrations: list[Registration]
    taken: int
    capacity: int
    messages: list[OutboxMessage]

    def with_status(self, status: RegistrationStatus) -> list[Registration]:
        return [r for r in self.registrations if r.status is status]


def snapshot(event_id: int) -> Snapshot:
    """Read what the server committed, in a fresh transaction (no stale SQLite snapshot)."""
    db.session.rollback()
    db.session.expire_all()
    pool = db.session.execute(select(SeatPool).where(SeatPool.event_id == event_id)).scalar_one()
    registrations = list(db.session.scalars(
        select(Registration).where(Registration.event_id == event_id).order_by(Registration.id)
    ))
    messages = list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.event_id == event_id).order_by(OutboxMessage.id)
    ))
    assert pool.capacity is not None
    return Snapshot(registrations, pool.taken, pool.capacity, messages)


# --- concurrent clients ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int
    location: str
    text: str
    seconds: float  # the contended request alone, after the barrier


def burst(tasks: list[Callable[[threading.Barrier], Outcome]]) -> tuple[list[Outcome], float]:
    """Run every task in its own thread; each prepares, then waits for all at the barrier.

    Returns the outcomes in task order and the wall time from the barrier to the last answer.
    """
    barrier = threading.Barrier(len(tasks) + 1)

    def guarded(task: Callable[[threading.Barrier], Outcome]) -> Outcome:
        try:
            return task(barrier)
        except BaseException:
            barrier.abort()  # never leave the others waiting for a client that failed
            raise

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        futures = [pool.submit(guarded, task) for task in tasks]
        try:
            barrier.wait(timeout=REQUEST_TIMEOUT)  # every client is ready: go
        except threading.BrokenBarrierError:
            for future in futures:  # report why a client failed, not just that one did
                error = future.exception()
                if error is not None and not isinstance(error, threading.BrokenBarrierError):
                    raise error from None
            raise
        started = time.monotonic()
        outcomes = [future.result() for future in futures]
    return outcomes, time.monotonic() - started


def client(accept_language: str = "ja") -> requests.Session:
    http = requests.Session()
    http.headers["Accept-Language"] = accept_language
    return http


def prepared_get(http: requests.Session, url: str) -> str:
    # `Connection: close`: the POST after the barrier opens a fresh connection, so no client
    # depends on a keep-alive connection that gunicorn may close while everyone gathers.
    response = http.get(url, timeout=REQUEST_TIMEOUT, headers={"Connection": "close"})
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return csrf_token_from(response.text)


def timed_post(http: requests.Session, url: str, data: dict[str, str]) -> Outcome:
    started = time.monotonic()
    response = http.post(url, data=data, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    return Outcome(response.status_code, response.headers.get("Location", ""), response.text,
                   time.monotonic() - started)


def signup_task(base_url: str, slug: str, email: str, n: int, *, language: str = "ja"
                ) -> Callable[[threading.Barrier], Outcome]:
    def task(barrier: threading.Barrier) -> Outcome:
        with client(language) as http:
            url = f"{base_url}/events/{slug}/register"
            token = prepared_get(http, url)
            barrier.wait(timeout=REQUEST_TIMEOUT)
            return timed_post(http, url, signup_form(token, email, n))
    return task


def cancel_task(base_url: str, manage_token: str) -> Callable[[threading.Barrier], Outcome]:
    def task(barrier: threading.Barrier) -> Outcome:
        with client() as http:
            url = f"{base_url}/r/{manage_token}/cancel"
            token = prepared_get(http, url)
            barrier.wait(timeout=REQUEST_TIMEOUT)
            return timed_post(http, url, {"csrf_token": token})
    return task


def manage_token_of(outcome: Outcome) -> str:
    match = NEW_REGISTRATION.search(outcome.location)
    assert outcome.status == 302 and match, (outcome.status, outcome.location, outcome.text[:500])
    return match.group(1)


def figures(label: str, outcomes: list[Outcome], wall: float) -> str:
    times = sorted(outcome.seconds for outcome in outcomes)
    line = (f"{label}: {len(outcomes)} requests in {wall:.2f} s; latency p50 "
            f"{times[len(times) // 2]:.2f} s, p95 {times[int(len(times) * 0.95) - 1]:.2f} s, "
            f"max {times[-1]:.2f} s; statuses {dict(Counter(o.status for o in outcomes))}")
    print(line)
    return line


# --- through the server --------------------------------------------------------------------


def test_200_concurrent_signups_fill_exactly_the_seats(
    server: LiveServer, record_property: Callable[[str, Any], None]
) -> None:
    seats, clients = 50, 200
    event_id, slug = create_event(capacity=seats)

    outcomes, wall = burst([
        signup_task(server.url, slug, email_for(n), n) for n in range(clients)
    ])
    record_property("figures", figures("200 sign-ups for 50 seats", outcomes, wall))

    # No 5xx, no error page: every client was sent to its new registration's page.
    assert Counter(o.status for o in outcomes) == {302: clients}
    tokens = [manage_token_of(outcome) for outcome in outcomes]
    assert len(set(tokens)) == clients

    state = snapshot(event_id)
    assert len(state.registrations) == clients
    assert len(state.with_status(CONFIRMED)) == seats
    waitlisted = state.with_status(WAITLISTED)
    assert len(waitlisted) == clients - seats
    assert sorted(r.waitlist_seq for r in waitlisted) == list(range(1, clients - seats + 1))
    assert all(r.waitlist_seq is None for r in state.with_status(CONFIRMED))
    assert state.taken == seats
    # No duplicates, nobody lost, and each client's link opens its own registration.
    assert sorted(r.email_normalized for r in state.registrations) == sorted(
        email_for(n) for n in range(clients))
    assert {r.manage_token_hash for r in state.registrations} == {token_hash(t) for t in tokens}
    # One message per registration, written in its transaction, of the right kind.
    per_registration = Counter(m.registration_id for m in state.messages)
    assert per_registration == {r.id: 1 for r in state.registrations}
    expected_kind = {CONFIRMED: MessageKind.CONFIRMATION, WAITLISTED: MessageKind.WAITLISTED}
    status_of = {r.id: r.status for r in state.registrations}
    assert all(m.kind is expected_kind[status_of[m.registration_id]] for m in state.messages)


def test_same_email_submitted_20_times_at_once_registers_once(
    server: LiveServer, record_property: Callable[[str, Any], None]
) -> None:
    event_id, slug = create_event(capacity=5)
    email = "double.submit@example.jp"

    outcomes, wall = burst([
        signup_task(server.url, slug, email, n, language="en") for n in range(20)
    ])
    record_property("figures", figures("the same address 20 times", outcomes, wall))

    assert Counter(o.status for o in outcomes) == {302: 1, 200: 19}
    manage_token_of(next(o for o in outcomes if o.status == 302))
    for outcome in outcomes:
        if outcome.status == 200:  # the same neutral page a stranger would see
            assert "Please check your email" in outcome.text
            assert 'name="csrf_token"' not in outcome.text  # not the form again, with errors
            assert "/r/" not in outcome.text  # the link goes by email, never to the screen

    state = snapshot(event_id)
    assert [(r.email_normalized, r.status) for r in state.registrations] == [(email, CONFIRMED)]
    assert state.taken == 1
    (registration,) = state.registrations
    assert Counter(m.kind for m in state.messages) == {
        MessageKind.CONFIRMATION: 1, MessageKind.MANAGE_LINK: 19}
    assert {m.registration_id for m in state.messages} == {registration.id}


def test_cancellations_raced_against_signups_keep_the_event_exactly_full(
    server: LiveServer, record_property: Callable[[str, Any], None]
) -> None:
    # More cancellations than people waiting: the first ones promote, later ones free
    # seats that the new sign-ups race for, and sign-ups that find the event full join the
    # waiting list while cancellations are looking for someone to promote.
    seats, waiting, cancelling, arriving = 30, 5, 20, 30
    event_id, slug = create_event(capacity=seats)
    tokens = {}
    for n in range(seats + waiting):  # in order, so the waiting list is seq 1..5
        result = register(db.session, event_id, signup_input(n))
        assert result.manage_token is not None
        tokens[result.registration_id] = result.manage_token
    before = snapshot(event_id)
    assert (len(before.with_status(CONFIRMED)), len(before.with_status(WAITLISTED))) == (
        seats, waiting)
    leaving = before.with_status(CONFIRMED)[::-1][:cancelling]
    first_waiting = {r.id for r in before.with_status(WAITLISTED)}

    cancels = [cancel_task(server.url, tokens[r.id]) for r in leaving]
    signups = [signup_task(server.url, slug, email_for(1000 + n), 1000 + n)
               for n in range(arriving)]
    tasks = [task for pair in zip(cancels, signups[:cancelling], strict=True) for task in pair]
    tasks += signups[cancelling:]
    outcomes, wall = burst(tasks)
    record_property("figures", figures("20 cancellations raced against 30 sign-ups",
                                       outcomes, wall))

    cancel_outcomes = outcomes[0:2 * cancelling:2]
    signup_outcomes = outcomes[1:2 * cancelling:2] + outcomes[2 * cancelling:]
    for registration, outcome in zip(leaving, cancel_outcomes, strict=True):
        assert (outcome.status, outcome.location) == (302, f"/r/{tokens[registration.id]}"), (
            outcome.status, outcome.location, outcome.text[:500])
    for outcome in signup_outcomes:
        manage_token_of(outcome)

    state = snapshot(event_id)
    by_id = {r.id: r for r in state.registrations}
    assert all(by_id[r.id].status is CANCELLED for r in leaving)
    active = [r for r in state.registrations if r.is_active]
    assert len(active) == seats + waiting - cancelling + arriving
    confirmed, waitlisted = state.with_status(CONFIRMED), state.with_status(WAITLISTED)
    # Exactly full, never more, and the counter agrees with the rows.
    assert len(confirmed) == min(seats, len(active)) == seats
    assert state.taken == len(confirmed)
    assert len(waitlisted) == len(active) - seats
    # Every cancellation either promoted the first person waiting or freed a seat that a
    # new sign-up then took: promoted + taken directly by newcomers == cancellations.
    promoted = [r for r in confirmed if r.waitlist_seq is not None]
    newcomers_confirmed = [r for r in confirmed if r.id not in tokens and r.waitlist_seq is None]
    assert len(promoted) + len(newcomers_confirmed) == cancelling
    assert Counter(m.kind for m in state.messages if m.kind is MessageKind.PROMOTED) == {
        MessageKind.PROMOTED: len(promoted)}
    # Waiting-list order: everyone who was waiting before went first, and nobody still
    # waiting has a lower number than someone promoted.
    assert first_waiting <= {r.id for r in promoted}
    if waitlisted:
        assert max(r.waitlist_seq or 0 for r in promoted) < min(
            r.waitlist_seq or 0 for r in waitlisted)
    sequence = sorted(r.waitlist_seq for r in state.registrations if r.waitlist_seq is not None)
    assert sequence == list(range(1, len(sequence) + 1))


def test_cancellation_while_a_signup_joins_the_waiting_list_promotes_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrow window of the cancellation race, forced instead of hoped for.

    A sign-up finds the event full and is about to join the waiting list; just then a
    cancellation runs while nobody is waiting yet. Whichever commits first, the end must be
    the same: the seat goes to the newcomer, not left empty while the newcomer waits. The
    HTTP race above can land in this window too, but rarely; here it is forced every time.
    """
    from app.services import registration as service

    event_id, _slug = create_event(capacity=2)
    for n in range(2):
        register(db.session, event_id, signup_input(n))
    holder = snapshot(event_id).with_status(CONFIRMED)[0]
    deciding, cancelled = threading.Event(), threading.Event()
    next_seq = service.next_waitlist_seq

    def slow_next_seq(session: Session, event_id: int) -> int:
        deciding.set()  # the seat claim has failed: the sign-up is going to wait
        cancelled.wait(timeout=2)  # on SQLite the cancellation cannot run now: go on
        return next_seq(session, event_id)

    monkeypatch.setattr(service, "next_waitlist_seq", slow_next_seq)

    def newcomer() -> RegistrationStatus:
        with app.app_context():
            return register(db.session, event_id, signup_input(99)).status

    def cancel() -> None:
        assert deciding.wait(timeout=30)
        with app.app_context():
            service.cancel_registration(db.session, holder.id)
        cancelled.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        signed_up = pool.submit(newcomer)
        pool.submit(cancel).result()
        signed_up.result()

    state = snapshot(event_id)
    assert [(r.email_normalized, r.status) for r in state.registrations] == [
        (email_for(0), CANCELLED), (email_for(1), CONFIRMED), (email_for(99), CONFIRMED)]
    assert state.taken == 2


# --- pretix's proof: the race is real without the lock, and the lock stops it --------------

THREADS = 12
CAPACITY = 5


def naive_register(make_session: sessionmaker[Session], event_id: int, n: int,
                   barrier: threading.Barrier) -> str:
    """Indico's capacity check: count the confirmed, then insert. No lock, no conditional
    UPDATE, no immediate transaction. The pause stands for everything a real request does
    between the two (validation, rendering the e-mail) and makes the race show every time.
    """
    with make_session() as session, session.begin():
        barrier.wait(timeout=30)
        confirmed = session.scalar(
            select(func.count()).select_from(Registration).where(
                Registration.event_id == event_id, Registration.status == CONFIRMED)
        ) or 0
        time.sleep(0.05)
        status = CONFIRMED if confirmed < CAPACITY else WAITLISTED
        session.add(Registration(
            event_id=event_id, status=status, attendance_mode=AttendanceMode.IN_PERSON,
            name=f"素朴 一郎{n}", furigana="そぼく いちろう", furigana_key="そぼくいちろう",
            email=email_for(n), email_normalized=email_for(n),
            organization_type=OrganizationType.INDIVIDUAL,
            prefecture_code="13", municipality_code="13106",
            waitlist_seq=None if status is CONFIRMED else n + 1,
            manage_key=uuid.uuid4().hex, manage_token_hash=token_hash(uuid.uuid4().hex),
            consented_at=utcnow(),
        ))
    return status.value


def run_naive(engine: Engine, event_id: int) -> tuple[int, list[str]]:
    """Returns how many were confirmed, and the errors the threads met."""
    make_session = sessionmaker(engine, expire_on_commit=False)
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []

    def attempt(n: int) -> None:
        try:
            naive_register(make_session, event_id, n, barrier)
        except OperationalError as error:
            errors.append(str(error.orig))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(attempt, range(THREADS)))
    confirmed = snapshot(event_id).with_status(CONFIRMED)
    return len(confirmed), errors


def overbooks(engine: Engine, attempts: int = 3) -> tuple[int, list[str]]:
    """Up to `attempts` fresh events; stops at the first that ends with too many confirmed."""
    confirmed, errors = 0, []
    for _ in range(attempts):
        event_id, _slug = create_event(capacity=CAPACITY)
        confirmed, errors = run_naive(engine, event_id)
        if confirmed > CAPACITY:
            break
    return confirmed, errors


def test_without_a_lock_count_then_insert_overbooks(app: Flask) -> None:
    """The race is real. On PostgreSQL, READ COMMITTED without a row lock: every thread
    counts the same few confirmed and inserts. On SQLite, a *deferred* transaction cannot
    overbook (a writer whose snapshot is stale may not commit), so we switch off what
    `app/database.py` adds, as anyone using pysqlite's defaults would: reads then run
    outside any transaction, the BEGIN comes just before the INSERT, and it overbooks.
    """
    if db.engine.dialect.name == "sqlite":
        engine = create_engine(db.engine.url, connect_args={"timeout": 30})
    else:
        engine = db.engine
    try:
        confirmed, errors = overbooks(engine)
    finally:
        if engine is not db.engine:
            engine.dispose()
    print(f"naive count-then-insert, {THREADS} threads: {confirmed} confirmed for {CAPACITY} seats")
    assert errors == []
    assert confirmed > CAPACITY, "the naive check never overbooked: this test proves nothing"


def test_sqlite_deferred_transaction_without_immediate_fails_with_database_locked(
    app: Flask,
) -> None:
    """SQLite's half of the proof: with the app's engine but a deferred transaction (what
    `write_transaction` would be without BEGIN IMMEDIATE), readers that then write find
    their snapshot stale and fail at once with "database is locked", busy timeout or not;
    through the web that would be a 503 for most of a burst. IMMEDIATE is what stops it.
    """
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL is covered by the overbooking test")
    event_id, _slug = create_event(capacity=CAPACITY)
    confirmed, errors = run_naive(db.engine, event_id)
    print(f"deferred transactions, {THREADS} threads: {confirmed} confirmed, "
          f"{len(errors)} failed with {set(errors)}")
    assert confirmed <= CAPACITY
    assert errors, "deferred transactions met no conflict: this test proves nothing"
    assert all("database is locked" in error for error in errors)
    assert len(snapshot(event_id).registrations) == THREADS - len(errors)


def test_register_service_never_overbooks(app: Flask) -> None:
    """The same race against the real service: each thread its own app context and session."""
    threads = 24
    for _attempt in range(3):
        event_id, _slug = create_event(capacity=CAPACITY)
        barrier = threading.Barrier(threads)

        def sign_up(n: int, event_id: int = event_id, barrier: threading.Barrier = barrier
                    ) -> RegistrationStatus:
            with app.app_context():
                barrier.wait(timeout=30)
                return register(db.session, event_id, signup_input(n)).status

        with ThreadPoolExecutor(max_workers=threads) as pool:
            statuses = list(pool.map(sign_up, range(threads)))
        assert Counter(statuses) == {CONFIRMED: CAPACITY, WAITLISTED: threads - CAPACITY}
        state = snapshot(event_id)
        assert len(state.with_status(CONFIRMED)) == state.taken == CAPACITY
        assert sorted(r.waitlist_seq for r in state.with_status(WAITLISTED)) == list(
            range(1, threads - CAPACITY + 1))


def test_live_server_finds_problems_in_its_logs(tmp_path: Path) -> None:
    """The check after every HTTP test reads gunicorn's log formats, from a given point."""
    server = LiveServer("sqlite://", tmp_path)
    line = '127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "POST /events/x HTTP/1.1" {} 0 "-" "-"\n'
    server.access_log.write_text(line.format(302))
    server.error_log.write_text("[INFO] Booting worker\n")
    position = server.log_position()
    assert server.problems_since(position) == []
    with server.access_log.open("a") as log:
        log.write(line.format(200) + line.format(503))
    with server.error_log.open("a") as log:
        log.write("sqlite3.OperationalError: database is locked\n")
    assert len(server.problems_since(position)) == 2
    assert server.problems_since(server.log_position()) == []
