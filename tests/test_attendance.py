"""Attendance: the join link, Zoom and Teams report imports through the console (matching,
manual choices, minimum duration, re-imports, broken files), marks by hand, check-ins."""

# The reports below keep the vendors' line shapes; their lines are long.
# ruff: noqa: E501

from __future__ import annotations

import codecs
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AttendanceImport, AttendanceRecord, AttendanceSettings, AuditEntry, Event
from app.models.attendance import AttendanceSource, ImportStatus, MatchMethod
from app.models.enums import AttendanceMode, EventFormat, EventStatus, RegistrationStatus
from app.orm import utcnow
from app.services import statistics
from app.services.attendance import join_token
from tests.attendance_samples import ZOOM_WEBINAR, crlf
from tests.attendance_support import check_in, join_manage_token, person
from tests.conftest import csrf_token_from
from tests.factories import AuthActions, make_event, make_user

MEETING_URL = "https://zoom.us/j/81234567890?pwd=secret"


def utf16(text: str) -> bytes:
    return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")


# Real-shaped reports (see /work/shared/FORMATS.md and tests/test_attendance_reports.py).
ZOOM_EN = crlf("""
Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants,
81234567890,"Online lecture: disaster readiness, part 1",10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,bosai@city.example.lg.jp,101,6,

Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent,
Disaster Office (Host),bosai@city.example.lg.jp,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,101,No,,
Taro Yamada,Taro.Yamada@Example.JP,10/05/2026 06:03:00 PM,10/05/2026 06:40:30 PM,38,Yes,Y,
Taro Yamada (iPad),taro.yamada@example.jp,10/05/2026 06:35:00 PM,10/05/2026 07:30:00 PM,55,Yes,Y,
iPhone (Brian Smith),,10/05/2026 06:10:00 PM,10/05/2026 06:20:00 PM,10,Yes,,
Brian Smith,,10/05/2026 06:25:00 PM,10/05/2026 07:00:00 PM,35,Yes,,
"Suzuki, Hanako",hanako.work@example.com,10/05/2026 06:00:05 PM,10/05/2026 06:20:00 PM,20,Yes,Y,
Tanaka (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:30:00 PM,30,Yes,,
Sato (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:45:00 PM,45,Yes,,
""")

ZOOM_JA = crlf("""
ミーティングID,トピック,開始時刻,終了時刻,ユーザーメール,所要時間（分）,参加者
812 3456 7890,市民講座「地域の防災」,2026/10/05 17:55:12,2026/10/05 19:35:40,bosai@city.example.lg.jp,101,4

名前 (元の名前),ユーザーメール,参加時刻,退出時刻,所要時間（分）,ゲスト
防災課,bosai@city.example.lg.jp,2026/10/05 17:55:12,2026/10/05 19:35:40,101,いいえ
山田 太郎,yamada@example.jp,2026/10/05 18:03:00,2026/10/05 18:40:30,38,はい
山田　太郎 (やまだ),yamada@example.jp,2026/10/05 18:45:00,2026/10/05 19:30:00,45,はい
佐藤花子,,2026/10/05 18:00:00,2026/10/05 18:30:00,30,はい
佐藤 花子,,2026/10/05 18:31:00,2026/10/05 19:00:00,29,はい
""")

TEAMS_JA = """1. 要約
会議のタイトル\t市民講座
出席者数\t3
開始時刻\t2026/10/5 17:55:12
終了時刻\t2026/10/5 19:35:40

2. 参加者
名前\t初めての参加\t最終退出\t会議の長さ\tメール アドレス\t参加者 ID (UPN)\t役割
防災課\t2026/10/5 17:55:12\t2026/10/5 19:35:40\t1 時間 40 分 28 秒\tbosai@city.example.lg.jp\tbosai@city.example.lg.jp\t開催者
山田 太郎\t2026/10/5 18:03:00\t2026/10/5 19:30:00\t1 時間 22 分\tyamada@example.jp\tyamada@example.jp\t出席者
佐藤 花子 (ゲスト)\t2026/10/5 18:10:00\t2026/10/5 18:40:00\t30 分 0 秒\t\t\t出席者

3. 会議中のアクティビティ
名前\t参加時刻\t退出時刻\t期間\tメール アドレス\t役割
防災課\t2026/10/5 17:55:12\t2026/10/5 19:35:40\t1 時間 40 分 28 秒\tbosai@city.example.lg.jp\t開催者
山田 太郎\t2026/10/5 18:03:00\t2026/10/5 18:40:00\t37 分 0 秒\tyamada@example.jp\t出席者
山田 太郎\t2026/10/5 18:45:00\t2026/10/5 19:30:00\t45 分\tyamada@example.jp\t出席者
佐藤 花子 (ゲスト)\t2026/10/5 18:10:00\t2026/10/5 18:40:00\t30 分 0 秒\t\t出席者
"""


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


