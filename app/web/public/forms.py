"""The sign-up form, built per event: its attendance modes, custom questions and groups."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app import geo
from app.models import Event, Question
from app.models.enums import AttendanceMode, OrganizationType, QuestionKind
from app.text import is_kana, normalize_spaces

ORGANIZATION_TYPE_LABELS = {
    OrganizationType.MUNICIPALITY: _l("Local government"),
    OrganizationType.NATIONAL_GOVERNMENT: _l("National government"),
    OrganizationType.COMPANY: _l("Company"),
    OrganizationType.NPO: _l("NPO / association"),
    OrganizationType.UNIVERSITY: _l("University / school"),
    OrganizationType.INDIVIDUAL: _l("Individual"),
    OrganizationType.OTHER: _l("Other"),
}

_ORGANIZATION_TYPES = frozenset(kind.value for kind in OrganizationType)

MODE_LABELS = {
    AttendanceMode.IN_PERSON: _l("At the venue"),
    AttendanceMode.ONLINE: _l("Online"),
}


def options(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _kana(_form: FlaskForm, field: Field) -> None:
    if field.data and not is_kana(field.data):
        raise ValidationError(_l("Please write your name's reading in hiragana or katakana."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SignupFormBase(FlaskForm):
    attendance_mode = RadioField(_l("How will you take part?"), validators=[InputRequired(
        message=_l("Please choose how you will take part."))])
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Please enter your name.")),
                    Length(max=100, message=_l("Please write your name in at most %(max)d "
                                               "characters."))],
        render_kw={"autocomplete": "name"},
    )
    furigana = StringField(
        _l("Name reading (furigana)"),
        validators=[DataRequired(message=_l("Please enter the reading of your name.")),
                    Length(max=100, message=_l("Please write the reading of your name in at "
                                               "most %(max)d characters.")), _kana],
    )
    email = EmailField(
        _l("Email address"),
        validators=[
            DataRequired(message=_l("Please enter your email address.")),
            Length(max=254, message=_l("Please write your email address in at most %(max)d "
                                       "characters.")),
            Email(message=_l("Please enter a valid email address, like taro@example.jp."),
                  check_deliverability=False),
        ],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    email_confirm = EmailField(
        _l("Email address (again)"),
        validators=[
            DataRequired(message=_l("Please enter your email address again.")),
            EqualTo("email", message=_l("The two email addresses do not match.")),
        ],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    # The choices are checked by the validate_* methods below, with a lookup, rather than by
    # WTForms walking the whole list on every sign-up.
    organization_type = SelectField(
        _l("Type of organisation"),
        validators=[InputRequired(message=_l("Please choose the type of your organisation."))],
        validate_choice=False,
    )
    organization_name = StringField(
        _l("Organisation"),
        validators=[Length(max=200, message=_l("Please write the name of your organisation in "
                                               "at most %(max)d characters."))],
        # Required unless the type is "individual" (validate_organization_name): the form
        # marks it "required in some cases" and says which.
        description=_l("Required unless you take part as an individual, who may leave it "
                       "empty."),
        render_kw={"autocomplete": "organization"},
    )
    prefecture = SelectField(
        _l("Prefecture"),
        validators=[InputRequired(message=_l("Please choose your prefecture."))],
        validate_choice=False,
    )
    municipality = SelectField(
        _l("Municipality"),
        validators=[InputRequired(message=_l("Please choose your municipality."))],
        validate_choice=False,
    )
    refresh_municipalities = SubmitField(_l("Show municipalities"))

    def validate_organization_type(self, field: Field) -> None:
        if field.data not in _ORGANIZATION_TYPES:
            raise ValidationError(_l("Please choose the type of your organisation."))

    def validate_prefecture(self, field: Field) -> None:
        if geo.prefecture(field.data or "") is None:
            raise ValidationError(_l("Please choose your prefecture."))

    def validate_organization_name(self, field: Field) -> None:
        if self.organization_type.data != OrganizationType.INDIVIDUAL.value and not (
            field.data and normalize_spaces(field.data)
        ):
            raise ValidationError(_l("Please enter the name of your organisation."))

    def validate_municipality(self, field: Field) -> None:
        found = geo.municipality(field.data or "")
        if found is None or found.prefecture_code != self.prefecture.data:
            raise ValidationError(_l("Please choose a municipality of the chosen prefecture."))


def _question_field(question: Question, language: str) -> Field:
    label = question.label_en if language == "en" and question.label_en else question.label
    options_shown = (
        question.options_en
        if language == "en" and len(question.options_en) == len(question.options)
        else question.options
    )
    # Answers are stored under the Japanese option, whatever language the form was shown in.
    choices = options(zip(question.options, options_shown, strict=True))
    # Every message names its question: an error summary lists several at once.
    required_message = _l("Please answer “%(question)s”.", question=label)
    description = question.help_text
    if question.kind is QuestionKind.TEXT:
        limit = question.max_length or 1000
        validators: list[Any] = [_answer_length(limit, label)]
        validators.insert(0, DataRequired(message=required_message) if question.required
                          else Optional())
        return TextAreaField(label, validators=validators, description=description)
    if question.kind is QuestionKind.SINGLE_CHOICE:
        return RadioField(label, choices=choices, description=description, validators=[
            InputRequired(message=required_message) if question.required else Optional()])
    return MultiCheckboxField(label, choices=choices, description=description, validators=[
        DataRequired(message=required_message) if question.required else Optional()])


def _answer_length(limit: int, question: str) -> Any:
    def check(_form: FlaskForm, field: Field) -> None:
        if field.data and len(field.data) > limit:
            raise ValidationError(_l("Please keep your answer to “%(question)s” within "
                                     "%(max)d characters.", question=question, max=limit))
    return check


def event_fields(event: Event, language: str) -> dict[str, Field]:
    """One field per custom question and per breakout preference rank."""
    attributes: dict[str, Any] = {}
    for question in event.questions:
        attributes[f"q_{question.key}"] = _question_field(question, language)
    groups = event.breakout_groups
    for rank in range(1, min(event.max_preference_ranks, len(groups)) + 1):
        attributes[f"preference_{rank}"] = SelectField(
            _l("Discussion group, choice %(rank)d", rank=rank),
            choices=options([("", _l("(no preference)"))] + [(str(g.id), g.name) for g in groups]),
            validators=[Optional()],
        )
    return attributes


# Built once per event version and language: a form class of a dozen fields costs more to
# build than a sign-up costs to store. `updated_at` moves with every question or group.
_SIGNUP_FORM_CLASSES: dict[tuple[int, datetime, str], type[SignupFormBase]] = {}
_MAX_CACHED_CLASSES = 256


def signup_form_class(event: Event, language: str) -> type[SignupFormBase]:
    key = (event.id, event.updated_at, language)
    form_class = _SIGNUP_FORM_CLASSES.get(key)
    if form_class is None:
        form_class = _build_signup_form_class(event, language)
        if len(_SIGNUP_FORM_CLASSES) >= _MAX_CACHED_CLASSES:
            _SIGNUP_FORM_CLASSES.clear()
        _SIGNUP_FORM_CLASSES[key] = form_class
    return form_class


def _build_signup_form_class(event: Event, language: str) -> type[SignupFormBase]:
    fields = event_fields(event, language)
    # Created last so that errors are listed in the order the fields appear on the page.
    fields["consent"] = BooleanField(
        _l("I agree to the handling of my personal data described in the privacy notice."),
        validators=[DataRequired(message=_l("Please agree to the privacy notice to register."))],
    )
    fields["submit"] = SubmitField(_l("Register"))
    return type("SignupForm", (SignupFormBase,), fields)


def answers_form_class(event: Event, language: str) -> type[FlaskForm]:
    """The participant's own edit form: answers and preferences, not identity."""
    fields = event_fields(event, language)
    fields["submit"] = SubmitField(_l("Save changes"))
    return type("AnswersForm", (FlaskForm,), fields)


