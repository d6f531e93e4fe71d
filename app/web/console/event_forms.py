"""Forms of the event pages, and their translation into the inputs of app.services.events.

Fields parse what the browser sends (Tokyo-local dates and times, lines of text); the rules
of the domain (an end after its start, a capacity above the seats taken) are the service's,
which names the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext, ngettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.i18n import TOKYO
from app.models import Event, Question
from app.models.enums import (
    EventFormat,
    EventKind,
    MembershipRole,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    SessionKind,
)
from app.services.email_confirmation import confirmation_hours
from app.services.events import (
    EventDetails,
    GroupInput,
    PersonInput,
    QuestionInput,
    RegistrationSettings,
    SessionInput,
)
from app.web.public.forms import options

REQUIRED = _l("This field is required.")


def _at_most(limit: int) -> Length:
    return Length(max=limit, message=_l("Please use at most %(max)d characters."))


KIND_LABELS = {
    EventKind.EXHIBITION: _l("Exhibition"),
    EventKind.LECTURE: _l("Lecture"),
    EventKind.FESTIVAL: _l("Festival"),
    EventKind.OTHER: _l("Event"),
}
FORMAT_LABELS = {
    EventFormat.IN_PERSON: lazy_pgettext("event format", "At a venue"),
    EventFormat.ONLINE: lazy_pgettext("event format", "Online"),
    EventFormat.HYBRID: _l("At a venue and online"),
}
SESSION_KIND_LABELS = {
    SessionKind.OPENING: _l("Opening"),
    SessionKind.KEYNOTE: _l("Keynote"),
    SessionKind.CASE_TALK: _l("Case talk"),
    SessionKind.BREAKOUT: _l("Breakout discussion"),
    SessionKind.PANEL: _l("Panel"),
    SessionKind.OTHER: _l("Other"),
}
PERSON_ROLE_LABELS = {
    PersonRole.MODERATOR: _l("Moderator"),
    PersonRole.SPEAKER: _l("Speaker"),
    PersonRole.FACILITATOR: _l("Facilitator"),
}
QUESTION_KIND_LABELS = {
    QuestionKind.TEXT: _l("Text"),
    QuestionKind.SINGLE_CHOICE: _l("Single choice"),
    QuestionKind.MULTIPLE_CHOICE: _l("Multiple choice"),
}
REGISTRATION_MODE_LABELS = {
    RegistrationMode.FIRST_COME: _l("First come, first served"),
    RegistrationMode.LOTTERY: _l("Lottery"),
}
MEMBERSHIP_ROLE_LABELS = {
    MembershipRole.ORGANIZER: _l("Organiser (may change the event)"),
    MembershipRole.VIEWER: _l("Viewer (read only)"),
}

# For the templates: labels.session[item.kind] and so on.
LABELS = {
    "session": SESSION_KIND_LABELS,
    "person": PERSON_ROLE_LABELS,
    "question": QUESTION_KIND_LABELS,
    "membership": MEMBERSHIP_ROLE_LABELS,
}


# --- Fields ---------------------------------------------------------------------------------


class LocalDateTimeField(DateTimeLocalField):
    """A date and time in Tokyo; its data is an aware datetime."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["format"] = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                            "%Y-%m-%dT%H:%M:%S"]
        super().__init__(*args, **kwargs)

    def process_data(self, value: Any) -> None:
        self.data = value.astimezone(TOKYO) if isinstance(value, datetime) else None

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        for pattern in self.strptime_format:
            try:
                self.data = datetime.strptime(text, pattern).replace(tzinfo=TOKYO)
                return
            except ValueError:
                continue
        raise ValueError(_l("Please enter a date and time, like 2025-04-01 14:00."))