def online_event(**fields) -> Event:
    now = utcnow()
    values = {"event_format": EventFormat.ONLINE, "starts_at": now - timedelta(minutes=10), "ends_at": now + timedelta(hours=2),
              "registration_opens_at": now - timedelta(days=10),
              "registration_closes_at": now - timedelta(hours=1), "online_url": MEETING_URL}
    values.update(fields)
    return make_event(capacity=100, **values)


def online(event: Event, **fields) -> object:
    return person(event, attendance_mode=AttendanceMode.ONLINE, **fields)


def records(event: Event) -> list[AttendanceRecord]:
    return list(db.session.execute(select(AttendanceRecord).where(
        AttendanceRecord.event_id == event.id).order_by(AttendanceRecord.id)).scalars())


def attended(event: Event) -> int:
    return statistics.event_statistics(db.session, event).attendance.attended


# --- the join link ---------------------------------------------------------------------------


def test_join_link_records_the_join_and_redirects_confirmed_participants(client, app):
    event = online_event()
    taro = online(event)
    url = f"/j/{join_token(taro)}"
    first = client.get(url)
    assert first.status_code == 303
    assert first.headers["Location"] == MEETING_URL
    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in first.headers["Cache-Control"]
    assert client.get(url).status_code == 303
    assert client.head(url).status_code == 303  # a link checker records nothing
    [row] = records(event)
    assert (row.source, row.registration_id, row.joins) == (AttendanceSource.JOIN_LINK, taro.id, 2)
    assert row.first_join is not None and row.seconds is None
    # No report imported yet: opening the link counts as having attended.
    assert attended(event) == 1


def test_join_link_before_the_window_opens_the_meeting_without_recording(client, app):
    now = utcnow()
    event = online_event(starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=2),
                         registration_closes_at=now + timedelta(days=1))
    taro = online(event)
    response = client.get(f"/j/{join_token(taro)}")
    assert response.status_code == 303 and response.headers["Location"] == MEETING_URL
    assert records(event) == []


@pytest.mark.parametrize(("case", "code", "text"), [
    ("waitlisted", 403, "not confirmed yet"),
    ("lottery", 403, "not confirmed yet"),
    ("not_drawn", 403, "not drawn"),
    ("cancelled", 403, "registration has been cancelled"),
    ("in_person", 403, "at the venue"),
    ("event_cancelled", 410, "event has been cancelled"),
    ("event_over", 410, "has ended"),
    ("no_url", 409, "not published the meeting link"),
    ("forged", 404, "not valid"),
])
def test_join_link_is_refused_with_a_clear_page(client, app, case, code, text):
    now = utcnow()
    event = online_event(event_format=EventFormat.HYBRID) if case == "in_person" else online_event()
    status = {"waitlisted": RegistrationStatus.WAITLISTED,
              "lottery": RegistrationStatus.LOTTERY_PENDING,
              "not_drawn": RegistrationStatus.NOT_DRAWN,
              "cancelled": RegistrationStatus.CANCELLED}.get(case, RegistrationStatus.CONFIRMED)
    mode = AttendanceMode.IN_PERSON if case == "in_person" else AttendanceMode.ONLINE
    registration = person(event, status=status, attendance_mode=mode)
    other = online(event)
    if case == "event_cancelled":
        event.status = EventStatus.CANCELLED
    if case == "event_over":
        event.starts_at, event.ends_at = now - timedelta(days=1, hours=5), now - timedelta(days=1)
    if case == "no_url":
        event.online_url = ""
    db.session.commit()
    token = join_token(registration)
    if case == "forged":  # another registration's HMAC under this id
        token = f"{registration.id}-{join_token(other).split('-', 1)[1]}"
    client.set_cookie("lang", "en")
    response = client.get(f"/j/{token}")
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert text in response.text
    assert MEETING_URL not in response.text
    assert records(event) == []


