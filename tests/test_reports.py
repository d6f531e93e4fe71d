"""Downloads: CSV with BOM and in CP932 read back, XLSX with typed columns, formula injection
neutralised in every export, personal data only when asked, constant memory while
streaming, and an audit entry for every export."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import (
    AttendanceImport,
    AttendanceRecord,
    AuditEntry,
    BreakoutAssignment,
    BreakoutRound,
    Event,
    Question,
    Registration,
)
from app.models.attendance import AttendanceSource, ImportStatus, MatchMethod, ReportKind
from app.models.breakouts import AssignmentSource
from app.models.enums import AttendanceMode, EventFormat, QuestionKind, RegistrationStatus
from tests.attendance_support import many, person, prefer
from tests.factories import AuthActions, add_groups, make_event, make_user

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("http://evil.example/","click")'


@pytest.fixture
def event(app) -> Event:
    event = make_event(title="=防災講座", event_format=EventFormat.HYBRID, online_capacity=50)
    event.questions = [
        Question(key="comment", kind=QuestionKind.TEXT, label="ご意見"),
        Question(key="topics", kind=QuestionKind.MULTIPLE_CHOICE, label="関心のあるテーマ",
                 options=["防災", "福祉"]),
    ]
    db.session.commit()
    first, second = add_groups(event, ["=1+1", "福祉"])
    taro = person(event, name="山田 太郎", email="taro@example.jp", organization_name=HYPERLINK,
                  answers={"comment": "+81 90 1234 5678", "topics": ["防災", "福祉"]})
    prefer(taro, first.id)
    person(event, name="𠮷田 花子", email="hanako@example.jp", organization_name="@SUM(1+1)",
           answers={"comment": "-1"}, status=RegistrationStatus.CANCELLED)
    person(event, name="Nguyễn Văn An", email="an@example.vn", organization_name="\tTAB",
           status=RegistrationStatus.WAITLISTED)
    online = person(event, name="佐藤 一郎", email="ichiro@example.jp",
                    attendance_mode=AttendanceMode.ONLINE, answers={"comment": "\r改行"})
    prefer(online, second.id)
    staged = AttendanceImport(token="t", event_id=event.id, status=ImportStatus.ACCEPTED,
                              kind=ReportKind.ZOOM_MEETING, shape="zoom_meeting/per_join",
                              sha256="0" * 64, content=b"", people=1)
    db.session.add(staged)
    db.session.flush()
    db.session.add(AttendanceRecord(event_id=event.id, registration_id=online.id,
                                    import_id=staged.id, source=AttendanceSource.ZOOM,
                                    matched_by=MatchMethod.EMAIL, seconds=45 * 60 + 10, joins=2))
    db.session.commit()
    return event


@pytest.fixture
def organizer(client, event) -> AuthActions:
    make_user(events=[event])
    auth = AuthActions(client)
    auth.login()
    return auth


def download(client, event: Event, name: str, **params: str):
    response = client.get(f"/console/events/{event.id}/exports/{name}", query_string=params)
    assert response.status_code == 200, response.text[:2000]
    return response


def csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def xlsx_rows(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_csv_is_utf8_with_bom_and_reads_back(client, event, organizer):
    response = download(client, event, "participants.csv",
                        columns="receipt,status,name,email,q_comment,q_topics,group")
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"event")
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.data
    header, *rows = csv_rows(response.data)
    assert header == ["Receipt number", "Status", "Name", "Email address", "ご意見",
                      "関心のあるテーマ", "Group (first choice)"]
    assert [row[2] for row in rows] == ["山田 太郎", "𠮷田 花子", "Nguyễn Văn An", "佐藤 一郎"]
    assert [row[1] for row in rows] == ["Taking part", "Cancelled", "On the waiting list",
                                        "Taking part"]
    assert rows[0][5] == "防災、福祉"
    assert rows[0][0].isdigit()  # the receipt number is a plain number


def test_cp932_warns_before_download_and_reads_back(client, event, organizer):
    page = client.get(f"/console/events/{event.id}/exports", query_string={
        "kind": "participants", "check": "1", "fmt": "csv", "encoding": "cp932",
        "columns": ["receipt"], "personal": ["name"]})
    assert page.status_code == 200
    # 𠮷 in 𠮷田, ễ and ă in Nguyễn Văn: three characters Shift_JIS cannot hold.
    assert "3 characters cannot be written in Shift_JIS and will appear as 〓" in page.text
    assert "personal data" in page.text
    assert db.session.execute(select(AuditEntry)).first() is None  # checking is not exporting

    response = download(client, event, "participants.csv", encoding="cp932",
                        columns="receipt,name")
    assert not response.data.startswith(b"\xef\xbb\xbf")
    assert "Windows-31J" in response.headers["Content-Type"]
    _header, *rows = csv_rows(response.data, "cp932")
    assert [row[1] for row in rows] == ["山田 太郎", "〓田 花子", "Nguy〓n V〓n An", "佐藤 一郎"]


def test_xlsx_has_typed_columns_and_a_frozen_header(client, event, organizer):
    response = download(client, event, "attendance.xlsx",
                        columns="receipt,name,registered_at,online_minutes,attended,evidence")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref.startswith("A1:")
    header = [cell.value for cell in sheet[1]]
    assert header == ["Receipt number", "Name", "Registered at", "Minutes online", "Attendance",
                      "Recorded by"]
    rows = {row[1]: row for row in xlsx_rows(response.data)[1:]}
    assert set(rows) == {"山田 太郎", "佐藤 一郎"}  # confirmed (the others are not)
    ichiro = rows["佐藤 一郎"]
    assert isinstance(ichiro[0], int)
    assert isinstance(ichiro[2], datetime)
    assert ichiro[3] == 45 and isinstance(ichiro[3], int)
    assert ichiro[4] == "Attended" and ichiro[5] == "Online meeting report"
    assert rows["山田 太郎"][4] == "Absent"
    assert sheet.column_dimensions["A"].width == 10


def _cells(kind: str, fmt: str, client, event) -> list[object]:
    columns = "" if kind == "summary" else (
        "receipt,name,furigana,email,organization,group,q_comment,q_topics")
    params = {"columns": columns} if columns else {}
    data = download(client, event, f"{kind}.{fmt}", **params).data
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    return [cell for row in rows for cell in row]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", ["participants", "attendance", "rosters", "summary"])
def test_formula_injection_is_neutralised_in_every_export(client, event, organizer, kind, fmt):
    cells = _cells(kind, fmt, client, event)
    texts = [cell for cell in cells if isinstance(cell, str)]
    assert texts, "the export is empty"
    dangerous = [text for text in texts if text.startswith(TRIGGERS)]
    assert dangerous == []
    if kind == "summary":
        assert "'=防災講座" in texts and "'=1+1" in texts
    else:
        assert "'" + HYPERLINK in texts and "'=1+1" in texts
        assert "'+81 90 1234 5678" in texts
    if kind == "participants":
        assert {"'@SUM(1+1)", "'-1", "'\tTAB"} <= set(texts)


def test_xlsx_cells_are_never_formulas(client, event, organizer):
    data = download(client, event, "participants.xlsx",
                    columns="receipt,organization,q_comment").data
    sheet = load_workbook(io.BytesIO(data)).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert isinstance(sheet["A2"].value, int)  # real numbers stay numbers


def test_personal_data_only_when_asked_for(client, event, organizer):
    page = client.get(f"/console/events/{event.id}/exports")
    assert page.status_code == 200
    assert 'value="email"' in page.text and 'checked id="personal' not in page.text
    plain = download(client, event, "participants.csv").data.decode("utf-8-sig")
    assert "@example.jp" not in plain and "山田 太郎" not in plain
    asked = download(client, event, "participants.csv", columns="receipt,email").data
    assert b"taro@example.jp" in asked
    entries = list(db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
    assert [entry.details["personal"] for entry in entries] == [[], ["email"]]


def test_every_export_is_in_the_audit_log(client, event, organizer):
    download(client, event, "rosters.xlsx", columns="receipt,attendance_mode")
    download(client, event, "summary.csv", encoding="cp932")
    first, second = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    assert first.action == "export.download" and first.event_id == event.id
    assert first.actor_id is not None
    assert first.details == {"kind": "rosters", "format": "xlsx", "encoding": "",
                             "columns": ["receipt", "attendance_mode"], "personal": [],
                             "rows": 2}
    assert (second.details["kind"], second.details["encoding"]) == ("summary", "cp932")


def test_rosters_follow_the_assignment_when_there_is_one(client, event, organizer):
    taro, ichiro = db.session.execute(
        select(Registration.id).where(Registration.event_id == event.id,
                                      Registration.status == RegistrationStatus.CONFIRMED)
        .order_by(Registration.id)).scalars()
    first, second = event.breakout_groups
    rounds = [BreakoutRound(event_id=event.id, number=number) for number in (1, 2)]
    db.session.add_all(rounds)
    db.session.flush()
    for round_, seats in zip(rounds, [((taro, second), (ichiro, first)),
                                      ((taro, first), (ichiro, second))], strict=True):
        for registration_id, group in seats:
            db.session.add(BreakoutAssignment(round_id=round_.id, registration_id=registration_id,
                                              group_id=group.id, source=AssignmentSource.SOLVER))
    db.session.commit()
    header, *rows = csv_rows(download(client, event, "rosters.csv",
                                      columns="receipt,round_1").data)
    assert header == ["Round", "Group", "Receipt number", "Group, round 1"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "'=1+1", str(ichiro)), ("1", "福祉", str(taro)),
        ("2", "'=1+1", str(taro)), ("2", "福祉", str(ichiro))]


def test_bad_requests(client, event, organizer):
    base = f"/console/events/{event.id}/exports"
    assert client.get(f"{base}/nonsense.csv").status_code == 404
    assert client.get(f"{base}/participants.pdf").status_code == 404
    unknown = client.get(f"{base}/participants.csv", query_string={"columns": "receipt,secret"})
    assert unknown.status_code == 422 and "no column “secret”" in unknown.text
    bad = client.get(f"{base}/participants.csv", query_string={"encoding": "latin-1"})
    assert bad.status_code == 422 and "UTF-8 or Shift_JIS" in bad.text
    empty = client.get(base, query_string={"kind": "participants", "check": "1", "fmt": "csv",
                                           "encoding": "utf-8-sig"})
    assert empty.status_code == 422 and "at least one column" in empty.text
    assert db.session.execute(select(AuditEntry)).first() is None


def test_viewers_cannot_download(client, event):
    make_user(events=[event], event_role="viewer")
    AuthActions(client).login()
    assert client.get(f"/console/events/{event.id}/exports").status_code == 403
    assert client.get(f"/console/events/{event.id}/exports/summary.csv").status_code == 403


# --- streaming in constant memory --------------------------------------------------------------


def _streamed_peak(client, event: Event) -> tuple[int, int]:
    """Peak Python memory while the CSV of `event` is streamed, and the bytes received."""
    response = client.get(f"/console/events/{event.id}/exports/participants.csv",
                          query_string={"columns": "receipt,status,name,email,organization"},
                          buffered=False)
    assert response.status_code == 200
    received = 0
    tracemalloc.start()
    try:
        for chunk in response.response:
            received += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    return peak, received


def test_the_csv_export_streams_in_constant_memory(client, app):
    small, large = make_event(), make_event()
    many(small, 2_000, organization_name="株式会社つどい 地域連携推進室")
    many(large, 20_000, organization_name="株式会社つどい 地域連携推進室")
    make_user(events=[small, large])
    AuthActions(client).login()
    _streamed_peak(client, small)  # warm up: statements compiled, caches filled
    small_peak, small_bytes = _streamed_peak(client, small)
    large_peak, large_bytes = _streamed_peak(client, large)
    assert large_bytes > 9 * small_bytes  # ten times the rows went out …
    assert large_bytes > 1_500_000
    # … through the same memory: the 64 KB chunks and 1,000-row batches, not the file.
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)
    assert large_peak - small_peak < (large_bytes - small_bytes) / 4
