"""One writer for every CSV and XLSX export (participant lists, attendance, rosters, summaries).

An exporter supplies a header (column titles) and an iterator of rows; each cell is
``str``, ``int``, ``float``, ``Decimal``, ``date``, ``datetime``, ``bool`` or ``None``.
Nothing here imports Flask or touches the database: the web layer wraps
:func:`iter_csv_chunks` in a streamed response, or calls :func:`write_xlsx` on a
temporary file and sends that.

CSV for Excel in Japan
----------------------
* UTF-8 **with BOM** by default: Excel on Japanese Windows reads a CSV as CP932
  unless it starts with a BOM, and would show mojibake.
* ``encoding="cp932"`` for old tools. Characters CP932 cannot hold (U+20BB7 𠮷,
  Vietnamese ễ, emoji, é, ō …) become **〓** (U+3013, *geta*), the mark Japanese
  typesetting has always used for a missing glyph: it is in CP932, it is visible,
  and unlike ``?`` it does not occur in real names or answers, so a reader can
  tell a replacement from data. Every replacement is counted in the returned
  :class:`CsvReport` (total, per column, and the first
  :data:`MAX_REPLACEMENT_DETAILS` cells with row/column/characters) so the UI can
  warn "3 names could not be written in Shift_JIS". A few characters are the
  *same* character under another code point (em dash U+2014 vs CP932's U+2015,
  ¥ U+00A5 vs ￥, NBSP) and are mapped silently; zero-width characters and
  variation selectors, which carry nothing CP932 could show, are dropped (辻󠄀
  with its variant selector is written as 辻). Text is NFC-normalised first so that
  decomposed kana from macOS (か + ゛) is written as one CP932 character.
* CRLF line endings; cells with commas, quotes or line breaks are quoted.
  Line breaks inside a cell are written as LF (what Alt+Enter produces in Excel);
  a lone CR would otherwise be read as a row end by some tools.
* Numbers are written as plain digits; ``Decimal`` never in exponent notation.
  Dates are ``YYYY/MM/DD`` and datetimes ``YYYY/MM/DD HH:MM:SS``, the forms
  Japanese Excel recognises as dates. Aware datetimes are written in their own
  wall-clock time: the exporter converts to the event's zone first.
* Known limit of CSV itself: Excel drops leading zeros ("0901234…") and
  shortens long digit strings when it opens a CSV. Prefer XLSX for such columns.

Formula injection
-----------------
A text cell beginning with ``=``, ``+``, ``-``, ``@``, TAB or CR is a formula (or
DDE payload) to Excel, LibreOffice and Google Sheets. :func:`neutralise_formula`
prefixes it with an apostrophe. In CSV the apostrophe stays visible, which is the
accepted price (OWASP); the cell can no longer run. In XLSX the cell is stored
with type *string* (openpyxl would otherwise store ``=…`` as a formula) **and**
keeps the apostrophe prefix, so that when someone opens the workbook and saves
it again as CSV — a routine step in offices — the re-saved file is still inert.
Only text is neutralised: ``-2`` passed as an ``int`` is a number and stays one;
``"-2"`` passed as a ``str`` is text and is prefixed. Full-width ``＝`` is not a
formula to Excel and is left alone (it is also a common placeholder).

XLSX
----
openpyxl write-only mode: rows go straight to a temporary file, so memory stays
flat whatever the row count. Cells are typed (numbers as numbers, dates as dates
with a ``yyyy/mm/dd`` format), the header row is bold and frozen, columns get
widths (given, or estimated from the header and the first rows — full-width
characters count double) and the whole table gets an autofilter. Integers of 16
digits or more are written as text because Excel keeps only 15 significant
digits. Control characters that XML cannot carry become U+FFFD; text longer
than Excel's 32,767-character cell limit is cut there.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

Cell = str | int | float | Decimal | date | datetime | time | bool | None
Row = Sequence[Cell]

CP932_REPLACEMENT = "〓"
MAX_REPLACEMENT_DETAILS = 1000
CSV_CHUNK_SIZE = 64 * 1024

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
# Excel stores 15 significant digits; anything longer would silently lose digits.
EXCEL_MAX_EXACT_INT = 10**15

DATE_FORMAT = "%Y/%m/%d"
DATETIME_FORMAT = "%Y/%m/%d %H:%M:%S"
XLSX_DATE_FORMAT = "yyyy/mm/dd"
XLSX_DATETIME_FORMAT = "yyyy/mm/dd hh:mm"
XLSX_TIME_FORMAT = "hh:mm"

_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_LINE_BREAKS = re.compile(r"\r\n?")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# Same character in CP932 under another code point, or invisible: not a loss, not counted.
_CP932_EQUIVALENTS = str.maketrans(
    {
        "\u2014": "\u2015",  # EM DASH -> HORIZONTAL BAR (CP932 0x815C)
        "\u2011": "\u2010",  # NON-BREAKING HYPHEN -> HYPHEN
        "\u00a0": " ",  # NO-BREAK SPACE
        "\u00a5": "\uffe5",  # YEN SIGN -> FULLWIDTH YEN SIGN
        "\u203e": "\uffe3",  # OVERLINE -> FULLWIDTH MACRON
        "\u00b7": "\u30fb",  # MIDDLE DOT -> KATAKANA MIDDLE DOT (ジョン・スミス)
        "\u200b": None,  # ZERO WIDTH SPACE
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,  # stray BOM pasted from another file
        # Variation selectors only pick a glyph (emoji style, kanji variant such as 辻󠄀);
        # CP932 has one glyph per character, so the base character is the faithful rendering.
        **{chr(cp): None for cp in range(0xFE00, 0xFE10)},
        **{chr(cp): None for cp in range(0xE0100, 0xE01F0)},
    }
)


def neutralise_formula(text: str) -> str:
    """Return *text* made inert for spreadsheets: a leading ``'`` if it could start a formula."""
    if text.startswith(_FORMULA_TRIGGERS):
        return "'" + text
    return text


