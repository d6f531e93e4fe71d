"""Public pages: the event list, an event, sign-up, and the privacy notice."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from app import geo
from app.extensions import db, limiter
from app.i18n import current_language
from app.models import Event
from app.models.enums import AttendanceMode, OrganizationType
from app.orm import utcnow
from app.services import catalog
from app.services.errors import DomainError, NotFound
from app.services.registration import RegistrationInput, get_event, register
from app.web.page_cache import CachedPage, page_cache
from app.web.public import bp
from app.web.public.confirm import ask_to_confirm
from app.web.public.forms import (
    SignupFormBase,
    prepare_choices,
    question_answers,
    ranked_preferences,
    signup_form_class,
    validate_distinct_preferences,
)


def _closing_soon() -> timedelta:
    return timedelta(hours=current_app.config["CLOSING_SOON_HOURS"])


def _load_event(slug: str) -> Event:
    try:
        return get_event(db.session, slug, with_form=True)
    except NotFound:
        abort(404)


@bp.get("/")
def index() -> ResponseReturnValue:
    filters = catalog.EventFilters.from_args(request.args)
    now = utcnow()
    events = catalog.upcoming_events(db.session, filters, now)
    states = {event.id: event.signup_state(now, _closing_soon()) for event in events}
    return render_template(
        "public/index.html", events=events, states=states, filters=filters,
        months=catalog.month_choices(now),
    )


@bp.get("/events/<slug>")
def event_detail(slug: str) -> ResponseReturnValue:
    now = utcnow()
    pages = page_cache()
    key = ("event", request.full_path, current_language())
    # A flashed message belongs to one visitor's page, not to everybody's.
    cacheable = pages is not None and "_flashes" not in session
    if cacheable and (body := pages.fresh(key, now)) is not None:  # type: ignore[union-attr]
        return Response(body, mimetype="text/html")
    version = catalog.event_page_version(db.session, slug)
    if version is None:
        abort(404)
    if cacheable and (body := pages.get(key, version, now)) is not None:  # type: ignore[union-attr]
        return Response(body, mimetype="text/html")
    event = catalog.event_for_page(db.session, slug)
    if event is None:
        abort(404)
    state = event.signup_state(now, _closing_soon())
    html = render_template("public/event.html", event=event, state=state)
    if cacheable:
        valid_until = catalog.page_valid_until(event, now, _closing_soon())
        pages.put(key, CachedPage(version, valid_until, html.encode()))  # type: ignore[union-attr]
    return html


@bp.route("/events/<slug>/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def signup(slug: str) -> ResponseReturnValue:
    event = _load_event(slug)
    language = current_language()
    now = utcnow()
    state = event.signup_state(now, _closing_soon())
    form = signup_form_class(event, language)()
    prepare_choices(form, event, language)
    if not state.accepts_signups:
        status = 409 if request.method == "POST" else 200
        return render_template("public/signup.html", event=event, state=state, form=None), status
    if request.method == "POST" and form.refresh_municipalities.data:
        # Without JavaScript, the municipality list follows the chosen prefecture this way.
        form.municipality.errors = []
        return render_template("public/signup.html", event=event, state=state, form=form,
                               focus="municipality")
    if request.method == "POST":
        valid = form.validate()
        valid = validate_distinct_preferences(form) and valid
        if valid:
            data = _registration_input(form, event, language)
            try:
                if event.confirm_email_address:  # double opt-in: app/web/public/confirm.py
                    return ask_to_confirm(event, data, now)
                result = register(db.session, event.id, data, now=now)
            except DomainError as error:
                target = getattr(form, error.field or "", None)
                if target is not None:
                    target.errors = [*target.errors, error.message]
                    return render_template("public/signup.html", event=event, state=state,
                                           form=form), 422
                state = event.signup_state(utcnow(), _closing_soon())
                return render_template("public/signup.html", event=event, state=state,
                                       form=form, error=error.message), 409
            if result.manage_token is None:
                return render_template("public/check_email.html", event=event,
                                       email=form.email.data)
            return redirect(url_for("participant.manage", token=result.manage_token, new=1))
        return render_template("public/signup.html", event=event, state=state, form=form), 422
    return render_template("public/signup.html", event=event, state=state, form=form)


def _registration_input(form: SignupFormBase, event: Event, language: str) -> RegistrationInput:
    return RegistrationInput(
        attendance_mode=AttendanceMode(form.attendance_mode.data),
        name=form.name.data,
        furigana=form.furigana.data,
        email=form.email.data,
        organization_name=form.organization_name.data or "",
        organization_type=OrganizationType(form.organization_type.data),
        prefecture_code=form.prefecture.data,
        municipality_code=form.municipality.data,
        language=language,
        answers=question_answers(form, event),
        preferences=ranked_preferences(form, event),
    )


@bp.get("/privacy")
def privacy() -> ResponseReturnValue:
    return render_template("public/privacy.html")


@bp.get("/municipalities/<prefecture_code>.json")
def municipalities(prefecture_code: str) -> ResponseReturnValue:
    if geo.prefecture(prefecture_code) is None:
        abort(404)
    response = jsonify([{"code": m.code, "name": m.label} for m in
                        geo.municipalities(prefecture_code)])
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
