"""Rendered public pages kept in memory, each valid while its version key holds.

Registration opens with a rush on the event page: hundreds of people reloading it while
a template of macros, dates and translations renders the same HTML again and again. Each
worker keeps the last rendering of a page (per language and address) with the version it
was rendered from; a request checks the version with one small query and serves the kept
bytes when nothing changed. The version comes from the database, so every worker and
every instance sees an organiser's edit or a sign-up at once; nothing is shared between
processes and nothing can be served stale beyond the version check.
"""

from __future__ import annotations

import threading
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

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable, now: datetime) -> bytes | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.version != version or now >= page.valid_until:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page.body

    def put(self, key: Hashable, page: CachedPage) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __len__(self) -> int:
        return len(self._pages)


def init_app(app: Flask) -> None:
    if app.config.get("PAGE_CACHE_ENABLED", True):
        app.extensions[_EXTENSION] = PageCache(int(app.config.get("PAGE_CACHE_ENTRIES", 512)))


def page_cache() -> PageCache | None:
    """This app's cache of rendered pages; None when PAGE_CACHE_ENABLED is off."""
    cache: PageCache | None = current_app.extensions.get(_EXTENSION)
    return cache
