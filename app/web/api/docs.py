"""The OpenAPI document and the page that shows it: Swagger UI, served from this site.

The page obeys the app's Content-Security-Policy: Swagger UI's files are vendored under
static/vendor/swagger-ui (see VERSION there) and started by static/js/api-docs.js.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask.typing import ResponseReturnValue

docs_bp = Blueprint("api_docs", __name__, url_prefix="/api")


@docs_bp.get("/openapi.json")
def openapi_json() -> Response:
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return jsonify(api.spec.to_dict())


@docs_bp.get("/docs")
def docs() -> ResponseReturnValue:
    return render_template("api/docs.html", spec_url=url_for("api_docs.openapi_json"))