def test_join_link_garbage_tokens_are_not_found(client, app):
    for token in ["x", "12", "99999-" + "A" * 43, "1-" + "A" * 42, "-1-" + "A" * 43]:
        assert client.get(f"/j/{token}").status_code == 404


def test_manage_page_shows_the_join_link_never_the_meeting_url(client, app):
    event = online_event()
    taro = online(event)
    page = client.get(f"/r/{join_manage_token(taro)}")
    assert page.status_code == 200
    assert f"/j/{join_token(taro)}" in page.text
    assert MEETING_URL not in page.text
    waiting = online(event, status=RegistrationStatus.WAITLISTED)
    page = client.get(f"/r/{join_manage_token(waiting)}")
    assert "/j/" not in page.text and MEETING_URL not in page.text


# --- importing reports through the console -----------------------------------------------------


def signed_in(client, event: Event, role: str = "organizer") -> AuthActions:
    make_user(events=[event], event_role=role)
    auth = AuthActions(client)
    auth.login()
    return auth


def upload(client, event: Event, data: bytes, filename: str = "participants.csv"):
    import io

    page = client.get(f"/console/events/{event.id}/attendance/import")
    assert page.status_code == 200
    return client.post(f"/console/events/{event.id}/attendance/import", data={
        "csrf_token": csrf_token_from(page.text),
        "report": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def preview_url(response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def accept(client, url: str, **choices: str):
    page = client.get(url)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_token_from(page.text)}
    # What the browser sends: every select's chosen option, as the page rendered it.
    for name, value in re.findall(
            r'<select[^>]*name="(row_\d+)".*?<option selected value="([^"]*)"', page.text,
            re.S):
        form[name] = value
    for name in re.findall(r'<select[^>]*name="(row_\d+)"', page.text):
        form.setdefault(name, "")
    for tag in re.findall(r'<input[^>]*name="row_\d+"[^>]*>', page.text):
        name = re.search(r'name="(row_\d+)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag)
        form[name] = value.group(1) if value else ""
    form.update(choices)
    return client.post(url, data=form)


def zoom_en_event() -> tuple[Event, dict[str, object]]:
    event = online_event()
    people = {
        "taro": online(event, name="山田 太郎", email="taro.yamada@example.jp"),
        "brian": online(event, name="Brian Smith", furigana="ぶらいあん すみす",
                        email="brian@example.com"),
        "hanako": online(event, name="Hanako Suzuki", furigana="すずき はなこ",
                         email="hanako@example.jp"),
        "tanaka": online(event, name="田中 一郎", email="tanaka@example.jp"),
        "absent": online(event, name="欠席 者", email="absent@example.jp"),
    }
    return event, people


def test_zoom_english_report_is_matched_by_email_then_name_and_accepted(client, app):
    event, people = zoom_en_event()
    signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_EN.encode()))
    page = client.get(url)
    assert page.status_code == 200
    assert "Matched by email: 1" in page.text  # Taro; Hanako used another address
    assert "Matched by name: 2" in page.text  # iPhone (Brian Smith); "Suzuki, Hanako"
    assert "Not matched: 3" in page.text  # the host, Tanaka (Sales), Sato (Sales)
    assert records(event) == []  # nothing is written before the organizer accepts

    rows = re.findall(r'<th scope="row">([^<]+)(?:<br>.*?)?</th>.*?name="(row_\d+)"', page.text, re.S)
    field_of = {name.strip(): field for name, field in rows}
    done = accept(client, url, **{field_of["Tanaka (Sales)"]: str(people["tanaka"].id)})
    assert done.status_code == 303
    follow = client.get(done.headers["Location"])
    assert "4 matched, 2 not matched" in follow.text

    by_registration = {r.registration_id: r for r in records(event) if r.registration_id}
    assert by_registration[people["taro"].id].matched_by is MatchMethod.EMAIL
    assert by_registration[people["taro"].id].seconds == 87 * 60  # union of two devices
    assert by_registration[people["brian"].id].matched_by is MatchMethod.NAME
    assert by_registration[people["hanako"].id].matched_by is MatchMethod.NAME
    assert by_registration[people["tanaka"].id].matched_by is MatchMethod.MANUAL
    unmatched = [r for r in records(event) if r.registration_id is None]
    assert sorted(r.raw_name for r in unmatched) == ["Disaster Office (Host)", "Sato (Sales)"]
    assert all(r.source is AttendanceSource.ZOOM for r in records(event))
    [staged] = db.session.execute(select(AttendanceImport)).scalars()
    assert staged.status is ImportStatus.ACCEPTED and staged.content == b""
    assert attended(event) == 4
    figures = statistics.event_statistics(db.session, event).attendance
    assert (figures.confirmed, figures.no_shows, figures.unmatched) == (5, 1, 2)
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"attendance_import.upload", "attendance_import.accept"} <= actions


