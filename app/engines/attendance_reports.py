"""Read Zoom and Microsoft Teams attendance reports into typed, merged per-person records.

One entry point, :func:`parse_attendance_report`, takes the uploaded bytes and
returns an :class:`AttendanceReport` or raises :class:`AttendanceReportError`
with a sentence an organizer can act on. It is all or nothing: the whole file is
decoded, tabulated and checked before a single record is returned, so a
truncated or damaged upload can never be half-imported. No Flask, no database:
matching records to registrations, minimum durations and the list of unmatched
rows belong to the importer that calls this.

What is read (see /work/shared/FORMATS.md)
------------------------------------------
* **Zoom meeting participant report** — with or without the meeting summary
  (``Meeting ID,Topic,…`` + one row + blank line), the per-join table
  (``Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),
  Guest[,Recording Consent][,In Waiting Room]``), the "show unique users" table
  (``…,Total Duration (Minutes),Guest``), the newer report pages
  (``Topic,ID,Host,…`` / ``Name (original name),Email,…``) and the Japanese
  portal. Real Japanese exports seen in the wild use ``名前 (元の名前),
  ユーザーメール,参加時刻,退出時刻,所要時間（分）``; other wordings
  (``参加時間``, ``期間（分）``, ``ゲスト`` …) are accepted too.
* **Zoom webinar attendee report** — ``Attendee Report`` preamble, summary, then
  ``Host Details`` / ``Panelist Details`` / ``Attendee Details`` blocks; people
  who registered but did not come (``Attended`` = ``No``, ``--`` times) are kept
  as records with ``attended=False``.
* **Microsoft Teams attendance report** — UTF-16 LE, tab-separated, sections
  ``1. Summary`` / ``2. Participants`` / ``3. In-Meeting Activities``. Sections are
  found by their *number* because the titles are translated (Japanese exports
  say ``1. 要約``, ``2. 参加者``, ``3. 会議中のアクティビティ``; ``概要`` is also
  accepted). Durations such as ``1h 27m 51s`` and ``1 時間 27 分 51 秒``.

Headers are never matched by one literal spelling: each is normalised (Unicode
NFKC so full-width brackets and letters become ASCII, case folded, all
whitespace removed, 【】［］ read as parentheses) and looked up in an alias list.

Encodings: UTF-8 with or without BOM, UTF-16 with BOM (or without, told by the
NUL bytes), and CP932 for files re-saved by Excel on Japanese Windows.

Times
-----
Report times carry no zone; they are wall-clock times in the zone of whoever
downloaded the report, so the caller passes the meeting's zone (default
``Asia/Tokyo``) and every datetime returned is aware. English Zoom exports use US
order (``10/05/2026 06:03:00 PM``); Japanese ones ``2026/10/05 18:03:00`` (Excel
re-saves drop the seconds: ``2026/10/5 18:03``). Teams writes the downloader's
locale: ``15/11/22, 09:30:17`` (en-GB), ``11/15/2022, 9:30:17 AM`` (en-US),
``2026/1/15 19:00:00`` (ja). For ``a/b/y`` dates the order is decided once per
file: a first number above 12 proves day-first, a second above 12 proves
month-first, and when every date is ambiguous Zoom is taken as US order and
Teams as month-first only if it writes AM/PM. ``day_first=`` overrides.

Merging one person's rows
-------------------------
Every rejoin is a new row. Rows are merged by e-mail (lower-cased); rows without
an e-mail (guests) by their normalised display name; a guest group then joins
an e-mail group when its name matches exactly one of them. Display names drift
("iPhone (Brian Smith)", "Brian Smith (Guest)"): the part in parentheses or
outside it is used as an extra name only when the other part is a device or a
tag, never otherwise — "Tanaka (Sales)" and "Suzuki (Sales)" stay two people.
The total is the *union* of a person's join/leave intervals, so two devices at
once are not counted twice; exact seconds are kept (Zoom's own per-row minutes
are rounded up). When a report gives only durations, they are summed. Time in a
Zoom waiting room (``In Waiting Room`` = Yes) is not attendance.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import BinaryIO
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Tokyo"
MAX_REPORT_BYTES = 20 * 1024 * 1024


class AttendanceReportError(ValueError):
    """The upload is not a report we can read; the message says what is wrong and where."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"Line {line}: {message}" if line is not None else message)


class SourceKind(StrEnum):
    ZOOM_MEETING = "zoom_meeting"
    ZOOM_WEBINAR = "zoom_webinar"
    TEAMS = "teams"


class Role(StrEnum):
    HOST = "host"
    CO_HOST = "co_host"
    PANELIST = "panelist"
    PRESENTER = "presenter"
    ATTENDEE = "attendee"


