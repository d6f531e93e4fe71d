"""Rendered public pages kept in memory, each valid while its version key holds.

Registration opens with a rush on the event page: hundreds of people reloading it while
a template of macros, dates and translations renders the same HTML again and again. Each
worker keeps the last rendering of a page (per language and address) with the version it
was rendered from; a request checks the version with one small query and serves the kept
bytes when nothing changed. The version comes from the database, so every worker and
every instance sees an organiser's edit or a sign-up without any message between them.

Within `fresh_seconds` (PAGE_CACHE_FRESH_SECONDS, 1 s by default) of its last check a page
is served without even that query, like a proxy's micro-cache: under a rush the database
then sees one check per page, worker and second, and a page is at most that old (the seats
left it shows; the sign-up itself always decides on the database's count).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

_EXTENSION = "tsudoi.page_cache"


@dataclass(frozen=True)
class CachedPage:
    version: Hashable
    valid_until: datetime
    body: bytes


class PageCache:
    """A bounded LRU of rendered pages; safe across the threads of one worker."""

    def __init__(self, max_entries: int = 512, fresh_seconds: float = 1.0) -> None:
        self.max_entries = max_entries
        self.fresh_seconds = fresh_seconds
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._checked: dict[Hashable, float] = {}  # time.monotonic() of the last check
        self._lock = threading.Lock()

    def fresh(self, key: Hashable, now: datetime) -> bytes | None:
        """The page if its version was checked less than `fresh_seconds` ago."""
        with self._lock:
            page = self._pages.get(key)
            checked = self._checked.get(key)
            if (page is None or checked is None or now >= page.valid_until
                    or time.monotonic() - checked >= self.fresh_seconds):
                return None
            return page.body

    def get(self, key: Hashable, version: Hashable, now: datetime) -> bytes | None:
        """The page if it was rendered from `version` and has not expired."""
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.version != version or now >= page.valid_until:
                self._forget(key)
                return None
            self._pages.move_to_end(key)
            self._checked[key] = time.monotonic()
            return page.body

    def put(self, key: Hashable, page: CachedPage) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            self._checked[key] = time.monotonic()
            while len(self._pages) > self.max_entries:
                oldest, _page = self._pages.popitem(last=False)
                self._checked.pop(oldest, None)

    def _forget(self, key: Hashable) -> None:
        del self._pages[key]
        self._checked.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._checked.clear()

    def __len__(self) -> int:
        return len(self._pages)


def init_app(app: Flask) -> None:
    if app.config.get("PAGE_CACHE_ENABLED", True):
        app.extensions[_EXTENSION] = PageCache(
            int(app.config.get("PAGE_CACHE_ENTRIES", 512)),
            float(app.config.get("PAGE_CACHE_FRESH_SECONDS", 1.0)),
        )


def page_cache() -> PageCache | None:
    """This app's cache of rendered pages; None when PAGE_CACHE_ENABLED is off."""
    cache: PageCache | None = current_app.extensions.get(_EXTENSION)
    return cache
