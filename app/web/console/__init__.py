"""The organizer console: every page needs a signed-in account, except signing in itself."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from app.web.console import (  # noqa: E402,F401
    admin,
    attendance,
    auth,
    breakouts,
    checkin,
    dashboard,
    event_media,
    events,
    exports,
    outbox,
    registrants,
    stats,
    tokens,
)
