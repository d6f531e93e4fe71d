"""The outbox's doorbell (app/services/job_signal.py) against a real Redis.

A commit that queues mail rings once, after COMMIT; rollbacks and commits without mail stay
silent; an idle worker with a long poll interval wakes at once; and with Redis unreachable
sign-ups still succeed and workers fall back to polling. Each test uses its own key in
Redis and deletes it afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import insert, select

from app.commands.mail import make_sender_factory
from app.database import write_transaction
from app.extensions import db
from app.models import Event, OutboxMessage, Registration
from app.models.enums import MessageKind, OutboxStatus
from app.services import registration as service
from app.services.job_signal import MAX_TOKENS, SILENT, Doorbell, doorbell_for, mark_queued
from app.services.mailer import Sender
from app.services.outbox import RetryPolicy, run_worker
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import form_data, make_event, signup
from tests.mail_support import smtp_config, smtp_server

# Not TSUDOI_TEST_REDIS_URL's database: tests/test_attacks.py flushes that one, possibly
# while these run in another xdist worker. Here every key is unique and removed afterwards.
REDIS_URL = os.environ.get("TSUDOI_TEST_REDIS_SIGNAL_URL", "redis://127.0.0.1:6379/0")
UNREACHABLE = "redis://127.0.0.1:1/0"
EN = {"Accept-Language": "en"}


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable: {error}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def key(redis_client: redis.Redis) -> Iterator[str]:
    name = f"tsudoi-test:{uuid.uuid4().hex}:outbox:ready"
    yield name
    redis_client.delete(name)


@pytest.fixture
def signal_app(migrated_database: str, key: str) -> Iterator[Flask]:
    with app_context_for(migrated_database, REDIS_URL=REDIS_URL, JOB_SIGNAL_KEY=key) as app:
        yield app
        doorbell_for(app).close()


def tokens(client: redis.Redis, key: str) -> int:
    return int(client.llen(key))


def raw_message(email: str = "taro@example.jp") -> dict[str, Any]:
    return {"kind": MessageKind.ANNOUNCEMENT, "recipient": email, "language": "ja",
            "subject": "お知らせ", "body_text": "本文", "payload": {}}


def register(event: Event, email: str = "taro@example.jp") -> Registration:
    result = service.register(db.session, event.id, signup(email))
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    return registration


def outbox() -> list[OutboxMessage]:
    db.session.commit()
    return list(db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


class WatchedDoorbell(Doorbell):
    """A worker's doorbell (as on another host: same Redis and key, its own client) that
    tells the test when the worker has gone idle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = threading.Event()
        self.woken = 0

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        self.waiting.set()
        woken = super().wait(timeout, stop)
        self.woken += woken
        return woken