_ROLE_RANK = {Role.HOST: 0, Role.CO_HOST: 1, Role.PANELIST: 2, Role.PRESENTER: 3, Role.ATTENDEE: 4}

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class AttendanceRecord:
    """One person, all of their rows merged."""

    name: str
    email: str | None
    intervals: tuple[Interval, ...]  # merged union, sorted, non-overlapping
    total_seconds: int
    is_guest: bool
    role: Role | None
    attended: bool
    names: tuple[str, ...]  # every display name seen, in file order
    name_keys: tuple[str, ...]  # normalised names for matching (see normalise_name)
    sessions: int  # rows merged into this record (joins, for per-join reports)
    first_join: datetime | None
    last_leave: datetime | None
    lines: tuple[int, ...]  # where the rows are in the file, for messages

    @property
    def total_minutes(self) -> float:
        return self.total_seconds / 60


@dataclass(frozen=True)
class AttendanceReport:
    source: SourceKind
    shape: str  # e.g. "zoom_meeting/per_join", "zoom_meeting/unique_users", "teams/activities"
    encoding: str
    title: str | None
    meeting_id: str | None
    start: datetime | None
    end: datetime | None
    records: tuple[AttendanceRecord, ...]
    row_count: int  # participant rows read, before merging


# --------------------------------------------------------------------------- text helpers


_BRACKETS = str.maketrans({"【": "(", "】": ")", "［": "(", "］": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "｛": "(", "｝": ")"})
_SPACE = re.compile(r"\s+")


def normalise_header(text: str) -> str:
    """Header cell → comparison key: NFKC, case folded, no whitespace, one bracket style."""
    text = unicodedata.normalize("NFKC", text).translate(_BRACKETS).casefold()
    return _SPACE.sub("", text).strip("\"'：:*#")


