"""Who is calling: the bearer token, the rate limit, and service errors as problems.

Every operation needs a token except those listed in PUBLIC_ENDPOINTS. The token stands for
its user, whose permissions decide the rest exactly as in the console
(app.services.permissions): an event the user has no part in is 404, a change by a viewer
403. The session cookie is never consulted, so a browser signed in to the console cannot
be made to call the API by another site.
"""

from __future__ import annotations

import hashlib
import http
from collections.abc import Callable
from typing import Any, cast

from flask import Response, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address

from app.extensions import db, limiter
from app.models import Event, User
from app.models.enums import MembershipRole
from app.services import api_tokens, permissions
from app.services.attendance import AlreadyImported, ImportConflict
from app.services.errors import DomainError, NotFound
from app.services.registrants import RegistrantConflict
from app.services.registration import RegistrationError
from app.web.api import bp
from app.web.api.fields import MAX_ID
from app.web.errors import problem_response

PUBLIC_ENDPOINTS = {"api.public_events"}
EVENT = "/events/<int:event_id>"
READ = (401, 404, 429)
# 400: a body that is not JSON at all.
WRITE = (400, 401, 403, 404, 409, 422, 429)
DEFAULT_RATE_LIMIT = "600 per minute"
# Refused because of the state of things, not because of what was sent: 409, field or not.
_CONFLICTS = (RegistrantConflict, RegistrationError, ImportConflict, AlreadyImported)
# Service field names that the API calls otherwise.
_FIELD_NAMES = {"municipality": "municipality_code", "prefecture": "prefecture_code"}


def api_field(name: str) -> str:
    return _FIELD_NAMES.get(name, name)


def _rate_key() -> str:
    """Per token when one is sent (many systems may share one address), else per address.

    The key is a hash: tokens are never written to the limiter's storage.
    """
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode()).hexdigest()
    return "api-address:" + get_remote_address()


limiter.limit(lambda: current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT),
              key_func=_rate_key)(bp)


def unauthorized(detail: object, *, invalid: bool) -> Response:
    challenge = 'Bearer realm="tsudoi"'
    if invalid:
        challenge += ', error="invalid_token"'
    return problem_response(401, detail, headers={"WWW-Authenticate": challenge})


@bp.before_request
def authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return unauthorized(_l("Please send a personal API token as "
                               "“Authorization: Bearer tsd_…”."), invalid=False)
    user = api_tokens.authenticate(db.session, credentials.strip())
    if user is None:
        return unauthorized(_l("This API token is not valid: it is unknown or has been "
                               "revoked."), invalid=True)
    g.api_user = user
    if any(type(value) is int and value > MAX_ID for value in (request.view_args or {}).values()):
        # No such row, and the databases could not even compare the number with their ids.
        return problem_response(404)
    return None


@bp.after_request
def never_cache_shared(response: Response) -> Response:
    """Organizer data may be cached by the caller, never by a proxy in between."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        response.headers["Cache-Control"] = "private, no-cache"
        response.vary.add("Authorization")
    return response


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> Response:
    """A service's refusal: 404 and 403 for access, 422 for a value at fault, else 409."""
    db.session.rollback()
    if isinstance(error, NotFound):
        return problem_response(404, error.message, code=error.code)
    if isinstance(error, permissions.PermissionDenied):
        return problem_response(403, error.message, code=error.code)
    status = 409 if isinstance(error, _CONFLICTS) or not error.field else 422
    errors = None
    if error.field:
        errors = {api_field(error.field): [str(error.message)]}
    return problem_response(status, error.message, errors=errors, code=error.code)


def api_user() -> User:
    return cast(User, g.api_user)


def load_event(event_id: int, *, edit: bool = False) -> Event:
    """The event if the token's user may see it (change it, with edit=True); raises NotFound
    or PermissionDenied, which the handler above answers."""
    return permissions.load_event(db.session, api_user(), event_id, edit=edit)


def group_scope(event: Event) -> int | None:
    """A viewer limited to one breakout group (a facilitator) sees only that group's people,
    as in the console; None for everyone else."""
    user = api_user()
    if user.is_admin:
        return None
    membership = permissions.membership(db.session, user, event.id)
    if membership is None or membership.role is not MembershipRole.VIEWER:
        return None
    return membership.breakout_group_id


def documents(*codes: int) -> Callable[[Any], Any]:
    """Declare the problems an operation may answer, for clients and for schemathesis."""
    def decorator(func: Any) -> Any:
        for code in codes:
            func = bp.alt_response(code, response=http.HTTPStatus(code).name)(func)
        return func
    return decorator
