"""The organizer console: every page needs a signed-in account, except signing in itself."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from app.web.console import admin, auth, dashboard  # noqa: E402,F401
