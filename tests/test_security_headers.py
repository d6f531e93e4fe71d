"""Security headers, client addresses behind a proxy, request ids and health checks."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import app_context_for
from tests.factories import make_event

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_every_page_carries_the_security_headers(client, app):
    event = make_event()
    for url in ["/", f"/events/{event.slug}", f"/events/{event.slug}/register", "/privacy",
                "/console/login", "/nowhere"]:
        headers = client.get(url).headers
        policy = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy, url
        assert "script-src 'self'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] in {"same-origin", "no-referrer"}
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS


def test_templates_have_no_inline_scripts_or_styles():
    """The policy forbids them, so a template that used one would silently break."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert " style=" not in text and "<style" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path


def test_hsts_and_client_address_behind_one_trusted_proxy(migrated_database):
    with app_context_for(migrated_database, TRUSTED_PROXIES=1) as app:
        seen = {}

        @app.before_request
        def remember_address() -> None:
            from flask import request

            seen["addr"] = request.remote_addr

        client = app.test_client()
        response = client.get("/healthz", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        assert "max-age=" in response.headers["Strict-Transport-Security"]
        assert seen["addr"] == "203.0.113.7"  # only the one trusted hop is believed


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client, app):
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_request_ids_are_echoed_or_made(client, app):
    given = client.get("/healthz", headers={"X-Request-ID": "abcdef12-3456"})
    assert given.headers["X-Request-ID"] == "abcdef12-3456"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id; drop"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


def test_health_and_readiness(client, app):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok"}


def test_readiness_fails_cleanly_when_redis_is_unreachable(migrated_database):
    with app_context_for(migrated_database, REDIS_URL="redis://127.0.0.1:1/0") as app:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["redis"] == "unavailable"


def test_readiness_with_redis(migrated_database):
    with app_context_for(migrated_database, REDIS_URL="redis://127.0.0.1:6379/0") as app:
        response = app.test_client().get("/readyz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["checks"]["redis"] == "ok"
