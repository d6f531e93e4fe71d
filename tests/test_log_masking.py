"""No participant's link, reset token or search text in any log line.

The masking rules (app/logging_support.py), gunicorn's logger that applies them to its
access and error logs (app/gunicorn_logging.py, gunicorn.conf.py), and the app's own JSON
log and request log (app/web/security.py).
"""

from __future__ import annotations

import json
import logging
import runpy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from gunicorn.config import Config
from gunicorn.glogging import Logger

from app.extensions import db
from app.gunicorn_logging import MaskingLogger
from app.logging_support import mask_path, mask_query, mask_text, mask_url
from app.models import Registration
from app.services import registration as registrations
from app.services.tokens import manage_token
from app.web.security import JsonFormatter
from tests.factories import make_event, signup

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hJ4p9NmB2WCsLLEViZ-6Ij384N2gJJdxpOvwDD8RaFI"  # the shape of a manage token
SECRETS = ("SECRET-A", "SECRET-B", "SECRET-C", "SECRET-D", "SECRET-E", "SECRET-F")


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "masked"), [
    (f"/r/{TOKEN}", "/r/***"),
    (f"/r/{TOKEN}/qr.svg", "/r/***/qr.svg"),
    (f"/r/{TOKEN}/calendar.ics", "/r/***/calendar.ics"),
    (f"/r/{TOKEN}/edit", "/r/***/edit"),
    (f"/feeds/12/{TOKEN}/calendar.ics", "/feeds/12/***/calendar.ics"),
    (f"/j/{TOKEN}", "/j/***"),
    (f"/console/reset/{TOKEN}", "/console/reset/***"),
    (f"/events/bon-odori/confirm/{TOKEN}", "/events/bon-odori/confirm/***"),
    (f"/console/events/3/registrants/import/{TOKEN}/preview",
     "/console/events/3/registrants/import/***/preview"),
    (f"/api/v1/events/3/attendance/imports/{TOKEN}/accept",
     "/api/v1/events/3/attendance/imports/***/accept"),
    # The same pages reached another way: a mount prefix, doubled or encoded slashes.
    (f"/tsudoi/r/{TOKEN}", "/tsudoi/r/***"),
    (f"//r/{TOKEN}", "//r/***"),
    (f"/%72/{TOKEN}/edit", "/r/***/edit"),
    (f"/r%2F{TOKEN}", "/r/***"),
    # Nothing secret: unchanged.
    ("/", "/"),
    ("/events/bon-odori-2026/register", "/events/bon-odori-2026/register"),
    ("/events/confirm/calendar.ics", "/events/confirm/calendar.ics"),
    ("/console/events/3/registrants", "/console/events/3/registrants"),
    ("/r/", "/r/"),
    ("/r/deleted", "/r/deleted"),
    ("/r/deleted?lang=en", "/r/deleted?lang=en"),
    ("/console/events/3/registrants/import", "/console/events/3/registrants/import"),
    ("/console/events/3/registrants/5/confirm", "/console/events/3/registrants/5/confirm"),
    ("/static/css/app.css", "/static/css/app.css"),
    ("/events/caf%C3%A9", "/events/caf%C3%A9"),
])
def test_secret_path_segments_are_masked(path: str, masked: str) -> None:
    assert mask_path(path) == masked
    assert mask_url(path) == masked


@pytest.mark.parametrize(("query", "masked"), [
    (f"token={TOKEN}", "token=***"),
    (f"new=1&reset_token={TOKEN}&lang=en", "new=1&reset_token=***&lang=en"),
    ("q=%E5%B1%B1%E7%94%B0+%E5%A4%AA%E9%83%8E&status=confirmed", "q=***&status=confirmed"),
    ("email=taro%40example.jp", "email=***"),
    ("pwd=abc123", "pwd=***"),
    ("API_KEY=abc;Password=x", "API_KEY=***;Password=***"),
    (f"next=%2Fr%2F{TOKEN}%2Fedit", "next=/r/***/edit"),
    ("page=2&per_page=50&sort=furigana", "page=2&per_page=50&sort=furigana"),
    ("token=&flag", "token=&flag"),
    ("", ""),
])
def test_sensitive_query_values_are_masked(query: str, masked: str) -> None:
    assert mask_query(query) == masked


