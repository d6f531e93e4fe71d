"""The participant's own pages, reached only through the unguessable link in their email."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import SubmitField

from app.extensions import db
from app.i18n import current_language
from app.models import Registration
from app.services.checkin import check_in_code, qr_svg
from app.services.errors import DomainError, NotFound
from app.services.registration import (
    cancel_registration,
    get_registration_by_token,
    update_registration,
    waitlist_position,
)
from app.web.participant import bp
from app.web.public.forms import (
    answers_form_class,
    question_answers,
    ranked_preferences,
    validate_distinct_preferences,
)

# Templates (the manage page, the confirmation e-mail) ask for the code of a registration.
bp.add_app_template_global(check_in_code, "check_in_code")


class CancelForm(FlaskForm):
    submit = SubmitField()


def _load(token: str) -> Registration:
    try:
        return get_registration_by_token(db.session, token)
    except NotFound:
        abort(404)


@bp.after_request
def private(response: Response) -> Response:
    # The URL is the key: keep it out of caches and out of other sites' Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _answers_form(registration: Registration) -> FlaskForm:
    event = registration.event
    form_class = answers_form_class(event, current_language())
    if request.method == "POST":
        return form_class()
    data = {f"q_{key}": value for key, value in registration.answers.items()}
    data.update({f"preference_{p.rank}": str(p.group_id) for p in registration.preferences})
    return form_class(data=data)


@bp.get("/<token>")
def manage(token: str) -> ResponseReturnValue:
    registration = _load(token)
    return render_template(
        "participant/manage.html",
        registration=registration,
        event=registration.event,
        token=token,
        position=waitlist_position(db.session, registration),
        is_new=request.args.get("new") == "1",
    )


@bp.get("/<token>/qr.svg")
def check_in_qr(token: str) -> ResponseReturnValue:
    """The check-in QR code: it holds the check-in code, never this URL's token."""
    code = check_in_code(_load(token))
    if code is None:
        abort(404)
    return Response(qr_svg(code), mimetype="image/svg+xml")


@bp.route("/<token>/edit", methods=["GET", "POST"])
def edit(token: str) -> ResponseReturnValue:
    registration = _load(token)
    if not registration.is_active:
        abort(404)
    event = registration.event
    form = _answers_form(registration)
    if request.method == "POST":
        valid = form.validate()
        valid = validate_distinct_preferences(form) and valid
        if valid:
            try:
                update_registration(
                    db.session, registration.id,
                    answers=question_answers(form, event),
                    preferences=ranked_preferences(form, event),
                )
            except DomainError as error:
                return render_template("participant/edit.html", registration=registration,
                                       event=event, form=form, token=token,
                                       error=error.message), 409
            flash(_("Your changes have been saved."), "success")
            return redirect(url_for("participant.manage", token=token))
        return render_template("participant/edit.html", registration=registration, event=event,
                               form=form, token=token), 422
    return render_template("participant/edit.html", registration=registration, event=event,
                           form=form, token=token)


@bp.route("/<token>/cancel", methods=["GET", "POST"])
def cancel(token: str) -> ResponseReturnValue:
    registration = _load(token)
    form = CancelForm()
    if not registration.is_active:
        flash(_("This registration has already been cancelled."), "info")
        return redirect(url_for("participant.manage", token=token))
    if form.validate_on_submit():
        try:
            cancel_registration(db.session, registration.id)
        except DomainError as error:
            flash(str(error.message), "error")
            return redirect(url_for("participant.manage", token=token))
        flash(_("Your registration has been cancelled. We have sent you a confirmation."),
              "success")
        return redirect(url_for("participant.manage", token=token))
    return render_template("participant/cancel.html", registration=registration,
                           event=registration.event, form=form, token=token)