# --------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class ReplacedCell:
    """One CSV cell in which CP932 could not hold some characters."""

    row_number: int  # 1 = first data row; 0 = the header row
    column_index: int  # 0-based
    column: str
    characters: str  # the characters that were replaced, in order

    @property
    def spreadsheet_row(self) -> int:
        """Row as Excel numbers it (the header is row 1)."""
        return self.row_number + 1


@dataclass
class CsvReport:
    """What :func:`write_csv` wrote; filled while streaming, complete when the stream ends."""

    encoding: str
    replacement: str = CP932_REPLACEMENT
    rows_written: int = 0
    replaced_characters: int = 0
    replaced_cell_count: int = 0
    replaced_by_column: dict[str, int] = field(default_factory=dict)
    # Capped so that a file full of emoji cannot make the report grow with the export.
    replaced_cells: list[ReplacedCell] = field(default_factory=list)
    details_truncated: bool = False

    @property
    def has_replacements(self) -> bool:
        return self.replaced_characters > 0

    def _record(self, row_number: int, index: int, column: str, characters: str) -> None:
        self.replaced_characters += len(characters)
        self.replaced_cell_count += 1
        self.replaced_by_column[column] = self.replaced_by_column.get(column, 0) + len(characters)
        if len(self.replaced_cells) < MAX_REPLACEMENT_DETAILS:
            self.replaced_cells.append(ReplacedCell(row_number, index, column, characters))
        else:
            self.details_truncated = True


def to_cp932_text(text: str) -> tuple[str, str]:
    """Return (text CP932 can encode, the characters that had to be replaced by 〓)."""
    try:
        text.encode("cp932")
        return text, ""
    except UnicodeEncodeError:
        pass
    text = unicodedata.normalize("NFC", text).translate(_CP932_EQUIVALENTS)
    pieces: list[str] = []
    lost: list[str] = []
    # One encode per run of unencodable characters (the error says where it is), not per
    # character: a long answer with one emoji costs two encodes.
    rest = text
    while rest:
        try:
            rest.encode("cp932")
        except UnicodeEncodeError as exc:
            pieces.append(rest[: exc.start])
            lost.append(rest[exc.start : exc.end])
            pieces.append(CP932_REPLACEMENT * (exc.end - exc.start))
            rest = rest[exc.end :]
        else:
            pieces.append(rest)
            break
    return "".join(pieces), "".join(lost)


def _csv_text(value: Cell) -> str:
    # Order matters: bool is an int and datetime is a date.
    if value is None:
        return ""
    if isinstance(value, str):
        # Neutralise first: a leading CR is a trigger even though it becomes LF below.
        text = neutralise_formula(value)
        if "\r" in text:
            text = _LINE_BREAKS.sub("\n", text)
        return text
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return "" if not value.is_finite() else format(value, "f")
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return neutralise_formula(str(value))


def _check_encoding(encoding: str) -> str:
    normalised = encoding.lower().replace("_", "-")
    if normalised in ("utf-8-sig", "utf8-sig"):
        return "utf-8-sig"
    if normalised in ("cp932", "ms932", "windows-31j", "shift-jis", "sjis"):
        # Plain Shift_JIS lacks ①, ㈱, 髙 and friends that Windows users type every day.
        return "cp932"
    raise ValueError(f"unsupported CSV encoding {encoding!r}: use 'utf-8-sig' or 'cp932'")


