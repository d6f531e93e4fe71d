"""Registrations of an event: find, read, add by hand, cancel; and check-in at the door."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Event, Registration
from app.models.enums import QuestionKind
from app.services import checkin, registrants
from app.services.errors import NotFound
from app.services.events import MAX_TEXT_ANSWER
from app.services.registration import RegistrationInput
from app.web.api import bp
from app.web.api.access import (
    EVENT,
    READ,
    WRITE,
    api_field,
    api_user,
    documents,
    group_scope,
    load_event,
)
from app.web.api.fields import MAX_ID, has_control_characters
from app.web.api.paging import Page, envelope
from app.web.api.schemas import (
    CancelResultSchema,
    CancelSchema,
    CheckInResultSchema,
    CheckInSchema,
    RegistrationCreateSchema,
    RegistrationListArgsSchema,
    RegistrationSchema,
    page_of,
)
from app.web.errors import problem_response

REGISTRATION = EVENT + "/registrations/<int:registration_id>"
_ERRORS = _l("Some values are not valid. Please correct them and try again.")


def _registration(event: Event, registration_id: int) -> Registration:
    """The registration if it belongs to the event and to the user's scope."""
    registration = registrants.get_registration(db.session, event.id, registration_id)
    group = group_scope(event)
    if group is not None and (not registration.preferences
                              or registration.preferences[0].group_id != group):
        raise NotFound(registrants.MESSAGES["not_found"])
    return registration


@bp.route(EVENT + "/registrations", tags=["Registrations"])
@bp.arguments(RegistrationListArgsSchema, location="query")
@bp.response(200, page_of(RegistrationSchema))
@documents(*READ)
def list_registrations(args: dict[str, Any], event_id: int) -> Any:
    """The event's registrations, filtered and searched

    A viewer limited to one breakout group sees the people who chose it first.
    """
    event = load_event(event_id)
    filters = registrants.RegistrantFilters(status=args["status"])
    group = group_scope(event)
    if group is not None:
        filters = replace(filters, first_choice_group_id=group)
    found = registrants.search_registrations(
        db.session, event.id, args["q"], filters, args["sort"], args["page"], args["per_page"])
    return envelope(Page(found.items, found.total, found.page, found.per_page))


@bp.route(REGISTRATION, tags=["Registrations"])
@bp.response(200, RegistrationSchema)
@documents(*READ)
def get_registration(event_id: int, registration_id: int) -> Any:
    """One registration"""
    return _registration(load_event(event_id), registration_id)


def _answer_errors(event: Event, answers: dict[str, Any]) -> dict[str, list[str]]:
    """The answers checked against the event's questions, as the sign-up form checks them."""
    errors: dict[str, list[str]] = {}
    questions = {question.key: question for question in event.questions}
    for key in answers:
        if key not in questions:
            errors[f"answers.{key}"] = [str(_l("This event has no such question."))]
    for key, question in questions.items():
        value = answers.get(key)
        name = f"answers.{key}"
        if value in (None, "", []):
            if question.required:
                errors[name] = [str(_l("Please answer this question."))]
            continue
        values = value if isinstance(value, list) else [value]
        if question.kind is QuestionKind.MULTIPLE_CHOICE and not isinstance(value, list):
            errors[name] = [str(_l("Please give a list of options."))]
        elif question.kind is not QuestionKind.MULTIPLE_CHOICE and isinstance(value, list):
            errors[name] = [str(_l("Please give one answer."))]
        elif not all(isinstance(item, str) and not has_control_characters(item)
                     for item in values):
            errors[name] = [str(_l("Please give a text."))]
        elif question.kind is QuestionKind.TEXT:
            limit = question.max_length or MAX_TEXT_ANSWER
            if len(value) > limit:
                errors[name] = [str(_l("Please use at most %(max)d characters.", max=limit))]
        elif any(item not in question.options for item in values) or len(set(values)) < len(
                values):
            errors[name] = [str(_l("Please choose from the question's options, each once."))]
    return errors