def test_urls_and_free_text_are_masked_wherever_the_link_appears() -> None:
    assert mask_url(f"/r/{TOKEN}?new=1") == "/r/***?new=1"
    assert mask_url(f"https://tsudoi.example.lg.jp/r/{TOKEN}/edit?token={TOKEN}") == \
        "https://tsudoi.example.lg.jp/r/***/edit?token=***"
    assert mask_text(f'"GET /r/{TOKEN}/qr.svg?x=1 HTTP/1.1" 200') == \
        '"GET /r/***/qr.svg?x=1 HTTP/1.1" 200'
    assert mask_text(f"Error handling request /console/reset/{TOKEN}") == \
        "Error handling request /console/reset/***"
    assert mask_text("https://zoom.us/j/81234567890?pwd=abcdef") == \
        "https://zoom.us/j/***?pwd=***"
    assert mask_text("Mozilla/5.0 (X11; Linux x86_64)") == "Mozilla/5.0 (X11; Linux x86_64)"
    assert mask_text("no path at all") == "no path at all"


def test_every_route_with_a_secret_in_its_path_is_masked(app: Flask) -> None:
    """A new route that takes a secret in its path fails here until the rules know it."""
    secret_words = ("token", "key", "secret")  # (not "code": /municipalities/<prefecture_code>)
    routes = [rule for rule in app.url_map.iter_rules()
              if any(word in argument for argument in rule.arguments for word in secret_words)]
    assert len(routes) >= 17  # /r/… (6), feeds, /j/, reset, confirm, imports (7)
    urls = app.url_map.bind("localhost")
    for rule in routes:
        values = {argument: 7 if argument.endswith("_id") else "some-event"
                  if argument == "slug" else TOKEN for argument in rule.arguments}
        if "token_id" in values:  # an API token's number, not the token: nothing to hide
            continue
        url = urls.build(rule.endpoint, values, method=sorted(rule.methods or {"GET"})[0])
        assert TOKEN in url
        assert TOKEN not in mask_path(url), rule.rule


# --- gunicorn ----------------------------------------------------------------------------------


