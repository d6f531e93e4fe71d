"""What the API reads and writes, as marshmallow schemas; the OpenAPI document is made of them.

Output schemas read the models (or the services' result objects) by attribute. Input
schemas check types, lengths and ranges the way the console's forms do, so that nothing
reaches a service that the database would refuse; the services then apply their own rules.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, fields, missing

from app.models.attendance import ImportStatus, ReportKind
from app.models.breakouts import RoundStatus
from app.models.checkin import CheckInMethod
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    EventKind,
    EventStatus,
    OrganizationType,
    PersonRole,
    QuestionKind,
    RegistrationMode,
    RegistrationStatus,
    SessionKind,
    SignupState,
)
from app.services import exports, registrants
from app.services.breakouts import ATTRIBUTES, MAX_PENALTY
from app.services.checkin import Outcome
from app.web.api.fields import (
    MAX_ID,
    Boolean,
    Date,
    DateTime,
    Dict,
    Enum,
    Integer,
    Length,
    List,
    OneOf,
    Pattern,
    Range,
    Text,
    Time,
    Upload,
    identifier,
    web_address,
)
from app.web.api.paging import DEFAULT_PER_PAGE, PER_PAGE_CHOICES


class ApiSchema(Schema):
    class Meta:
        unknown = RAISE  # a misspelt field is an error, not silently ignored

    error_messages = {  # noqa: RUF012 (marshmallow's own option)
        "unknown": _l("Unknown field."),
        "type": _l("Please send a JSON object."),
    }


class Section(fields.Nested):
    """Some of the object's own attributes, grouped under one name."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing
                  ) -> Any:
        return obj


# --- Errors and pages -----------------------------------------------------------------------


