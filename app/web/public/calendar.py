"""Calendar files: "add to calendar" downloads, the public feed and personal feeds.

* /calendar.ics                         published events (?kind=, ?format= as on the list)
* /events/<slug>/calendar.ics           one event, as anyone may see it
* /r/<manage token>/calendar.ics        the participant's invitation (same UID as the mail)
* /feeds/<id>/<feed token>/calendar.ics every registration made with that e-mail address

Every answer has an ETag (a hash of the file) and Last-Modified and honours conditional
GET, so calendar apps polling a feed mostly get 304. Personal files are private: not
cached by proxies, not indexed, never sent on as a Referer.
"""

from __future__ import annotations

import hashlib

from flask import Response, abort, request, url_for
from flask.typing import ResponseReturnValue

from app.extensions import db
from app.models import Event, Registration
from app.orm import utcnow
from app.services import invitations
from app.services.catalog import EventFilters
from app.services.errors import NotFound
from app.services.invitations import CalendarDocument, CalendarLinks
from app.services.messages import manage_url
from app.services.registration import get_event, get_registration_by_token
from app.web.public import bp

# Subscribed calendars poll; five minutes of shared caching spares the database.
PUBLIC_MAX_AGE = 300


def _calendar_response(document: CalendarDocument, *, filename: str | None,
                       private: bool) -> ResponseReturnValue:
    response = Response(document.data, mimetype="text/calendar")
    response.set_etag(hashlib.sha256(document.data).hexdigest())
    response.last_modified = document.last_modified
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if private:
        response.cache_control.private = True
        response.cache_control.no_cache = True
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex"
    else:
        response.cache_control.public = True
        response.cache_control.max_age = PUBLIC_MAX_AGE
    return response.make_conditional(request)


def webcal(url: str) -> str:
    """The same feed as webcal://, which phones and desktop apps open as a subscription."""
    return "webcal://" + url.split("://", 1)[1]


# --------------------------------------------------------------------------- #
# Routes
# --------------------------------------------------------------------------- #


@bp.get("/calendar.ics")
def calendar_feed() -> ResponseReturnValue:
    filters = EventFilters.from_args(request.args)
    document = invitations.public_feed(db.session, filters, utcnow(),
                                       name=invitations.public_feed_name(filters.kind))
    return _calendar_response(document, filename=None, private=False)


@bp.get("/events/<slug>/calendar.ics")
def event_calendar(slug: str) -> ResponseReturnValue:
    try:
        event = get_event(db.session, slug)
        document = invitations.public_event_download(event)
    except NotFound:
        abort(404)
    return _calendar_response(document, filename=f"{event.slug}.ics", private=False)


@bp.get("/r/<token>/calendar.ics")
def registration_calendar(token: str) -> ResponseReturnValue:
    try:
        registration = get_registration_by_token(db.session, token)
        document = invitations.invitation_download(registration,
                                                   manage_url=manage_url(registration))
    except NotFound:
        abort(404)
    return _calendar_response(document, filename=f"{registration.event.slug}.ics",
                              private=True)


@bp.get("/feeds/<int:registration_id>/<token>/calendar.ics")
def personal_feed(registration_id: int, token: str) -> ResponseReturnValue:
    try:
        registration = invitations.registration_for_feed(db.session, registration_id, token)
    except NotFound:
        abort(404)
    document = invitations.personal_feed(db.session, registration)
    return _calendar_response(document, filename=None, private=True)


# --------------------------------------------------------------------------- #
# For templates: the "add to calendar" blocks and the feed link in <head>
# --------------------------------------------------------------------------- #


def calendar_feed_url() -> str:
    return url_for("public.calendar_feed", _external=True)


def event_calendar_links(event: Event) -> CalendarLinks | None:
    """Google / Outlook links for the public event; None if the engine refuses the event."""
    try:
        return invitations.links_for(invitations.public_calendar_event(event),
                                     include_conference_link=False)
    except ValueError:
        return None


def registration_calendar_links(registration: Registration) -> CalendarLinks | None:
    """Links with the participant's details (and join link); None unless confirmed."""
    if not invitations.in_calendar(registration):
        return None
    try:
        calendar_event = invitations.personal_calendar_event(
            registration, manage_url=manage_url(registration))
        return invitations.links_for(calendar_event, include_conference_link=True)
    except ValueError:
        return None


def personal_feed_url(registration: Registration) -> str:
    return url_for("public.personal_feed", registration_id=registration.id,
                   token=invitations.feed_token(registration), _external=True)


bp.add_app_template_global(calendar_feed_url, "calendar_feed_url")
bp.add_app_template_global(event_calendar_links, "event_calendar_links")
bp.add_app_template_global(registration_calendar_links, "registration_calendar_links")
bp.add_app_template_global(personal_feed_url, "personal_feed_url")
bp.add_app_template_global(webcal, "webcal")
