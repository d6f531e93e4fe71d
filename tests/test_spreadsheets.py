"""The shared CSV/XLSX writer: encodings Excel in Japan reads, formula injection, typed XLSX,
constant memory. Pure engine tests: no app, no database."""

from __future__ import annotations

import csv
import io
import tracemalloc
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from app.engines.spreadsheets import (
    CP932_REPLACEMENT,
    MAX_REPLACEMENT_DETAILS,
    Row,
    display_width,
    iter_csv_chunks,
    neutralise_formula,
    scan_cp932,
    to_cp932_text,
    write_csv,
    write_xlsx,
)

HEADER = ["受付番号", "氏名", "ふりがな", "メール", "人数", "金額", "申込日", "申込日時", "備考"]


def sample_rows() -> list[Row]:
    return [
        [1, "山田 太郎", "やまだ たろう", "taro@example.jp", 2, Decimal("1500.50"),
         date(2026, 10, 5), datetime(2026, 10, 5, 18, 3, 0), None],
        [2, "髙橋 ①子", "たかはし いちこ", "ichiko@example.jp", 1, 0.5,
         date(2026, 10, 6), datetime(2026, 10, 6, 9, 0, 0), "車椅子, 介助者あり"],
    ]


def read_csv_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --------------------------------------------------------------------------- CSV: encodings


def test_utf8_csv_starts_with_bom_and_reads_back_with_utf8_sig() -> None:
    out = io.BytesIO()
    report = write_csv(HEADER, sample_rows(), out)
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1
    rows = read_csv_text(data.decode("utf-8-sig"))
    assert rows[0] == HEADER
    assert rows[1] == ["1", "山田 太郎", "やまだ たろう", "taro@example.jp", "2", "1500.50",
                       "2026/10/05", "2026/10/05 18:03:00", ""]
    assert rows[2][1] == "髙橋 ①子"
    assert rows[2][5] == "0.5"
    assert report.rows_written == 2
    assert report.encoding == "utf-8-sig"
    assert not report.has_replacements


def test_every_line_ends_with_crlf() -> None:
    out = io.BytesIO()
    write_csv(["a", "b"], [["x", 1], ["y", 2]], out)
    body = out.getvalue()[3:]
    assert body == b"a,b\r\nx,1\r\ny,2\r\n"


def test_cp932_csv_reads_back_and_counts_replacements() -> None:
    header = ["氏名", "メモ", "国籍"]
    rows: list[Row] = [
        ["𠮷田 太郎", "OK", "日本"],  # U+20BB7, outside CP932
        ["Nguyễn Văn An", "🎉 参加します", "ベトナム"],
        ["髙橋 﨑子", "①番", "日本"],  # IBM/NEC extensions CP932 does hold
        ["José Müller", "", "ドイツ"],
    ]
    out = io.BytesIO()
    report = write_csv(header, rows, out, encoding="cp932")
    text = out.getvalue().decode("cp932")  # strict: must decode
    assert not out.getvalue().startswith(b"\xef\xbb\xbf")
    back = read_csv_text(text)
    assert back[1][0] == f"{CP932_REPLACEMENT}田 太郎"
    assert back[2][0] == f"Nguy{CP932_REPLACEMENT}n V{CP932_REPLACEMENT}n An"
    assert back[2][1] == f"{CP932_REPLACEMENT} 参加します"
    assert back[3] == ["髙橋 﨑子", "①番", "日本"]
    assert back[4][0] == f"Jos{CP932_REPLACEMENT} M{CP932_REPLACEMENT}ller"

    assert report.encoding == "cp932"
    assert report.replaced_characters == 1 + 2 + 1 + 2
    assert report.replaced_cell_count == 4
    assert report.replaced_by_column == {"氏名": 5, "メモ": 1}
    where = [(c.row_number, c.spreadsheet_row, c.column, c.characters)
             for c in report.replaced_cells]
    assert where == [
        (1, 2, "氏名", "𠮷"),
        (2, 3, "氏名", "ễă"),
        (2, 3, "メモ", "🎉"),
        (4, 5, "氏名", "éü"),
    ]
    assert report.has_replacements and not report.details_truncated


def test_cp932_same_characters_under_other_code_points_are_not_counted() -> None:
    decomposed = unicodedata.normalize("NFD", "ガイド")  # macOS input: カ + U+3099
    text, lost = to_cp932_text(f"A—B ¥500 {decomposed}\u200b")
    assert lost == ""
    assert text == "A―B ￥500 ガイド"
    text.encode("cp932")