class Worker:
    """run_worker in a thread with its own app context, as `flask mail send --loop`."""

    def __init__(self, app: Flask, doorbell: Doorbell | None, poll_seconds: float) -> None:
        self.stop = threading.Event()
        self.batches = 0
        make_sender = make_sender_factory()

        def counted() -> Sender:
            self.batches += 1
            return make_sender()

        def loop() -> None:
            with app.app_context():
                run_worker(db.session, counted, self.stop,
                           policy=RetryPolicy.from_config(app.config),
                           poll_seconds=poll_seconds, doorbell=doorbell)

        self.thread = threading.Thread(target=loop, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the worker did not honour stop"


def wait_for(condition: Any, seconds: float) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - started


# --- ringing after commit ---------------------------------------------------------------------


def test_a_commit_that_queues_mail_rings_once(signal_app, redis_client, key):
    event = make_event()
    assert tokens(redis_client, key) == 0  # a commit without mail is silent
    register(event)
    assert len(outbox()) == 1
    assert tokens(redis_client, key) == 1


def test_a_signup_decided_on_the_event_as_read_rings_once(signal_app, redis_client, key):
    # It commits outside the session (app/services/free_seat_signup.py).
    event = make_event()
    db.session.expire_all()
    as_read = service.get_event(db.session, event.slug, with_form=True)
    service.register(db.session, event.id, signup(), as_read=as_read)
    assert len(outbox()) == 1
    assert tokens(redis_client, key) == 1


def test_commits_without_mail_and_rollbacks_do_not_ring(signal_app, redis_client, key):
    event = make_event()
    with write_transaction(db.session):
        db.session.get(Event, event.id).title = "改題"
    with pytest.raises(RuntimeError), write_transaction(db.session):
        db.session.add(OutboxMessage(**raw_message()))
        db.session.flush()  # the row existed inside the transaction
        raise RuntimeError("changed my mind")
    # The mark went with the rollback: the next commit, without mail, stays silent.
    with write_transaction(db.session):
        db.session.get(Event, event.id).title = "再改題"
    assert outbox() == []
    assert tokens(redis_client, key) == 0


def test_the_ring_waits_for_the_outer_commit_not_a_savepoint(signal_app, redis_client, key):
    event = make_event()
    with write_transaction(db.session):
        db.session.add(OutboxMessage(**raw_message()))
        with db.session.begin_nested():
            db.session.get(Event, event.id).title = "改題"
        # The SAVEPOINT is released, the row is not committed yet: a worker would not see it.
        assert tokens(redis_client, key) == 0
    assert tokens(redis_client, key) == 1


def test_core_inserts_ring_too(signal_app, redis_client, key):
    with write_transaction(db.session):
        db.session.execute(insert(OutboxMessage), [raw_message("a@example.jp"),
                                                   raw_message("b@example.jp")])
    assert tokens(redis_client, key) == 1
    with write_transaction(db.session):
        db.session.execute(insert(OutboxMessage.__table__), [raw_message("t@example.jp")])
    assert tokens(redis_client, key) == 2
    # Rows written on the connection itself are invisible to the session: mark_queued.
    with write_transaction(db.session):
        db.session.connection().execute(insert(OutboxMessage.__table__),
                                        [raw_message("c@example.jp")])
    assert tokens(redis_client, key) == 2
    with write_transaction(db.session):
        db.session.connection().execute(insert(OutboxMessage.__table__),
                                        [raw_message("d@example.jp")])
        mark_queued(db.session)
    assert tokens(redis_client, key) == 3
    assert len(outbox()) == 5


def test_the_list_is_capped(signal_app, redis_client, key):
    doorbell = doorbell_for(signal_app)
    for _ in range(MAX_TOKENS * 3):
        assert doorbell.ring()
    assert tokens(redis_client, key) == MAX_TOKENS
    # One wake-up answers them all.
    assert doorbell.wait(1, threading.Event())
    assert tokens(redis_client, key) == 0


def test_without_redis_url_the_doorbell_is_silent_and_waits_the_interval(app):
    assert doorbell_for(app) is SILENT and not SILENT.enabled
    assert not SILENT.ring()
    started = time.monotonic()
    assert not SILENT.wait(0.2, threading.Event())
    assert 0.15 <= time.monotonic() - started < 1


# --- waking workers ---------------------------------------------------------------------------


def test_an_idle_worker_delivers_a_new_message_at_once(signal_app, key):
    with smtp_server() as (inbox, port):
        signal_app.config.update(smtp_config(port))
        event = make_event()
        doorbell = WatchedDoorbell(REDIS_URL, key=key)
        with Worker(signal_app, doorbell, poll_seconds=30) as worker:
            assert doorbell.waiting.wait(10), "the worker never went idle"
            time.sleep(0.2)  # into BLPOP, past its first empty look at the outbox
            batches = worker.batches
            register(event)
            elapsed = wait_for(lambda: len(inbox.received) == 1, 5)
            assert elapsed < 2, f"took {elapsed:.1f} s: the worker was not woken"
            assert doorbell.woken >= 1 and worker.batches == batches + 1
            stopping = time.monotonic()
        # SIGTERM's stop is honoured within a BLPOP slice, not after the 30 s interval.
        assert time.monotonic() - stopping < 3
        doorbell.close()
    assert [m.status for m in outbox()] == [OutboxStatus.SENT]


def test_each_ring_wakes_one_of_several_waiting_workers(signal_app, key):
    doorbells = [Doorbell(REDIS_URL, key=key) for _ in range(2)]
    stop = threading.Event()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda d=d: results.append(d.wait(30, stop)))
               for d in doorbells]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    ringer = doorbell_for(signal_app)
    try:
        assert ringer.ring()
        wait_for(lambda: len(results) == 1, 2)
        assert ringer.ring()
        wait_for(lambda: len(results) == 2, 2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        for doorbell in doorbells:
            doorbell.close()
    assert results == [True, True]


def test_wait_honours_stop_within_a_second(signal_app, key):
    doorbell = Doorbell(REDIS_URL, key=key)
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(doorbell.wait(30, stop)))
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=3)
    doorbell.close()
    assert not thread.is_alive() and result == [False]


# --- Redis down -------------------------------------------------------------------------------


def test_with_redis_unreachable_sign_ups_succeed_and_workers_poll(migrated_database, caplog):
    caplog.set_level(logging.WARNING, logger="app.services.job_signal")
    with smtp_server() as (inbox, port), \
            app_context_for(migrated_database, REDIS_URL=UNREACHABLE,
                            **smtp_config(port)) as app:
        client = app.test_client()
        event = make_event()
        for email in ("a@example.jp", "b@example.jp"):
            page = client.get(f"/events/{event.slug}/register", headers=EN)
            started = time.monotonic()
            response = client.post(f"/events/{event.slug}/register",
                                   data=form_data(csrf_token_from(page.text), email=email),
                                   headers=EN)
            assert response.status_code == 302 and "/r/" in response.headers["Location"]
            assert time.monotonic() - started < 5
        assert [m.status for m in outbox()] == [OutboxStatus.PENDING] * 2
        ring_warnings = [r for r in caplog.records if "ring" in r.getMessage()]
        assert len(ring_warnings) == 1  # once, not per sign-up
        assert "example.jp" not in ring_warnings[0].getMessage()

        with Worker(app, doorbell_for(app), poll_seconds=0.2) as worker:
            wait_for(lambda: len(inbox.received) == 2, 10)
            before = worker.batches
            time.sleep(1)
            # Polling every 0.2 s, not spinning on the failing BLPOP.
            assert worker.batches - before <= 8
        doorbell_for(app).close()
        assert [m.status for m in outbox()] == [OutboxStatus.SENT] * 2
