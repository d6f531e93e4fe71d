"""Forms of the registrant pages. Who-is-who fields and their checks come from the public
sign-up form, so an organizer's entry is held to the same rules as a participant's."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    RadioField,
    SearchField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app import geo
from app.models import Event
from app.models.enums import AttendanceMode, OrganizationType, RegistrationStatus
from app.services.importing import MAX_IMPORT_BYTES, ImportField
from app.services.registrants import (
    DEFAULT_PER_PAGE,
    DEFAULT_SORT,
    MAX_BODY,
    MAX_REASON,
    MAX_SUBJECT,
    PER_PAGE_CHOICES,
    SOURCES,
    STATUS_ACTIVE,
    RegistrantFilters,
)
from app.web.public.forms import (
    MODE_LABELS,
    ORGANIZATION_TYPE_LABELS,
    SignupFormBase,
    event_fields,
    options,
)

STATUS_LABELS = {
    RegistrationStatus.CONFIRMED: _l("Confirmed"),
    RegistrationStatus.WAITLISTED: _l("On the waiting list"),
    RegistrationStatus.LOTTERY_PENDING: _l("Entered in the lottery"),
    RegistrationStatus.NOT_DRAWN: _l("Not drawn in the lottery"),
    RegistrationStatus.CANCELLED: _l("Cancelled"),
}
SORT_LABELS = {
    "furigana": _l("Reading (a–z, あ–ん)"),
    "-furigana": _l("Reading (reverse)"),
    "created": _l("Registered (oldest first)"),
    "-created": _l("Registered (newest first)"),
    "status": _l("Status, then waiting list order"),
    "organisation": _l("Organisation"),
}
_ANY = _l("Any")
_REQUIRED = _l("This field is required.")


class FilterFields(FlaskForm):
    """The filters shared by the list and the announcement."""

    status = SelectField(_l("Status"), validators=[Optional()])
    mode = SelectField(_l("Way of taking part"), validators=[Optional()])
    prefecture = SelectField(_l("Prefecture"), validators=[Optional()])
    organization_type = SelectField(_l("Type of organisation"), validators=[Optional()])
    group = SelectField(_l("First-choice group"), validators=[Optional()])

    def prepare_filters(self, event: Event, language: str, *, announcement: bool = False) -> None:
        if announcement:
            statuses = [(STATUS_ACTIVE, _l("Every active registration"))] + [
                (status.value, STATUS_LABELS[status]) for status in RegistrationStatus
                if status is not RegistrationStatus.CANCELLED]
        else:
            statuses = [("", _ANY), (STATUS_ACTIVE, _l("Active (not cancelled)"))] + [
                (status.value, label) for status, label in STATUS_LABELS.items()]
        self.status.choices = options(statuses)
        self.mode.choices = options([("", _ANY)] + [
            (mode.value, MODE_LABELS[mode]) for mode in event.attendance_modes])
        self.prefecture.choices = options([("", _ANY)] + [
            (p.code, p.name_en if language == "en" else p.name) for p in geo.prefectures()])
        self.organization_type.choices = options([("", _ANY)] + [
            (kind.value, label) for kind, label in ORGANIZATION_TYPE_LABELS.items()])
        self.group.choices = options([("", _ANY)] + [
            (str(group.id), group.name) for group in event.breakout_groups])

    def filters(self) -> RegistrantFilters:
        return RegistrantFilters(
            status=self.status.data or "",
            mode=AttendanceMode(self.mode.data) if self.mode.data else None,
            prefecture_code=self.prefecture.data or "",
            organization_type=(OrganizationType(self.organization_type.data)
                               if self.organization_type.data else None),
            first_choice_group_id=int(self.group.data) if self.group.data else None,
        )


class RegistrantSearchForm(FilterFields):
    """The list's GET form: bookmarkable, so no CSRF token in the address."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=100, message=_l(
        "Please use at most %(max)d characters."))],
        description=_l("Name, reading (in hiragana or katakana), email address or organisation"))
    sort = SelectField(_l("Sort by"), default=DEFAULT_SORT,
                       choices=options(SORT_LABELS.items()), validators=[Optional()])
    per_page = SelectField(_l("Per page"), default=str(DEFAULT_PER_PAGE),
                           choices=options((str(n), str(n)) for n in PER_PAGE_CHOICES),
                           validators=[Optional()])


class _PersonFields(SignupFormBase):
    """The sign-up form's identity fields, without the participant's second email entry."""

    email_confirm = None


class EditPersonForm(_PersonFields):
    # Changing pools would move a seat: an edit corrects who the person is, nothing else.
    attendance_mode = None


class NewPersonForm(_PersonFields):
    language = SelectField(_l("Language of messages"),
                           choices=options([("ja", "日本語"), ("en", "English")]))
    source = SelectField(_l("How did the registration reach you?"),
                         choices=options([("", _l("Please choose")), *SOURCES.items()]),
                         validators=[InputRequired(message=_REQUIRED)])
    source_note = StringField(_l("Note"), validators=[Length(max=500, message=_l(
        "Please use at most %(max)d characters."))],
        description=_l("For example who took the call and when. Shown in the registration's "
                       "history."))
    notify = BooleanField(_l("Email the person their confirmation and registration link"),
                          default=True)


