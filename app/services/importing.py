"""Bulk import of registrants from the spreadsheets Japanese offices produce.

Upload → column mapping → preview → accept. The file is kept in `import_batches` between
the steps, tied to the user and the event; nothing else is written until the organizer
accepts. Accepting re-reads and re-checks the file inside one write transaction and inserts
every valid row there, each taking a seat, the waiting list or the lottery as a sign-up
would: if any row cannot be placed, nothing at all is imported.

What arrives (see FORMATS.md, "Spreadsheets in Japanese offices"):
* CSV in UTF-8 with a BOM (Excel's "CSV UTF-8"), UTF-8 without one (most other tools), or
  Shift_JIS as Windows writes it (CP932, which also holds NEC and IBM extensions such as
  髙 and 﨑); UTF-16 tab-separated text, which is Excel's "Unicode text". We try UTF-8 first
  and then CP932 and say which one was used: text that is valid UTF-8 is practically never
  Shift_JIS, while CP932 accepts almost any bytes, so the order matters.
* XLSX, read with openpyxl in read-only mode (the first worksheet, values not formulas).
* Headers in Japanese or English, in many spellings: the mapping is guessed from aliases
  and the organizer corrects it. Rows are checked like the web form: kana reading, email
  syntax, prefecture and municipality names, duplicates within the file and against the
  event's active registrations. Row numbers are the ones the spreadsheet shows (header = 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import secrets
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.etree.ElementTree import ParseError

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app import geo
from app.database import SessionLike, write_transaction
from app.models import Event, ImportBatch, Question, Registration, User
from app.models.enums import (
    ACTIVE_STATUSES,
    AttendanceMode,
    OrganizationType,
    QuestionKind,
    RegistrationStatus,
)
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.registrants import (
    PersonInput,
    load_event_for_change,
    person_errors,
)
from app.services.registration import (
    AddedByOrganizer,
    AddressTaken,
    EventFull,
    RegistrationInput,
    add_registration,
)
from app.text import normalize_email, normalize_spaces

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
# Sheets formatted down to row 1,048,576 read as endless empty rows: stop after this many.
MAX_EMPTY_RUN = 1000
BATCH_LIFETIME = timedelta(hours=24)

ENCODING_LABELS = {
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-8": "UTF-8",
    "cp932": "Shift_JIS (CP932)",
    "utf-16": "UTF-16",
    "xlsx": "Excel (XLSX)",
}

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and other old Office files
# Controls never found in a spreadsheet's text; CP932 decodes stray bytes into them.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Characters a Japanese PC defined for itself (外字): nobody else's computer can show them.
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
_HEADER_NOISE = re.compile(r"[\s()\[\]{}【】「」<>*※:_\-・.]")
_LIST_SEPARATORS = re.compile(r"[、,，;；/／\n]+")


class ImportFileError(DomainError):
    """The file cannot be read as a table of registrants (422, next to the file field)."""

    code = "import_file"

    def __init__(self, message: Any) -> None:
        super().__init__(message, field="file")


class ImportMappingError(DomainError):
    """Some required fields have no column, or one column is used twice (422)."""

    code = "import_mapping"

    def __init__(self, errors: dict[str, Any]) -> None:
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)
        self.errors = errors


class ImportConflict(DomainError):
    """The import cannot be accepted as previewed; nothing was written (409)."""

    code = "import_conflict"


# --- Reading the file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    encoding: str
    headers: list[str]
    # (row number as the spreadsheet shows it, cells), empty rows left out.
    rows: list[tuple[int, list[str]]]

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS[self.encoding]

    def column_labels(self) -> list[str]:
        """"A: 氏名", as the organizer finds the column in Excel."""
        # openpyxl is imported where it is used: it costs ~0.15 s and ~20 MB in every
        # process that imports this module (all web workers), and imports are rare.
        from openpyxl.utils import get_column_letter

        return [f"{get_column_letter(index + 1)}: {header}"
                for index, header in enumerate(self.headers)]


def read_table(data: bytes, max_rows: int = MAX_IMPORT_ROWS) -> Table:
    """The header and rows of a CSV, TSV or XLSX file; raises ImportFileError."""
    if not data.strip():
        raise ImportFileError(_l("The file is empty."))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, max_rows)
    if data.startswith(_OLE_SIGNATURE):
        raise ImportFileError(_l("This is an old Excel file (.xls). Please save it as an Excel "
                                 "workbook (.xlsx) or as CSV and upload that."))
    encoding, text = _decode(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        return _table(encoding, enumerate(
            csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1), max_rows)
    except csv.Error as error:
        raise ImportFileError(_l("The file could not be read as CSV (%(error)s).",
                                 error=str(error))) from error


def _decode(data: bytes) -> tuple[str, str]:
    candidates = ["utf-16"] if data.startswith(_UTF16_BOMS) else ["utf-8-sig", "cp932"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _BINARY.search(text):
            continue
        if encoding == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8"
        return encoding, text.removeprefix("\ufeff")
    raise ImportFileError(_l(
        "The file could not be read as text in UTF-8 or Shift_JIS (CP932). Please save it "
        "from Excel as \"CSV UTF-8\" or as an Excel workbook (.xlsx) and upload that."))


def _read_xlsx(data: bytes, max_rows: int) -> Table:
    from openpyxl import load_workbook  # lazy: see Table.column_labels
    from openpyxl.utils.exceptions import InvalidFileException

    unreadable = _l("The file could not be opened as an Excel workbook (.xlsx).")
    # openpyxl warns about what it skips (data validation, unknown extensions); the values
    # we read are unaffected, and warnings would otherwise reach the organizer as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError,
                ParseError) as error:
            raise ImportFileError(unreadable) from error
        try:
            if not workbook.worksheets:
                raise ImportFileError(_l("The file is empty."))
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            return _table("xlsx", enumerate(
                ([_cell_text(value) for value in row] for row in rows), start=1), max_rows)
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError,
                ParseError) as error:
            raise ImportFileError(unreadable) from error
        finally:
            workbook.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps every number as a float: 13106.0 is 13106
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _table(encoding: str, lines: Iterable[tuple[int, list[str]]], max_rows: int) -> Table:
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    empty_run = 0
    for number, raw in lines:
        cells = [cell.strip() for cell in raw]
        if not any(cells):
            empty_run += 1
            if empty_run > MAX_EMPTY_RUN:
                break
            continue
        empty_run = 0
        if headers is None:
            headers = cells
            continue
        if len(rows) == max_rows:
            raise ImportFileError(_l(
                "The file has more than %(max)d rows. Please split it into files of at most "
                "%(max)d rows and import them one after the other.", max=max_rows))
        rows.append((number, cells))
    if headers is None:
        raise ImportFileError(_l("The file is empty."))
    if not rows:
        raise ImportFileError(_l("The file has a header row but no registrants below it."))
    return Table(encoding=encoding, headers=headers, rows=rows)


# --- Mapping columns to fields ---------------------------------------------------------------


@dataclass(frozen=True)
class ImportField:
    key: str
    label: Any
    required: bool = False
    aliases: tuple[str, ...] = ()
    question: Question | None = None


def _header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text).lower())


# Spellings seen in office lists, connpass exports and English forms. Matched exactly first,
# then as part of a header ("氏名（フリガナ）" holds フリガナ), in this order: the reading
# before the name and the type of organisation before its name, whose words they contain.
_ALIASES: dict[str, tuple[str, ...]] = {
    "furigana": ("ふりがな", "フリガナ", "よみがな", "ヨミガナ", "よみ", "ヨミ", "カナ", "かな",
                 "furigana", "reading", "kana"),
    "email": ("メールアドレス", "メール", "eメール", "email", "mail", "emailaddress"),
    "organization_type": ("所属区分", "団体種別", "所属種別", "組織種別", "団体区分", "所属分類",
                          "organizationtype", "organisationtype"),
    "organization_name": ("所属", "団体名", "所属団体", "所属先", "会社名", "組織名", "勤務先",
                          "機関名", "organization", "organisation", "affiliation", "company"),
    "prefecture": ("都道府県", "prefecture"),
    "municipality": ("市区町村", "市町村", "区市町村", "municipality", "city"),
    "attendance_mode": ("参加方法", "参加形態", "参加形式", "参加区分", "参加枠名", "参加枠",
                        "attendance", "attendancemode", "participation"),
    "language": ("言語", "使用言語", "希望言語", "language"),
    "name": ("氏名", "名前", "お名前", "表示名", "参加者名", "申込者名", "name", "fullname"),
}
_ALIAS_KEYS = {name: tuple(_header_key(alias) for alias in aliases)
               for name, aliases in _ALIASES.items()}
_BASE_FIELDS: tuple[tuple[str, Any, bool], ...] = (
    ("name", _l("Name"), True),
    ("furigana", _l("Name reading (furigana)"), True),
    ("email", _l("Email address"), True),
    ("organization_name", _l("Organisation"), False),
    ("organization_type", _l("Type of organisation"), False),
    ("prefecture", _l("Prefecture"), False),
    ("municipality", _l("Municipality"), True),
    ("attendance_mode", _l("Way of taking part"), False),
    ("language", _l("Language"), False),
)


def import_fields(event: Event) -> list[ImportField]:
    """What a column may hold for this event: the sign-up form's fields and its questions."""
    fields = [
        ImportField(key, label, required, _ALIAS_KEYS[key])
        for key, label, required in _BASE_FIELDS
        if key != "attendance_mode" or len(event.attendance_modes) > 1
    ]
    for question in event.questions:
        names = {_header_key(text) for text in (question.label, question.label_en, question.key)}
        fields.append(ImportField(f"q_{question.key}", question.label, False,
                                  tuple(sorted(name for name in names if name)), question))
    return fields


