"""Attendance of an event: the minimum duration, report imports, marks by hand.

Reading the page needs a part in the event; everything that changes attendance needs the
organizer role (viewers get 403). An import is three steps: upload (a broken file is
refused beside the file field and nothing is stored), preview with the matches and a
choice for every row not matched by e-mail, and accept — one transaction.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import Field, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange, Optional

from app.engines.attendance_reports import MAX_REPORT_BYTES
from app.extensions import db
from app.models import Event
from app.models.attendance import MatchMethod
from app.models.enums import MembershipRole
from app.services import attendance as service
from app.services import permissions
from app.services.errors import DomainError, NotFound
from app.services.statistics import event_statistics
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.public.forms import options

_MINUTES = _l("Please enter a number of minutes between 0 and 1440.")
_RECEIPT = _l("Please enter a receipt number.")


class MinimumForm(FlaskForm):
    min_minutes = IntegerField(
        _l("Minimum time in the meeting (minutes)"),
        validators=[InputRequired(_MINUTES), NumberRange(0, service.MAX_MIN_MINUTES, _MINUTES)],
        description=_l("Online participants count as attended when their time in the imported "
                       "reports adds up to at least this. 0: any time counts."),
        render_kw={"inputmode": "numeric"})


class UploadForm(FlaskForm):
    report = FileField(
        _l("Attendance report"),
        validators=[FileRequired(_l("Please choose the report file to upload."))],
        description=_l("The Zoom meeting participant report or webinar attendee report (CSV), "
                       "or the Microsoft Teams attendance report, as downloaded, in English or "
                       "Japanese."))


class MarkForm(FlaskForm):
    receipt = IntegerField(_l("Receipt number"), validators=[
        InputRequired(_RECEIPT), NumberRange(1, message=_RECEIPT)],
        render_kw={"inputmode": "numeric"})


def _can_edit(event: Event) -> bool:
    return permissions.event_role(db.session, signed_in_user(), event.id) is (
        MembershipRole.ORGANIZER)


def _field_error(form: FlaskForm, error: DomainError) -> int:
    """Put a service error beside its field (422), or answer 409 when it names none."""
    target: Field | None = form._fields.get(error.field or "")
    if target is None:
        flash(str(error.message), "error")
        return 409
    target.errors = [*target.errors, error.message]
    return 422


def _overview(event: Event, *, minimum: MinimumForm | None = None,
              mark: MarkForm | None = None, status: int = 200) -> ResponseReturnValue:
    page = service.attendance_page(db.session, event.id)
    return render_template(
        "console/attendance/index.html", event=event, page=page,
        figures=event_statistics(db.session, event), can_edit=_can_edit(event),
        minimum=minimum or MinimumForm(formdata=None, data={"min_minutes": page.min_minutes}),
        mark=mark or MarkForm(formdata=None)), status


@bp.get("/events/<int:event_id>/attendance")
def attendance(event_id: int) -> ResponseReturnValue:
    return _overview(event_or_abort(event_id))


@bp.post("/events/<int:event_id>/attendance/minimum")
def attendance_minimum(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = MinimumForm()
    if not form.validate_on_submit():
        return _overview(event, minimum=form, status=422)
    try:
        service.set_min_minutes(db.session, signed_in_user(), event.id, form.min_minutes.data)
    except DomainError as error:
        return _overview(event, minimum=form, status=_field_error(form, error))
    flash(_("The minimum time has been saved."), "success")
    return redirect(url_for("console.attendance", event_id=event.id), 303)


@bp.post("/events/<int:event_id>/attendance/marks")
def attendance_mark(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = MarkForm()
    if not form.validate_on_submit():
        return _overview(event, mark=form, status=422)
    try:
        added = service.mark_attended(db.session, signed_in_user(), event.id,
                                      form.receipt.data)
    except DomainError as error:
        return _overview(event, mark=form, status=_field_error(form, error))
    if added:
        flash(_("Receipt number %(number)d is marked as attended.", number=form.receipt.data),
              "success")
    else:
        flash(_("Receipt number %(number)d was already marked as attended.",
                number=form.receipt.data), "info")
    return redirect(url_for("console.attendance", event_id=event.id), 303)


@bp.post("/events/<int:event_id>/attendance/marks/<int:mark_id>/delete")
def attendance_unmark(event_id: int, mark_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        service.unmark_attended(db.session, signed_in_user(), event.id, mark_id)
    except NotFound:
        abort(404)
    flash(_("The mark has been removed."), "success")
    return redirect(url_for("console.attendance", event_id=event.id), 303)


@bp.route("/events/<int:event_id>/attendance/import", methods=["GET", "POST"])
def attendance_upload(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = UploadForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            upload = form.report.data
            try:
                staged = service.stage_report(
                    db.session, signed_in_user(), event.id, upload.filename or "",
                    upload.read(MAX_REPORT_BYTES + 1))
            except DomainError as error:
                status = _field_error(form, error)
            else:
                return redirect(url_for("console.attendance_preview", event_id=event.id,
                                        token=staged.token), 303)
    return render_template("console/attendance/upload.html", event=event, form=form,
                           can_edit=True), status


def _person_label(row: service.MatchedRow) -> str:
    return _("Registration for %(name)s", name=row.person.name)


def _candidate_label(candidate: service.Candidate) -> str:
    return f"{candidate.id}: {candidate.name}（{candidate.furigana}）{candidate.email}"


def match_form(preview: service.ImportPreview) -> FlaskForm:
    """A choice for every row not matched by e-mail: a list, or a receipt number when the
    event has too many registrations to list."""

    class MatchForm(FlaskForm):
        pass

    data: dict[str, Any] = {}
    leave = ("", _("Leave unmatched"))
    for row in preview.rows:
        if row.method is MatchMethod.EMAIL:
            continue
        name = f"row_{row.index}"
        current = row.registration
        if row.candidates or preview.choices is not None:
            pool = list(row.candidates) or list(preview.choices or [])
            if current is not None and current not in pool:
                pool.insert(0, current)
            setattr(MatchForm, name, SelectField(
                _person_label(row),
                choices=options([leave, *((str(c.id), _candidate_label(c)) for c in pool)])))
            data[name] = str(current.id) if current is not None else ""
        else:
            setattr(MatchForm, name, IntegerField(
                _person_label(row), validators=[Optional(), NumberRange(1, message=_RECEIPT)],
                description=_l("Receipt number; leave empty to keep the row unmatched."),
                render_kw={"inputmode": "numeric"}))
            data[name] = current.id if current is not None else None
    # Posted values win over `data` (the automatic matches) once the form is submitted.
    return MatchForm(data=data)


def _choices(form: FlaskForm) -> dict[int, int | None]:
    chosen: dict[int, int | None] = {}
    for name, field in form._fields.items():
        if name.startswith("row_"):
            value = field.data
            chosen[int(name.removeprefix("row_"))] = int(value) if value not in (None, "") \
                else None
    return chosen


def _preview_page(event: Event, preview: service.ImportPreview, form: FlaskForm,
                  status: int = 200) -> ResponseReturnValue:
    return render_template("console/attendance/preview.html", event=event, preview=preview,
                           form=form, can_edit=True), status


@bp.route("/events/<int:event_id>/attendance/import/<token>", methods=["GET", "POST"])
def attendance_preview(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    try:
        preview = service.preview_import(db.session, event, token)
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("console.attendance", event_id=event.id), 303)
    form = match_form(preview)
    if form.is_submitted():
        if not form.validate():
            return _preview_page(event, preview, form, 422)
        try:
            result = service.accept_import(db.session, signed_in_user(), event.id, token,
                                           _choices(form))
        except NotFound:
            abort(404)
        except DomainError as error:
            return _preview_page(event, preview, form, _field_error(form, error))
        flash(_("The report has been imported: %(matched)d matched, %(unmatched)d not "
                "matched to a registration.", matched=result.matched,
                unmatched=result.unmatched), "success")
        if result.replaced:
            flash(_("It replaces the earlier import of the same meeting."), "info")
        return redirect(url_for("console.attendance", event_id=event.id), 303)
    return _preview_page(event, preview, form)


@bp.post("/events/<int:event_id>/attendance/import/<token>/discard")
def attendance_discard(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        service.discard_import(db.session, signed_in_user(), event.id, token)
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("console.attendance", event_id=event.id), 303)
    flash(_("The uploaded report has been discarded."), "success")
    return redirect(url_for("console.attendance", event_id=event.id), 303)
