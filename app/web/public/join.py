"""The join link, /j/<token>: a confirmed online participant's way into the meeting.

The page records the join (app.services.attendance) and answers 303 to the meeting URL;
everyone else gets a page that says why not. The token is a key, so the answer is never
cached and never sent on as a Referer.
"""

from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.extensions import db
from app.models import Registration
from app.models.enums import RegistrationStatus
from app.services.attendance import JoinOutcome, JoinRefusal, join_token, open_join_link
from app.web.public import bp


def join_url(registration: Registration) -> str:
    """The participant's own link to the meeting (the manage page shows it, not the URL)."""
    return url_for("public.join", token=join_token(registration))


bp.add_app_template_global(join_url, "join_url")

_STATUS = {
    JoinRefusal.UNKNOWN: 404,
    JoinRefusal.NOT_CONFIRMED: 403,
    JoinRefusal.CANCELLED: 403,
    JoinRefusal.IN_PERSON: 403,
    JoinRefusal.EVENT_CANCELLED: 410,
    JoinRefusal.EVENT_OVER: 410,
    JoinRefusal.NO_LINK_YET: 409,
}


def _reason(outcome: JoinOutcome) -> str:
    registration = outcome.registration
    if outcome.refusal is JoinRefusal.NOT_CONFIRMED and registration is not None:
        if registration.status is RegistrationStatus.NOT_DRAWN:
            return _("Your entry was not drawn in the lottery, so the meeting link is not "
                     "available to you.")
        return _("Your place is not confirmed yet, so the meeting link is not available. We "
                 "will email you as soon as your place is confirmed.")
    return {
        JoinRefusal.UNKNOWN: _("This join link is not valid. Please use the link on your "
                               "registration page."),
        JoinRefusal.CANCELLED: _("This registration has been cancelled, so the meeting link "
                                 "is no longer available."),
        JoinRefusal.IN_PERSON: _("You registered to take part at the venue: the meeting link "
                                 "is for online participants only."),
        JoinRefusal.EVENT_CANCELLED: _("This event has been cancelled."),
        JoinRefusal.EVENT_OVER: _("This event has ended; its meeting link is closed."),
        JoinRefusal.NO_LINK_YET: _("The organiser has not published the meeting link yet. "
                                   "Please try again closer to the start."),
    }[outcome.refusal or JoinRefusal.UNKNOWN]


@bp.get("/j/<token>")
def join(token: str) -> ResponseReturnValue:
    # A HEAD request (a link checker) is answered alike but records nothing.
    outcome = open_join_link(db.session, token, record_join=request.method == "GET")
    if outcome.url is not None:
        response = redirect(outcome.url, code=303)
    else:
        code = _STATUS[outcome.refusal or JoinRefusal.UNKNOWN]
        response = make_response(render_template("errors/error.html", code=code,
                                                 title=_("Join the online event"),
                                                 message=_reason(outcome)), code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