def guess_mapping(headers: list[str], fields: list[ImportField]) -> dict[str, int]:
    """Field key → column index, for every field whose column we can recognise."""
    keys = [_header_key(header) for header in headers]
    order = sorted(fields, key=lambda f: list(_ALIASES).index(f.key) if f.key in _ALIASES
                   else -1)
    mapping: dict[str, int] = {}
    for exact in (True, False):
        for import_field in order:
            if import_field.key in mapping or (not exact and import_field.question is not None):
                continue
            for index, key in enumerate(keys):
                if not key or index in mapping.values():
                    continue
                if any(key == alias if exact else alias in key
                       for alias in import_field.aliases):
                    mapping[import_field.key] = index
                    break
    return mapping


def default_values(event: Event) -> dict[str, str]:
    """Values for rows whose file has no such column or leaves the cell empty."""
    return {"attendance_mode": event.attendance_modes[0].value, "organization_type": ""}


def mapping_errors(fields: list[ImportField], columns: dict[str, int],
                   defaults: dict[str, str], column_count: int) -> dict[str, Any]:
    """Problems of a mapping, by field key ("default_…" for the values of empty cells)."""
    labels = {f.key: f.label for f in fields}
    errors: dict[str, Any] = {}
    if "organization_type" not in columns and _default_organization_type(defaults) is None:
        errors["default_organization_type"] = _l(
            "Please choose the type of organisation of the people in the file, or the column "
            "that holds it.")
    used: dict[int, str] = {}
    for import_field in fields:
        index = columns.get(import_field.key)
        if index is None:
            if import_field.required:
                errors[import_field.key] = _l("Please choose the column that holds this.")
            continue
        if not 0 <= index < column_count:
            errors[import_field.key] = _l("Please choose a column of the file.")
        elif index in used:
            errors[import_field.key] = _l("This column is already used for “%(field)s”.",
                                          field=labels[used[index]])
        else:
            used[index] = import_field.key
    return errors


