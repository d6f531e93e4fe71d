"""The gthread worker that takes new connections only while it has a free thread
(app/gunicorn_worker.py), against gunicorn's own event-loop methods."""

from __future__ import annotations

import runpy
import selectors
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from app.gunicorn_worker import BalancedThreadWorker
from tests.live_server import PROJECT_ROOT


class Finished:
    """A thread pool's future for a request whose connection then closes."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_done_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def result(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False


class Pool:
    def submit(self, _handle: Any, _conn: Any) -> Finished:
        return Finished()


class Connection:
    closed = False

    def close(self, graceful: bool = False) -> None:
        self.closed = True


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def a_worker(listener: socket.socket, threads: int) -> BalancedThreadWorker:
    # gunicorn's constructor wants an arbiter; the methods under test need only these.
    worker = BalancedThreadWorker.__new__(BalancedThreadWorker)
    worker.cfg = SimpleNamespace(threads=threads)
    worker.sockets = [listener]
    worker.poller = selectors.DefaultSelector()
    worker.tpool = Pool()
    worker.method_queue = SimpleNamespace(defer=lambda *_args: None)
    worker._accepting = False
    worker.nr_conns = 0
    worker.alive = True
    return worker


def listening(worker: BalancedThreadWorker, listener: socket.socket) -> bool:
    return listener in [key.fileobj for key in worker.poller.get_map().values()]


def test_a_worker_with_every_thread_busy_leaves_new_connections_to_the_others(listener):
    worker = a_worker(listener, threads=2)
    worker.set_accept_enabled(True)  # as gunicorn's run loop does at start
    assert listening(worker, listener)
    first, second = Connection(), Connection()
    worker.nr_conns = 2
    worker.enqueue_req(first)
    assert listening(worker, listener)  # a thread is still free
    worker.enqueue_req(second)
    assert not listening(worker, listener) and worker.in_flight == 2
    worker.set_accept_enabled(True)  # the run loop asks again on its next turn: still busy
    assert not listening(worker, listener)
    worker.finish_request(first, Finished())
    assert first.closed and worker.in_flight == 1
    worker.set_accept_enabled(True)  # a thread is free: new connections are taken again
    assert listening(worker, listener)


def test_a_stopping_worker_takes_no_new_connection(listener):
    worker = a_worker(listener, threads=2)
    worker.set_accept_enabled(True)
    worker.set_accept_enabled(False)  # gunicorn's graceful stop
    assert not listening(worker, listener)
    worker.nr_conns = 1
    worker.enqueue_req(Connection())
    worker.finish_request(Connection(), Finished())
    assert not listening(worker, listener)


def test_gunicorn_conf_uses_the_balanced_worker():
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("worker_class", settings["worker_class"])
    assert cfg.worker_class is BalancedThreadWorker