def close_gunicorn_handlers() -> None:
    """gunicorn's setup drops the handlers of a previous one without closing their files."""
    for name in ("gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if getattr(h, "_gunicorn", False)]:
            handler.close()
            logger.removeHandler(handler)


@pytest.fixture
def gunicorn_logs(tmp_path: Path) -> Iterator[tuple[Config, Path, Path]]:
    """gunicorn's settings logging to files; its global loggers are put back afterwards."""
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    cfg = Config()
    cfg.set("accesslog", str(access))
    cfg.set("errorlog", str(errors))
    loggers = [logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error")]
    saved = [(logger.handlers[:], logger.filters[:], logger.propagate) for logger in loggers]
    yield cfg, access, errors
    close_gunicorn_handlers()
    for logger, (handlers, filters, propagate) in zip(loggers, saved, strict=True):
        logger.handlers, logger.filters, logger.propagate = handlers, filters, propagate


def fake_exchange() -> tuple[Any, Any, dict[str, Any]]:
    """What gunicorn hands its logger: a response, a request and the WSGI environ, with a
    secret in every place a request can carry one."""
    target = f"/r/{SECRETS[0]}/qr.svg?token={SECRETS[1]}&page=2"
    request = SimpleNamespace(headers=[
        ("HOST", "tsudoi.example.lg.jp"),
        ("REFERER", f"https://tsudoi.example.lg.jp/console/reset/{SECRETS[2]}"),
        ("AUTHORIZATION", f"Bearer {SECRETS[3]}"),
        ("COOKIE", f"session={SECRETS[4]}"),
        ("USER-AGENT", "Mozilla/5.0"),
    ])
    response = SimpleNamespace(status="303 See Other", sent=0, headers=[
        ("Location", f"https://zoom.us/j/81234567890?pwd={SECRETS[5]}"),
        ("Set-Cookie", f"session={SECRETS[4]}; HttpOnly"),
    ])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": target,
        "PATH_INFO": f"/r/{SECRETS[0]}/qr.svg",
        "QUERY_STRING": target.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_REFERER": f"https://tsudoi.example.lg.jp/console/reset/{SECRETS[2]}",
        "HTTP_AUTHORIZATION": f"Bearer {SECRETS[3]}",
        "HTTP_COOKIE": f"session={SECRETS[4]}",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    return response, request, environ


EVERY_PLACE = ('%(r)s | %(U)s | %(q)s | %(f)s | %({location}o)s | %({authorization}i)s | '
               '%({cookie}i)s | %({set-cookie}o)s | %({raw_uri}e)s | %({query_string}e)s | '
               '%({http_referer}e)s | %({http_authorization}e)s | %({http_cookie}e)s | %(s)s')


@pytest.mark.parametrize("log_format", [None, EVERY_PLACE], ids=["default", "every-atom"])
def test_gunicorn_access_log_masks_links_and_credentials(
        gunicorn_logs: tuple[Config, Path, Path], log_format: str | None) -> None:
    cfg, access, _errors = gunicorn_logs
    if log_format is not None:
        cfg.set("access_log_format", log_format)
    exchange = fake_exchange()
    # gunicorn's own logger writes the secrets: the fake exchange does carry them.
    Logger(cfg).access(*exchange, timedelta(milliseconds=12))
    leaked = access.read_text()
    assert SECRETS[0] in leaked and SECRETS[2] in leaked
    close_gunicorn_handlers()
    access.write_text("")

    logger = MaskingLogger(cfg)
    atoms = logger.atoms_wrapper_class(logger.atoms(*exchange, timedelta(milliseconds=12)))
    assert any(isinstance(value, str) and SECRETS[0] in value for value in atoms.values())
    # Every atom, as a format reads it, is masked:
    assert not [name for name in atoms
                if isinstance(atoms[name], str) and any(s in atoms[name] for s in SECRETS)]
    logger.access(*exchange, timedelta(milliseconds=12))
    line = access.read_text()
    assert line.count("\n") == 1
    assert not any(secret in line for secret in SECRETS), line
    assert "GET /r/***/qr.svg?token=***&page=2 HTTP/1.1" in line
    assert "https://tsudoi.example.lg.jp/console/reset/***" in line
    if log_format is None:
        assert '"GET /r/***/qr.svg?token=***&page=2 HTTP/1.1" 303 ' in line
    else:
        assert "/r/***/qr.svg | token=***&page=2 | " in line
        assert "https://zoom.us/j/***?pwd=***" in line
        assert "Bearer" not in line and "session=" not in line


def test_gunicorn_error_log_masks_the_request_it_names(
        gunicorn_logs: tuple[Config, Path, Path]) -> None:
    cfg, _access, errors = gunicorn_logs
    logger = MaskingLogger(cfg)
    close_gunicorn_handlers()
    logger.setup(cfg)  # a configuration reload sets up again: still one filter
    try:
        raise OSError("connection reset")
    except OSError:
        logger.exception("Error handling request %s", f"/r/{TOKEN}/edit?token={TOKEN}")
    logger.error("Invalid request from %s: %s", "203.0.113.7", f"/j/{TOKEN}")
    text = errors.read_text()
    assert TOKEN not in text
    assert "Error handling request /r/***/edit?token=***" in text
    assert "OSError: connection reset" in text and "/j/***" in text
    assert len(logger.error_log.filters) == 1


def test_gunicorn_conf_uses_the_masking_logger() -> None:
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logger_class", settings["logger_class"])
    assert cfg.logger_class is MaskingLogger


# --- the app's own logs ------------------------------------------------------------------------


def test_the_request_log_shows_the_manage_page_without_its_token(
        app: Flask, client: Any, caplog: pytest.LogCaptureFixture) -> None:
    event = make_event()
    result = registrations.register(db.session, event.id, signup())
    registration = db.session.get(Registration, result.registration_id)
    assert registration is not None
    token = manage_token(registration.manage_key)
    caplog.set_level(logging.INFO, logger="app")
    response = client.get(f"/r/{token}?new=1&token={token}",
                          headers={"X-Request-ID": "request-0001"})
    assert response.status_code == 200 and token in response.text  # the page does link it
    records = [r for r in caplog.records if r.name == "app.request"]
    assert len(records) == 1
    assert token not in caplog.text
    line = JsonFormatter().format(records[0])
    assert token not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /r/*** 200"
    assert (entry["method"], entry["path"], entry["status"], entry["query"]) == (
        "GET", "/r/***", 200, "new=1&token=***")
    assert entry["duration_ms"] >= 0
    assert entry["request_id"] == "-"  # set by the handler's filter, outside tests


def test_the_request_log_skips_healthy_probes(
        app: Flask, client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app")
    client.get("/healthz")
    client.get("/privacy")
    assert [r.getMessage() for r in caplog.records if r.name == "app.request"] == [
        "GET /privacy 200"]


def test_json_log_masks_links_in_messages_and_tracebacks() -> None:
    try:
        raise ValueError(f"cannot fetch https://tsudoi.example.lg.jp/r/{TOKEN}")
    except ValueError as error:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed on %s",
                                   (f"/feeds/3/{TOKEN}/calendar.ics",), (ValueError, error,
                                                                          error.__traceback__))
    entry = json.loads(JsonFormatter().format(record))
    assert TOKEN not in json.dumps(entry)
    assert entry["message"] == "failed on /feeds/3/***/calendar.ics"
    assert "https://tsudoi.example.lg.jp/r/***" in entry["exception"]


def test_the_development_server_log_is_masked(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    # What werkzeug's request handler logs for every request under `flask run`.
    logging.getLogger("werkzeug").info('%s - - [%s] %s', "127.0.0.1", "28/Nov/2026 10:00:00",
                                       f'"GET /r/{TOKEN}/edit HTTP/1.1" 200 -')
    assert TOKEN not in caplog.text
    assert '"GET /r/***/edit HTTP/1.1" 200' in caplog.text