def normalise_name(text: str) -> str:
    """Display name → comparison key; 山田　太郎, 山田 太郎 and ﾔﾏﾀﾞ… compare as typed once."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s・･.·_]+", "", text)


# Devices and tags that Zoom and Teams put next to (or instead of) a person's name.
_GENERIC_NAME = re.compile(
    r"^(?:iphone|ipad|ipod|android|galaxy\S*|pixel\S*|xperia\S*|aquos\S*|arrows\S*|"
    r"surface\S*|macbook\S*|mac|pc|windows|chromebook|zoomuser|zoomユーザー|user|ユーザー|"
    r"guest|ゲスト|ext|external|外部|unverified|未確認|host|ホスト|co-?host|共同ホスト|"
    r"organizer|開催者|.+'s(?:iphone|ipad|android|galaxy|pixel|mac|macbook|pc))$"
)
_PARENTHESISED = re.compile(r"^(?P<outer>.*?)\s*[(（](?P<inner>[^()（）]+)[)）]\s*$")


def _name_keys(name: str) -> list[str]:
    keys = []
    full = normalise_name(name)
    if full:
        keys.append(full)
    match = _PARENTHESISED.match(unicodedata.normalize("NFKC", name).strip())
    if match:
        outer, inner = normalise_name(match["outer"]), normalise_name(match["inner"])
        if outer and inner:
            if _GENERIC_NAME.match(outer) and not _GENERIC_NAME.match(inner):
                keys.append(inner)
            elif _GENERIC_NAME.match(inner) and not _GENERIC_NAME.match(outer):
                keys.append(outer)
    return [k for k in dict.fromkeys(keys) if not _GENERIC_NAME.match(k)]


def _tagged_guest(name: str) -> bool:
    return bool(re.search(r"[(（]\s*(?:guest|ゲスト|unverified|未確認)\s*[)）]\s*$", name, re.I))


# --------------------------------------------------------------------------- aliases

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "Name (Original Name)", "Name", "User Name (Original Name)", "User Name",
        "Participant", "Participant Name", "Display Name", "Full Name",
        "名前 (元の名前)", "名前", "ユーザー名 (元の名前)", "ユーザー名", "表示名", "氏名",
        "参加者名", "名前（元の名前）",
    ),
    "email": (
        "User Email", "Email", "E-mail", "Email Address", "Mail", "ユーザーメール",
        "ユーザーのメール", "ユーザーのメールアドレス", "ユーザーメールアドレス", "メール",
        "メールアドレス", "メール アドレス", "電子メール", "電子メールアドレス", "Eメール",
    ),
    "upn": ("Participant ID (UPN)", "参加者 ID (UPN)", "UPN"),
    "join": (
        "Join Time", "Joined", "Join", "参加時刻", "参加時間", "参加日時", "入室時刻",
        "入室時間", "参加した時刻",
    ),
    "leave": (
        "Leave Time", "Left", "Leave", "退出時刻", "退出時間", "退出日時", "退室時刻",
        "退室時間", "退出した時刻",
    ),
    "first_join": (
        "First Join", "First Join Time", "初めての参加", "最初の参加", "最初の参加時刻",
        "初回参加", "初回参加時刻",
    ),
    "last_leave": (
        "Last Leave", "Last Leave Time", "最終退出", "最後の退出", "最後の退出時刻",
        "最終退出時刻",
    ),
    "duration": (
        "Duration (Minutes)", "Duration", "Time in Session (minutes)", "Time in Session",
        "In-Meeting Duration", "Attendance Duration", "所要時間 (分)", "所要時間",
        "期間 (分)", "期間", "時間 (分)", "継続時間 (分)", "継続時間", "参加時間 (分)",
        "滞在時間 (分)", "滞在時間", "セッション時間 (分)", "セッションの時間 (分)",
        "会議の長さ", "会議中の期間", "会議中の時間", "会議の参加時間", "出席時間",
    ),
    "total_duration": (
        "Total Duration (Minutes)", "Total Duration", "Total Time (minutes)",
        "合計所要時間 (分)", "所要時間の合計 (分)", "合計時間 (分)", "合計期間 (分)",
        "期間の合計 (分)", "合計継続時間 (分)", "総時間 (分)", "合計 (分)",
    ),
    "guest": ("Guest", "Is Guest", "ゲスト", "ゲストか"),
    "waiting_room": ("In Waiting Room", "Waiting Room", "待機室内", "待機室", "待合室"),
    "attended": ("Attended", "出席", "出席済み", "出席した", "出席しました", "参加済み"),
    "role": ("Role", "役割", "ロール", "ユーザーの役割"),
    "topic": (
        "Topic", "Meeting Topic", "Webinar Topic", "トピック", "ミーティングのトピック",
        "ウェビナーのトピック",
    ),
    "meeting_id": (
        "Meeting ID", "Webinar ID", "ID", "ミーティング ID", "ミーティングID",
        "ウェビナー ID", "会議 ID",
    ),
    "start": (
        "Start Time", "Actual Start Time", "Meeting Start Time", "開始時刻", "開始時間",
        "開始日時", "実際の開始時刻", "実際の開始時間", "会議の開始時刻",
    ),
    "end": (
        "End Time", "Meeting End Time", "終了時刻", "終了時間", "終了日時",
        "会議の終了時刻",
    ),
    "title": ("Meeting Title", "Title", "会議のタイトル", "タイトル", "会議名"),
}
_FIELD_OF: dict[str, str] = {}
for _field, _names in _ALIASES.items():
    for _alias in _names:
        _FIELD_OF.setdefault(normalise_header(_alias), _field)

_DISPLAY = {key: names[0] for key, names in _ALIASES.items()}

_PARTICIPANT_FIELDS = {"name", "email", "join", "leave", "duration", "total_duration", "guest"}
_SUMMARY_FIELDS = {"topic", "meeting_id"}
_ATTENDANCE_FIELDS = {"join", "leave", "duration", "total_duration"}
# Columns a row must reach; a row that stops earlier was cut off. Trailing optional columns
# (Guest, Role …) are allowed to be missing.
_ROW_REQUIRED = {"name", "email", "join", "leave", "first_join", "last_leave", "duration",
                 "total_duration"}


def _map_header(cells: Sequence[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _FIELD_OF.get(normalise_header(cell))
        if key is not None and key not in mapping:
            mapping[key] = index
    return mapping


def _missing(field_name: str, line: int, what: str) -> AttendanceReportError:
    return AttendanceReportError(
        f"the {what} has no “{_DISPLAY[field_name]}” column (missing required column); "
        "was the file edited?",
        line=line,
    )


# --------------------------------------------------------------------------- decoding


def detect_encoding(data: bytes) -> str:
    """Name the codec of a report's bytes, or raise AttendanceReportError for non-text."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if data.startswith(b"PK\x03\x04"):
        raise AttendanceReportError(
            "this is an Excel workbook (XLSX) or another ZIP file, not a CSV report: "
            "upload the CSV exactly as Zoom or Teams downloaded it"
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise AttendanceReportError(
            "this is an old Excel workbook (XLS), not a CSV report: "
            "upload the CSV exactly as Zoom or Teams downloaded it"
        )
    if data.startswith(b"%PDF"):
        raise AttendanceReportError("this is a PDF, not a CSV report")
    sample = data[:4096]
    if b"\x00" in sample:
        # UTF-16 without BOM: ASCII characters leave a NUL in every other byte.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le"
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be"
        raise AttendanceReportError("this is a binary file, not a CSV report")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp932")
        return "cp932"
    except UnicodeDecodeError:
        pass
    raise AttendanceReportError(
        "the text of this file is in an encoding we cannot read "
        "(expected UTF-8, UTF-16 or Shift_JIS/CP932)"
    )


def decode_report(data: bytes) -> tuple[str, str]:
    """Return (text, encoding) of a report's bytes."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise AttendanceReportError("the file is empty")
    encoding = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise AttendanceReportError(
            f"the file looks like {encoding.upper()} but is damaged at byte {exc.start}: "
            "it may be truncated or saved in another encoding"
        ) from exc
    # A BOM can survive decoding (UTF-16 BE/LE without -sig, or files glued together).
    text = text.lstrip("\ufeff").replace("\x00", "")
    if not text.strip():
        raise AttendanceReportError("the file is empty")
    return text, encoding


_Line = tuple[int, list[str]]  # (first physical line of the row, cells stripped)


def _tabulate(text: str) -> list[_Line]:
    head = text[:8192]
    delimiter = "\t" if head.count("\t") > head.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[_Line] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise AttendanceReportError(
            "the file ends inside a quoted value or has a broken quote; it looks truncated "
            f"or damaged ({exc})",
            line=start,
        ) from exc
    return rows


def _blank(cells: Sequence[str]) -> bool:
    return not any(cells)


def _single(cells: Sequence[str]) -> str | None:
    filled = [c for c in cells if c]
    return filled[0] if len(filled) == 1 else None


# --------------------------------------------------------------------------- values


_TIME = (
    r"(?P<ampm1>午前|午後|am|pm)?\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<ampm2>am|pm|a\.m\.|p\.m\.|午前|午後)?"
)
_ZONE = r"\s*(?P<tz>z|utc|[+-]\d{2}:?\d{2})?"
_YMD = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*\([^)]*\))?(?:[,\sT]+" + _TIME + r")?" + _ZONE + "$",
    re.IGNORECASE,
)
_AMBIGUOUS = re.compile(
    r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})(?:[,\s]+" + _TIME + r")?"
    + _ZONE + "$",
    re.IGNORECASE,
)
_EMPTY_VALUES = {"", "--", "-", "—", "n/a", "na", "なし"}


class _Clock:
    """Parses one file's timestamps with a single, file-wide day/month order."""

    def __init__(self, tz: tzinfo, day_first: bool | None) -> None:
        self.tz = tz
        self.day_first = day_first

    def settle_order(self, samples: Iterable[str], *, default_day_first: bool | None) -> None:
        if self.day_first is not None:
            return
        day_first_seen = month_first_seen = ampm_seen = False
        for sample in samples:
            match = _AMBIGUOUS.match(sample.strip())
            if not match:
                continue
            a, b = int(match["a"]), int(match["b"])
            day_first_seen |= a > 12
            month_first_seen |= b > 12
            ampm_seen |= bool(match["ampm1"] or match["ampm2"])
        if day_first_seen and month_first_seen:
            raise AttendanceReportError(
                "the dates mix day/month and month/day order; re-download the report "
                "without editing it"
            )
        if day_first_seen or month_first_seen:
            self.day_first = day_first_seen
        elif default_day_first is None:
            self.day_first = not ampm_seen  # Teams: en-US writes AM/PM, en-GB and most others not
        else:
            self.day_first = default_day_first

    def parse(self, text: str, line: int, what: str) -> datetime | None:
        value = text.strip()
        if value.casefold() in _EMPTY_VALUES:
            return None
        match = _YMD.match(value)
        if match:
            year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
        else:
            match = _AMBIGUOUS.match(value)
            if not match:
                raise AttendanceReportError(f"cannot read the {what} “{value}”", line=line)
            a, b = int(match["a"]), int(match["b"])
            day, month = (a, b) if self.day_first else (b, a)
            year = int(match["y"])
            if year < 100:
                year += 2000
        hour = minute = second = 0
        if match["H"] is not None:
            hour, minute = int(match["H"]), int(match["M"])
            second = int(match["S"] or 0)
            ampm = (match["ampm1"] or match["ampm2"] or "").casefold().replace(".", "")
            if ampm:
                if not 1 <= hour <= 12:
                    raise AttendanceReportError(f"cannot read the {what} “{value}”", line=line)
                hour %= 12
                if ampm in ("pm", "午後"):
                    hour += 12
        try:
            naive = datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise AttendanceReportError(
                f"cannot read the {what} “{value}” ({exc})", line=line
            ) from exc
        zone = (match["tz"] or "").casefold()
        if not zone:
            return naive.replace(tzinfo=self.tz)
        if zone in ("z", "utc"):
            offset = timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return naive.replace(tzinfo=timezone(offset)).astimezone(self.tz)


_DURATION_PART = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>時間|hours?|hrs?|h|分|minutes?|mins?|m|秒|seconds?|secs?|s)",
    re.IGNORECASE,
)