@bp.route(EVENT + "/registrations", methods=["POST"], tags=["Registrations"])
@bp.arguments(RegistrationCreateSchema)
@bp.response(201, RegistrationSchema)
@documents(*WRITE)
def create_registration(data: dict[str, Any], event_id: int) -> Any:
    """Add a registration by hand

    For sign-ups by phone, on paper or at the door: the person gets a seat, a place on the
    waiting list or in the lottery exactly as on the sign-up form, and is e-mailed unless
    `notify` is false. The registration window is not checked; capacity is.
    """
    event = load_event(event_id, edit=True)
    event_id = event.id  # the service's commit expires the event
    person = registrants.PersonInput(
        name=data["name"], furigana=data["furigana"], email=data["email"],
        organization_name=data["organization_name"],
        organization_type=data["organization_type"],
        prefecture_code=data["prefecture_code"], municipality_code=data["municipality_code"])
    errors: dict[str, list[str]] = {}
    for field, message in registrants.person_errors(person):
        errors.setdefault(api_field(field), []).append(str(message))
    errors.update(_answer_errors(event, data["answers"]))
    if errors:
        return problem_response(422, _ERRORS, errors=errors)
    added = registrants.add_registration_by_hand(
        db.session, api_user(), event_id,
        RegistrationInput(
            attendance_mode=data["attendance_mode"], name=person.name,
            furigana=person.furigana, email=person.email,
            organization_name=person.organization_name,
            organization_type=person.organization_type,
            prefecture_code=person.prefecture_code, municipality_code=person.municipality_code,
            language=data["language"], answers=data["answers"],
            preferences=data["preferences"]),
        source=data["source"], note=data["note"], notify=data["notify"])
    location = url_for("api.get_registration", event_id=event_id,
                       registration_id=added.registration_id)
    return _registration(event, added.registration_id), 201, {"Location": location}


@bp.route(REGISTRATION + "/cancel", methods=["POST"], tags=["Registrations"])
@bp.arguments(CancelSchema)
@bp.response(200, CancelResultSchema)
@documents(*WRITE)
def cancel_registration(data: dict[str, Any], event_id: int, registration_id: int) -> Any:
    """Cancel a registration

    The person is told, with the reason if one is given; their seat goes to the first
    person on the waiting list, whose id is returned.
    """
    event = load_event(event_id, edit=True)
    registration = _registration(event, registration_id)
    promoted = registrants.cancel_by_organizer(db.session, api_user(), registration.id,
                                               data["reason"])
    return {"registration": _registration(event, registration_id),
            "promoted_registration_id": promoted.id if promoted is not None else None}


@bp.route(EVENT + "/checkins", methods=["POST"], tags=["Check-in"])
@bp.arguments(CheckInSchema)
@bp.response(201, CheckInResultSchema, description="Checked in now.")
@bp.alt_response(200, schema=CheckInResultSchema, success=True,
                 description="Already checked in that day, or a retried request: nothing "
                             "new was written.")
@documents(*WRITE)
def check_in(data: dict[str, Any], event_id: int) -> Any:
    """Check a confirmed registration in by its check-in code

    One entry per person and day: a second check-in the same day writes nothing and
    answers 200 with the first one.
    """
    event = load_event(event_id, edit=True)
    parsed = checkin.parse_code(data["code"])
    if parsed is not None and parsed[0] > MAX_ID:
        # The service would look the number up, and PostgreSQL refuse it as an integer.
        raise checkin.UnknownCode(checkin.MESSAGES["unknown_code"], field="code")
    result = checkin.check_in(db.session, api_user(), event.id, data["code"], data["method"],
                              data.get("nonce") or secrets.token_urlsafe(24), data.get("day"))
    fresh = result.outcome is checkin.Outcome.CHECKED_IN and not result.replayed
    return result, 201 if fresh else 200