_ORGANIZATION_TYPE_CHOICES = options([("", _l("Please choose"))] + [
    (kind.value, label) for kind, label in ORGANIZATION_TYPE_LABELS.items()
])


@lru_cache(maxsize=4)
def _prefecture_choices(language: str) -> list[SelectChoice]:
    return options([("", _l("Please choose"))] + [
        (p.code, p.name_en if language == "en" else p.name) for p in geo.prefectures()
    ])


def prepare_choices(form: SignupFormBase, event: Event, language: str) -> None:
    form.attendance_mode.choices = options(
        (mode.value, MODE_LABELS[mode]) for mode in event.attendance_modes
    )
    if len(event.attendance_modes) == 1 and not form.attendance_mode.data:
        form.attendance_mode.data = event.attendance_modes[0].value
    form.organization_type.choices = _ORGANIZATION_TYPE_CHOICES
    form.prefecture.choices = _prefecture_choices(language)
    form.municipality.choices = _municipality_choices(form.prefecture.data or "")


@lru_cache(maxsize=64)
def _municipality_choices(prefecture_code: str) -> list[SelectChoice]:
    return options([("", _l("Please choose"))] + [
        (m.code, m.label) for m in geo.municipalities(prefecture_code)
    ])


def question_answers(form: SignupFormBase, event: Event) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for question in event.questions:
        value = getattr(form, f"q_{question.key}").data
        if question.kind is QuestionKind.TEXT:
            value = (value or "").strip()
        elif question.kind is QuestionKind.MULTIPLE_CHOICE:
            value = list(value or [])
        if value not in (None, "", []):
            answers[question.key] = value
    return answers


def ranked_preferences(form: FlaskForm, event: Event) -> list[int]:
    ranked: list[int] = []
    for rank in range(1, event.max_preference_ranks + 1):
        field = getattr(form, f"preference_{rank}", None)
        if field is not None and field.data:
            ranked.append(int(field.data))
    return ranked


def preference_fields(form: FlaskForm) -> list[Field]:
    return [field for name, field in form._fields.items() if name.startswith("preference_")]


def question_fields(form: FlaskForm) -> list[Field]:
    return [field for name, field in form._fields.items() if name.startswith("q_")]


def validate_distinct_preferences(form: FlaskForm) -> bool:
    seen: set[str] = set()
    valid = True
    for rank, field in enumerate(preference_fields(form), start=1):
        if field.data and field.data in seen:
            field.errors = [*field.errors, _l(
                "Choice %(rank)d: please choose a group you have not chosen already.",
                rank=rank)]
            valid = False
        seen.add(field.data)
    return valid
