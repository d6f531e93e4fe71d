"""Breakout assignment in the console: rounds, run, preview, move, pin, newcomers, lock,
publish; Zoom's pre-assignment CSV, a per-room list for Teams, printable rosters.

Reading needs a part in the event; every change goes through `event_or_abort(edit=True)`
first (viewers 403, strangers 404). A viewer limited to one group (a facilitator, see
EventMembership.breakout_group_id) sees only that group's roster: the round page and the
Zoom/Teams exports, which show every group, answer 403.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from io import BytesIO
from typing import TYPE_CHECKING, Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, SubmitField
from wtforms.validators import AnyOf, InputRequired, NumberRange
from wtforms.widgets import HiddenInput

from app import geo
from app.extensions import db
from app.i18n import current_language, join_sentences
from app.models import BreakoutRound, Event, Registration
from app.models.enums import MembershipRole, OrganizationType
from app.services import breakouts as service
from app.services import permissions
from app.services.errors import DomainError, NotFound
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.public.forms import (
    MODE_LABELS,
    ORGANIZATION_TYPE_LABELS,
    MultiCheckboxField,
    options,
)

if TYPE_CHECKING:
    # write_csv is imported where it is used: the spreadsheet engine loads openpyxl.
    from app.engines.spreadsheets import Row


def published_breakout_seats(registration: Registration) -> list[service.PublishedSeat]:
    return service.published_seats(db.session, registration)


# The manage page (templates/participant/manage.html) shows the groups a participant has
# been told; its view is not ours, so the template asks for them.
bp.add_app_template_global(published_breakout_seats, "published_breakout_seats")


# --- Forms ---------------------------------------------------------------------------------


def _optional_id(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class RoundForm(FlaskForm):
    session_id = SelectField(_l("Programme session"), coerce=_optional_id, description=_l(
        "A round for one session uses that session's groups (and groups of no session)."))
    submit = SubmitField(_l("Add a round"))


class RunForm(FlaskForm):
    diversity = MultiCheckboxField(_l("Spread across the groups"), description=_l(
        "People who share a value are spread over the groups: each group holds its fair share "
        "of them, and every person above it costs the penalty."))
    penalty = IntegerField(_l("Penalty for each person above a fair share"), validators=[
        InputRequired(message=_l("Please enter a whole number from 0 to %(max)d.",
                                 max=service.MAX_PENALTY)),
        NumberRange(0, service.MAX_PENALTY, message=_l(
            "Please enter a whole number from 0 to %(max)d.", max=service.MAX_PENALTY))],
        description=_l("A 1st choice costs 0, a 2nd 1, a 3rd 4. The default 2 moves someone "
                       "to their 2nd choice to mix a group, but not to their 3rd."))
    submit = SubmitField(_l("Run the assignment"))


class SeatForm(FlaskForm):
    """Move a person: one row of the preview. The select is written in the template."""

    registration_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    group_id = IntegerField(validators=[InputRequired()])


class PinForm(FlaskForm):
    registration_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    pinned = HiddenField(validators=[AnyOf(["1", "0"])])


def _round_form(event: Event) -> RoundForm:
    form = RoundForm()
    form.session_id.choices = options(
        [("", _l("The whole event (every group)"))]
        + [(str(s.id), s.title) for s in event.sessions])
    return form


def _run_form(round_: BreakoutRound) -> RunForm:
    form = RunForm(data={"diversity": round_.diversity, "penalty": round_.penalty})
    form.diversity.choices = options(
        (attribute, service.attribute_label(attribute))
        for attribute in service.diversity_choices(db.session, round_))
    return form


# --- Helpers -------------------------------------------------------------------------------


def _can_edit(event: Event) -> bool:
    return permissions.event_role(db.session, signed_in_user(), event.id) is (
        MembershipRole.ORGANIZER)


def _group_limit(event: Event) -> int | None:
    """The one group whose roster a limited viewer (a facilitator) may see, else None."""
    user = signed_in_user()
    if user.is_admin:
        return None
    found = permissions.membership(db.session, user, event.id)
    if found is None or found.role is not MembershipRole.VIEWER:
        return None
    return found.breakout_group_id


def _round(event: Event, round_id: int) -> BreakoutRound:
    try:
        return service.get_round(db.session, event.id, round_id)
    except NotFound:
        abort(404)


def _whole_round(event_id: int, round_id: int) -> tuple[Event, BreakoutRound]:
    """For pages that show every group: not for a viewer limited to one group."""
    event = event_or_abort(event_id)
    if _group_limit(event) is not None:
        abort(403)
    return event, _round(event, round_id)


def _back(event: Event, round_: BreakoutRound, message: str,
          category: str = "success") -> ResponseReturnValue:
    flash(message, category)
    return redirect(url_for("console.breakout_round", event_id=event.id, round_id=round_.id))


def _refused(event: Event, round_: BreakoutRound, error: DomainError) -> ResponseReturnValue:
    return _back(event, round_, str(error.message), "error")


def prefecture_name(code: str) -> str:
    found = geo.prefecture(code)
    if found is None:
        return code
    return found.name_en if current_language() == "en" else found.name


def _value_label(event: Event) -> Any:
    """Turns a raw attribute value of the preview into words for the page."""
    group_names = {str(group.id): group.name for group in event.breakout_groups}

    def label(attribute: str, value: str) -> str:
        if attribute == "prefecture":
            return prefecture_name(value)
        if attribute == "org_type":
            return str(ORGANIZATION_TYPE_LABELS[OrganizationType(value)])
        if attribute.startswith("round"):
            return group_names.get(value, value)
        return value

    return label


def _csv(filename: str, header: Sequence[str], rows: Iterable[Row], *,
         bom: bool = True) -> Response:
    from app.engines.spreadsheets import write_csv  # lazy: see the imports at the top

    buffer = BytesIO()
    write_csv(header, rows, buffer)
    data = buffer.getvalue()
    if not bom:  # the writer always starts UTF-8 with a BOM; some tools want none
        data = data.removeprefix(codecs.BOM_UTF8)
    response = Response(data, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _file_stem(event: Event, round_: BreakoutRound) -> str:
    return f"event{event.id}-round{round_.number}"


# --- Rounds --------------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/breakouts", methods=["GET", "POST"])
def breakouts(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    form = _round_form(event)
    error = None
    status = 200
    if form.is_submitted():
        event = event_or_abort(event_id, edit=True)
        status = 422
        if form.validate():
            try:
                round_ = service.create_round(db.session, signed_in_user(), event.id,
                                              form.session_id.data)
            except DomainError as failure:
                target = form._fields.get(failure.field or "")
                if target is None:
                    status, error = 409, failure.message
                else:
                    target.errors = [*target.errors, failure.message]
            else:
                flash(_("Round %(number)d has been added. Run the assignment when the "
                        "participants have ranked the groups.", number=round_.number),
                      "success")
                return redirect(url_for("console.breakout_round", event_id=event.id,
                                        round_id=round_.id))
    return render_template(
        "console/breakouts/index.html", event=event, can_edit=_can_edit(event), form=form,
        error=error, rounds=service.rounds(db.session, event.id),
        group_limit=_group_limit(event)), status


def _round_page(event: Event, round_: BreakoutRound, form: RunForm | None = None,
                error: Any = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "console/breakouts/round.html", event=event, round=round_,
        can_edit=_can_edit(event), form=form or _run_form(round_), error=error,
        preview=service.preview(db.session, round_), groups=service.round_groups(round_),
        value_label=_value_label(event), attribute_label=service.attribute_label,
        prefecture_name=prefecture_name), status


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>")
def breakout_round(event_id: int, round_id: int) -> ResponseReturnValue:
    event, round_ = _whole_round(event_id, round_id)
    return _round_page(event, round_)


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/run")
def run_breakouts(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    form = _run_form(round_)
    if not form.validate():
        return _round_page(event, round_, form, status=422)
    try:
        outcome = service.run(db.session, signed_in_user(), event.id, round_.id,
                              diversity=form.diversity.data or [],
                              penalty=form.penalty.data or 0)
    except DomainError as failure:
        target = form._fields.get(failure.field or "")
        if target is None:
            return _round_page(event, round_, form, error=failure.message, status=409)
        target.errors = [*target.errors, failure.message]
        return _round_page(event, round_, form, status=422)
    return _back(event, round_, _(
        "The assignment is ready: %(placed)d people placed, %(kept)d kept where they were "
        "(pinned or already told). Check it below, then publish.",
        placed=outcome.placed, kept=outcome.kept))


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/newcomers")
def breakout_newcomers(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    try:
        outcome = service.rerun_newcomers(db.session, signed_in_user(), event.id, round_.id)
    except DomainError as failure:
        return _refused(event, round_, failure)
    if not outcome.placed:
        return _back(event, round_, _("Everyone already has a group: nobody new to place."),
                     "info")
    return _back(event, round_, _("%(placed)d newcomers have been placed; nobody else moved.",
                                  placed=outcome.placed))


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/move")
def move_breakout_seat(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    form = SeatForm()
    if not form.validate():
        abort(400)
    try:
        outcome = service.move(db.session, signed_in_user(), event.id, round_.id,
                               form.registration_id.data or 0, form.group_id.data or 0)
    except DomainError as failure:
        return _refused(event, round_, failure)
    message = _("Moved to %(group)s and pinned there.", group=outcome.group.name)
    if outcome.told:
        message = join_sentences(message, _("The participant has been sent their new group."))
    capacity = outcome.group.capacity
    if capacity is not None and outcome.size > capacity:
        message = join_sentences(message, _(
            "%(group)s now has %(size)d people for %(capacity)d places.",
            group=outcome.group.name, size=outcome.size, capacity=capacity))
    return _back(event, round_, message)


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/pin")
def pin_breakout_seat(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    form = PinForm()
    if not form.validate():
        abort(400)
    pinned = form.pinned.data == "1"
    try:
        service.set_pinned(db.session, signed_in_user(), event.id, round_.id,
                           form.registration_id.data or 0, pinned)
    except DomainError as failure:
        return _refused(event, round_, failure)
    return _back(event, round_, _("Pinned: later runs keep this person in their group.")
                 if pinned else _("Unpinned: the next run may move this person."))


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/lock")
def lock_breakouts(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    try:
        service.lock(db.session, signed_in_user(), event.id, round_.id)
    except DomainError as failure:
        return _refused(event, round_, failure)
    return _back(event, round_, _("The rankings are locked: participants can no longer change "
                                  "their choice of groups."))


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/unlock")
def unlock_breakouts(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    try:
        service.unlock(db.session, signed_in_user(), event.id, round_.id)
    except DomainError as failure:
        return _refused(event, round_, failure)
    return _back(event, round_, _("The rankings are open again."))


@bp.post("/events/<int:event_id>/breakouts/<int:round_id>/publish")
def publish_breakouts(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    round_ = _round(event, round_id)
    try:
        told = service.publish(db.session, signed_in_user(), event.id, round_.id)
    except DomainError as failure:
        return _refused(event, round_, failure)
    return _back(event, round_, _("Published: %(count)d participants will be told their "
                                  "group by email, and see it on their registration page.",
                                  count=told))


# --- Exports -------------------------------------------------------------------------------


def _exports_page(event: Event, round_: BreakoutRound, error: Any = None,
                  status: int = 200) -> ResponseReturnValue:
    all_rosters = service.rosters(db.session, round_)
    return render_template(
        "console/breakouts/exports.html", event=event, round=round_,
        can_edit=_can_edit(event), error=error, rosters=all_rosters,
        zoom_error=service.zoom_limit_error(all_rosters),
        teams_error=service.teams_limit_error(all_rosters)), status


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/exports")
def breakout_exports(event_id: int, round_id: int) -> ResponseReturnValue:
    event, round_ = _whole_round(event_id, round_id)
    return _exports_page(event, round_)


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/zoom.csv")
def breakout_zoom_csv(event_id: int, round_id: int) -> ResponseReturnValue:
    event, round_ = _whole_round(event_id, round_id)
    try:
        rows = service.zoom_rows(service.rosters(db.session, round_))
    except DomainError as failure:
        return _exports_page(event, round_, error=failure.message, status=409)
    return _csv(f"zoom-breakout-rooms-{_file_stem(event, round_)}.csv", service.ZOOM_HEADER,
                rows, bom=request.args.get("bom") != "0")


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/teams")
def breakout_teams(event_id: int, round_id: int) -> ResponseReturnValue:
    event, round_ = _whole_round(event_id, round_id)
    all_rosters = service.rosters(db.session, round_)
    error = service.teams_limit_error(all_rosters)
    return render_template(
        "console/breakouts/teams.html", event=event, round=round_, can_edit=_can_edit(event),
        error=error.message if error else None,
        rooms=[] if error else service.teams_rooms(all_rosters)), 409 if error else 200


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/teams.csv")
def breakout_teams_csv(event_id: int, round_id: int) -> ResponseReturnValue:
    event, round_ = _whole_round(event_id, round_id)
    try:
        rooms = service.teams_rooms(service.rosters(db.session, round_))
    except DomainError as failure:
        return _exports_page(event, round_, error=failure.message, status=409)
    header = [_("Room number"), _("Room (group)"), _("Name"), _("Furigana"), _("Email address"),
              _("Organisation")]
    rows = [(number, roster.group.name, person.name, person.furigana, person.email,
             person.organization_name)
            for number, roster in enumerate(rooms, start=1) for person in roster.members]
    return _csv(f"teams-breakout-rooms-{_file_stem(event, round_)}.csv", header, rows)


def _roster_scope(event: Event) -> int | None:
    """The group asked for (?group=), which a limited viewer may only ask for as theirs."""
    asked = request.args.get("group", type=int)
    limit = _group_limit(event)
    if limit is not None and asked not in (None, limit):
        abort(403)
    return limit if limit is not None else asked


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/rosters")
def breakout_rosters(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    round_ = _round(event, round_id)
    scope = _roster_scope(event)
    return render_template(
        "console/breakouts/rosters.html", event=event, round=round_, can_edit=_can_edit(event),
        rosters=service.rosters(db.session, round_, scope), scope=scope,
        limited=_group_limit(event) is not None, prefecture_name=prefecture_name,
        mode_labels=MODE_LABELS, facilitator_text=service.facilitator_text)


def _roster_row(roster: service.Roster, number: int, person: Registration) -> Row:
    return (roster.group.name, service.facilitator_text(roster.group), roster.group.room,
            number, person.name, person.furigana, person.organization_name,
            prefecture_name(person.prefecture_code), str(MODE_LABELS[person.attendance_mode]))


@bp.get("/events/<int:event_id>/breakouts/<int:round_id>/rosters.csv")
def breakout_rosters_csv(event_id: int, round_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    round_ = _round(event, round_id)
    scope = _roster_scope(event)
    header = [_("Group"), _("Facilitator"), _("Room"), _("No."), _("Name"), _("Furigana"),
              _("Organisation"), _("Prefecture"), _("How they take part")]
    rows = [_roster_row(roster, number, person)
            for roster in service.rosters(db.session, round_, scope)
            for number, person in enumerate(roster.members, start=1)]
    suffix = f"-group{scope}" if scope is not None else ""
    return _csv(f"roster-{_file_stem(event, round_)}{suffix}.csv", header, rows)