class LocalTimeField(TimeField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["format"] = ["%H:%M", "%H:%M:%S"]
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        for pattern in self.strptime_format:
            try:
                self.data = datetime.strptime(text, pattern).time()
                return
            except ValueError:
                continue
        raise ValueError(_l("Please enter a time, like 10:00."))


class CountField(IntegerField):
    """A whole number, or None when left empty."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            self.data = int(text)
        except ValueError:
            raise ValueError(_l("Please enter a whole number.")) from None


class LinesField(TextAreaField):
    """One item per line; empty lines are dropped."""

    def process_data(self, value: Any) -> None:
        self.data = list(value or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]) if valuelist else ""
        self.data = [line.strip() for line in text.splitlines() if line.strip()]

    def _value(self) -> str:
        return "\n".join(str(item) for item in self.data or [])


class DateLinesField(LinesField):
    """One date per line, like 2025-04-01 (or 2025/04/01)."""

    def process_data(self, value: Any) -> None:
        self.data = [date.fromisoformat(day) if isinstance(day, str) else day
                     for day in value or []]

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        days = []
        for number, line in enumerate(self.data, start=1):
            try:
                days.append(date.fromisoformat(line.replace("/", "-")))
            except ValueError:
                self.data = []
                raise ValueError(_l("Line %(line)d is not a date like 2025-04-01.",
                                    line=number)) from None
        self.data = days

    def _value(self) -> str:
        return "\n".join(day.isoformat() for day in self.data or [])


def web_address(_form: FlaskForm, field: Field) -> None:
    """http(s) only: these addresses become links, and a javascript: link would run."""
    if not field.data:
        return
    parts = urlsplit(field.data.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in field.data.strip():
        raise ValidationError(_l("Please enter a full web address starting with https://."))


def _choices(labels: dict[Any, Any]) -> list[Any]:
    return options((key.value, label) for key, label in labels.items())


# --- Event ----------------------------------------------------------------------------------


class EventForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(message=REQUIRED), _at_most(200)])
    kind = SelectField(_l("Kind of event"), choices=_choices(KIND_LABELS),
                       validators=[InputRequired(message=REQUIRED)])
    format = RadioField(_l("How people take part"), choices=_choices(FORMAT_LABELS),
                        validators=[InputRequired(message=REQUIRED)])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired(message=REQUIRED)],
                                   description=_l("Tokyo time. Moving the start moves the "
                                                  "programme with it."))
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired(message=REQUIRED)],
                                 description=_l("For an exhibition, its last day."))
    summary = TextAreaField(_l("Summary"), validators=[_at_most(500)],
                            description=_l("One or two sentences for the list of events."))
    body = TextAreaField(_l("Description"), validators=[_at_most(20000)])
    themes = LinesField(_l("Themes"), description=_l("One per line."))
    venue_name = StringField(_l("Venue"), validators=[_at_most(200)])
    venue_address = StringField(_l("Address of the venue"), validators=[_at_most(300)],
                                description=_l("A map link is made from the address."))
    online_url = StringField(_l("Online meeting link"), validators=[_at_most(500), web_address],
                             description=_l("Shown only to confirmed participants."))
    daily_opens_at = LocalTimeField(_l("Opens daily at"), validators=[Optional()],
                                    description=_l("Exhibitions: opening hours, like 10:00."))
    daily_closes_at = LocalTimeField(_l("Closes daily at"), validators=[Optional()])
    closed_dates = DateLinesField(_l("Closed days"),
                                  description=_l("Exhibitions: one date per line, like "
                                                 "2025-04-01."))
    organizer_name = StringField(_l("Organiser"), validators=[_at_most(200)])
    contact = StringField(_l("Contact"), validators=[_at_most(300)])
    website_url = StringField(_l("Website"), validators=[_at_most(500), web_address])
    slug = StringField(_l("Web address"), validators=[_at_most(80)],
                       description=_l("The end of the event's address, like tokyo-expo-2025. "
                                      "Left empty, one is made for you. It cannot change once "
                                      "the event is published."))
    submit = SubmitField(_l("Save"))

    def details(self) -> EventDetails:
        assert self.starts_at.data and self.ends_at.data  # InputRequired, and parsed
        return EventDetails(
            kind=EventKind(self.kind.data), format=EventFormat(self.format.data),
            title=self.title.data or "", starts_at=self.starts_at.data,
            ends_at=self.ends_at.data, slug=(self.slug.data or "").strip(),
            summary=self.summary.data or "", body=self.body.data or "",
            themes=list(self.themes.data or []), organizer_name=self.organizer_name.data or "",
            contact=self.contact.data or "", website_url=self.website_url.data or "",
            venue_name=self.venue_name.data or "", venue_address=self.venue_address.data or "",
            online_url=self.online_url.data or "", daily_opens_at=self.daily_opens_at.data,
            daily_closes_at=self.daily_closes_at.data,
            closed_dates=list(self.closed_dates.data or []),
        )


def event_form(event: Event | None) -> EventForm:
    if event is None:
        return EventForm()
    return EventForm(obj=event, kind=event.kind.value, format=event.format.value)


# --- Registration settings ------------------------------------------------------------------

TIER_PATTERN = re.compile(r"^\s*([^:：]+?)\s*[:：]\s*(.+?)\s*$")


def tiers_text(tiers: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"{rule['question']}: {' | '.join(rule.get('any_of', []))}"
                     for rule in tiers)


class TiersField(TextAreaField):
    """Lottery priority tiers, one per line: `key: option | option`."""

    def process_data(self, value: Any) -> None:
        self.data = list(value or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]) if valuelist else ""
        tiers = []
        for number, line in enumerate(
                (line for line in text.splitlines() if line.strip()), start=1):
            match = TIER_PATTERN.match(line)
            answers = [part.strip() for part in match.group(2).split("|")] if match else []
            if match is None or not all(answers):
                self.data = []
                raise ValueError(_l("Tier %(number)d: please write the question's key, a colon, "
                                    "then the answers separated by |.", number=number))
            tiers.append({"question": match.group(1), "any_of": answers})
        self.data = tiers

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return tiers_text(self.data or [])


class SettingsForm(FlaskForm):
    registration_required = BooleanField(_l("People register for this event"))
    registration_opens_at = LocalDateTimeField(
        _l("Registration opens"), validators=[Optional()],
        description=_l("Tokyo time. Empty: as soon as the event is published."))
    registration_closes_at = LocalDateTimeField(
        _l("Registration closes"), validators=[Optional()],
        description=_l("Empty: when the event starts (exhibitions: when they end)."))
    capacity_in_person = CountField(
        _l("Seats at the venue"), validators=[Optional(), NumberRange(
            min=0, message=_l("Please enter 0 or more, or leave empty for no limit."))],
        description=_l("Empty: no limit. Raising it confirms people waiting, in order."))
    capacity_online = CountField(
        _l("Online places"), validators=[Optional(), NumberRange(
            min=0, message=_l("Please enter 0 or more, or leave empty for no limit."))],
        description=_l("Empty: no limit. Raising it confirms people waiting, in order."))
    waitlist_enabled = BooleanField(_l("Keep a waiting list when full"))
    # Its description names the configured lifetime of the links: see settings_form().
    confirm_email_address = BooleanField(_l("Ask people to confirm their email address"))
    registration_mode = RadioField(_l("How places are given"),
                                   choices=_choices(REGISTRATION_MODE_LABELS),
                                   validators=[InputRequired(message=REQUIRED)])
    lottery_draw_at = LocalDateTimeField(
        _l("Date of the draw"), validators=[Optional()],
        description=_l("Lottery only: entries close then, before the event."))
    lottery_tiers = TiersField(
        _l("Priority tiers"),
        description=_l("Lottery only, highest priority first, one per line: the question's "
                       "key, a colon, then the answers that qualify, separated by |. "
                       "Example: residence: 区内在住 | 区内在勤・在学"))
    max_preference_ranks = CountField(
        _l("Breakout group choices per person"),
        validators=[InputRequired(message=REQUIRED),
                    NumberRange(min=0, max=10, message=_l("Please enter a number from 0 to "
                                                          "%(max)d."))],
        description=_l("0: people do not choose groups."))
    submit = SubmitField(_l("Save settings"))

    def settings(self, event: Event) -> RegistrationSettings:
        capacities = {mode: getattr(self, f"capacity_{mode.value}").data
                      for mode in event.attendance_modes}
        return RegistrationSettings(
            registration_required=bool(self.registration_required.data),
            registration_opens_at=self.registration_opens_at.data,
            registration_closes_at=self.registration_closes_at.data,
            registration_mode=RegistrationMode(self.registration_mode.data),
            lottery_draw_at=self.lottery_draw_at.data,
            lottery_tiers=list(self.lottery_tiers.data or []),
            waitlist_enabled=bool(self.waitlist_enabled.data),
            confirm_email_address=bool(self.confirm_email_address.data),
            max_preference_ranks=self.max_preference_ranks.data or 0,
            capacities=capacities,
        )


def settings_form(event: Event) -> SettingsForm:
    pools: dict[str, Any] = {f"capacity_{pool.mode.value}": pool.capacity
                             for pool in event.seat_pools}
    form = SettingsForm(obj=event, registration_mode=event.registration_mode.value, **pools)
    form.confirm_email_address.description = ngettext(
        "After sending the form, people get an email with a link: the registration is made, "
        "and a place given, only when they open it and confirm. This keeps out mistyped "
        "addresses and other people's. Links expire after %(num)d hour; unconfirmed "
        "sign-ups are not registrations and are deleted then.",
        "After sending the form, people get an email with a link: the registration is made, "
        "and a place given, only when they open it and confirm. This keeps out mistyped "
        "addresses and other people's. Links expire after %(num)d hours; unconfirmed "
        "sign-ups are not registrations and are deleted then.",
        confirmation_hours())
    return form


def capacity_fields(form: SettingsForm, event: Event) -> list[Field]:
    return [getattr(form, f"capacity_{mode.value}") for mode in event.attendance_modes]


# --- Programme ------------------------------------------------------------------------------


class SessionPersonForm(Form):
    """One speaker row of a session; rows left without a name are ignored."""

    role = SelectField(_l("Role in the programme"), choices=_choices(PERSON_ROLE_LABELS),
                       default=PersonRole.SPEAKER.value)
    name = StringField(_l("Name"), validators=[_at_most(100)])
    affiliation = StringField(_l("Affiliation"), validators=[_at_most(300)])
    title = StringField(_l("Position"), validators=[_at_most(200)])


EXTRA_PERSON_ROWS = 2
MAX_PEOPLE_PER_SESSION = 20


class SessionForm(FlaskForm):
    kind = SelectField(_l("Kind of session"), choices=_choices(SESSION_KIND_LABELS),
                       validators=[InputRequired(message=REQUIRED)])
    title = StringField(_l("Title"), validators=[DataRequired(message=REQUIRED), _at_most(300)])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired(message=REQUIRED)])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired(message=REQUIRED)])
    description = TextAreaField(_l("Description"), validators=[_at_most(5000)])
    people = FieldList(FormField(SessionPersonForm), label=_l("Speakers"),
                       max_entries=MAX_PEOPLE_PER_SESSION)
    submit = SubmitField(_l("Save session"))

    def session_input(self) -> SessionInput:
        people = [
            PersonInput(role=PersonRole(row.form.role.data), name=row.form.name.data or "",
                        affiliation=row.form.affiliation.data or "",
                        title=row.form.title.data or "")
            for row in self.people if (row.form.name.data or "").strip()
        ]
        assert self.starts_at.data and self.ends_at.data  # InputRequired, and parsed
        return SessionInput(kind=SessionKind(self.kind.data), title=self.title.data or "",
                            starts_at=self.starts_at.data, ends_at=self.ends_at.data,
                            description=self.description.data or "", people=people)


def session_form(event: Event, item: Any = None) -> SessionForm:
    """The form of a session (a new one starts with the event), with empty speaker rows."""
    if item is None:
        form = SessionForm(starts_at=event.starts_at, ends_at=event.starts_at)
        existing = 0
    else:
        form = SessionForm(obj=item, kind=item.kind.value, people=[
            {"role": person.role.value, "name": person.name, "affiliation": person.affiliation,
             "title": person.title} for person in item.people])
        existing = len(item.people)
    # A form posted back already has its rows; a fresh one gets room for new speakers.
    while len(form.people) < min(existing + EXTRA_PERSON_ROWS, MAX_PEOPLE_PER_SESSION):
        form.people.append_entry()
    return form


class PersonForm(FlaskForm):
    role = SelectField(_l("Role in the programme"), choices=_choices(PERSON_ROLE_LABELS),
                       default=PersonRole.MODERATOR.value,
                       validators=[InputRequired(message=REQUIRED)])
    name = StringField(_l("Name"), validators=[DataRequired(message=REQUIRED), _at_most(100)])
    affiliation = StringField(_l("Affiliation"), validators=[_at_most(300)])
    title = StringField(_l("Position"), validators=[_at_most(200)])
    submit = SubmitField(_l("Add person"))

    def person(self) -> PersonInput:
        return PersonInput(role=PersonRole(self.role.data), name=self.name.data or "",
                           affiliation=self.affiliation.data or "",
                           title=self.title.data or "")


# --- Breakout groups ------------------------------------------------------------------------


class GroupForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=REQUIRED), _at_most(100)])
    theme = TextAreaField(_l("Theme"), validators=[_at_most(2000)])
    facilitator_name = StringField(_l("Facilitator"), validators=[_at_most(100)])
    facilitator_affiliation = StringField(_l("Facilitator's affiliation"),
                                          validators=[_at_most(300)])
    capacity = CountField(_l("Capacity"), validators=[Optional(), NumberRange(
        min=0, message=_l("Please enter 0 or more, or leave empty for no limit."))],
        description=_l("Empty: no limit."))
    room = StringField(_l("Room or online room"), validators=[_at_most(500)])
    session_id = SelectField(_l("Programme session"), validate_choice=True,
                             validators=[Optional()])
    submit = SubmitField(_l("Save group"))

    def group(self) -> GroupInput:
        return GroupInput(name=self.name.data or "", theme=self.theme.data or "",
                          facilitator_name=self.facilitator_name.data or "",
                          facilitator_affiliation=self.facilitator_affiliation.data or "",
                          capacity=self.capacity.data, room=self.room.data or "",
                          session_id=int(self.session_id.data) if self.session_id.data else None)


def group_form(event: Event, group: Any = None) -> GroupForm:
    form = GroupForm(obj=group) if group is not None else GroupForm()
    if group is not None and not form.is_submitted():
        form.session_id.data = str(group.session_id or "")
    form.session_id.choices = options([("", _l("(none)"))] + [
        (str(item.id), item.title) for item in event.sessions])
    return form


# --- Custom questions -----------------------------------------------------------------------


class QuestionForm(FlaskForm):
    label = StringField(_l("Question"), validators=[DataRequired(message=REQUIRED),
                                                    _at_most(300)])
    kind = SelectField(_l("Type of answer"), choices=_choices(QUESTION_KIND_LABELS),
                       validators=[InputRequired(message=REQUIRED)])
    options = LinesField(_l("Options"), description=_l("Choice questions: one option per line."))
    required = BooleanField(_l("An answer is required"))
    label_en = StringField(_l("Question in English"), validators=[_at_most(300)],
                           description=_l("Optional: shown on the English form."))
    options_en = LinesField(_l("Options in English"),
                            description=_l("Optional: one per line, in the same order."))
    help_text = StringField(_l("Hint"), validators=[_at_most(500)])
    max_length = CountField(_l("Longest answer (characters)"), validators=[Optional()],
                            description=_l("Text questions. Empty: 1000."))
    key = StringField(_l("Key"), validators=[_at_most(40)],
                      description=_l("The answer's column in exports and lottery tiers, like "
                                     "residence. Empty: one is made for you. It cannot change "
                                     "later."))
    submit = SubmitField(_l("Save question"))

    def question(self) -> QuestionInput:
        return QuestionInput(kind=QuestionKind(self.kind.data), label=self.label.data or "",
                             label_en=self.label_en.data or "",
                             help_text=self.help_text.data or "",
                             options=list(self.options.data or []),
                             options_en=list(self.options_en.data or []),
                             required=bool(self.required.data), max_length=self.max_length.data,
                             key=(self.key.data or "").strip())


def question_form(question: Question | None = None) -> QuestionForm:
    if question is None:
        return QuestionForm()
    return QuestionForm(obj=question, kind=question.kind.value)


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[AnyOf(["up", "down"])])


# --- Members and actions --------------------------------------------------------------------


class MemberForm(FlaskForm):
    email = EmailField(_l("Email address of their account"), validators=[
        DataRequired(message=_l("Please enter your email address.")),
        Email(message=_l("Please enter a valid email address, like taro@example.jp."),
              check_deliverability=False), _at_most(254)])
    role = RadioField(_l("Access"), choices=_choices(MEMBERSHIP_ROLE_LABELS),
                      default=MembershipRole.VIEWER.value,
                      validators=[InputRequired(message=REQUIRED)])
    breakout_group_id = SelectField(_l("Limit to one breakout group"), validators=[Optional()],
                                    description=_l("Viewers only: a facilitator sees only their "
                                                   "group's roster."))
    submit = SubmitField(_l("Give access"))


def member_form(event: Event) -> MemberForm:
    form = MemberForm()
    form.breakout_group_id.choices = options([("", _l("(all of the event)"))] + [
        (str(group.id), group.name) for group in event.breakout_groups])
    return form


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason, sent to every registrant"), validators=[
        DataRequired(message=_l("Please give the reason: it is sent to the registrants.")),
        _at_most(1000)])
    submit = SubmitField(_l("Cancel the event"))
