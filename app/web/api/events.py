"""Events: the public list, and for organizers their events, programme, groups and figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, jsonify, url_for
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Event
from app.orm import utcnow
from app.services import catalog, events, permissions, statistics
from app.web.api import bp
from app.web.api.access import EVENT, READ, WRITE, api_user, documents, load_event
from app.web.api.paging import (
    check_if_match,
    envelope,
    etag_of,
    paginate_list,
    paginate_query,
)
from app.web.api.schemas import (
    BreakoutGroupSchema,
    EventListArgsSchema,
    EventPatchSchema,
    EventSchema,
    ProgrammeSessionSchema,
    PublicEventSchema,
    PublicListArgsSchema,
    QuestionSchema,
    StatisticsSchema,
    page_of,
)


class Shown:
    """An event with what its page says about it now, for the schemas to read."""

    def __init__(self, event: Event, now: datetime) -> None:
        self._event = event
        closing_soon = timedelta(hours=current_app.config["CLOSING_SOON_HOURS"])
        self.registration_state = event.signup_state(now, closing_soon).value
        self.page_url = url_for("public.event_detail", slug=event.slug, _external=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)


@bp.route("/public/events", tags=["Public"])
@bp.arguments(PublicListArgsSchema, location="query")
@bp.response(200, page_of(PublicEventSchema))
@bp.doc(security=[])
@documents(429)
def public_events(args: dict[str, Any]) -> Any:
    """Published events that are not over yet

    No token needed: what the public event list shows, without personal data. Cancelled
    events stay listed, with status `cancelled`, until they are over.
    """
    filters = catalog.EventFilters.from_args({
        "kind": args["kind"].value if "kind" in args else "",
        "format": args.get("format", ""), "month": args.get("month", "")})
    now = utcnow()
    page = paginate_list(catalog.upcoming_events(db.session, filters, now),
                         args["page"], args["per_page"])
    return envelope(page.with_items([Shown(event, now) for event in page.items]))


@bp.route("/events", tags=["Events"])
@bp.arguments(EventListArgsSchema, location="query")
@bp.response(200, page_of(EventSchema))
@documents(401, 429)
def list_events(args: dict[str, Any]) -> Any:
    """The events the token's user works on (every event, for an administrator)

    Latest first.
    """
    query = permissions.visible_events(api_user()).options(selectinload(Event.seat_pools))
    if "status" in args:
        query = query.where(Event.status == args["status"])
    page = paginate_query(db.session, query, args["page"], args["per_page"])
    now = utcnow()
    return envelope(page.with_items([Shown(event, now) for event in page.items]))


@bp.route(EVENT, tags=["Events"])
@bp.response(200, EventSchema)
@documents(*READ)
def get_event(event_id: int) -> Any:
    """One event"""
    return Shown(load_event(event_id), utcnow())


def _details(event: Event, changes: dict[str, Any]) -> events.EventDetails:
    """The event's current details with the changes sent: the service takes all of them."""
    values: dict[str, Any] = {
        "kind": event.kind, "format": event.format, "title": event.title,
        "starts_at": event.starts_at, "ends_at": event.ends_at, "slug": event.slug,
        "summary": event.summary, "body": event.body, "themes": list(event.themes or []),
        "organizer_name": event.organizer_name, "contact": event.contact,
        "website_url": event.website_url, "venue_name": event.venue_name,
        "venue_address": event.venue_address, "online_url": event.online_url,
        "daily_opens_at": event.daily_opens_at, "daily_closes_at": event.daily_closes_at,
        "closed_dates": [date.fromisoformat(day) for day in event.closed_dates or []],
    }
    values.update(changes)
    return events.EventDetails(**values)


@bp.route(EVENT, methods=["PATCH"], tags=["Events"])
@bp.arguments(EventPatchSchema)
@bp.response(200, EventSchema)
@bp.alt_response(412, response="PRECONDITION_FAILED")
@bp.doc(parameters=[{"in": "header", "name": "If-Match", "required": False,
                     "schema": {"type": "string"},
                     "description": "The ETag of the event as you read it: the change is "
                                    "refused (412) if it has changed since."}])
@documents(*WRITE)
def update_event(changes: dict[str, Any], event_id: int) -> Any:
    """Change an event's details

    Send only the fields to change. A change of time or place is e-mailed to the
    registrants, as in the console; moving the start moves the programme with it.
    """
    event = load_event(event_id, edit=True)
    refused = check_if_match(EventSchema().dump(Shown(event, utcnow())))
    if refused is not None:
        return refused
    events.update_event(db.session, api_user(), event.id, _details(event, changes))
    shown = EventSchema().dump(Shown(load_event(event_id), utcnow()))
    response = jsonify(shown)
    response.set_etag(etag_of(shown), weak=True)
    return response


@bp.route(EVENT + "/sessions", tags=["Events"])
@bp.response(200, ProgrammeSessionSchema(many=True))
@documents(*READ)
def list_sessions(event_id: int) -> Any:
    """The event's programme, in order"""
    return load_event(event_id).sessions


@bp.route(EVENT + "/groups", tags=["Events"])
@bp.response(200, BreakoutGroupSchema(many=True))
@documents(*READ)
def list_groups(event_id: int) -> Any:
    """The event's breakout groups"""
    return load_event(event_id).breakout_groups


@bp.route(EVENT + "/questions", tags=["Events"])
@bp.response(200, QuestionSchema(many=True))
@documents(*READ)
def list_questions(event_id: int) -> Any:
    """The questions of the sign-up form; registrations' answers are keyed by `key`"""
    return load_event(event_id).questions


@bp.route(EVENT + "/stats", tags=["Statistics"])
@bp.response(200, StatisticsSchema)
@documents(*READ)
def get_statistics(event_id: int) -> Any:
    """The event's figures: sign-ups, attendance, and breakdowns

    Counts only, never personal data: anyone with a part in the event may read them.
    """
    return statistics.event_statistics(db.session, load_event(event_id))

