"""The public event page is served from a per-worker cache, and never shows stale content:
every edit of the event or of its parts, every seat taken, and the passing of its
registration deadlines show at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, template_rendered

from app.extensions import db
from app.models import EventPerson, Exhibitor, ProgrammeSession
from app.models.enums import PersonRole, SessionKind
from app.orm import utcnow
from app.services.registration import register
from app.web import page_cache as page_cache_module
from app.web.page_cache import CachedPage, PageCache
from tests.conftest import app_context_for
from tests.factories import make_event, signup

EN = {"Accept-Language": "en"}


@pytest.fixture()
def renders(app: Flask) -> Iterator[list[str]]:
    """Names of the templates rendered while the test runs."""
    names: list[str] = []

    def record(_sender: Flask, template: Any, **_extra: Any) -> None:
        names.append(template.name)

    template_rendered.connect(record, app)
    yield names
    template_rendered.disconnect(record, app)


def _page(client: Any, slug: str, **kwargs: Any) -> str:
    response = client.get(f"/events/{slug}", **kwargs)
    assert response.status_code == 200
    return str(response.text)


def test_second_view_is_served_without_rendering(client, renders) -> None:
    event = make_event(capacity=10)
    first = _page(client, event.slug, headers=EN)
    second = _page(client, event.slug, headers=EN)
    assert first == second
    assert renders.count("public/event.html") == 1


def test_each_language_has_its_own_page(client, renders) -> None:
    event = make_event(capacity=10)
    english = _page(client, event.slug, headers=EN)
    japanese = _page(client, event.slug, headers={"Accept-Language": "ja"})
    assert "seats left" in english
    assert "seats left" not in japanese
    assert renders.count("public/event.html") == 2


def test_an_edit_of_the_event_shows_at_once(client) -> None:
    event = make_event(capacity=10)
    assert "旧タイトル" not in _page(client, event.slug)
    event.title = "旧タイトルから変わった新しい講座"
    db.session.commit()
    assert "旧タイトルから変わった新しい講座" in _page(client, event.slug)


def test_a_new_speaker_session_or_exhibitor_shows_at_once(client) -> None:
    event = make_event(capacity=10)
    _page(client, event.slug)
    keynote = ProgrammeSession(event=event, kind=SessionKind.KEYNOTE, position=0,
                               title="基調講演のテーマ", starts_at=event.starts_at,
                               ends_at=event.starts_at + timedelta(hours=1))
    db.session.add(keynote)
    db.session.commit()
    assert "基調講演のテーマ" in _page(client, event.slug)

    db.session.add(EventPerson(event_id=event.id, session_id=keynote.id, position=0,
                               role=PersonRole.SPEAKER, name="田村 太郎"))
    db.session.commit()
    assert "田村 太郎" in _page(client, event.slug)

    db.session.add(Exhibitor(event_id=event.id, position=0, name="千葉市"))
    db.session.commit()
    assert "千葉市" in _page(client, event.slug)

    keynote.title = "変更後のテーマ"
    db.session.commit()
    page = _page(client, event.slug)
    assert "変更後のテーマ" in page and "基調講演のテーマ" not in page


def test_a_capacity_change_and_a_seat_taken_show_at_once(client) -> None:
    event = make_event(capacity=10)
    assert "10 of 10 seats left" in _page(client, event.slug, headers=EN)
    register(db.session, event.id, signup("hanako@example.jp"))
    assert "9 of 10 seats left" in _page(client, event.slug, headers=EN)
    event.seat_pools[0].capacity = 20
    db.session.commit()
    assert "19 of 20 seats left" in _page(client, event.slug, headers=EN)


def test_the_page_changes_when_registration_closes(client, monkeypatch) -> None:
    now = utcnow()
    event = make_event(capacity=10, registration_closes_at=now + timedelta(days=5))
    assert "Registration closed" not in _page(client, event.slug, headers=EN)
    later = now + timedelta(days=6)
    monkeypatch.setattr("app.web.public.views.utcnow", lambda: later)
    assert "Registration closed" in _page(client, event.slug, headers=EN)


def test_a_page_with_a_flashed_message_is_neither_served_from_nor_kept_in_the_cache(
        client, renders) -> None:
    event = make_event(capacity=10)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "あなた宛てのお知らせ")]
    assert "あなた宛てのお知らせ" in _page(client, event.slug)
    assert "あなた宛てのお知らせ" not in _page(client, event.slug)
    assert renders.count("public/event.html") == 2


def test_a_draft_or_unpublished_event_is_not_found_even_after_being_cached(client) -> None:
    event = make_event(capacity=10)
    _page(client, event.slug)
    event.status = event.status.DRAFT
    db.session.commit()
    assert client.get(f"/events/{event.slug}").status_code == 404


def test_within_the_fresh_window_the_page_is_served_without_asking_the_database(
        migrated_database: str, monkeypatch) -> None:
    with app_context_for(migrated_database, PAGE_CACHE_FRESH_SECONDS=30) as app:
        event = make_event(capacity=10)
        client = app.test_client()
        assert "10 of 10 seats left" in _page(client, event.slug, headers=EN)
        register(db.session, event.id, signup("hanako@example.jp"))
        db.session.commit()
        # Checked less than 30 s ago: the kept page, one seat behind.
        assert "10 of 10 seats left" in _page(client, event.slug, headers=EN)
        later = page_cache_module.time.monotonic() + 31
        monkeypatch.setattr(page_cache_module.time, "monotonic", lambda: later)
        assert "9 of 10 seats left" in _page(client, event.slug, headers=EN)


def test_the_cache_can_be_turned_off(migrated_database: str) -> None:
    with app_context_for(migrated_database, PAGE_CACHE_ENABLED=False) as app:
        assert page_cache_module.page_cache() is None
        event = make_event(capacity=10)
        client = app.test_client()
        assert client.get(f"/events/{event.slug}").status_code == 200


def test_lru_keeps_the_most_recent_pages_and_checks_version_and_expiry() -> None:
    now = utcnow()
    cache = PageCache(max_entries=2)
    cache.put("a", CachedPage(version=1, valid_until=now + timedelta(minutes=1), body=b"A"))
    cache.put("b", CachedPage(version=1, valid_until=now + timedelta(minutes=1), body=b"B"))
    assert cache.get("a", 1, now) == b"A"  # "a" is now the most recent
    cache.put("c", CachedPage(version=1, valid_until=now + timedelta(minutes=1), body=b"C"))
    assert cache.get("b", 1, now) is None
    assert cache.get("a", 2, now) is None  # another version: dropped
    assert cache.get("a", 1, now) is None
    assert cache.get("c", 1, now + timedelta(minutes=2)) is None  # expired
    assert len(cache) == 0