def iter_csv_chunks(
    header: Sequence[str],
    rows: Iterable[Row],
    *,
    encoding: str = "utf-8-sig",
    report: CsvReport | None = None,
    chunk_size: int = CSV_CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield the CSV as byte chunks of about *chunk_size* characters, for a streamed response.

    Pass a :class:`CsvReport` to learn about CP932 replacements; it is complete once
    the generator is exhausted (a streamed response can log it to the audit trail then).
    A bad *encoding* raises here, before the response starts, not at the first chunk.
    """
    codec = _check_encoding(encoding)
    if report is None:
        report = CsvReport(encoding=codec)
    report.encoding = codec
    return _csv_chunks(header, rows, codec, report, chunk_size)


def _csv_chunks(
    header: Sequence[str], rows: Iterable[Row], codec: str, report: CsvReport, chunk_size: int
) -> Iterator[bytes]:
    width = len(header)
    cp932 = codec == "cp932"
    titles = [str(title) for title in header]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def convert(values: Sequence[Cell], row_number: int) -> list[str]:
        cells = [_csv_text(v) for v in values]
        if cp932:
            joined = "".join(cells)
            if joined.isascii():
                return cells
            try:
                joined.encode("cp932")  # the common case: the whole row fits, one encode
                return cells
            except UnicodeEncodeError:
                pass
            for index, text in enumerate(cells):
                if not text.isascii():
                    safe, lost = to_cp932_text(text)
                    if lost:
                        cells[index] = safe
                        report._record(row_number, index, titles[index], lost)
        return cells

    if codec == "utf-8-sig":
        yield b"\xef\xbb\xbf"
        codec = "utf-8"

    writer.writerow(convert(titles, 0))
    for row_number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(
                f"row {row_number} has {len(row)} cells but the header has {width} columns"
            )
        writer.writerow(convert(row, row_number))
        report.rows_written = row_number
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue().encode(codec)
            buffer.seek(0)
            buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail.encode(codec)


def write_csv(
    header: Sequence[str],
    rows: Iterable[Row],
    out: BinaryIO,
    encoding: str = "utf-8-sig",
) -> CsvReport:
    """Stream a CSV to the binary file *out*, row by row; return what was written and replaced."""
    report = CsvReport(encoding=_check_encoding(encoding))
    for chunk in iter_csv_chunks(header, rows, encoding=encoding, report=report):
        out.write(chunk)
    return report


def scan_cp932(header: Sequence[str], rows: Iterable[Row]) -> CsvReport:
    """Count what a CP932 export would replace, without writing it (to warn before download)."""
    report = CsvReport(encoding="cp932")
    for _chunk in iter_csv_chunks(header, rows, encoding="cp932", report=report):
        pass
    return report


# --------------------------------------------------------------------------- XLSX


_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(title: str) -> str:
    cleaned = _INVALID_SHEET_CHARS.sub("_", title).strip().strip("'")
    return cleaned[:31] or "Sheet1"


def display_width(text: str) -> int:
    """Columns the text needs in a spreadsheet: full-width (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _xlsx_text(text: str) -> str:
    text = neutralise_formula(text)
    if "\r" in text:
        text = _LINE_BREAKS.sub("\n", text)
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("\ufffd", text)
    if len(text) > EXCEL_MAX_CELL_CHARS:
        text = text[:EXCEL_MAX_CELL_CHARS]
    return text


def _xlsx_value(value: Cell) -> str | int | float | Decimal | date | datetime | time | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _xlsx_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < EXCEL_MAX_EXACT_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, datetime):
        # Excel has no time zones; the wall-clock time in the event's zone is what people expect.
        return value.replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, date | time):
        return value
    return _xlsx_text(str(value))


def _sample_width(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, str):
        longest = max(value.split("\n"), key=len, default="")
        return display_width(longest)
    return len(str(value))


def _resolve_per_column(
    header: Sequence[str],
    given: Sequence[float | None] | Mapping[str | int, float] | None,
) -> list[float | None]:
    result: list[float | None] = [None] * len(header)
    if given is None:
        return result
    if isinstance(given, Mapping):
        for key, given_width in given.items():
            result[key if isinstance(key, int) else header.index(key)] = given_width
        return result
    for index, maybe_width in enumerate(given[: len(header)]):
        result[index] = maybe_width
    return result


