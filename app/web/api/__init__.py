"""The JSON API at /api/v1, its OpenAPI document (/api/openapi.json) and its documentation
(/api/docs).

flask-smorest builds the document from the code: the marshmallow schemas that parse
requests and write responses are the ones it describes. It is attached to the app as a
plain extension and takes over nothing else: the app's error handler (app/web/errors.py)
answers every error, under /api as RFC 9457 problems.

Authentication is by personal API token only (`Authorization: Bearer tsd_...`, see
app/web/api/access.py): the session cookie is never read here, so the blueprint is exempt
from CSRF protection, which exists to stop a browser's cookie being used by another site.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from app.web.errors import PROBLEM_MIMETYPE

API_VERSION = "1.0"

# flask-smorest also lists the blueprint itself among the document's tags.
bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Every operation of this version, grouped by the tags below.")
# The document groups operations by these tags (each route names its own).
TAGS = {
    "Public": "What anyone may read, without a token.",
    "Events": "The events the token's user works on: details, programme, groups, questions.",
    "Registrations": "Find, read, add by hand and cancel registrations.",
    "Check-in": "Entry at the door by check-in code.",
    "Breakouts": "Rounds of breakout discussion and the assignment of people to groups.",
    "Attendance": "Zoom and Teams attendance reports.",
    "Statistics": "Figures of an event.",
    "Exports": "The console's spreadsheets, as CSV.",
}


class TsudoiApi(Api):
    """flask-smorest's Api. Its handler for HTTPException is replaced by the app's own
    (app/web/errors.py registers later), which answers RFC 9457 problems under /api."""

    DEFAULT_ERROR_RESPONSE_NAME = None  # each operation lists the errors it can answer


def _document_problems(api: Api) -> None:
    """Every error status as an RFC 9457 problem. flask-smorest registered its own responses
    under the same names (NOT_FOUND...), which its operations refer to (422 for invalid
    arguments); registered lazily again, ours replace them, as apispec's components do."""
    from app.web.api.schemas import ProblemSchema

    for status in http.HTTPStatus:
        if status >= 400:
            response: dict[str, Any] = {"description": status.phrase, "schema": ProblemSchema}
            prepare_response(response, api.spec, PROBLEM_MIMETYPE)
            api.spec.components.response(status.name, response, lazy=True)


def register(app: Flask) -> None:
    """Attach the API to the app: the blueprint, its document and its documentation page."""
    from app.extensions import csrf
    from app.web.api.docs import docs_bp

    api = TsudoiApi(app, spec_kwargs={
        "title": "Tsudoi API",
        "version": API_VERSION,
        "openapi_version": "3.0.3",
        "security": [{"bearerAuth": []}],  # every operation, unless it says otherwise
        "info": {"description": (
            "Organizer access with a personal API token, created and revoked in the console "
            "(Console → API tokens) and sent as `Authorization: Bearer tsd_...`. A token acts "
            "as its user, with that user's permissions. Errors are RFC 9457 problem documents "
            "(`application/problem+json`). Lists are paginated with `page` and `per_page`; "
            "follow the `Link` header. GET answers carry a weak `ETag`: send it back in "
            "`If-None-Match` for a 304, or in `If-Match` on PATCH to avoid lost updates.")},
    })
    _document_problems(api)
    api.spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer", "bearerFormat": "tsd_ token"})
    for name, description in TAGS.items():
        api.spec.tag({"name": name, "description": description})
    csrf.exempt(bp)
    api.register_blueprint(bp)
    app.register_blueprint(docs_bp)


from app.web.api import (  # noqa: E402,F401
    access,
    events,
    operations,
    paging,
    registrations,
)