def parse_duration(text: str, *, plain_unit_seconds: int = 60) -> int | None:
    """Duration text → seconds: ``1h 27m 51s``, ``1 時間 2 分 3 秒``, ``01:27:51``, ``45`` (min)."""
    value = unicodedata.normalize("NFKC", text).strip()
    if value.casefold() in _EMPTY_VALUES:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return round(float(value) * plain_unit_seconds)
    clock = re.fullmatch(r"(\d+):(\d{2})(?::(\d{2}))?", value)
    if clock:
        h, m, s = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        return (h * 3600 + m * 60 + s) if clock[3] is not None else (h * 60 + m) * 60
    total = 0.0
    position = 0
    compact = value.replace(",", " ")
    for part in _DURATION_PART.finditer(compact):
        if compact[position:part.start()].strip():
            raise ValueError(value)
        unit = part["u"].casefold()
        amount = float(part["n"])
        if unit in ("時間", "h", "hr", "hrs", "hour", "hours"):
            total += amount * 3600
        elif unit in ("分", "m", "min", "mins", "minute", "minutes"):
            total += amount * 60
        else:
            total += amount
        position = part.end()
    if position == 0 or compact[position:].strip():
        raise ValueError(value)
    return round(total)


_YES = {"yes", "y", "true", "1", "はい", "○", "〇", "済", "あり"}
_NO = {"no", "n", "false", "0", "いいえ", "×", "なし", "未"}