def test_cp932_variation_selectors_are_dropped_not_replaced() -> None:
    assert to_cp932_text("辻\U000e0100 ☆\ufe0f") == ("辻 ☆", "")


def test_cp932_replacement_in_header_is_reported_as_row_zero() -> None:
    report = scan_cp932(["名前😀"], [["a"]])
    assert [(c.row_number, c.column_index) for c in report.replaced_cells] == [(0, 0)]


def test_cp932_replacement_details_are_capped_but_totals_exact() -> None:
    rows = ([f"😀{i}"] for i in range(MAX_REPLACEMENT_DETAILS + 50))
    report = write_csv(["x"], rows, io.BytesIO(), encoding="cp932")
    assert report.replaced_characters == MAX_REPLACEMENT_DETAILS + 50
    assert len(report.replaced_cells) == MAX_REPLACEMENT_DETAILS
    assert report.details_truncated


def test_unknown_encoding_is_refused_before_streaming_starts() -> None:
    with pytest.raises(ValueError, match="unsupported CSV encoding"):
        write_csv(["a"], [], io.BytesIO(), encoding="latin-1")
    with pytest.raises(ValueError, match="unsupported CSV encoding"):
        iter_csv_chunks(["a"], [], encoding="utf-16")  # no next() needed


def test_shift_jis_alias_means_cp932() -> None:
    out = io.BytesIO()
    report = write_csv(["会社"], [["㈱つどい"]], out, encoding="shift_jis")
    assert report.encoding == "cp932"
    assert out.getvalue().decode("cp932") == "会社\r\n㈱つどい\r\n"


# --------------------------------------------------------------------------- CSV: cells


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+81-90-1234-5678", "'+81-90-1234-5678"),
        ("-2", "'-2"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=x", "'\t=x"),
        ("=HYPERLINK(\"http://evil.example/\",\"click\")", "'=HYPERLINK(\"http://evil.example/\",\"click\")"),
        ("山田=太郎", "山田=太郎"),
        (" =1+1", " =1+1"),
        ("＝1+1", "＝1+1"),
        ("", ""),
    ],
)
def test_neutralise_formula(cell: str, expected: str) -> None:
    assert neutralise_formula(cell) == expected


def test_formula_injection_cells_in_csv() -> None:
    header = ["=cmd|' /C calc'!A0", "b"]
    rows: list[Row] = [
        ["=1+1", -2],
        ["+81 90 1234 5678", "-2"],
        ["@SUM(A1)", -2.5],
        ["\t=x", Decimal("-3.25")],
        ["\r=x", 0],
    ]
    out = io.BytesIO()
    write_csv(header, rows, out)
    back = read_csv_text(out.getvalue().decode("utf-8-sig"))
    assert back[0][0] == "'=cmd|' /C calc'!A0"
    assert back[1] == ["'=1+1", "-2"]  # the int stays a number
    assert back[2] == ["'+81 90 1234 5678", "'-2"]  # the str "-2" is text
    assert back[3] == ["'@SUM(A1)", "-2.5"]
    assert back[4] == ["'\t=x", "-3.25"]
    assert back[5] == ["'\n=x", "0"]  # CR neutralised, then written as an in-cell LF
    for row in back:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell


def test_line_breaks_commas_and_quotes_inside_cells_are_quoted() -> None:
    out = io.BytesIO()
    write_csv(["住所", "備考"], [["東京都千代田区\r\n1-1", 'He said "hi", then left\rbye']], out)
    raw = out.getvalue().decode("utf-8-sig")
    assert '"東京都千代田区\n1-1"' in raw
    assert '"He said ""hi"", then left\nbye"' in raw
    assert raw.endswith("\r\n")
    assert read_csv_text(raw)[1] == ["東京都千代田区\n1-1", 'He said "hi", then left\nbye']


def test_other_value_types_in_csv() -> None:
    out = io.BytesIO()
    write_csv(
        ["a", "b", "c", "d", "e", "f"],
        [[True, False, Decimal("1E+3"), float("nan"), time(9, 30), datetime(2026, 1, 2, 3, 4, 5,
                                                                            tzinfo=UTC)]],
        out,
    )
    assert read_csv_text(out.getvalue().decode("utf-8-sig"))[1] == [
        "TRUE", "FALSE", "1000", "", "09:30:00", "2026/01/02 03:04:05"]


