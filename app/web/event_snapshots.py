"""Events as a worker last read them for the sign-up form, kept between requests.

When registration opens, every POST of the sign-up form used to begin by reading the event,
its seats, questions and groups, to build and check the form: a quarter of the CPU a
sign-up costs. Each worker now keeps that read (detached from any session, see
`registration.event_for_signup_form`) and builds the form from it. It is never trusted on
its own: `register(..., as_read=…, as_read_kept=True)` checks inside its write transaction
that the event's `updated_at` is still the one kept, which every change to the event or its
parts moves, and anything else than an accepted sign-up on an unchanged event is answered
from a fresh read (app/web/public/views.py). So a kept event costs nothing in correctness,
across workers and instances alike, and one query less per sign-up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask, current_app

from app.models import Event

_EXTENSION = "tsudoi.event_snapshots"


class EventSnapshots:
    """A bounded LRU of detached events by slug; safe across the threads of one worker.

    The events are only read once kept: nothing loads or changes anything on them, so the
    threads can share them.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._events: OrderedDict[str, Event] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, slug: str) -> Event | None:
        with self._lock:
            event = self._events.get(slug)
            if event is not None:
                self._events.move_to_end(slug)
            return event

    def put(self, slug: str, event: Event) -> None:
        with self._lock:
            self._events[slug] = event
            self._events.move_to_end(slug)
            while len(self._events) > self.max_entries:
                self._events.popitem(last=False)

    def forget(self, slug: str, event: Event) -> None:
        """Drops `event` if it is still the one kept (another thread may have kept a newer)."""
        with self._lock:
            if self._events.get(slug) is event:
                del self._events[slug]

    def __len__(self) -> int:
        return len(self._events)


def init_app(app: Flask) -> None:
    if app.config.get("EVENT_SNAPSHOTS_ENABLED", True):
        app.extensions[_EXTENSION] = EventSnapshots(
            int(app.config.get("EVENT_SNAPSHOTS_ENTRIES", 256)))


def event_snapshots() -> EventSnapshots | None:
    """This app's kept events; None when EVENT_SNAPSHOTS_ENABLED is off."""
    snapshots: EventSnapshots | None = current_app.extensions.get(_EXTENSION)
    return snapshots