class ProblemSchema(ApiSchema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(required=True)
    code = fields.String(metadata={"description": "The kind of refusal, for programs."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Messages per invalid field."})


class PageMetaSchema(ApiSchema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


def page_of(item: type[Schema]) -> type[Schema]:
    """The envelope of one page of `item`s."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (ApiSchema,), {
        "data": fields.List(fields.Nested(item), required=True),
        "meta": fields.Nested(PageMetaSchema, required=True),
    })


class PageArgsSchema(ApiSchema):
    page = Integer(load_default=1, validate=Range(min=1, max=100_000),
                   metadata={"description": "A page past the end answers the last one."})
    per_page = Integer(load_default=DEFAULT_PER_PAGE, validate=OneOf(PER_PAGE_CHOICES))


# --- Events ---------------------------------------------------------------------------------

_STATES = [state.value for state in SignupState]


class PublicEventSchema(ApiSchema):
    """What anyone may know of a published event: no personal data, no meeting link."""

    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    kind = fields.Enum(EventKind, by_value=True, required=True)
    format = fields.Enum(EventFormat, by_value=True, required=True)
    status = fields.Enum(EventStatus, by_value=True, required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    venue_name = fields.String(required=True)
    venue_address = fields.String(required=True)
    organizer_name = fields.String(required=True)
    website_url = fields.String(required=True)
    themes = fields.List(fields.String(), required=True)
    registration_state = fields.String(required=True, metadata={"enum": _STATES})
    page_url = fields.String(required=True, metadata={"format": "uri"})


class PublicListArgsSchema(PageArgsSchema):
    kind = Enum(EventKind)
    format = Text(validate=OneOf(("online", "in_person")),
                  metadata={"description": "online: online or hybrid; in_person: at a venue "
                                           "or hybrid."})
    month = Text(validate=Pattern(r"^20\d\d-(0[1-9]|1[0-2])$"),
                 metadata={"description": "Events running in this month (Tokyo), like "
                                          "2025-04."})


class EventListArgsSchema(PageArgsSchema):
    status = Enum(EventStatus)


class SeatPoolSchema(ApiSchema):
    mode = fields.Enum(AttendanceMode, by_value=True, required=True)
    capacity = fields.Integer(required=True, allow_none=True,
                              metadata={"description": "null: no limit."})


class RegistrationSettingsSchema(ApiSchema):
    required = fields.Boolean(attribute="registration_required", required=True)
    opens_at = fields.DateTime(attribute="registration_opens_at", required=True,
                               allow_none=True)
    closes_at = fields.DateTime(attribute="registration_closes_at", required=True,
                                allow_none=True)
    mode = fields.Enum(RegistrationMode, by_value=True, attribute="registration_mode",
                       required=True)
    waitlist_enabled = fields.Boolean(required=True)
    confirm_email_address = fields.Boolean(
        required=True, metadata={"description": "Sign-ups count only once the person has "
                                 "confirmed their address with the link e-mailed to them."})
    lottery_draw_at = fields.DateTime(required=True, allow_none=True)
    lottery_drawn_at = fields.DateTime(required=True, allow_none=True)
    max_preference_ranks = fields.Integer(required=True)


class EventSchema(PublicEventSchema):
    """An event as its organizers see it. It holds no live figures (see /stats), so that its
    ETag changes only when the event itself does."""

    body = fields.String(required=True)
    contact = fields.String(required=True)
    online_url = fields.String(required=True)
    timezone = fields.String(required=True)
    daily_opens_at = fields.Time(required=True, allow_none=True)
    daily_closes_at = fields.Time(required=True, allow_none=True)
    closed_dates = fields.List(fields.String(metadata={"format": "date"}), required=True)
    registration = Section(RegistrationSettingsSchema, required=True)
    seat_pools = fields.List(fields.Nested(SeatPoolSchema), required=True)
    created_at = fields.DateTime(required=True)


class EventPatchSchema(ApiSchema):
    """The event's details; fields left out keep their value. Time and place changes are
    e-mailed to the registrants, as in the console."""

    title = Text(validate=Length(min=1, max=200))
    kind = Enum(EventKind)
    format = Enum(EventFormat)
    starts_at = DateTime()
    ends_at = DateTime()
    slug = Text(validate=Length(max=80), metadata={"description": "Drafts only."})
    summary = Text(validate=Length(max=500))
    body = Text(validate=Length(max=20000))
    themes = List(Text(validate=Length(min=1, max=100)), validate=Length(max=30))
    organizer_name = Text(validate=Length(max=200))
    contact = Text(validate=Length(max=300))
    website_url = Text(validate=[Length(max=500), web_address])
    venue_name = Text(validate=Length(max=200))
    venue_address = Text(validate=Length(max=300))
    online_url = Text(validate=[Length(max=500), web_address])
    daily_opens_at = Time(allow_none=True)
    daily_closes_at = Time(allow_none=True)
    closed_dates = List(Date(), validate=Length(max=366))


class PersonSchema(ApiSchema):
    id = fields.Integer(required=True)
    role = fields.Enum(PersonRole, by_value=True, required=True)
    name = fields.String(required=True)
    affiliation = fields.String(required=True)
    title = fields.String(required=True)


class ProgrammeSessionSchema(ApiSchema):
    id = fields.Integer(required=True)
    kind = fields.Enum(SessionKind, by_value=True, required=True)
    position = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    people = fields.List(fields.Nested(PersonSchema), required=True)


class BreakoutGroupSchema(ApiSchema):
    id = fields.Integer(required=True)
    session_id = fields.Integer(required=True, allow_none=True)
    position = fields.Integer(required=True)
    name = fields.String(required=True)
    theme = fields.String(required=True)
    facilitator_name = fields.String(required=True)
    facilitator_affiliation = fields.String(required=True)
    capacity = fields.Integer(required=True, allow_none=True)
    room = fields.String(required=True)


class QuestionSchema(ApiSchema):
    key = fields.String(required=True)
    kind = fields.Enum(QuestionKind, by_value=True, required=True)
    label = fields.String(required=True)
    options = fields.List(fields.String(), required=True)
    required = fields.Boolean(required=True)
    max_length = fields.Integer(required=True, allow_none=True)


# --- Registrations --------------------------------------------------------------------------


class RegistrationSchema(ApiSchema):
    id = fields.Integer(required=True)
    event_id = fields.Integer(required=True)
    status = fields.Enum(RegistrationStatus, by_value=True, required=True)
    attendance_mode = fields.Enum(AttendanceMode, by_value=True, required=True)
    name = fields.String(required=True)
    furigana = fields.String(required=True)
    email = fields.String(required=True)
    organization_name = fields.String(required=True)
    organization_type = fields.Enum(OrganizationType, by_value=True, required=True)
    prefecture_code = fields.String(required=True)
    municipality_code = fields.String(required=True)
    language = fields.String(required=True)
    answers = fields.Dict(keys=fields.String(), required=True,
                          metadata={"description": "Answers by question key: a text, an "
                                                   "option, or a list of options."})
    preferences = fields.Pluck("PreferenceSchema", "group_id", many=True, required=True,
                               metadata={"description": "Breakout group ids, first choice "
                                                        "first."})
    created_at = fields.DateTime(required=True)
    confirmed_at = fields.DateTime(required=True, allow_none=True)
    cancelled_at = fields.DateTime(required=True, allow_none=True)


class PreferenceSchema(ApiSchema):
    group_id = fields.Integer(required=True)


class RegistrationListArgsSchema(PageArgsSchema):
    status = Text(load_default="", validate=OneOf(registrants.STATUS_FILTERS),
                  metadata={"description": "One status, or `active` for every active one."})
    q = Text(load_default="", validate=Length(max=200),
             metadata={"description": "Words to find in name, reading, email, organisation."})
    sort = Text(load_default=registrants.DEFAULT_SORT, validate=OneOf(list(registrants.SORTS)))


class RegistrationCreateSchema(ApiSchema):
    """A registration received by phone, on paper or at the door: a seat, the waiting list or
    the lottery, as for a sign-up; the registration window is not checked."""

    attendance_mode = Enum(AttendanceMode, required=True, metadata={"example": "in_person"})
    name = Text(required=True, validate=Length(min=1, max=100),
                metadata={"example": "佐藤 花子"})
    furigana = Text(required=True, validate=Length(min=1, max=100),
                    metadata={"example": "さとう はなこ",
                              "description": "The reading of the name, in kana."})
    email = Text(required=True, validate=Length(min=1, max=254),
                 metadata={"example": "hanako@example.jp"})
    organization_name = Text(load_default="", validate=Length(max=200),
                             metadata={"example": "台東区"})
    organization_type = Enum(OrganizationType, required=True,
                             metadata={"example": "municipality"})
    prefecture_code = Text(required=True, validate=Length(min=1, max=2),
                           metadata={"example": "13", "description": "JIS X 0401."})
    municipality_code = Text(required=True, validate=Length(min=1, max=5),
                             metadata={"example": "13106",
                                       "description": "The five-digit local government "
                                                      "code, without its check digit."})
    language = Text(load_default="ja", validate=OneOf(("ja", "en")))
    answers = Dict(keys=Text(validate=Length(max=40)), load_default=dict,
                   validate=Length(max=100))
    preferences = List(identifier(), load_default=list, validate=Length(max=10))
    source = Text(load_default="other", validate=OneOf(list(registrants.SOURCES)))
    note = Text(load_default="", validate=Length(max=500))
    notify = Boolean(load_default=True,
                     metadata={"description": "E-mail the person about their place."})


class CancelSchema(ApiSchema):
    reason = Text(load_default="", validate=Length(max=registrants.MAX_REASON),
                  metadata={"description": "Sent to the person."})


class CancelResultSchema(ApiSchema):
    registration = fields.Nested(RegistrationSchema, required=True)
    promoted_registration_id = fields.Integer(required=True, allow_none=True)


# --- Check-in -------------------------------------------------------------------------------


class CheckInSchema(ApiSchema):
    code = Text(required=True, validate=Length(min=1, max=40),
                metadata={"description": "The check-in code of the QR code, like 123-ABCD2345."})
    day = Date(metadata={"description": "Default: today in Tokyo."})
    method = Enum(CheckInMethod, load_default=CheckInMethod.QR,
                  metadata={"enum": [CheckInMethod.QR.value, CheckInMethod.MANUAL.value]})
    nonce = Text(validate=[Length(min=8, max=64), Pattern(r"^[A-Za-z0-9_-]+$")],
                 metadata={"description": "Sent again with a retried request, it makes sure "
                                          "the entry is recorded once."})


class CheckInResultSchema(ApiSchema):
    outcome = fields.Enum(Outcome, by_value=True, required=True)
    check_in_id = fields.Integer(required=True)
    registration_id = fields.Integer(required=True)
    name = fields.String(required=True)
    day = fields.Date(required=True)
    checked_in_at = fields.DateTime(required=True)
    replayed = fields.Boolean(required=True)


# --- Statistics -----------------------------------------------------------------------------


class BreakdownSchema(ApiSchema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    signups = fields.Integer(required=True)
    confirmed = fields.Integer(required=True)
    attended = fields.Integer(required=True)
    rate = fields.Float(required=True, allow_none=True)


class StatusCountsSchema(ApiSchema):
    confirmed = fields.Integer(required=True)
    waitlisted = fields.Integer(required=True)
    lottery_pending = fields.Integer(required=True)
    not_drawn = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    signups = fields.Integer(required=True)


class AttendanceFiguresSchema(ApiSchema):
    has_data = fields.Boolean(required=True)
    confirmed = fields.Integer(required=True)
    attended = fields.Integer(required=True)
    attended_unconfirmed = fields.Integer(required=True)
    unmatched = fields.Integer(required=True)
    visitors = fields.Integer(required=True)
    no_shows = fields.Integer(required=True)
    rate = fields.Float(required=True, allow_none=True)


class DayCountSchema(ApiSchema):
    day = fields.Date(required=True)
    count = fields.Integer(required=True)
    cumulative = fields.Integer(required=True)


class GroupTableSchema(ApiSchema):
    round_number = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "null: by first choice."})
    lines = fields.List(fields.Nested(BreakdownSchema), required=True)


class DayFiguresSchema(ApiSchema):
    day = fields.Date(required=True)
    checked_in = fields.Integer(required=True)
    visitors = fields.Integer(required=True)
    total = fields.Integer(required=True)


class StatisticsSchema(ApiSchema):
    min_minutes = fields.Integer(required=True)
    status = fields.Nested(StatusCountsSchema, required=True)
    attendance = fields.Nested(AttendanceFiguresSchema, required=True)
    signups_by_day = fields.List(fields.Nested(DayCountSchema), required=True)
    by_mode = fields.List(fields.Nested(BreakdownSchema), required=True)
    by_prefecture = fields.List(fields.Nested(BreakdownSchema), required=True)
    by_organization_type = fields.List(fields.Nested(BreakdownSchema), required=True)
    by_group = fields.List(fields.Nested(GroupTableSchema), required=True)
    days = fields.List(fields.Nested(DayFiguresSchema), required=True)


# --- Breakouts ------------------------------------------------------------------------------


class SeatSchema(ApiSchema):
    registration_id = fields.Integer(required=True)
    pinned = fields.Boolean(required=True)
    told = fields.Boolean(required=True)


class RoundGroupSchema(ApiSchema):
    group_id = fields.Integer(required=True)
    name = fields.String(required=True)
    capacity = fields.Integer(required=True, allow_none=True)
    members = fields.List(fields.Nested(SeatSchema), required=True)


class RoundSchema(ApiSchema):
    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    session_id = fields.Integer(required=True, allow_none=True)
    status = fields.Enum(RoundStatus, by_value=True, required=True)
    diversity = fields.List(fields.String(), required=True)
    penalty = fields.Integer(required=True)
    locked_at = fields.DateTime(required=True, allow_none=True)
    published_at = fields.DateTime(required=True, allow_none=True)
    groups = fields.List(fields.Nested(RoundGroupSchema), required=True)


class RoundCreateSchema(ApiSchema):
    session_id = Integer(strict=True, load_default=None, allow_none=True,
                         validate=Range(min=1, max=MAX_ID),
                         metadata={"description": "The programme session whose groups the "
                                                  "round uses; null: every group."})


class RunSchema(ApiSchema):
    round_id = identifier(required=True)
    diversity = List(Text(validate=Length(min=1, max=20)), load_default=list,
                     validate=Length(max=20),
                     metadata={"description": "Attributes to spread across groups: "
                                              + ", ".join(ATTRIBUTES) + ", or roundN."})
    penalty = Integer(strict=True, load_default=2, validate=Range(min=0, max=MAX_PENALTY))


class RunResultSchema(ApiSchema):
    placed = fields.Integer(required=True)
    kept = fields.Integer(required=True)
    dropped = fields.Integer(required=True)
    round = fields.Nested(RoundSchema, required=True)


# --- Attendance imports ---------------------------------------------------------------------


class UploadSchema(ApiSchema):
    report = Upload(required=True, metadata={"description": "A Zoom or Teams attendance "
                                                            "report (CSV or XLSX)."})


class AttendanceImportSchema(ApiSchema):
    token = fields.String(required=True)
    status = fields.Enum(ImportStatus, by_value=True, required=True)
    kind = fields.Enum(ReportKind, by_value=True, required=True)
    filename = fields.String(required=True)
    title = fields.String(required=True)
    meeting_started_at = fields.DateTime(required=True, allow_none=True)
    people = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class ImportResultSchema(ApiSchema):
    matched = fields.Integer(required=True)
    unmatched = fields.Integer(required=True)
    replaced = fields.Integer(required=True)


# --- Exports --------------------------------------------------------------------------------


class ExportArgsSchema(ApiSchema):
    encoding = Text(load_default="utf-8-sig", validate=OneOf(exports.ENCODINGS))
    columns = Text(validate=Length(max=2000),
                   metadata={"description": "Comma-separated column keys; default: the "
                                            "export's usual columns, without personal data."})