def write_xlsx(
    header: Sequence[str],
    rows: Iterable[Row],
    out: BinaryIO,
    sheet_title: str,
    column_widths: Sequence[float | None] | Mapping[str | int, float] | None = None,
    number_formats: Mapping[str | int, str] | None = None,
    *,
    width_sample_rows: int = 200,
) -> None:
    """Write one typed worksheet to *out* in constant memory.

    *column_widths*: a width per column (``None`` = estimate), or a mapping from
    column title or index to width. *number_formats*: a mapping from column title or
    index to an Excel number format (``"#,##0"``, ``"0.0%"``, ``"yyyy/mm/dd"``) for
    that column's numeric and date cells.
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(sheet_title))
    width = len(header)
    titles = [str(title) for title in header]

    # Widths have to be known before the first row is written (<cols> precedes
    # <sheetData>), so the first rows are held back to measure them: a bounded buffer.
    row_iter = iter(rows)
    sample = list(itertools.islice(row_iter, width_sample_rows))
    widths = _resolve_per_column(titles, column_widths)
    for index, title in enumerate(titles):
        if widths[index] is None:
            measured = max(
                [display_width(title) + 2]  # room for the autofilter button
                + [_sample_width(row[index]) for row in sample if index < len(row)]
            )
            widths[index] = float(min(max(measured + 2, 8), 60))
        ws.column_dimensions[get_column_letter(index + 1)].width = widths[index]
    ws.freeze_panes = "A2"

    formats: list[str | None] = [None] * width
    if number_formats:
        for key, fmt in number_formats.items():
            formats[key if isinstance(key, int) else titles.index(key)] = fmt

    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    header_alignment = Alignment(vertical="center", wrap_text=True)
    header_cells = []
    for title in titles:
        cell = WriteOnlyCell(ws, value=_xlsx_text(title))
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = header_alignment
        header_cells.append(cell)
    ws.append(header_cells)

    # One styled prototype per (column, kind); copying its style array is far cheaper
    # than assigning number_format (a style-table lookup) on every cell.
    prototypes: dict[tuple[int, str], WriteOnlyCell] = {}
    wrap = Alignment(wrap_text=True, vertical="top")

    def styled(index: int, kind: str, value: object) -> WriteOnlyCell:
        key = (index, kind)
        proto = prototypes.get(key)
        if proto is None:
            proto = WriteOnlyCell(ws)
            if kind == "wrap":
                proto.alignment = wrap
            else:
                proto.number_format = formats[index] or {
                    "datetime": XLSX_DATETIME_FORMAT,
                    "date": XLSX_DATE_FORMAT,
                    "time": XLSX_TIME_FORMAT,
                    "number": "General",
                }[kind]
            prototypes[key] = proto
        cell = WriteOnlyCell(ws)
        # Style before value: a date value on an unstyled cell would look up a default format.
        cell._style = copy.copy(proto._style)
        cell.value = value
        return cell

    def convert(row: Row, row_number: int) -> list[object]:
        if len(row) != width:
            raise ValueError(
                f"row {row_number} has {len(row)} cells but the header has {width} columns"
            )
        out_row: list[object] = []
        for index, raw in enumerate(row):
            value = _xlsx_value(raw)
            if isinstance(value, datetime):
                out_row.append(styled(index, "datetime", value))
            elif isinstance(value, date):
                out_row.append(styled(index, "date", value))
            elif isinstance(value, time):
                out_row.append(styled(index, "time", value))
            elif isinstance(value, str):
                out_row.append(styled(index, "wrap", value) if "\n" in value else value)
            elif formats[index] is not None and isinstance(value, int | float | Decimal):
                out_row.append(styled(index, "number", value))
            else:
                out_row.append(value)
        return out_row

    last_row = 1
    try:
        for row_number, row in enumerate(itertools.chain(sample, row_iter), start=1):
            if row_number >= EXCEL_MAX_ROWS:
                raise ValueError(f"Excel sheets hold at most {EXCEL_MAX_ROWS - 1:,} data rows")
            ws.append(convert(row, row_number))
            last_row = row_number + 1
    except BaseException:
        _discard(ws)
        raise
    # The filter range is written after the rows, so it can cover the final count.
    ws.auto_filter.ref = f"A1:{get_column_letter(max(width, 1))}{last_row}"
    wb.save(out)


def _discard(ws: Any) -> None:
    """Close a half-written sheet: otherwise its row generator complains at garbage collection
    and its temporary file stays on disk until the process exits."""
    with contextlib.suppress(Exception):
        ws.close()
    writer = getattr(ws, "_writer", None)
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.cleanup()
