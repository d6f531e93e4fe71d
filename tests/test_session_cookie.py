"""The session cookie's signing serializer, kept per key instead of built per request."""

from __future__ import annotations

import pytest
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from app.web.session_cookie import KeptSerializerSessionInterface


def test_cookies_are_those_of_flasks_own_interface(app):
    interface = app.session_interface
    assert isinstance(interface, KeptSerializerSessionInterface)
    flasks = SecureCookieSessionInterface().get_signing_serializer(app)
    kept = interface.get_signing_serializer(app)
    assert flasks is not None and kept is not None
    assert kept.loads(flasks.dumps({"csrf_token": "abc"})) == {"csrf_token": "abc"}
    assert flasks.loads(kept.dumps({"n": 1})) == {"n": 1}
    assert interface.get_signing_serializer(app) is kept  # built once


def test_a_new_secret_key_gets_a_new_serializer_and_fallbacks_still_open_old_cookies(
        app, monkeypatch):
    interface = app.session_interface
    before = interface.get_signing_serializer(app)
    cookie = before.dumps({"language": "en"})
    old_key = app.secret_key
    monkeypatch.setitem(app.config, "SECRET_KEY", "a rotated key of enough length 0123456789")
    after = interface.get_signing_serializer(app)
    assert after is not before
    with pytest.raises(BadSignature):
        after.loads(cookie)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old_key])
    assert interface.get_signing_serializer(app).loads(cookie) == {"language": "en"}


def test_a_session_written_by_one_request_is_read_by_the_next(client, app):
    from tests.factories import make_event

    event = make_event()
    form = client.get(f"/events/{event.slug}/register")
    assert form.status_code == 200
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    with client.session_transaction() as session:
        assert session.get("csrf_token")
