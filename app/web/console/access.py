"""Login handling and the shared loaders that turn permission errors into 403/404."""

from __future__ import annotations

from typing import cast

from flask import Response, abort, g, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import Event, User
from app.services import permissions
from app.services.errors import NotFound
from app.web.console import bp

PUBLIC_ENDPOINTS = {"console.login", "console.forgot_password", "console.reset_password"}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if g.get("database_unavailable"):  # the error page of an outage (app/web/errors.py)
        return None
    try:
        raw_id, version = user_id.split(":", 1)
        user = db.session.get(User, int(raw_id))
    except ValueError:
        return None
    if user is None or str(user.session_version) != version or not user.active:
        return None
    return user


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.after_request
def never_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def signed_in_user() -> User:
    return cast(User, current_user._get_current_object())


def event_or_abort(event_id: int, *, edit: bool = False) -> Event:
    """Load an event for the signed-in user; 404 without access, 403 for viewers editing."""
    try:
        return permissions.load_event(db.session, signed_in_user(), event_id, edit=edit)
    except NotFound:
        abort(404)
    except permissions.PermissionDenied:
        abort(403)


def admin_only() -> None:
    if not signed_in_user().is_admin:
        abort(403)
