"""Error pages: roll back, then answer HTML, or an RFC 9457 problem for the API and JSON clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES

from app.extensions import db

PROBLEM_MIMETYPE = "application/problem+json"
# webargs files its messages under where they were read; the API names the field alone.
_LOCATIONS = {"json", "query", "querystring", "form", "files", "headers", "cookies",
              "view_args", "path"}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path.startswith("/api/")


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood. Please go back and try again."),
        401: _("Please authenticate with a valid API token."),
        403: _("You do not have permission to see this page."),
        404: _("The page you are looking for does not exist or has been removed."),
        405: _("This action is not allowed here."),
        409: _("This cannot be done in the current state of the record."),
        412: _("The record has changed since you read it. Please read it again, then retry."),
        413: _("The upload is too large."),
        422: _("Some values are not valid. Please correct them and try again."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Your data is safe; please try again."),
        503: _("The service is temporarily unavailable. Please try again in a moment."),
    }


def field_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Validation messages, however nested, as {"field.sub": ["message", ...]}."""
    found: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for inner, texts in field_errors(value, name).items():
                found.setdefault(inner, []).extend(texts)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, Mapping | list | tuple):
                for inner, texts in field_errors(item, prefix).items():
                    found.setdefault(inner, []).extend(texts)
            else:
                found.setdefault(prefix, []).append(str(item))
    else:
        found.setdefault(prefix, []).append(str(messages))
    return found


def problem_response(
    status: int,
    detail: Any = None,
    *,
    errors: Mapping[str, list[str]] | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An RFC 9457 problem document. `type` is about:blank, so `title` is the status phrase;
    `detail` is for people (in their language), `code` names a domain error for programs, and
    `errors` lists the messages of each invalid field."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Unknown Error"),
        "status": status,
        "detail": str(detail if detail is not None else _messages().get(status, "")),
    }
    if code:
        body["code"] = code
    if errors:
        body["errors"] = {name: [str(text) for text in texts] for name, texts in errors.items()}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _problem_for(error: HTTPException, text: str) -> Response:
    code = error.code or 500
    # Allow (405), WWW-Authenticate (401), Retry-After (429, 503) belong in the answer too.
    headers = {name: value for name, value in error.get_headers()
               if name.lower() != "content-type"}
    data = getattr(error, "data", None) or {}  # webargs' abort() leaves its details here
    headers.update(data.get("headers") or {})
    messages = data.get("messages") if code == 422 else None
    if isinstance(messages, Mapping) and set(messages) <= _LOCATIONS:
        messages = [messages[location] for location in messages]
    errors = field_errors(messages) if messages else None
    return problem_response(code, text, errors=errors, headers=headers)


def render_error(error: HTTPException, message: str | None = None) -> ResponseReturnValue:
    db.session.rollback()
    code = error.code or 500
    text = message or _messages().get(code) or error.description or ""
    if _wants_json():
        return _problem_for(error, text)
    return render_template("errors/error.html", code=code, title=error.name, message=text), code


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        return render_error(
            error,
            _("This form has expired or was not sent from this site. "
              "Please reload the page and submit it again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        return render_error(error)

    @app.errorhandler(OperationalError)
    def database_unavailable(_error: OperationalError) -> ResponseReturnValue:
        app.logger.exception("database error")
        # Rendering the page asks Flask-Login for the user, from the database that just
        # failed: the user loader answers "nobody" (app/web/console/access.py), so the 503
        # page is shown as to an anonymous visitor.
        g.database_unavailable = True
        return render_error(ServiceUnavailable())

    @app.errorhandler(Exception)
    def unexpected_error(_error: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error")
        return render_error(InternalServerError())