def test_row_with_wrong_width_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="row 2 has 1 cells but the header has 2"):
        write_csv(["a", "b"], [["x", "y"], ["z"]], io.BytesIO())


def test_iter_csv_chunks_streams_the_same_bytes_in_pieces() -> None:
    rows: list[Row] = [[i, f"参加者{i}", "x" * 50] for i in range(3000)]
    chunks = list(iter_csv_chunks(["n", "名前", "pad"], rows, chunk_size=8192))
    assert len(chunks) > 10
    # chunk_size counts characters; a Japanese character is three bytes in UTF-8.
    assert all(len(c) < 3 * (8192 + 200) for c in chunks)
    whole = io.BytesIO()
    write_csv(["n", "名前", "pad"], rows, whole)
    assert b"".join(chunks) == whole.getvalue()


def test_iter_csv_chunks_cp932_chunks_each_decode() -> None:
    rows = [[f"山田{i}😀"] for i in range(2000)]
    chunks = list(iter_csv_chunks(["名前"], rows, encoding="cp932", chunk_size=4096))
    for chunk in chunks:
        chunk.decode("cp932")  # chunks end on row boundaries, never inside a character


# --------------------------------------------------------------------------- XLSX


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_xlsx_types_header_freeze_filter_widths() -> None:
    out = io.BytesIO()
    rows = [
        *sample_rows(),
        [3, "=1+1", "-2", "@x", -2, -2.5, None, datetime(2026, 10, 7, 10, 0, tzinfo=UTC),
         "一行目\r\n二行目"],
    ]
    write_xlsx(HEADER, rows, out, sheet_title="参加者一覧", number_formats={"金額": "#,##0.00"})
    wb = load(out.getvalue())
    ws = wb["参加者一覧"]
    assert [c.value for c in ws[1]] == HEADER
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:I4"

    r2 = ws[2]
    assert r2[0].value == 1 and r2[0].data_type == "n"
    assert r2[1].value == "山田 太郎" and r2[1].data_type == "s"
    assert r2[4].value == 2
    assert r2[5].value == pytest.approx(1500.5) and r2[5].number_format == "#,##0.00"
    assert r2[6].is_date and r2[6].value == datetime(2026, 10, 5)
    assert r2[6].number_format == "yyyy/mm/dd"
    assert r2[7].is_date and r2[7].value == datetime(2026, 10, 5, 18, 3)
    assert r2[7].number_format == "yyyy/mm/dd hh:mm"
    assert r2[8].value is None

    r4 = ws[4]
    # Text that Excel would evaluate is stored as a string and keeps the apostrophe, so that
    # re-saving the workbook as CSV cannot revive it.
    assert (r4[1].value, r4[1].data_type) == ("'=1+1", "s")
    assert (r4[2].value, r4[2].data_type) == ("'-2", "s")
    assert (r4[3].value, r4[3].data_type) == ("'@x", "s")
    assert (r4[4].value, r4[4].data_type) == (-2, "n")  # a real negative number stays one
    assert r4[5].value == -2.5
    assert r4[7].value == datetime(2026, 10, 7, 10, 0)  # wall-clock time, zone dropped
    assert r4[8].value == "一行目\n二行目"
    assert r4[8].alignment.wrap_text

    # Auto widths: full-width text counts double, so 氏名 is wider than 人数's digits.
    assert ws.column_dimensions["B"].width > ws.column_dimensions["E"].width
    assert ws.column_dimensions["C"].width >= display_width("やまだ たろう")


def test_xlsx_given_widths_and_formula_never_stored_as_formula() -> None:
    out = io.BytesIO()
    write_xlsx(["a", "b"], [["=SUM(1,2)", 1]], out, sheet_title="x", column_widths=[30, None])
    wb = load(out.getvalue())
    ws = wb.active
    assert ws.column_dimensions["A"].width == 30
    assert ws["A2"].data_type == "s"
    # openpyxl reads formulas back as "=…" with data_type "f"; this is text.
    assert ws["A2"].value == "'=SUM(1,2)"


def test_xlsx_widths_by_title_and_sheet_title_sanitised() -> None:
    out = io.BytesIO()
    write_xlsx(["名前", "メール"], [], out, sheet_title="2026/10 参加者: [確定]*?" + "x" * 40,
               column_widths={"メール": 42})
    wb = load(out.getvalue())
    ws = wb.worksheets[0]
    assert len(ws.title) <= 31
    assert not set(ws.title) & set("[]:*?/\\")
    assert ws.column_dimensions["B"].width == 42
    assert ws.auto_filter.ref == "A1:B1"


