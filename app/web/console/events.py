"""The event pages of the console: create, edit, settings, programme, groups, questions,
members, preview, publish, cancel and duplicate.

Reading needs a part in the event; every change goes through `event_or_abort(edit=True)`
first, so viewers get 403 and strangers 404 before any form is read. Buttons (publish,
duplicate, remove) carry only the CSRF token, which CSRFProtect checks for every POST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from app.extensions import db
from app.i18n import join_sentences
from app.models import BreakoutGroup, Event, ProgrammeSession, Question
from app.models.enums import EventStatus, MembershipRole, UserRole
from app.orm import utcnow
from app.services import email_confirmation, permissions
from app.services import events as service
from app.services.errors import DomainError, NotFound
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.console.event_forms import (
    LABELS,
    CancelForm,
    MoveForm,
    PersonForm,
    SessionForm,
    capacity_fields,
    event_form,
    group_form,
    member_form,
    question_form,
    session_form,
    settings_form,
)
from app.web.public.forms import MODE_LABELS

T = TypeVar("T")


class _NotDone:
    """What `_submit` returns for a form not sent, not valid, or refused by the service."""


def _submit(form: FlaskForm, action: Callable[[], T]) -> tuple[T | _NotDone, int, Any]:
    """Validate `form` and run the service call: (its result, status, error to show).

    The result is a `_NotDone` when there is nothing to redirect to: the form is shown
    (again) with `status`, 422 or 409 after a refusal, and `error` for one of no field.
    """
    status = 422 if form.is_submitted() else 200
    if not form.validate_on_submit():
        return _NotDone(), status, None
    try:
        return action(), status, None
    except DomainError as failure:
        status, error = _report(form, failure)
        return _NotDone(), status, error


def _report(form: FlaskForm, error: DomainError) -> tuple[int, Any]:
    """A service error goes next to its field (422); one of no field is a conflict (409)."""
    target = form._fields.get(error.field or "")
    if target is None:
        return 409, error.message
    target.errors = [*target.errors, error.message]
    return 422, None


def _can_edit(event: Event) -> bool:
    return permissions.event_role(db.session, signed_in_user(), event.id) is (
        MembershipRole.ORGANIZER)


def _child(model: type[Any], item_id: int, event: Event) -> Any:
    item = db.session.get(model, item_id)
    if item is None or item.event_id != event.id:
        abort(404)
    return item


def _page(template: str, event: Event, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(f"console/events/{template}", event=event,
                           can_edit=_can_edit(event), mode_labels=MODE_LABELS,
                           labels=LABELS, **context), status


def _done(message: str, endpoint: str, event_id: int) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for(endpoint, event_id=event_id))


def _refused(error: DomainError, endpoint: str, event_id: int) -> ResponseReturnValue:
    """A button's action refused (no form to show it beside): say why on the page it was on."""
    flash(str(error.message), "error")
    return redirect(url_for(endpoint, event_id=event_id))


# --- The event ------------------------------------------------------------------------------


@bp.route("/events/new", methods=["GET", "POST"])
def new_event() -> ResponseReturnValue:
    actor = signed_in_user()
    if actor.role is UserRole.VIEWER:
        abort(403)
    form = event_form(None)
    event, status, error = _submit(form, lambda: service.create_event(
        db.session, actor, form.details()))
    if not isinstance(event, _NotDone):
        return _done(_("The event has been created as a draft. Next, set how people "
                       "register."), "console.event_settings", event.id)
    return render_template("console/events/edit.html", event=None, form=form,
                           error=error), status


