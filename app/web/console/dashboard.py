"""The console's home: my events, grouped by what they need."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from app.extensions import db
from app.orm import utcnow
from app.services.dashboard import summaries
from app.web.console import bp
from app.web.console.access import signed_in_user
from app.web.console.forms import LogoutForm


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    now = utcnow()
    items = summaries(db.session, signed_in_user(), now)
    upcoming = [item for item in items if item.event.ends_at >= now]
    past = [item for item in items if item.event.ends_at < now]
    return render_template(
        "console/dashboard.html",
        needing_action=[item for item in upcoming if item.needs_action],
        upcoming=upcoming,
        past=past,
        logout_form=LogoutForm(),
    )