def test_xlsx_long_integers_control_characters_and_nan() -> None:
    out = io.BytesIO()
    write_xlsx(["id", "text", "f"], [[12345678901234567, "a\x00b\x1fc", float("inf")]], out,
               sheet_title="s")
    ws = load(out.getvalue()).active
    assert ws["A2"].value == "12345678901234567"  # Excel would round a 17-digit number
    assert ws["B2"].value == "a\ufffdb\ufffdc"
    assert ws["C2"].value is None


def test_xlsx_row_with_wrong_width_is_refused_and_cleaned_up() -> None:
    out = io.BytesIO()
    rows = ([1, 2] if i < 300 else [1, 2, 3] for i in range(301))
    with pytest.raises(ValueError, match="row 301 has 3 cells"):
        write_xlsx(["a", "b"], rows, out, sheet_title="s")
    assert out.getvalue() == b""  # nothing half-written reaches the caller


# --------------------------------------------------------------------------- memory


def registrations(n: int) -> Iterator[Row]:
    """Realistic rows generated lazily: the test must not hold them itself."""
    surnames = ["山田", "佐藤", "鈴木", "髙橋", "𠮷田", "Nguyễn"]
    for i in range(n):
        yield [
            i + 1,
            f"{surnames[i % 6]} 太郎{i}",
            f"やまだ たろう{i}",
            f"user{i}@example.jp",
            "北海道" if i % 2 else "東京都",
            "=danger" if i % 97 == 0 else "一般",
            date(2026, 10, 5),
            datetime(2026, 9, 1, 12, i % 60),
            i % 3 - 1,
        ]


ROW_COUNT = 100_000
PEAK_LIMIT = 20 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_csv_export_of_100k_rows_runs_in_constant_memory(tmp_path: Path, encoding: str) -> None:
    target = tmp_path / "out.csv"
    tracemalloc.start()
    try:
        with target.open("wb") as out:
            report = write_csv(HEADER, registrations(ROW_COUNT), out, encoding=encoding)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.rows_written == ROW_COUNT
    assert target.stat().st_size > 8 * 1024 * 1024  # far more than was ever held
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"
    if encoding == "cp932":
        # 𠮷田 and Nguyễn: one replaced character each, every sixth row.
        assert report.replaced_characters == sum(1 for i in range(ROW_COUNT) if i % 6 >= 4)


XLSX_CHILD = """
import resource, sys, tempfile
sys.path.insert(0, {tests!r})
from test_spreadsheets import HEADER, registrations
from app.engines.spreadsheets import write_xlsx
with tempfile.TemporaryFile() as out:
    write_xlsx(HEADER, registrations(int(sys.argv[1])), out, sheet_title="参加者")
    size = out.tell()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, size)
"""


@pytest.mark.slow
def test_xlsx_export_of_100k_rows_runs_in_constant_memory() -> None:
    """openpyxl's pure-Python XML writer is ~5x slower under tracemalloc, so this one measures
    the peak resident set of a child process instead (which also counts C allocations):
    100,000 rows must need no more memory than 1,000 beyond a small margin."""
    import subprocess
    import sys

    code = XLSX_CHILD.format(tests=str(Path(__file__).parent))
    root = Path(__file__).parent.parent

    def peak_kib(rows: int) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", code, str(rows)], cwd=root, check=True,
                              capture_output=True, text=True, timeout=600)
        rss, size = done.stdout.split()
        return int(rss), int(size)

    small_rss, _small_size = peak_kib(1_000)
    large_rss, large_size = peak_kib(ROW_COUNT)
    assert large_size > 3 * 1024 * 1024
    growth = (large_rss - small_rss) * 1024  # ru_maxrss is in KiB on Linux
    assert growth < PEAK_LIMIT, f"100k rows needed {growth / 1e6:.1f} MB more than 1k rows"


def test_xlsx_memory_does_not_grow_with_rows() -> None:
    """The same property under tracemalloc, on a size that keeps the suite quick."""

    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            write_xlsx(HEADER, registrations(rows), io.BytesIO(), sheet_title="s")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(300), peak(3_000)
    # io.BytesIO holds the finished (compressed) file; everything else must stay flat.
    assert large < PEAK_LIMIT
    assert large - small < 2 * 1024 * 1024, (small, large)