def _yes_no(text: str) -> bool | None:
    value = unicodedata.normalize("NFKC", text).strip().casefold()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def _email(text: str) -> str | None:
    value = text.strip().strip("<>").lower()
    return value if "@" in value and " " not in value else None


_ROLE_WORDS = {
    Role.HOST: ("host", "organizer", "organiser", "ホスト", "開催者", "主催者"),
    Role.CO_HOST: ("co-host", "cohost", "co-organizer", "co-organiser", "共同ホスト",
                   "共同開催者", "共同主催者"),
    Role.PANELIST: ("panelist", "panellist", "パネリスト"),
    Role.PRESENTER: ("presenter", "発表者", "プレゼンター"),
    Role.ATTENDEE: ("attendee", "participant", "出席者", "参加者", "視聴者"),
}
_ROLE_OF = {normalise_header(word): role for role, words in _ROLE_WORDS.items() for word in words}


def _role(text: str) -> Role | None:
    return _ROLE_OF.get(normalise_header(text)) if text else None


# --------------------------------------------------------------------------- rows → records


@dataclass
class _Row:
    line: int
    name: str
    email: str | None
    join: datetime | None = None
    leave: datetime | None = None
    seconds: int | None = None
    is_guest: bool | None = None
    role: Role | None = None
    attended: bool | None = None
    waiting: bool = False
    first_join: datetime | None = None
    last_leave: datetime | None = None
    keys: list[str] = field(default_factory=list)
    is_session: bool = True  # False for a Teams participants-list row when activities exist


class _Reader:
    """Reads the cells of one table row by header mapping, with line-numbered errors."""

    def __init__(self, mapping: dict[str, int], clock: _Clock) -> None:
        self.mapping = mapping
        self.clock = clock

    def cell(self, cells: Sequence[str], key: str) -> str:
        # Rows too short for a required column were refused before; optional ones may be absent.
        index = self.mapping.get(key)
        return cells[index] if index is not None and index < len(cells) else ""

    def time(self, cells: Sequence[str], key: str, line: int) -> datetime | None:
        if key not in self.mapping:
            return None
        return self.clock.parse(self.cell(cells, key), line, _DISPLAY[key].lower())

    def seconds(self, cells: Sequence[str], key: str, line: int) -> int | None:
        text = self.cell(cells, key)
        try:
            return parse_duration(text)
        except ValueError:
            raise AttendanceReportError(f"cannot read the duration “{text}”", line=line) from None


def _table_rows(rows: Sequence[_Line], start: int, stop: int) -> list[_Line]:
    return [(line, cells) for line, cells in rows[start:stop] if not _blank(cells)]


