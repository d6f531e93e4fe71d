"""gunicorn's gthread worker, taking new connections only while it has a free thread.

Browsers and reverse proxies keep their connections alive, and a gthread worker keeps every
connection it accepts. When a burst opens many at once, whichever worker wakes first takes
most of them, and then serves them alone: on two cores one worker was measured using
three times the CPU of another, bound to one core by its GIL while the others idled. A
worker whose threads are all busy now leaves new connections to the others (or, when all
are busy, in the listening socket's queue until a thread is free), as a sync worker does.
Connections already kept alive are served as before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class BalancedThreadWorker(ThreadWorker):
    in_flight = 0  # requests handed to the thread pool and not yet finished

    def enqueue_req(self, conn: Any) -> None:
        self.in_flight += 1
        super().enqueue_req(conn)
        if self._accepting and self.in_flight >= self.cfg.threads:
            super().set_accept_enabled(False)  # the run loop enables it again (below)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.in_flight -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled: bool) -> None:
        # The run loop asks for it on every turn while the answer differs from its own.
        super().set_accept_enabled(enabled and self.in_flight < self.cfg.threads)
