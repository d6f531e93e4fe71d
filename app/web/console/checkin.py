"""Check-in at the door, on a phone: scan or type a code, or search; undo; count visitors.

Checking in changes the event, so it needs the organizer role on it: a viewer (a breakout
facilitator, a partner municipality) gets 403. Volunteers at the door are made organizers
of that one event. Every page works without JavaScript; checkin.js only adds the camera.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import Field, HiddenField, IntegerField, SearchField, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import HiddenInput

from app.extensions import db
from app.i18n import format_local_date, format_local_time
from app.models import Event
from app.models.checkin import CheckInMethod
from app.services import checkin as service
from app.services.errors import DomainError, NotFound
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.public.forms import options

_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DAY_MESSAGE = _l("Please choose one of the days the event is open.")


def new_nonce() -> str:
    """One per rendered form: the same form posted twice is the same check-in."""
    return secrets.token_urlsafe(18)


class _DayForm(FlaskForm):
    """A form whose `day` must be one of the event's open days (ISO date)."""

    day: Field

    def __init__(self, days: list[date], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_days = days

    def validate_day(self, field: Field) -> None:
        try:
            chosen = date.fromisoformat(field.data or "")
        except ValueError:
            chosen = None
        if chosen not in self.open_days:
            raise ValidationError(_DAY_MESSAGE)

    @property
    def day_value(self) -> date:
        return date.fromisoformat(self.day.data)


class DoorForm(_DayForm):
    """The page's own query: which day, whom to look for, whom to show (after a check-in)."""

    class Meta:
        csrf = False

    day = SelectField(_l("Day"), validate_choice=False)
    q = SearchField(_l("Name, furigana or email"), validators=[
        Optional(), Length(max=100, message=_l("Please enter at most 100 characters."))],
        render_kw={"autocomplete": "off", "enterkeyhint": "search"})
    shown = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def __init__(self, days: list[date], *args: Any, **kwargs: Any) -> None:
        super().__init__(days, *args, **kwargs)
        self.day.choices = options((day.isoformat(), format_local_date(day)) for day in days)


_OUT_OF_DATE = _l("This form is out of date. Please reload the page and try again.")


class CheckInForm(_DayForm):
    day = HiddenField(validators=[InputRequired(_DAY_MESSAGE)])
    nonce = HiddenField(validators=[InputRequired(_OUT_OF_DATE),
                                    Regexp(_NONCE, message=_OUT_OF_DATE)])
    method = HiddenField(validators=[
        AnyOf([method.value for method in CheckInMethod], message=_OUT_OF_DATE)])
    registration_id = IntegerField(widget=HiddenInput(), validators=[Optional()])
    code = StringField(_l("Check-in code"), validators=[
        Optional(), Length(max=60, message=_l("Please enter at most 60 characters."))],
        description=_l("The code under the participant's QR code, for example 123-ABCD2345."),
        render_kw={"autocomplete": "off", "autocapitalize": "characters",
                   "spellcheck": "false", "enterkeyhint": "go"})

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and (self.registration_id.data is None) == (not self.code.data):
            self.code.errors = [_("Please scan or type the participant's check-in code.")]
            return False
        return valid

    @property
    def hidden_errors(self) -> str:
        """Errors of fields the person cannot see, to show them above the form."""
        return " ".join(str(message) for name, messages in self.errors.items()
                        if name != "code" for message in messages)

    @property
    def target(self) -> int | str:
        return self.registration_id.data if self.registration_id.data is not None \
            else self.code.data or ""


class UndoForm(_DayForm):
    day = HiddenField(validators=[InputRequired(_DAY_MESSAGE)])


class TallyForm(_DayForm):
    day = HiddenField(validators=[InputRequired(_DAY_MESSAGE)])
    delta = IntegerField(validators=[InputRequired(), AnyOf([1, -1])])


def _page(event: Event, days: list[date], *, door: DoorForm | None = None,
          code_form: CheckInForm | None = None, day: date | None = None,
          shown: int | None = None, error: str | None = None,
          status: int = 200) -> ResponseReturnValue:
    if door is None:
        chosen = day or service.default_day(event)
        door = DoorForm(days, formdata=None, data={
            "day": chosen.isoformat() if chosen else None, "shown": shown})
    page = None
    if days and not door.errors:
        page = service.door_page(db.session, event, door.day_value, door.q.data or "",
                                 door.shown.data)
    return render_template(
        "console/checkin/page.html", event=event, days=days, door=door,
        code_form=code_form or CheckInForm(days, formdata=None), page=page, error=error,
        new_nonce=new_nonce, methods=CheckInMethod,
        can_edit=True), status  # check-in needs the right to edit (event_or_abort above)


def _back(event: Event, day: date, **args: Any) -> ResponseReturnValue:
    return redirect(url_for("console.checkin", event_id=event.id, day=day.isoformat(), **args),
                    303)


@bp.get("/events/<int:event_id>/checkin")
def checkin(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    days = service.open_days(event)
    formdata = MultiDict(request.args)
    if "day" not in formdata and (default := service.default_day(event)) is not None:
        formdata["day"] = default.isoformat()
    door = DoorForm(days, formdata=formdata)
    if not door.validate():
        return _page(event, days, door=door, status=422)
    return _page(event, days, door=door)


def _checked_in_message(result: service.CheckInResult) -> str:
    if result.outcome is service.Outcome.CHECKED_IN:
        return _("Checked in: %(name)s.", name=result.name)
    time = format_local_time(result.checked_in_at)
    if result.day == service.today_in_tokyo():
        return _("%(name)s was already checked in at %(time)s today.",
                 name=result.name, time=time)
    return _("%(name)s was already checked in at %(time)s on %(date)s.",
             name=result.name, time=time, date=format_local_date(result.day))


@bp.post("/events/<int:event_id>/checkin")
def checkin_submit(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    days = service.open_days(event)
    form = CheckInForm(days)
    if not form.validate_on_submit():
        day = form.day_value if not form.day.errors else None
        return _page(event, days, code_form=form, day=day, error=form.hidden_errors or None,
                     status=422)
    try:
        result = service.check_in(db.session, signed_in_user(), event.id, form.target,
                                  CheckInMethod(form.method.data), form.nonce.data or "",
                                  form.day_value)
    except NotFound:
        abort(404)
    except DomainError as error:
        if error.field == "code":
            form.code.errors = [error.message]
            return _page(event, days, code_form=form, day=form.day_value, status=422)
        shown = getattr(error, "registration_id", None)
        return _page(event, days, day=form.day_value, shown=shown, error=str(error.message),
                     status=409)
    flash(_checked_in_message(result),
          "success" if result.outcome is service.Outcome.CHECKED_IN else "info")
    return _back(event, result.day, shown=result.registration_id)


@bp.post("/events/<int:event_id>/checkin/<int:check_in_id>/undo")
def checkin_undo(event_id: int, check_in_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    days = service.open_days(event)
    form = UndoForm(days)
    if not form.validate_on_submit():
        return _page(event, days, status=422, error=str(_DAY_MESSAGE))
    try:
        result = service.undo_check_in(db.session, signed_in_user(), event.id, check_in_id)
    except NotFound:
        abort(404)
    if result.already_undone:
        flash(_("The check-in of %(name)s had already been undone.", name=result.name), "info")
    else:
        flash(_("Check-in undone: %(name)s.", name=result.name), "success")
    return _back(event, form.day_value, shown=result.registration_id)


@bp.post("/events/<int:event_id>/checkin/tally")
def checkin_tally(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    days = service.open_days(event)
    form = TallyForm(days)
    if not form.validate_on_submit():
        return _page(event, days, status=422, error=_(
            "Please use the + and − buttons to count visitors on one of the event's days."))
    try:
        result = service.tally(db.session, signed_in_user(), event.id, form.day_value,
                               form.delta.data or 0)
    except DomainError as error:
        return _page(event, days, day=form.day_value, error=str(error.message), status=409)
    if not result.changed:
        flash(_("The count is already zero."), "info")
    else:
        flash(_("Visitors on %(date)s: %(count)d.", date=format_local_date(result.day),
                count=result.count), "success")
    return _back(event, result.day)
