"""Confirmation of the e-mail address, for events that ask for it (double opt-in).

The sign-up form sends no registration for such an event: `ask_to_confirm` stores it as
pending and shows "check your email". The e-mailed link opens /events/<slug>/confirm/<token>:
GET shows what will be registered and a button, and changes nothing (mail scanners fetch
links); the button's POST registers, then continues like the form does without the step.
The slug is in the link so that a dead link can still lead back to the event's form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SubmitField

from app.extensions import db, limiter
from app.models import Event
from app.orm import utcnow
from app.services import email_confirmation as service
from app.services.errors import DomainError, NotFound
from app.services.registration import RegistrationInput, get_event
from app.web.public import bp
from app.web.public.forms import MODE_LABELS


class ConfirmForm(FlaskForm):
    # The label is set per request: lazy text would be fixed in one language here.
    submit = SubmitField()


def ask_to_confirm(event: Event, data: RegistrationInput, now: datetime) -> ResponseReturnValue:
    """The sign-up form's outcome when the event asks for confirmation; DomainErrors go back to
    the form like those of register()."""
    requested = service.request_confirmation(db.session, event.id, data, now=now)
    return render_template("public/check_email.html", event=event, email=requested.email,
                           confirmation=requested)


def _private(response: BaseResponse) -> BaseResponse:
    # The URL is a key: keep it out of caches, search engines and other sites' Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _page(status: int = 200, **context: Any) -> BaseResponse:
    return _private(Response(render_template("public/confirm_email.html", **context),
                             status=status))


def _dead_link(event: Event, error: DomainError) -> BaseResponse:
    # 410 Gone for a link that was valid once; 404 for unknown, used or replaced ones.
    expired = isinstance(error, service.ConfirmationLinkExpired)
    return _page(410 if expired else 404, event=event, problem=error.message, expired=expired)


@bp.route("/events/<slug>/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def confirm_email(slug: str, token: str) -> ResponseReturnValue:
    try:
        event = get_event(db.session, slug)
    except NotFound:
        return _private(Response(render_template(
            "errors/error.html", code=404, message=service.INVALID), status=404))
    form = ConfirmForm()
    form.submit.label.text = _("Confirm my registration")
    now = utcnow()
    try:
        pending = service.find_pending(db.session, token, event_id=event.id, now=now)
    except (service.ConfirmationLinkInvalid, service.ConfirmationLinkExpired) as error:
        return _dead_link(event, error)
    data = service.input_of(pending.payload)
    context: dict[str, Any] = {
        "event": event, "form": form, "data": data, "expires_at": pending.expires_at,
        "mode_label": MODE_LABELS.get(data.attendance_mode, ""),
    }
    # A failed CSRF check never gets here: CSRFProtect answers 400 before the view runs.
    if not form.validate_on_submit():
        return _page(state=event.signup_state(now), **context)
    try:
        result = service.confirm_signup(db.session, token, event_id=event.id, now=now)
    except (service.ConfirmationLinkInvalid, service.ConfirmationLinkExpired) as error:
        return _dead_link(event, error)
    except DomainError as error:
        # Closed or full since the form was sent: the link stays valid until it expires.
        return _page(409, state=event.signup_state(utcnow()), error=error.message,
                     **context)
    if result.manage_token is None:  # registered before: the link to it went by e-mail
        return _private(Response(render_template("public/check_email.html", event=event)))
    return _private(redirect(url_for("participant.manage", token=result.manage_token, new=1)))