def test_minimum_duration_decides_who_counts(client, app):
    event, _people = zoom_en_event()
    signed_in(client, event)
    accept(client, preview_url(upload(client, event, ZOOM_EN.encode())))
    assert attended(event) == 3  # Taro 87, Brian 45, Hanako 20 minutes

    page = client.get(f"/console/events/{event.id}/attendance")
    token = csrf_token_from(page.text)
    bad = client.post(f"/console/events/{event.id}/attendance/minimum",
                      data={"csrf_token": token, "min_minutes": "-5"})
    assert bad.status_code == 422 and "between 0 and 1440" in bad.text
    bad = client.post(f"/console/events/{event.id}/attendance/minimum",
                      data={"csrf_token": token, "min_minutes": "half an hour"})
    assert bad.status_code == 422
    saved = client.post(f"/console/events/{event.id}/attendance/minimum",
                        data={"csrf_token": token, "min_minutes": "30"})
    assert saved.status_code == 303
    assert db.session.get(AttendanceSettings, event.id).min_minutes == 30
    assert attended(event) == 2  # Hanako's 20 minutes no longer count
    client.post(f"/console/events/{event.id}/attendance/minimum",
                data={"csrf_token": token, "min_minutes": "60"})
    assert attended(event) == 1  # Taro only
    assert db.session.execute(select(func.count()).where(
        AuditEntry.action == "attendance.min_minutes")).scalar_one() == 2


def test_an_imported_report_takes_over_from_join_clicks(client, app):
    event, people = zoom_en_event()
    client.get(f"/j/{join_token(people['absent'])}")  # opened the link, never stayed
    assert attended(event) == 1
    signed_in(client, event)
    accept(client, preview_url(upload(client, event, ZOOM_EN.encode())))
    stats = statistics.event_statistics(db.session, event)
    assert stats.attendance.attended == 3  # from the report; the click no longer counts


def test_reimporting_the_same_report_counts_nothing_twice(client, app):
    event, _people = zoom_en_event()
    signed_in(client, event)
    accept(client, preview_url(upload(client, event, ZOOM_EN.encode())))
    before = len(records(event))

    again = upload(client, event, ZOOM_EN.encode())
    assert again.status_code == 422 and "already imported" in again.text
    assert len(records(event)) == before

    # Downloaded again later (another byte-wise file of the same meeting): it replaces.
    redownload = ZOOM_EN.replace("Sato (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:45:00 PM,45",
                                 "Sato (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:50:00 PM,50")
    url = preview_url(upload(client, event, redownload.encode()))
    assert "replaces it" in client.get(url).text
    assert accept(client, url).status_code == 303
    assert len(records(event)) == before
    assert attended(event) == 3
    statuses = sorted(i.status.value for i in db.session.execute(select(AttendanceImport)).scalars())
    assert statuses == ["accepted", "replaced"]


def test_uploading_a_pending_file_again_returns_the_same_preview(client, app):
    event, _people = zoom_en_event()
    signed_in(client, event)
    first = preview_url(upload(client, event, ZOOM_EN.encode()))
    assert preview_url(upload(client, event, ZOOM_EN.encode())) == first


def test_japanese_zoom_report_matches_names_with_and_without_spaces(client, app):
    event = online_event()
    yamada = online(event, name="山田 太郎", email="yamada@example.jp")
    hanako = online(event, name="佐藤 花子", furigana="さとう はなこ", email="hanako@example.jp")
    signed_in(client, event)
    url = preview_url(upload(client, event, codecs.BOM_UTF8 + ZOOM_JA.encode(), "参加者.csv"))
    assert accept(client, url).status_code == 303
    matched = {r.registration_id: r for r in records(event) if r.registration_id}
    assert matched[yamada.id].matched_by is MatchMethod.EMAIL
    assert matched[yamada.id].seconds == (37 * 60 + 30) + 45 * 60
    assert matched[hanako.id].matched_by is MatchMethod.NAME
    assert matched[hanako.id].seconds == 59 * 60
    assert attended(event) == 2