# --- Checking rows ---------------------------------------------------------------------------

_MODE_WORDS = {
    AttendanceMode.ONLINE: ("オンライン", "online", "web", "ウェブ", "配信", "zoom", "teams",
                            "リモート", "remote", "視聴"),
    AttendanceMode.IN_PERSON: ("会場", "来場", "対面", "現地", "in person", "inperson", "venue",
                               "on site", "onsite", "集合"),
}
_ORGANIZATION_WORDS = {
    OrganizationType.MUNICIPALITY: ("自治体", "地方自治体", "地方公共団体", "市区町村", "都道府県",
                                    "行政", "local government"),
    OrganizationType.NATIONAL_GOVERNMENT: ("国", "省庁", "国の機関", "中央省庁",
                                           "national government"),
    OrganizationType.COMPANY: ("企業", "会社", "民間企業", "company", "business"),
    OrganizationType.NPO: ("npo", "npo法人", "団体", "市民団体", "協会", "npo / association",
                           "association"),
    OrganizationType.UNIVERSITY: ("大学", "学校", "教育機関", "研究機関", "university",
                                  "university / school", "school"),
    OrganizationType.INDIVIDUAL: ("個人", "一般", "市民", "住民", "individual"),
    OrganizationType.OTHER: ("その他", "other"),
}
_LANGUAGE_WORDS = {"ja": ("ja", "日本語", "japanese"), "en": ("en", "英語", "english")}


