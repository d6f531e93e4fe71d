"""A participant deletes their own registration data: a confirmation page, then a POST."""

from __future__ import annotations

from contextlib import suppress

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import SubmitField

from app.extensions import db
from app.services.errors import NotFound
from app.services.privacy import delete_own_data
from app.web.participant import bp
from app.web.participant.views import _load


class DeleteDataForm(FlaskForm):
    submit = SubmitField()


@bp.route("/<token>/delete", methods=["GET", "POST"])
def delete_data(token: str) -> ResponseReturnValue:
    registration = _load(token)
    form = DeleteDataForm()
    if form.validate_on_submit():
        # NotFound: deleted by a second click a moment ago, which is the same outcome.
        with suppress(NotFound):
            delete_own_data(db.session, registration.id)
        # The token is dead now: the confirmation lives at an address without it.
        return redirect(url_for("participant.data_deleted"))
    return render_template("participant/delete.html", registration=registration,
                           event=registration.event, form=form, token=token)


@bp.get("/deleted")
def data_deleted() -> ResponseReturnValue:
    return render_template("participant/delete_done.html")