def test_teams_report_in_utf16_is_imported(client, app):
    event = online_event()
    yamada = online(event, name="山田 太郎", email="YAMADA@example.jp")
    hanako = online(event, name="佐藤花子", furigana="さとう はなこ", email="hanako@example.jp")
    signed_in(client, event)
    url = preview_url(upload(client, event, utf16(TEAMS_JA), "attendance.csv"))
    page = client.get(url)
    assert "Microsoft Teams attendance report" in page.text
    assert accept(client, url).status_code == 303
    matched = {r.registration_id: r for r in records(event) if r.registration_id}
    assert matched[yamada.id].source is AttendanceSource.TEAMS
    assert matched[yamada.id].seconds == (37 + 45) * 60
    assert matched[hanako.id].matched_by is MatchMethod.NAME
    host = next(r for r in records(event) if r.registration_id is None)
    assert host.role == "host"
    assert statistics.event_statistics(db.session, event).attendance.unmatched == 0  # staff


def test_zoom_webinar_report_leaves_out_absentees_and_staff(client, app):
    event = online_event()
    yamada = online(event, name="山田 太郎", email="yamada@example.jp")
    an = online(event, name="Nguyễn Văn An", furigana="ぐえん う゛ぁん あん", email="an@example.vn")
    signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_WEBINAR.encode(), "webinar.csv"))
    page = client.get(url)
    assert "Zoom webinar attendee report" in page.text
    assert "and 1 who registered in the meeting tool but did not come" in page.text
    assert accept(client, url).status_code == 303
    matched = {r.registration_id: r for r in records(event) if r.registration_id}
    assert set(matched) == {yamada.id}  # An registered in Zoom but never came
    assert matched[yamada.id].seconds == (29 + 40) * 60 and matched[yamada.id].joins == 2
    figures = statistics.event_statistics(db.session, event).attendance
    assert (figures.attended, figures.no_shows, figures.unmatched) == (1, 1, 0)
    assert an.id not in matched


def test_a_name_that_fits_several_registrations_is_left_to_the_organizer(client, app):
    event = online_event()
    first = online(event, name="佐藤 花子", email="a@example.jp")
    online(event, name="佐藤花子", email="b@example.jp")
    signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_JA.encode()))
    page = client.get(url)
    assert "Several registrations fit: 1" in page.text
    field = re.search(r'name="(row_\d+)"',
                      page.text.split('<th scope="row">佐藤花子', 1)[1]).group(1)
    assert accept(client, url, **{field: str(first.id)}).status_code == 303
    chosen = next(r for r in records(event) if r.raw_name == "佐藤花子")
    assert chosen.registration_id == first.id and chosen.matched_by is MatchMethod.MANUAL


def test_a_forged_manual_choice_is_refused_and_nothing_is_written(client, app):
    event, _people = zoom_en_event()
    elsewhere = person(make_event(), name="他人")
    signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_EN.encode()))
    page = client.get(url)
    field = re.search(r'name="(row_\d+)"', page.text).group(1)
    refused = accept(client, url, **{field: str(elsewhere.id)})
    assert refused.status_code == 422
    assert records(event) == []
    [staged] = db.session.execute(select(AttendanceImport)).scalars()
    assert staged.status is ImportStatus.PENDING


def test_receipt_numbers_are_typed_when_there_are_too_many_to_list(client, app, monkeypatch):
    monkeypatch.setattr("app.services.attendance.MANUAL_CHOICES_LIMIT", 1)
    event, people = zoom_en_event()
    signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_EN.encode()))
    page = client.get(url)
    assert "<select" not in page.text.split("<caption>Please check these rows")[1]
    rows = re.findall(r'<th scope="row">([^<]+)(?:<br>.*?)?</th>.*?name="(row_\d+)"', page.text,
                      re.S)
    field_of = {name.strip(): field for name, field in rows}
    refused = accept(client, url, **{field_of["Tanaka (Sales)"]: str(people["tanaka"].id),
                                     field_of["Sato (Sales)"]: "999999"})
    assert refused.status_code == 422
    assert "no registration with this receipt number" in refused.text
    assert records(event) == []
    done = accept(client, url, **{field_of["Tanaka (Sales)"]: str(people["tanaka"].id)})
    assert done.status_code == 303
    assert attended(event) == 4
    brian = next(r for r in records(event) if r.registration_id == people["brian"].id)
    assert brian.matched_by is MatchMethod.NAME  # the typed-in default kept the name match