def _read_person_rows(
    table: Sequence[_Line],
    mapping: dict[str, int],
    clock: _Clock,
    *,
    role: Role | None = None,
) -> list[_Row]:
    reader = _Reader(mapping, clock)
    out: list[_Row] = []
    reach = [(index, key) for key, index in mapping.items() if key in _ROW_REQUIRED]
    needed = max(index for index, _key in reach) + 1 if reach else 0
    for line, cells in table:
        if len(cells) < needed:
            first_missing = min((i, k) for i, k in reach if i >= len(cells))[1]
            raise AttendanceReportError(
                f"the row stops before the “{_DISPLAY[first_missing]}” column "
                f"({len(cells)} cells); the file looks truncated or damaged",
                line=line,
            )
        name = reader.cell(cells, "name")
        email = _email(reader.cell(cells, "email")) or _email(reader.cell(cells, "upn"))
        if not name and email is None:
            raise AttendanceReportError("the row has neither a name nor an e-mail", line=line)
        row = _Row(line=line, name=name or (email or ""), email=email, role=role)
        attended = reader.cell(cells, "attended")
        row.attended = _yes_no(attended) if attended else None
        row.join = reader.time(cells, "join", line)
        row.leave = reader.time(cells, "leave", line)
        if (row.join is None) != (row.leave is None) and row.attended is not False:
            missing = "leave" if row.leave is None else "join"
            raise AttendanceReportError(
                f"the row has no {missing} time (was the report downloaded while the meeting "
                "was still running?)",
                line=line,
            )
        if row.join and row.leave and row.leave < row.join:
            raise AttendanceReportError("the leave time is before the join time", line=line)
        row.first_join = reader.time(cells, "first_join", line)
        row.last_leave = reader.time(cells, "last_leave", line)
        for key in ("duration", "total_duration"):
            if key in mapping:
                row.seconds = reader.seconds(cells, key, line)
                break
        guest = reader.cell(cells, "guest")
        row.is_guest = _yes_no(guest) if guest else None
        # Time in Zoom's waiting room is not time in the meeting.
        row.waiting = _yes_no(reader.cell(cells, "waiting_room")) is True
        row.role = _role(reader.cell(cells, "role")) or role
        row.keys = _name_keys(row.name)
        out.append(row)
    return out


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _merge(rows: Sequence[_Row]) -> tuple[AttendanceRecord, ...]:
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    by_email: dict[str, int] = {}
    by_guest_key: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.email:
            union(i, by_email.setdefault(row.email, i))
        else:
            for key in row.keys:
                union(i, by_guest_key.setdefault(key, i))

    # A guest group joins an e-mail group only when its name points at exactly one.
    email_groups_of_key: dict[str, set[int]] = {}
    for i, row in enumerate(rows):
        if row.email:
            for key in row.keys:
                email_groups_of_key.setdefault(key, set()).add(find(i))
    guest_groups: dict[int, set[str]] = {}
    for i, row in enumerate(rows):
        if not row.email:
            guest_groups.setdefault(find(i), set()).update(row.keys)
    for group, keys in guest_groups.items():
        targets = set().union(*(email_groups_of_key.get(k, set()) for k in keys))
        if len(targets) == 1:
            union(group, targets.pop())

    groups: dict[int, list[_Row]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(find(i), []).append(row)

    records = [_record(sorted(members, key=lambda r: r.line)) for members in groups.values()]
    records.sort(key=lambda r: r.lines[0])
    return tuple(records)


def _record(rows: list[_Row]) -> AttendanceRecord:
    email = next((r.email for r in rows if r.email), None)
    intervals = _union(
        (r.join, r.leave)
        for r in rows
        if r.join is not None and r.leave is not None and not r.waiting
    )
    if intervals:
        total = sum(int((end - start).total_seconds()) for start, end in intervals)
    else:
        total = sum(r.seconds or 0 for r in rows if not r.waiting)
    explicit_guest = [r.is_guest for r in rows if r.is_guest is not None]
    if explicit_guest:
        is_guest = any(explicit_guest)
    else:
        is_guest = email is None or any(_tagged_guest(r.name) for r in rows)
    roles = [r.role for r in rows if r.role is not None]
    role = min(roles, key=_ROLE_RANK.__getitem__) if roles else None
    said = [r.attended for r in rows if r.attended is not None]
    attended = total > 0 or any(said) or (not said and bool(intervals))
    firsts = [r.first_join for r in rows if r.first_join] + [i[0] for i in intervals]
    lasts = [r.last_leave for r in rows if r.last_leave] + [i[1] for i in intervals]
    names = tuple(dict.fromkeys(r.name for r in rows if r.name))
    keys = tuple(dict.fromkeys(k for r in rows for k in r.keys))
    return AttendanceRecord(
        name=names[0] if names else (email or ""),
        email=email,
        intervals=tuple(intervals),
        total_seconds=total,
        is_guest=is_guest,
        role=role,
        attended=attended,
        names=names,
        name_keys=keys,
        sessions=sum(1 for r in rows if r.is_session),
        first_join=min(firsts) if firsts else None,
        last_leave=max(lasts) if lasts else None,
        lines=tuple(r.line for r in rows),
    )


# --------------------------------------------------------------------------- formats


@dataclass
class _Meta:
    title: str | None = None
    meeting_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _summary_from(header: Sequence[str], values: Sequence[str], line: int, clock: _Clock) -> _Meta:
    mapping = _map_header(header)
    meta = _Meta()

    def get(key: str) -> str:
        index = mapping.get(key)
        return values[index] if index is not None and index < len(values) else ""

    meta.title = get("topic") or get("title") or None
    meta.meeting_id = re.sub(r"\s+", "", get("meeting_id")) or None
    meta.start = clock.parse(get("start"), line, "start time") if get("start") else None
    meta.end = clock.parse(get("end"), line, "end time") if get("end") else None
    return meta


def _time_samples(rows: Iterable[_Line]) -> Iterator[str]:
    for _line, cells in rows:
        for cell in cells:
            if ":" in cell and any(ch.isdigit() for ch in cell):
                yield cell


def _parse_zoom_meeting(rows: list[_Line], clock: _Clock) -> tuple[str, _Meta, list[_Row]]:
    header_at = None
    for index, (_line, cells) in enumerate(rows):
        mapping = _map_header(cells)
        if (
            len(mapping.keys() & _PARTICIPANT_FIELDS) >= 2
            and mapping.keys() & _ATTENDANCE_FIELDS  # not any list of names and e-mails
            and not mapping.keys() & _SUMMARY_FIELDS
        ):
            header_at = index
            break
    if header_at is None:
        raise _unknown()
    line, header = rows[header_at]
    mapping = _map_header(header)
    what = "participant table"
    if "name" not in mapping:
        raise _missing("name", line, what)
    has_times = "join" in mapping or "leave" in mapping
    if has_times:
        for key in ("join", "leave"):
            if key not in mapping:
                raise _missing(key, line, what)
    elif "duration" not in mapping and "total_duration" not in mapping:
        raise _missing("duration", line, what)

    clock.settle_order(_time_samples(rows), default_day_first=False)
    meta = _Meta()
    for index in range(header_at):
        _summary_line, cells = rows[index]
        if _map_header(cells).keys() & (_SUMMARY_FIELDS | {"start"}):
            following = [r for r in rows[index + 1 : header_at] if not _blank(r[1])]
            if following:
                meta = _summary_from(cells, following[0][1], following[0][0], clock)
            break
    table = _table_rows(rows, header_at + 1, len(rows))
    people = _read_person_rows(table, mapping, clock)
    shape = "zoom_meeting/per_join" if has_times else (
        "zoom_meeting/unique_users" if "total_duration" in mapping else "zoom_meeting/durations"
    )
    return shape, meta, people


_WEBINAR_TITLES = {"attendeereport", "出席者レポート", "ウェビナー出席者レポート", "参加者レポート"}


def _webinar_section(cells: Sequence[str]) -> Role | bool | None:
    """Role of a webinar section title row, False when the row is not a section title."""
    title = _single(cells)
    if title is None:
        return False
    key = normalise_header(title)
    if not (key.endswith("details") or "詳細" in key or key in ("otherattended", "その他の出席者")):
        return False
    if "panelist" in key or "パネリスト" in key:
        return Role.PANELIST
    if "cohost" in key or "共同ホスト" in key:
        return Role.CO_HOST
    if "host" in key or "ホスト" in key:
        return Role.HOST
    if "attendee" in key or "出席者" in key or "参加者" in key or "other" in key or "その他" in key:
        return Role.ATTENDEE
    return None


def _looks_like_webinar(rows: list[_Line]) -> bool:
    for _line, cells in rows[:5]:
        title = _single(cells)
        if title and normalise_header(title) in _WEBINAR_TITLES:
            return True
    return any(_webinar_section(cells) not in (False, None) for _line, cells in rows)


def _parse_zoom_webinar(rows: list[_Line], clock: _Clock) -> tuple[str, _Meta, list[_Row]]:
    clock.settle_order(_time_samples(rows), default_day_first=False)
    meta = _Meta()
    sections: list[tuple[int, Role | None]] = []
    for index, (_line, cells) in enumerate(rows):
        role = _webinar_section(cells)
        if role is not False:
            sections.append((index, role if isinstance(role, Role) else None))
    if not sections:
        raise AttendanceReportError(
            "this Zoom webinar report has no Host/Panelist/Attendee Details sections; "
            "it looks truncated"
        )
    for index in range(sections[0][0]):
        _line, cells = rows[index]
        if _map_header(cells).keys() & _SUMMARY_FIELDS:
            following = [r for r in rows[index + 1 : sections[0][0]] if not _blank(r[1])]
            if following and not _map_header(following[0][1]).keys() & _SUMMARY_FIELDS:
                meta = _summary_from(cells, following[0][1], following[0][0], clock)
            break

    people: list[_Row] = []
    bounds = [*(s[0] for s in sections[1:]), len(rows)]
    for (start, role), stop in zip(sections, bounds, strict=True):
        table = _table_rows(rows, start + 1, stop)
        if not table:
            continue
        line, header = table[0]
        mapping = _map_header(header)
        if _single(header) is not None and len(mapping) < 2:
            continue  # e.g. "No panelists" under the section title
        what = f"“{_single(rows[start][1])}” table"
        if "name" not in mapping:
            raise _missing("name", line, what)
        if "join" not in mapping and "duration" not in mapping:
            raise _missing("join", line, what)
        if ("join" in mapping) != ("leave" in mapping):
            raise _missing("leave" if "join" in mapping else "join", line, what)
        people.extend(_read_person_rows(table[1:], mapping, clock, role=role))
    return "zoom_webinar/attendee_report", meta, people


_TEAMS_SECTION = re.compile(r"^\s*([1-9])\s*[.．、)]\s*\S")


def _teams_sections(rows: list[_Line]) -> dict[int, tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for index, (_line, cells) in enumerate(rows):
        title = _single(cells)
        if title is not None and cells[0] == title:
            match = _TEAMS_SECTION.match(unicodedata.normalize("NFKC", title))
            if match:
                found.append((int(match[1]), index, title))
    sections: dict[int, tuple[int, int, str]] = {}
    for position, (number, index, title) in enumerate(found):
        stop = found[position + 1][1] if position + 1 < len(found) else len(rows)
        sections.setdefault(number, (index + 1, stop, title))
    return sections


def _looks_like_teams(rows: list[_Line]) -> bool:
    sections = _teams_sections(rows)
    if 1 in sections and 2 in sections:
        return True
    first = next((index for index, (_line, cells) in enumerate(rows) if not _blank(cells)), None)
    if 1 in sections and sections[1][0] == (first or 0) + 1:
        return True  # starts with "1. Summary": a Teams report cut short, told so below
    return any(
        {"first_join", "last_leave"} <= _map_header(cells).keys() for _line, cells in rows[:40]
    )


def _parse_teams(rows: list[_Line], clock: _Clock) -> tuple[str, _Meta, list[_Row]]:
    sections = _teams_sections(rows)
    if 2 not in sections:
        raise AttendanceReportError(
            "this Teams attendance report has no “2. Participants” section; it looks truncated"
        )
    clock.settle_order(_time_samples(rows), default_day_first=None)

    meta = _Meta()
    if 1 in sections:
        start, stop, _title = sections[1]
        table = _table_rows(rows, start, stop)
        if len(table) >= 2 and len([c for c in table[0][1] if c]) > 2:
            meta = _summary_from(table[0][1], table[1][1], table[1][0], clock)  # header + values
        else:
            for line, cells in table:
                key = _FIELD_OF.get(normalise_header(cells[0])) if cells else None
                value = cells[1] if len(cells) > 1 else ""
                if not value:
                    continue
                if key in ("title", "topic") and meta.title is None:
                    meta.title = value
                elif key == "start" and meta.start is None:
                    meta.start = clock.parse(value, line, "start time")
                elif key == "end" and meta.end is None:
                    meta.end = clock.parse(value, line, "end time")
                elif key == "meeting_id" and meta.meeting_id is None:
                    meta.meeting_id = value

    def table_of(number: int) -> tuple[list[_Line], dict[str, int], str] | None:
        start, stop, title = sections[number]
        table = _table_rows(rows, start, stop)
        if not table:
            return None
        mapping = _map_header(table[0][1])
        if len(mapping) < 2 and _single(table[0][1]) is not None:
            return None  # "なし" / "None": an empty section
        return table, mapping, f"“{title}” section"

    participants = table_of(2)
    if participants is None:
        raise AttendanceReportError("the “2. Participants” section is empty")
    table, mapping, what = participants
    line = table[0][0]
    if "name" not in mapping:
        raise _missing("name", line, what)
    if "duration" not in mapping and not {"first_join", "last_leave"} <= mapping.keys():
        raise _missing("duration", line, what)
    listed = _read_person_rows(table[1:], mapping, clock)

    activities = table_of(3) if 3 in sections else None
    if activities is None:
        return "teams/participants", meta, listed
    table, mapping, what = activities
    line = table[0][0]
    for key in ("name", "join", "leave"):
        if key not in mapping:
            raise _missing(key, line, what)
    joins = _read_person_rows(table[1:], mapping, clock)
    # Activities give every join; the participants list still carries the role, the
    # first/last times and anyone the activities omit.
    joined_emails = {r.email for r in joins if r.email}
    joined_names = {k for r in joins if not r.email for k in r.keys}
    for row in listed:
        covered = row.email in joined_emails if row.email else bool(set(row.keys) & joined_names)
        if covered:
            row.seconds = None  # the activity intervals are exact; avoid counting twice
            row.attended = None
            row.is_session = False
        joins.append(row)
    return "teams/activities", meta, joins


def _unknown() -> AttendanceReportError:
    return AttendanceReportError(
        "this is not a report we know: expected a Zoom meeting participant report, a Zoom "
        "webinar attendee report or a Microsoft Teams attendance report (CSV as downloaded)"
    )


# --------------------------------------------------------------------------- entry point


def parse_attendance_report(
    source: bytes | BinaryIO,
    *,
    tz: str | tzinfo = DEFAULT_TIMEZONE,
    day_first: bool | None = None,
    max_bytes: int = MAX_REPORT_BYTES,
) -> AttendanceReport:
    """Detect, decode and parse a Zoom or Teams attendance report; all or nothing."""
    # Read one byte past the limit, so an oversized upload is refused without reading it all.
    data = bytes(source) if isinstance(source, bytes | bytearray) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AttendanceReportError(
            f"the file is larger than {max_bytes // (1024 * 1024)} MB; is it really a report?"
        )
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    text, encoding = decode_report(data)
    rows = _tabulate(text)
    clock = _Clock(zone, day_first)

    if _looks_like_teams(rows):
        kind, (shape, meta, people) = SourceKind.TEAMS, _parse_teams(rows, clock)
    elif _looks_like_webinar(rows):
        kind, (shape, meta, people) = SourceKind.ZOOM_WEBINAR, _parse_zoom_webinar(rows, clock)
    else:
        kind, (shape, meta, people) = SourceKind.ZOOM_MEETING, _parse_zoom_meeting(rows, clock)

    if not people:
        raise AttendanceReportError(
            "the report lists no participants; was it downloaded before the meeting ended? "
            "(Zoom may take up to 30 minutes to complete a report)"
        )
    return AttendanceReport(
        source=kind,
        shape=shape,
        encoding=encoding,
        title=meta.title,
        meeting_id=meta.meeting_id,
        start=meta.start,
        end=meta.end,
        records=_merge(people),
        row_count=len(people),
    )