def _fold(text: str) -> str:
    return normalize_spaces(text).lower()


def _parse_mode(text: str) -> AttendanceMode | None:
    folded = _fold(text)
    for mode in AttendanceMode:
        if folded == mode.value or any(word in folded for word in _MODE_WORDS[mode]):
            return mode
    return None


def _parse_organization_type(text: str) -> OrganizationType | None:
    folded = _fold(text)
    for kind, words in _ORGANIZATION_WORDS.items():
        if folded == kind.value or folded in words:
            return kind
    return None


def _parse_language(text: str) -> str | None:
    folded = _fold(text)
    return next((code for code, words in _LANGUAGE_WORDS.items() if folded in words), None)


def _find_prefecture(text: str) -> geo.Prefecture | None:
    folded = _fold(text).replace(" ", "")
    for prefecture in geo.prefectures():
        short = prefecture.name if prefecture.name == "北海道" else prefecture.name[:-1]
        if folded in (prefecture.name, short, prefecture.code, prefecture.name_en.lower()):
            return prefecture
    return None


def _resolve_place(prefecture_text: str, municipality_text: str) -> tuple[tuple[str, str] | None,
                                                                          Any]:
    """((prefecture code, municipality code), None), or (None, what was not found)."""
    if not municipality_text:
        return None, _l("Please give the municipality.")
    if prefecture_text:
        prefecture = _find_prefecture(prefecture_text)
        if prefecture is None:
            return None, _l("Unknown prefecture “%(name)s”.", name=prefecture_text)
        found = geo.find_municipality(prefecture.code, municipality_text)
        if found is None:
            return None, _l("There is no municipality “%(name)s” in %(prefecture)s.",
                            name=municipality_text, prefecture=prefecture.name)
        return (prefecture.code, found.code), None
    # No prefecture column: "千葉県市川市" names it, and most names are unique in Japan.
    matches = {m.code: m for m in (geo.find_municipality(p.code, municipality_text)
                                   for p in geo.prefectures()) if m is not None}
    if len(matches) == 1:
        found = next(iter(matches.values()))
        return (found.prefecture_code, found.code), None
    if matches:
        return None, _l("Several prefectures have a municipality called “%(name)s”: please "
                        "give the prefecture too.", name=municipality_text)
    return None, _l("Unknown municipality “%(name)s”.", name=municipality_text)


def _option(question: Question, text: str) -> str | None:
    """The stored (Japanese) option for a value given in Japanese or English."""
    folded = _fold(text)
    english = question.options_en if len(question.options_en) == len(question.options) else []
    for index, option in enumerate(question.options):
        if folded == _fold(option) or (english and folded == _fold(english[index])):
            return option
    return None


def _answer(question: Question, text: str) -> tuple[Any, Any]:
    """(answer or None, error or None) for one question's cell."""
    if not text:
        if question.required:
            return None, _l("Please answer this question.")
        return None, None
    if question.kind is QuestionKind.TEXT:
        limit = question.max_length or 1000
        if len(text) > limit:
            return None, _l("Please use at most %(max)d characters.", max=limit)
        return text, None
    values = [text] if question.kind is QuestionKind.SINGLE_CHOICE else [
        part.strip() for part in _LIST_SEPARATORS.split(text) if part.strip()]
    chosen = []
    for value in values:
        option = _option(question, value)
        if option is None:
            return None, _l("“%(value)s” is not one of the options (%(options)s).",
                            value=value, options="、".join(question.options))
        chosen.append(option)
    return (chosen[0] if question.kind is QuestionKind.SINGLE_CHOICE else chosen), None


@dataclass
class RowCheck:
    line: int
    name: str
    email: str
    # (field label, message) pairs; a row without errors has `data`.
    errors: list[tuple[Any, Any]] = field(default_factory=list)
    data: RegistrationInput | None = None