@bp.get("/events/<int:event_id>")
def event_overview(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    now = utcnow()
    return _page(
        "overview.html", event,
        state=event.signup_state(now),
        figures=service.event_figures(db.session, event),
        problems=service.publication_problems(event, now)
        if event.status is EventStatus.DRAFT else [],
        changes=service.recent_changes(db.session, event.id),
        pending_signups=email_confirmation.pending_count(db.session, event.id, now),
        map_url=service.map_url(event.venue_address) if event.venue_address else "",
    )


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
def edit_event(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = event_form(event)
    done, status, error = _submit(form, lambda: service.update_event(
        db.session, signed_in_user(), event.id, form.details()))
    if not isinstance(done, _NotDone):
        return _done(_("The event has been saved."), "console.event_overview", event.id)
    return _page("edit.html", event, status, form=form, error=error)


@bp.route("/events/<int:event_id>/settings", methods=["GET", "POST"])
def event_settings(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = settings_form(event)
    promoted, status, error = _submit(form, lambda: service.update_registration_settings(
        db.session, signed_in_user(), event.id, form.settings(event)))
    if not isinstance(promoted, _NotDone):
        message = _("The registration settings have been saved.")
        if promoted:
            message = join_sentences(message, _(
                "%(count)d people on the waiting list are now confirmed.",
                count=len(promoted)))
        return _done(message, "console.event_overview", event.id)
    return _page("settings.html", event, status, form=form,
                 capacities=capacity_fields(form, event), error=error)


@bp.get("/events/<int:event_id>/preview")
def preview_event(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    return render_template("console/events/preview.html", event=event,
                           state=service.preview_state(event, utcnow()))


@bp.post("/events/<int:event_id>/publish")
def publish_event(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    try:
        service.publish_event(db.session, signed_in_user(), event.id)
    except DomainError as error:
        return _refused(error, "console.event_overview", event.id)
    return _done(_("The event is published."), "console.event_overview", event.id)


@bp.route("/events/<int:event_id>/cancel", methods=["GET", "POST"])
def cancel_event(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = CancelForm()
    notified, status, error = _submit(form, lambda: service.cancel_event(
        db.session, signed_in_user(), event.id, form.reason.data or ""))
    if not isinstance(notified, _NotDone):
        return _done(_("The event has been cancelled. %(count)d registrants will be told.",
                       count=notified), "console.event_overview", event.id)
    return _page("cancel.html", event, status, form=form, error=error,
                 registrants=service.active_registrant_count(db.session, event.id))


@bp.post("/events/<int:event_id>/duplicate")
def duplicate_event(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    copy = service.duplicate_event(db.session, signed_in_user(), event.id)
    return _done(_("This is the copy, a draft. Please check its dates."),
                 "console.edit_event", copy.id)


# --- Programme ------------------------------------------------------------------------------


def _programme_page(event: Event, person_form: PersonForm, status: int = 200,
                    error: Any = None) -> ResponseReturnValue:
    return _page("programme.html", event, status, person_form=person_form, error=error)


@bp.get("/events/<int:event_id>/programme")
def programme(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    return _programme_page(event, PersonForm())


def _session_page(event: Event, form: SessionForm, item: ProgrammeSession | None,
                  status: int = 200, error: Any = None) -> ResponseReturnValue:
    return _page("session.html", event, status, form=form, item=item, error=error)


@bp.route("/events/<int:event_id>/programme/new", methods=["GET", "POST"])
def new_session(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = session_form(event)
    done, status, error = _submit(form, lambda: service.add_session(
        db.session, signed_in_user(), event.id, form.session_input()))
    if not isinstance(done, _NotDone):
        return _done(_("The session has been added."), "console.programme", event.id)
    return _session_page(event, form, None, status, error)


@bp.route("/events/<int:event_id>/programme/<int:session_id>", methods=["GET", "POST"])
def edit_session(event_id: int, session_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    item = _child(ProgrammeSession, session_id, event)
    form = session_form(event, item)
    done, status, error = _submit(form, lambda: service.update_session(
        db.session, signed_in_user(), event.id, item.id, form.session_input()))
    if not isinstance(done, _NotDone):
        return _done(_("The session has been saved."), "console.programme", event.id)
    return _session_page(event, form, item, status, error)


def _remove(
    event_id: int,
    remover: Callable[..., object],
    child_id: int,
    page: str,
    done_message: object,
) -> ResponseReturnValue:
    """The shared POST of every "remove" button: 404 for a foreign id, refusals flashed."""
    event = event_or_abort(event_id, edit=True)
    try:
        remover(db.session, signed_in_user(), event.id, child_id)
    except NotFound:
        abort(404)
    except DomainError as error:
        return _refused(error, page, event.id)
    return _done(str(done_message), page, event.id)


@bp.post("/events/<int:event_id>/programme/<int:session_id>/delete")
def delete_session(event_id: int, session_id: int) -> ResponseReturnValue:
    return _remove(event_id, service.remove_session, session_id, "console.programme",
                   _l("The session has been removed."))


@bp.post("/events/<int:event_id>/people")
def add_person(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = PersonForm()
    if form.validate_on_submit():
        try:
            service.add_person(db.session, signed_in_user(), event.id, form.person())
        except DomainError as failure:
            status, error = _report(form, failure)
            return _programme_page(event, form, status, error)
        return _done(_("The person has been added."), "console.programme", event.id)
    return _programme_page(event, form, 422)


@bp.post("/events/<int:event_id>/people/<int:person_id>/delete")
def delete_person(event_id: int, person_id: int) -> ResponseReturnValue:
    return _remove(event_id, service.remove_person, person_id, "console.programme",
                   _l("The person has been removed."))


# --- Breakout groups ------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/groups", methods=["GET", "POST"])
def groups(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=False)
    form = group_form(event)
    error = None
    status = 200
    if form.is_submitted():
        event = event_or_abort(event_id, edit=True)
        status = 422
        if form.validate():
            try:
                service.add_group(db.session, signed_in_user(), event.id, form.group())
            except DomainError as failure:
                status, error = _report(form, failure)
            else:
                return _done(_("The group has been added."), "console.groups", event.id)
    return _page("groups.html", event, status, form=form, error=error)


@bp.route("/events/<int:event_id>/groups/<int:group_id>", methods=["GET", "POST"])
def edit_group(event_id: int, group_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    group = _child(BreakoutGroup, group_id, event)
    form = group_form(event, group)
    done, status, error = _submit(form, lambda: service.update_group(
        db.session, signed_in_user(), event.id, group.id, form.group()))
    if not isinstance(done, _NotDone):
        return _done(_("The group has been saved."), "console.groups", event.id)
    return _page("group.html", event, status, form=form, group=group, error=error)


@bp.post("/events/<int:event_id>/groups/<int:group_id>/delete")
def delete_group(event_id: int, group_id: int) -> ResponseReturnValue:
    return _remove(event_id, service.remove_group, group_id, "console.groups",
                   _l("The group has been removed."))


# --- Custom questions -----------------------------------------------------------------------


@bp.route("/events/<int:event_id>/questions", methods=["GET", "POST"])
def questions(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    form = question_form()
    error = None
    status = 200
    if form.is_submitted():
        event = event_or_abort(event_id, edit=True)
        status = 422
        if form.validate():
            try:
                service.add_question(db.session, signed_in_user(), event.id, form.question())
            except DomainError as failure:
                status, error = _report(form, failure)
            else:
                return _done(_("The question has been added."), "console.questions", event.id)
    return _page("questions.html", event, status, form=form, error=error,
                 answers=service.answer_counts(db.session, event.id))


@bp.route("/events/<int:event_id>/questions/<int:question_id>", methods=["GET", "POST"])
def edit_question(event_id: int, question_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    question = _child(Question, question_id, event)
    form = question_form(question)
    done, status, error = _submit(form, lambda: service.update_question(
        db.session, signed_in_user(), event.id, question.id, form.question()))
    if not isinstance(done, _NotDone):
        return _done(_("The question has been saved."), "console.questions", event.id)
    return _page("question.html", event, status, form=form, question=question, error=error,
                 answered=service.answer_counts(db.session, event.id)[question.key])


@bp.post("/events/<int:event_id>/questions/<int:question_id>/delete")
def delete_question(event_id: int, question_id: int) -> ResponseReturnValue:
    return _remove(event_id, service.remove_question, question_id, "console.questions",
                   _l("The question has been removed. Answers already given are kept."))


@bp.post("/events/<int:event_id>/questions/<int:question_id>/move")
def move_question(event_id: int, question_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.move_question(db.session, signed_in_user(), event.id, question_id,
                              -1 if form.direction.data == "up" else 1)
    except NotFound:
        abort(404)
    except DomainError as error:
        return _refused(error, "console.questions", event.id)
    return redirect(url_for("console.questions", event_id=event.id))


# --- Members --------------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/members", methods=["GET", "POST"])
def members(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    form = member_form(event)
    error = None
    status = 200
    if form.is_submitted():
        event = event_or_abort(event_id, edit=True)
        status = 422
        if form.validate():
            group_id = form.breakout_group_id.data
            try:
                service.add_member(db.session, signed_in_user(), event.id,
                                   form.email.data or "", MembershipRole(form.role.data),
                                   int(group_id) if group_id else None)
            except DomainError as failure:
                status, error = _report(form, failure)
            else:
                return _done(_("%(email)s now has access to this event.",
                               email=form.email.data), "console.members", event.id)
    return _page("members.html", event, status, form=form, error=error,
                 memberships=service.members(db.session, event.id))


@bp.post("/events/<int:event_id>/members/<int:membership_id>/delete")
def delete_member(event_id: int, membership_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    try:
        service.remove_member(db.session, signed_in_user(), event.id, membership_id)
    except NotFound:
        abort(404)
    except DomainError as error:
        return _refused(error, "console.members", event.id)
    if permissions.event_role(db.session, signed_in_user(), event.id) is None:
        flash(_("You no longer have access to this event."), "success")
        return redirect(url_for("console.dashboard"))
    return _done(_("The access has been removed."), "console.members", event.id)
