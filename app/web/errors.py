"""Error pages: roll back, then answer HTML or JSON as the client prefers."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from app.extensions import db


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path.startswith("/api/")


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood. Please go back and try again."),
        403: _("You do not have permission to see this page."),
        404: _("The page you are looking for does not exist or has been removed."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Your data is safe; please try again."),
        503: _("The service is temporarily unavailable. Please try again in a moment."),
    }


def render_error(error: HTTPException, message: str | None = None) -> ResponseReturnValue:
    db.session.rollback()
    code = error.code or 500
    text = message or _messages().get(code) or error.description or ""
    if _wants_json():
        response = jsonify(status=code, title=error.name, detail=text)
        response.status_code = code
        response.mimetype = "application/problem+json"
        return response
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
        return render_error(ServiceUnavailable())

    @app.errorhandler(Exception)
    def unexpected_error(_error: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error")
        return render_error(InternalServerError())