BROKEN = [
    (b"", "choose the report file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "could not be read"),
    (b"Name,Email\r\nTaro,taro@example.jp\r\n", "could not be read"),
    (ZOOM_EN.encode()[: len(ZOOM_EN) // 2 - 7], "could not be read"),
    (crlf("""
Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest
Taro Yamada,taro@example.jp,10/05/2026 06:03:00 PM,10/05/2026 06:10:00 PM,7,Yes
Hanako,hanako@example.jp,yesterday evening,10/05/2026 06:20:00 PM,8,Yes
""").encode(), "could not be read"),
]


@pytest.mark.parametrize(("data", "message"), BROKEN)
def test_broken_files_get_a_clear_error_and_write_nothing(client, app, data, message):
    event, _people = zoom_en_event()
    signed_in(client, event)
    response = upload(client, event, data, "broken.csv")
    assert response.status_code == 422
    assert message in response.text
    assert 'class="field-error"' in response.text  # beside the file field
    assert db.session.execute(select(func.count()).select_from(AttendanceImport)).scalar_one() == 0
    assert records(event) == []
    assert db.session.execute(select(func.count()).where(
        AuditEntry.action.like("attendance%"))).scalar_one() == 0


def test_discarding_a_pending_upload(client, app):
    event, _people = zoom_en_event()
    auth = signed_in(client, event)
    url = preview_url(upload(client, event, ZOOM_EN.encode()))
    response = client.post(url + "/discard", data={"csrf_token": auth.csrf_token()})
    assert response.status_code == 303
    assert db.session.execute(select(func.count()).select_from(AttendanceImport)).scalar_one() == 0
    assert client.get(url).status_code == 404


def test_viewers_see_attendance_but_cannot_import(client, app):
    event, _people = zoom_en_event()
    signed_in(client, event, role="viewer")
    assert client.get(f"/console/events/{event.id}/attendance").status_code == 200
    assert client.get(f"/console/events/{event.id}/attendance/import").status_code == 403


# --- marks by hand and check-ins ----------------------------------------------------------------


def test_marking_by_hand_and_removing_the_mark(client, app):
    event = make_event()
    taro = person(event, name="山田 太郎")
    waiting = person(event, status=RegistrationStatus.WAITLISTED)
    auth = signed_in(client, event)
    url = f"/console/events/{event.id}/attendance/marks"
    assert client.post(url, data={"csrf_token": auth.csrf_token(), "receipt": str(taro.id)}
                       ).status_code == 303
    assert client.post(url, data={"csrf_token": auth.csrf_token(), "receipt": str(taro.id)}
                       ).status_code == 303  # twice is harmless
    assert attended(event) == 1
    refused = client.post(url, data={"csrf_token": auth.csrf_token(), "receipt": str(waiting.id)})
    assert refused.status_code == 422 and "Only confirmed" in refused.text
    unknown = client.post(url, data={"csrf_token": auth.csrf_token(), "receipt": "999999"})
    assert unknown.status_code == 422 and "no registration with this receipt" in unknown.text
    [mark] = records(event)
    assert client.post(f"{url}/{mark.id}/delete", data={"csrf_token": auth.csrf_token()}
                       ).status_code == 303
    assert attended(event) == 0
    actions = list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())
    assert actions == ["attendance.mark", "attendance.unmark"]


def test_check_ins_count_unless_undone(app):
    event = make_event()
    came, undone = person(event), person(event)
    person(event)  # never came
    check_in(came)
    check_in(undone, undone=True)
    figures = statistics.event_statistics(db.session, event).attendance
    assert figures.has_data is True
    assert (figures.attended, figures.no_shows) == (1, 2)


def test_attendance_page_shows_the_figures(client, app):
    event, _people = zoom_en_event()
    signed_in(client, event)
    accept(client, preview_url(upload(client, event, ZOOM_EN.encode())))
    page = client.get(f"/console/events/{event.id}/attendance")
    assert page.status_code == 200
    assert "Online lecture: disaster readiness, part 1" in page.text
    assert "60.0%" in page.text  # 3 of 5 confirmed

