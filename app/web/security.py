"""Response headers, the client address behind a proxy, a request id, and the logs."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.logging_support import add_masking_filter, mask_path, mask_query, mask_text

# No inline scripts or styles anywhere, so the policy needs no 'unsafe-inline'.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# Set on every response unless the view set its own.
_DEFAULT_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(self), geolocation=(), microphone=()"),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Load balancers' probes, every few seconds: logged only when they fail.
_PROBES = frozenset({"/healthz", "/readyz"})


def request_id() -> str:
    return str(getattr(g, "request_id", "-"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id; messages carry no personal data.

    `extra={"fields": {...}}` adds fields of its own (the request log's method, path...).
    Messages and tracebacks are masked (app/logging_support.py) in case one ever quotes a
    participant's link: a library's exception may name the URL it failed on.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if key not in entry})
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from flask import has_request_context

        record.request_id = request_id() if has_request_context() else "-"
        return True


def register(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies)

    if not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        app.logger.handlers = [handler]
        app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # The development server logs every request line itself.
    add_masking_filter(logging.getLogger("werkzeug"))
    request_log = app.logger.getChild("request")

    @app.before_request
    def assign_request_id() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def log_request(response: Response) -> Response:
        """One line per request, with the request id that gunicorn's access log lacks."""
        if not app.config.get("REQUEST_LOG_ENABLED", True):
            return response
        if request.path in _PROBES and response.status_code < 400:
            return response
        path = mask_path(request.path)
        query = mask_query(request.query_string.decode("latin-1"))
        fields: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": response.status_code,
        }
        if query:
            fields["query"] = query
        started = getattr(g, "request_started", None)
        if started is not None:
            fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        request_log.info("%s %s %s", request.method, path, response.status_code,
                         extra={"fields": fields})
        return response

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over the response's headers, not one per default (setdefault): this
        # runs on every response.
        present = {name.lower() for name, _value in headers.items()}
        headers.extend([(name, value) for name, value in _DEFAULT_HEADERS
                        if name.lower() not in present])
        headers["X-Request-ID"] = request_id()
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