def edit_form_class(event: Event, language: str) -> type[EditPersonForm]:
    fields: dict[str, Any] = {name: field for name, field in event_fields(event, language).items()
                              if name.startswith("q_")}
    fields["submit"] = SubmitField(_l("Save changes"))
    return type("RegistrantEditForm", (EditPersonForm,), fields)


def new_form_class(event: Event, language: str) -> type[NewPersonForm]:
    fields: dict[str, Any] = dict(event_fields(event, language))
    fields["submit"] = SubmitField(_l("Add registration"))
    return type("NewRegistrantForm", (NewPersonForm,), fields)


def prepare_person_choices(form: _PersonFields, language: str) -> None:
    """Choices of the identity fields (the sign-up form's prepare_choices, minus the modes)."""
    form.organization_type.choices = options([("", _l("Please choose"))] + [
        (kind.value, label) for kind, label in ORGANIZATION_TYPE_LABELS.items()])
    form.prefecture.choices = options([("", _l("Please choose"))] + [
        (p.code, p.name_en if language == "en" else p.name) for p in geo.prefectures()])
    municipalities = geo.municipalities(form.prefecture.data) if form.prefecture.data else []
    form.municipality.choices = options([("", _l("Please choose"))] + [
        (m.code, m.label) for m in municipalities])


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason, for the person"), validators=[Length(
        max=MAX_REASON, message=_l("Please use at most %(max)d characters."))],
        description=_l("Optional. It is included in the message telling them of the "
                       "cancellation."))
    submit = SubmitField(_l("Cancel this registration"))


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token is checked."""

    submit = SubmitField(_l("Confirm"))


class ConfirmSeatForm(FlaskForm):
    over_capacity = BooleanField(_l("Add one seat for this person, over the capacity"))
    submit = SubmitField(_l("Confirm a seat"))


class ImportUploadForm(FlaskForm):
    file = FileField(_l("File"), validators=[
        FileRequired(message=_l("Please choose a file.")),
        FileSize(max_size=MAX_IMPORT_BYTES, message=_l(
            "The file is larger than %(size)d MB. Please split it.",
            size=MAX_IMPORT_BYTES // (1024 * 1024)))],
        description=_l("CSV (UTF-8 or Shift_JIS) or Excel workbook (.xlsx); the first row "
                       "holds the column titles."))
    submit = SubmitField(_l("Upload and choose columns"))


class MappingFormBase(FlaskForm):
    default_attendance_mode = SelectField(_l("Way of taking part, where the file gives none"))
    default_organization_type = SelectField(
        _l("Type of organisation, where the file gives none"), validators=[Optional()])
    submit = SubmitField(_l("Check the rows"))

    def column_fields(self) -> list[Field]:
        return [field for name, field in self._fields.items() if name.startswith("col_")]

    def columns(self) -> dict[str, int]:
        return {name.removeprefix("col_"): int(field.data)
                for name, field in self._fields.items()
                if name.startswith("col_") and field.data}

    def defaults(self) -> dict[str, str]:
        return {"attendance_mode": self.default_attendance_mode.data or "",
                "organization_type": self.default_organization_type.data or ""}


def mapping_form_class(fields: list[ImportField], column_labels: list[str]
                       ) -> type[MappingFormBase]:
    choices = options([("", _l("(not in the file)"))] + [
        (str(index), label) for index, label in enumerate(column_labels)])
    attributes: dict[str, Any] = {
        f"col_{field.key}": SelectField(field.label, choices=choices, validators=[Optional()])
        for field in fields
    }
    return type("MappingForm", (MappingFormBase,), attributes)


def prepare_mapping_defaults(form: MappingFormBase, event: Event) -> None:
    form.default_attendance_mode.choices = options(
        (mode.value, MODE_LABELS[mode]) for mode in event.attendance_modes)
    form.default_organization_type.choices = options(
        [("", _l("None: every row must give one"))] + [
            (kind.value, label) for kind, label in ORGANIZATION_TYPE_LABELS.items()])


class AcceptImportForm(FlaskForm):
    notify = RadioField(_l("Confirmation messages"), choices=options([
        ("yes", _l("Email each imported person their confirmation and registration link")),
        ("no", _l("Send no messages (they were told another way)"))]),
        validators=[InputRequired(message=_l("Please choose whether to send messages."))])
    expected = HiddenField()
    submit = SubmitField(_l("Import the rows without errors"))


class AnnounceForm(FilterFields):
    subject = StringField(_l("Subject"), validators=[
        DataRequired(message=_l("Please enter a subject.")),
        Length(max=MAX_SUBJECT, message=_l("Please use at most %(max)d characters."))])
    body = TextAreaField(_l("Message"), validators=[
        DataRequired(message=_l("Please write the message.")),
        Length(max=MAX_BODY, message=_l("Please use at most %(max)d characters."))],
        description=_l("Each message starts with the person's name and ends with the event's "
                       "date, place and their registration link."))
    expected = HiddenField()
    review = SubmitField(_l("Check the recipients"))
    change = SubmitField(_l("Change the message"))
    send = SubmitField(_l("Send"))