def _active_emails(session: SessionLike, event_id: int, emails: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(emails)
    for start in range(0, len(ordered), 500):  # keep the IN list within every driver's limits
        found.update(session.execute(
            select(Registration.email_normalized).where(
                Registration.event_id == event_id,
                Registration.status.in_(ACTIVE_STATUSES),
                Registration.email_normalized.in_(ordered[start:start + 500]),
            )
        ).scalars())
    return found


class _RowReader:
    def __init__(self, event: Event, columns: dict[str, int], defaults: dict[str, str]) -> None:
        self.event = event
        self.columns = columns
        self.defaults = defaults
        self.fields = import_fields(event)
        self.labels = {f.key: f.label for f in self.fields}
        # Offices list many people of the same town: resolve each place once.
        self.places: dict[tuple[str, str], tuple[tuple[str, str] | None, Any]] = {}

    def check(self, line: int, cells: list[str]) -> RowCheck:
        def cell(key: str) -> str:
            index = self.columns.get(key)
            return cells[index] if index is not None and index < len(cells) else ""

        check = RowCheck(line=line, name=cell("name"), email=cell("email"))

        def fail(key: str, message: Any) -> None:
            check.errors.append((self.labels.get(key, key), message))

        for key in self.columns:
            if _PRIVATE_USE.search(cell(key)):
                fail(key, _l("Contains a character that only the computer which wrote the file "
                             "can show (a user-defined character). Please replace it."))
        mode_text = cell("attendance_mode")
        mode = _parse_mode(mode_text) if mode_text else _default_mode(self.defaults)
        if mode is None or mode not in self.event.attendance_modes:
            fail("attendance_mode", _l("Unknown way of taking part “%(value)s”.",
                                       value=mode_text) if mode_text else
                 _l("Please choose how you will take part."))
        kind_text = cell("organization_type")
        if kind_text:
            kind = _parse_organization_type(kind_text)
        elif not cell("organization_name"):
            kind = OrganizationType.INDIVIDUAL  # as the form says: individuals leave it empty
        else:
            kind = _default_organization_type(self.defaults)
        if kind is None:
            fail("organization_type", _l("Unknown type of organisation “%(value)s”.",
                                         value=kind_text) if kind_text else
                 _l("Please choose the type of your organisation."))
        place_text = (cell("prefecture"), cell("municipality"))
        if place_text not in self.places:
            self.places[place_text] = _resolve_place(*place_text)
        place, place_error = self.places[place_text]
        if place_error is not None:
            fail("municipality", place_error)
        language_text = cell("language")
        language = _parse_language(language_text) if language_text else "ja"
        if language is None:
            fail("language", _l("Unknown language “%(value)s”: write ja or en.",
                                value=language_text))
        person = PersonInput(
            name=cell("name"), furigana=cell("furigana"), email=cell("email"),
            organization_name=cell("organization_name"),
            organization_type=kind or OrganizationType.OTHER,
            prefecture_code=place[0] if place else "",
            municipality_code=place[1] if place else "",
        )
        for name, message in person_errors(person):
            if name != "municipality":  # reported above, with the name that was not found
                fail(name, message)
        answers: dict[str, Any] = {}
        for import_field in self.fields:
            question = import_field.question
            if question is None or import_field.key not in self.columns:
                continue  # an unmapped question stays unanswered, by the organizer's choice
            answer, error = _answer(question, cell(import_field.key))
            if error is not None:
                fail(import_field.key, error)
            elif answer not in (None, "", []):
                answers[question.key] = answer
        if not check.errors and mode and kind and language and place:
            check.data = RegistrationInput(
                attendance_mode=mode, name=person.name, furigana=person.furigana,
                email=person.email, organization_name=person.organization_name,
                organization_type=kind, prefecture_code=place[0], municipality_code=place[1],
                language=language, answers=answers)
        return check


def _default_mode(defaults: dict[str, str]) -> AttendanceMode | None:
    value = defaults.get("attendance_mode", "")
    return AttendanceMode(value) if value in set(AttendanceMode) else None


def _default_organization_type(defaults: dict[str, str]) -> OrganizationType | None:
    value = defaults.get("organization_type", "")
    return OrganizationType(value) if value in set(OrganizationType) else None


def check_rows(
    session: SessionLike, event: Event, table: Table, columns: dict[str, int],
    defaults: dict[str, str],
) -> list[RowCheck]:
    """Every row checked as the web form would, plus duplicates in the file and the event."""
    reader = _RowReader(event, columns, defaults)
    checks = [reader.check(line, cells) for line, cells in table.rows]
    email_label = reader.labels["email"]
    first_line: dict[str, int] = {}
    for check in checks:
        if not check.email:
            continue
        address = normalize_email(check.email)
        if address in first_line:
            check.errors.append((email_label, _l(
                "The same email address as row %(line)d.", line=first_line[address])))
            check.data = None
        else:
            first_line[address] = check.line
    registered = _active_emails(session, event.id, set(first_line))
    for check in checks:
        if check.email and normalize_email(check.email) in registered:
            check.errors.append((email_label, _l("Already registered for this event.")))
            check.data = None
    return checks


# --- The steps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeForecast:
    mode: AttendanceMode
    rows: int
    seats_left: int | None  # None: no limit

    @property
    def confirmed(self) -> int:
        return self.rows if self.seats_left is None else min(self.rows, self.seats_left)

    @property
    def beyond(self) -> int:
        """Rows that will find no seat: waitlisted, or refused when there is no waiting list."""
        return self.rows - self.confirmed


@dataclass(frozen=True)
class ImportPreview:
    batch: ImportBatch
    table: Table
    fields: list[ImportField]
    checks: list[RowCheck]
    forecast: list[ModeForecast]
    lottery: bool
    waitlist: bool

    @property
    def valid(self) -> list[RowCheck]:
        return [check for check in self.checks if check.data is not None]

    @property
    def invalid(self) -> list[RowCheck]:
        return [check for check in self.checks if check.data is None]

    @property
    def would_fail(self) -> bool:
        """Accepting would stop at a row with no seat and no waiting list."""
        return not self.lottery and not self.waitlist and any(f.beyond for f in self.forecast)


@dataclass(frozen=True)
class ImportOutcome:
    confirmed: int
    waitlisted: int
    lottery: int
    skipped: int

    @property
    def imported(self) -> int:
        return self.confirmed + self.waitlisted + self.lottery


def start_import(
    session: SessionLike, actor: User, event_id: int, filename: str, data: bytes,
    *, now: datetime | None = None,
) -> ImportBatch:
    """Check that the file reads as a table, keep it, and guess its column mapping."""
    now = now or utcnow()
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(_l("The file is larger than %(size)d MB. Please split it.",
                                 size=MAX_IMPORT_BYTES // (1024 * 1024)))
    table = read_table(data)
    with write_transaction(session):
        event = load_event_for_change(session, event_id)
        # Files left behind by abandoned imports hold personal data: they do not stay.
        session.execute(delete(ImportBatch).where(ImportBatch.created_at < now - BATCH_LIFETIME))
        batch = ImportBatch(
            token=secrets.token_urlsafe(32), event_id=event_id, user_id=actor.id,
            filename=filename[:255], content=data, encoding=table.encoding,
            row_count=len(table.rows), created_at=now,
            settings={"columns": guess_mapping(table.headers, import_fields(event)),
                      "defaults": default_values(event), "mapped": False},
        )
        session.add(batch)
        session.flush()
        record(session, actor, "import.upload", batch, event_id=event_id,
               details={"rows": batch.row_count, "encoding": table.encoding})
    return batch


def get_batch(
    session: SessionLike, actor: User, event_id: int, token: str, *, now: datetime | None = None
) -> ImportBatch:
    """The user's own batch for this event; raises NotFound for anyone else's or an old one."""
    now = now or utcnow()
    batch = session.execute(
        select(ImportBatch).where(ImportBatch.token == token[:64])
    ).scalar_one_or_none()
    if (batch is None or batch.user_id != actor.id or batch.event_id != event_id
            or batch.created_at < now - BATCH_LIFETIME):
        raise NotFound(_l("This import does not exist or has expired. Please upload the file "
                          "again."))
    return batch


@dataclass(frozen=True)
class StagedFile:
    """A batch with its file read back, for the mapping page."""

    batch: ImportBatch
    table: Table
    fields: list[ImportField]


def open_batch(session: SessionLike, actor: User, event_id: int, token: str) -> StagedFile:
    batch = get_batch(session, actor, event_id, token)
    event = session.get(Event, event_id)
    assert event is not None  # the batch's foreign key cascades from the event
    return StagedFile(batch, read_table(batch.content), import_fields(event))


def save_mapping(
    session: SessionLike, actor: User, event_id: int, token: str,
    columns: dict[str, int], defaults: dict[str, str],
) -> ImportBatch:
    """Remember which column holds what; raises ImportMappingError listing every problem."""
    with write_transaction(session):
        batch = get_batch(session, actor, event_id, token)
        event = session.get(Event, event_id)
        assert event is not None  # the batch's foreign key cascades from the event
        table = read_table(batch.content)
        errors = mapping_errors(import_fields(event), columns, defaults, len(table.headers))
        if errors:
            raise ImportMappingError(errors)
        batch.settings = {"columns": columns, "defaults": defaults, "mapped": True}
    return batch


def preview_import(session: SessionLike, actor: User, event_id: int, token: str) -> ImportPreview:
    """Check every row against the saved mapping; writes nothing."""
    batch = get_batch(session, actor, event_id, token)
    if not batch.settings.get("mapped"):
        raise ImportMappingError({"": _l("Please choose the columns first.")})
    event = session.get(Event, event_id)
    assert event is not None
    table = read_table(batch.content)
    checks = check_rows(session, event, table, batch.settings["columns"],
                        batch.settings["defaults"])
    per_mode: dict[AttendanceMode, int] = {}
    for check in checks:
        if check.data is not None:
            per_mode[check.data.attendance_mode] = per_mode.get(check.data.attendance_mode, 0) + 1
    forecast = []
    for mode, count in per_mode.items():
        pool = event.pool_for(mode)
        forecast.append(ModeForecast(mode, count, pool.seats_left if pool else 0))
    return ImportPreview(batch=batch, table=table, fields=import_fields(event), checks=checks,
                         forecast=forecast, lottery=event.lottery_open,
                         waitlist=event.waitlist_enabled)


def accept_import(
    session: SessionLike, actor: User, event_id: int, token: str, *, notify: bool,
    expected: int | None = None, now: datetime | None = None,
) -> ImportOutcome:
    """Insert every valid row in one transaction: all of them, or none.

    The rows are checked again inside the transaction, against the registrations as they are
    now; `expected` is the number of valid rows the organizer saw in the preview, and a
    different count stops the import rather than surprise them.
    """
    now = now or utcnow()
    try:
        with write_transaction(session):
            batch = get_batch(session, actor, event_id, token, now=now)
            event = load_event_for_change(session, event_id)
            checks = check_rows(session, event, read_table(batch.content),
                                batch.settings.get("columns", {}),
                                batch.settings.get("defaults", {}))
            valid = [(check.line, check.data) for check in checks if check.data is not None]
            if not valid:
                raise ImportConflict(_l("No row can be imported: every row has an error."))
            if expected is not None and expected != len(valid):
                raise ImportConflict(_l(
                    "Rows that can be imported: %(count)d now, %(expected)d in the preview. "
                    "Registrations changed meanwhile; please check the preview again.",
                    count=len(valid), expected=expected))
            statuses = []
            by = AddedByOrganizer(actor.id, "registration.import", details={"import": batch.id},
                                  notify=notify)
            for line, data in valid:
                try:
                    statuses.append(add_registration(session, event, data, now, by).status)
                except EventFull as error:
                    raise ImportConflict(_l("Row %(line)d: %(message)s Nothing was imported.",
                                            line=line, message=error.message)) from error
            counts = {status: statuses.count(status) for status in RegistrationStatus}
            outcome = ImportOutcome(
                confirmed=counts[RegistrationStatus.CONFIRMED],
                waitlisted=counts[RegistrationStatus.WAITLISTED],
                lottery=counts[RegistrationStatus.LOTTERY_PENDING],
                skipped=len(checks) - len(valid),
            )
            record(session, actor, "import.accept", batch, event_id=event_id, details={
                "imported": outcome.imported, "skipped": outcome.skipped, "notified": notify,
                "encoding": batch.encoding})
            session.delete(batch)
    except (AddressTaken, IntegrityError) as error:
        # A participant signed up with one of the file's addresses after our check.
        raise ImportConflict(_l("Someone registered with an address of the file meanwhile. "
                                "Nothing was imported; please check the preview again.")) from error
    return outcome


def discard_import(session: SessionLike, actor: User, event_id: int, token: str) -> None:
    with write_transaction(session):
        batch = get_batch(session, actor, event_id, token)
        record(session, actor, "import.discard", batch, event_id=event_id,
               details={"rows": batch.row_count})
        session.delete(batch)

