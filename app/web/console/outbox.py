"""The outbox for administrators: what waits, what keeps failing, and "retry" for parked mail."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from app.extensions import db
from app.services import outbox
from app.services.errors import DomainError, NotFound
from app.web.console import bp
from app.web.console.access import admin_only, signed_in_user


class RetryForm(FlaskForm):
    """Only the CSRF token: the message is in the URL."""


@bp.get("/outbox")
def outbox_overview() -> ResponseReturnValue:
    admin_only()
    return render_template("console/outbox.html", overview=outbox.overview(db.session),
                           form=RetryForm())


@bp.post("/outbox/<int:message_id>/retry")
def outbox_retry(message_id: int) -> ResponseReturnValue:
    admin_only()
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        outbox.retry_parked(db.session, message_id, signed_in_user())
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("console.outbox_overview")), 303
    flash(_("The message will be sent again."), "success")
    return redirect(url_for("console.outbox_overview")), 303
