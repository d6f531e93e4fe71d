"""Zoom and Teams attendance reports as organizers download them, in English and Japanese,
and broken ones. Pure engine tests: no app, no database."""

# The sample reports below are kept byte-for-byte in the vendors' shapes; their lines are long.
# ruff: noqa: E501

from __future__ import annotations

import codecs
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.engines.attendance_reports import (
    AttendanceRecord,
    AttendanceReport,
    AttendanceReportError,
    Role,
    SourceKind,
    decode_report,
    normalise_header,
    normalise_name,
    parse_attendance_report,
    parse_duration,
)
from tests.attendance_samples import ZOOM_WEBINAR, crlf

TOKYO = ZoneInfo("Asia/Tokyo")


def at(day: int, hour: int, minute: int, second: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TOKYO)


def by_email(report: AttendanceReport, email: str) -> AttendanceRecord:
    return next(r for r in report.records if r.email == email)


def by_name(report: AttendanceReport, name: str) -> AttendanceRecord:
    return next(r for r in report.records if name in r.names)


# --------------------------------------------------------------------------- Zoom meeting

ZOOM_EN_WITH_SUMMARY = crlf("""
Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants,
81234567890,"Online lecture: disaster readiness, part 1",10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,bosai@city.example.lg.jp,101,6,

Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent,
Disaster Office (Host),bosai@city.example.lg.jp,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,101,No,,
Taro Yamada,Taro.Yamada@Example.JP,10/05/2026 06:03:00 PM,10/05/2026 06:40:30 PM,38,Yes,Y,
Taro Yamada (iPad),taro.yamada@example.jp,10/05/2026 06:35:00 PM,10/05/2026 07:30:00 PM,55,Yes,Y,
iPhone (Brian Smith),,10/05/2026 06:10:00 PM,10/05/2026 06:20:00 PM,10,Yes,,
Brian Smith,,10/05/2026 06:25:00 PM,10/05/2026 07:00:00 PM,35,Yes,,
"Suzuki, Hanako",hanako@example.jp,10/05/2026 06:00:05 PM,10/05/2026 07:31:00 PM,91,Yes,Y,
Tanaka (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:30:00 PM,30,Yes,,
Sato (Sales),,10/05/2026 06:00:00 PM,10/05/2026 06:45:00 PM,45,Yes,,
""")


def test_zoom_english_meeting_report_with_summary() -> None:
    report = parse_attendance_report(ZOOM_EN_WITH_SUMMARY.encode())
    assert report.source is SourceKind.ZOOM_MEETING
    assert report.shape == "zoom_meeting/per_join"
    assert report.encoding == "utf-8"
    assert report.title == "Online lecture: disaster readiness, part 1"
    assert report.meeting_id == "81234567890"
    assert report.start == at(5, 17, 55, 12)
    assert report.end == at(5, 19, 35, 40)
    assert report.row_count == 8
    assert len(report.records) == 6

    # Two rows, overlapping by 5.5 minutes (iPad joined before the laptop left): the
    # union 18:03:00–19:30:00 is 87 minutes, not the 93 of Zoom's per-row minutes.
    taro = by_email(report, "taro.yamada@example.jp")
    assert taro.intervals == ((at(5, 18, 3), at(5, 19, 30)),)
    assert taro.total_seconds == 87 * 60
    assert taro.total_minutes == 87
    assert taro.sessions == 2
    assert taro.names == ("Taro Yamada", "Taro Yamada (iPad)")
    assert taro.first_join == at(5, 18, 3) and taro.last_leave == at(5, 19, 30)
    assert taro.is_guest is True and taro.attended is True
    assert taro.first_join is not None and taro.first_join.tzinfo is TOKYO

    # A guest without e-mail, renamed from the device name: merged by name.
    brian = by_name(report, "Brian Smith")
    assert brian.email is None
    assert brian.names == ("iPhone (Brian Smith)", "Brian Smith")
    assert brian.intervals == ((at(5, 18, 10), at(5, 18, 20)), (at(5, 18, 25), at(5, 19, 0)))
    assert brian.total_seconds == 45 * 60
    assert brian.is_guest is True
    assert "briansmith" in brian.name_keys

    # A shared tag in parentheses is not a name: two different people.
    assert by_name(report, "Tanaka (Sales)") is not by_name(report, "Sato (Sales)")
    assert by_name(report, "Tanaka (Sales)").total_minutes == 30

    hanako = by_email(report, "hanako@example.jp")
    assert hanako.name == "Suzuki, Hanako"
    host = report.records[0]
    assert host.email == "bosai@city.example.lg.jp" and host.is_guest is False
    assert host.lines == (5,)


ZOOM_EN_NO_SUMMARY = crlf("""
Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest
Taro Yamada,taro@example.jp,10/05/2026 06:03:00 PM,10/05/2026 06:10:00 PM,7,Yes
Taro Yamada,taro@example.jp,10/05/2026 06:12:00 PM,10/05/2026 06:20:00 PM,8,Yes
Guest 1,,10/05/2026 06:05:00 PM,10/05/2026 06:06:00 PM,1,Yes
""")


def test_zoom_english_meeting_report_without_summary_rejoins_are_summed() -> None:
    report = parse_attendance_report(ZOOM_EN_NO_SUMMARY.encode())
    assert report.title is None and report.start is None and report.meeting_id is None
    taro = by_email(report, "taro@example.jp")
    assert taro.intervals == ((at(5, 18, 3), at(5, 18, 10)), (at(5, 18, 12), at(5, 18, 20)))
    assert taro.total_minutes == 15
    assert taro.sessions == 2
    assert len(report.records) == 2


ZOOM_JA_WITH_SUMMARY = crlf("""
ミーティングID,トピック,開始時刻,終了時刻,ユーザーメール,所要時間（分）,参加者
812 3456 7890,市民講座「地域の防災」,2026/10/05 17:55:12,2026/10/05 19:35:40,bosai@city.example.lg.jp,101,4

名前 (元の名前),ユーザーメール,参加時刻,退出時刻,所要時間（分）,ゲスト
防災課,bosai@city.example.lg.jp,2026/10/05 17:55:12,2026/10/05 19:35:40,101,いいえ
山田 太郎,yamada@example.jp,2026/10/05 18:03:00,2026/10/05 18:40:30,38,はい
山田　太郎 (やまだ),yamada@example.jp,2026/10/05 18:45:00,2026/10/05 19:30:00,45,はい
佐藤花子,,2026/10/05 18:00:00,2026/10/05 18:30:00,30,はい
佐藤 花子,,2026/10/05 18:31:00,2026/10/05 19:00:00,29,はい
""")


def test_zoom_japanese_meeting_report_utf8_bom() -> None:
    report = parse_attendance_report(codecs.BOM_UTF8 + ZOOM_JA_WITH_SUMMARY.encode())
    assert report.source is SourceKind.ZOOM_MEETING
    assert report.encoding == "utf-8-sig"
    assert report.title == "市民講座「地域の防災」"
    assert report.meeting_id == "81234567890"
    assert report.start == at(5, 17, 55, 12)
    assert len(report.records) == 3

    yamada = by_email(report, "yamada@example.jp")
    assert yamada.total_seconds == (37 * 60 + 30) + 45 * 60
    assert yamada.is_guest is True
    assert yamada.names == ("山田 太郎", "山田　太郎 (やまだ)")

    # A guest without e-mail whose name was typed with and without a space.
    hanako = by_name(report, "佐藤花子")
    assert hanako.email is None
    assert hanako.names == ("佐藤花子", "佐藤 花子")
    assert hanako.total_minutes == 59
    assert by_email(report, "bosai@city.example.lg.jp").is_guest is False


def test_zoom_japanese_alternative_header_wording_and_excel_resave_in_cp932() -> None:
    """Excel on Japanese Windows re-saves as CP932, drops seconds and leading zeros."""
    text = crlf("""
名前（元の名前）,ユーザーのメールアドレス,参加時間,退出時間,期間（分）,ゲスト
山田 太郎,YAMADA@example.jp,2026/10/5 18:03,2026/10/5 18:40,38,いいえ
髙橋 一郎,,2026/10/5 18:05,2026/10/5 19:00,55,はい
""")
    report = parse_attendance_report(text.encode("cp932"))
    assert report.encoding == "cp932"
    assert by_email(report, "yamada@example.jp").intervals == ((at(5, 18, 3), at(5, 18, 40)),)
    takahashi = by_name(report, "髙橋 一郎")
    assert takahashi.total_minutes == 55 and takahashi.is_guest is True


def test_zoom_japanese_times_with_am_pm_words() -> None:
    text = crlf("""
名前 (元の名前),ユーザーメール,参加時刻,退出時刻,所要時間（分）
山田 太郎,yamada@example.jp,2026/10/05 午後 6:03:00,2026/10/05 午後 7:10:00,67
鈴木 一郎,suzuki@example.jp,2026/10/05 06:03:00 PM,2026/10/05 06:13:00 PM,10
""")
    report = parse_attendance_report(text.encode())
    assert by_email(report, "yamada@example.jp").first_join == at(5, 18, 3)
    assert by_email(report, "suzuki@example.jp").last_leave == at(5, 18, 13)


ZOOM_UNIQUE_USERS = crlf("""
Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants
81234567890,Lecture,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,bosai@city.example.lg.jp,101,3

Name (Original Name),User Email,Total Duration (Minutes),Guest
Disaster Office,bosai@city.example.lg.jp,101,No
Taro Yamada,taro@example.jp,87,Yes
Brian Smith,,45,Yes
""")


def test_zoom_show_unique_users_shape_sums_durations() -> None:
    report = parse_attendance_report(ZOOM_UNIQUE_USERS.encode())
    assert report.shape == "zoom_meeting/unique_users"
    taro = by_email(report, "taro@example.jp")
    assert taro.intervals == ()
    assert taro.total_minutes == 87
    assert taro.first_join is None
    assert by_name(report, "Brian Smith").total_minutes == 45


def test_zoom_newer_report_page_shape() -> None:
    text = crlf("""
Topic,ID,Host,Duration (minutes),Start time,End time,Participants
Citizen lecture,812 3456 7890,Disaster Office,101,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,3

Name (original name),Email,Total duration (minutes),Guest
Disaster Office,bosai@city.example.lg.jp,101,No
Taro Yamada,taro@example.jp,50,Yes
Taro Yamada,taro@example.jp,37,Yes
""")
    report = parse_attendance_report(text.encode())
    assert report.title == "Citizen lecture"
    assert report.meeting_id == "81234567890"
    assert report.start == at(5, 17, 55, 12)
    assert by_email(report, "taro@example.jp").total_minutes == 87


def test_zoom_newer_per_join_shape_with_waiting_room() -> None:
    text = crlf("""
Name (original name),Email,Join time,Leave time,Duration (minutes),Guest,In waiting room
Taro Yamada,taro@example.jp,10/05/2026 05:50:00 PM,10/05/2026 06:00:00 PM,10,Yes,Yes
Taro Yamada,taro@example.jp,10/05/2026 06:00:00 PM,10/05/2026 06:30:00 PM,30,Yes,No
Hanako,hanako@example.jp,10/05/2026 05:58:00 PM,10/05/2026 06:05:00 PM,7,Yes,Yes
""")
    report = parse_attendance_report(text.encode())
    taro = by_email(report, "taro@example.jp")
    assert taro.total_minutes == 30  # the waiting room is not attendance
    assert taro.intervals == ((at(5, 18, 0), at(5, 18, 30)),)
    hanako = by_email(report, "hanako@example.jp")
    assert hanako.attended is False and hanako.total_seconds == 0


def test_tz_argument_and_explicit_offsets() -> None:
    report = parse_attendance_report(ZOOM_EN_NO_SUMMARY.encode(), tz="America/New_York")
    taro = by_email(report, "taro@example.jp")
    assert taro.first_join == datetime(2026, 10, 5, 18, 3, tzinfo=ZoneInfo("America/New_York"))
    assert taro.first_join is not None
    assert taro.first_join.utcoffset() == timedelta(hours=-4)

    text = crlf("""
Name,Email,Join Time,Leave Time
A,a@example.jp,2026-10-05T09:03:00Z,2026-10-05T09:30:00Z
""")
    report = parse_attendance_report(text.encode())
    assert by_email(report, "a@example.jp").first_join == at(5, 18, 3)


def test_guest_rows_join_a_signed_in_person_only_when_the_name_is_unambiguous() -> None:
    text = crlf("""
Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest
Taro Yamada,taro@example.jp,10/05/2026 06:00:00 PM,10/05/2026 06:30:00 PM,30,No
Taro Yamada,,10/05/2026 06:40:00 PM,10/05/2026 07:00:00 PM,20,Yes
Ken Sato,ken.sato@example.jp,10/05/2026 06:00:00 PM,10/05/2026 06:10:00 PM,10,No
Ken Sato,k.sato@example.org,10/05/2026 06:00:00 PM,10/05/2026 06:15:00 PM,15,No
Ken Sato,,10/05/2026 06:20:00 PM,10/05/2026 06:50:00 PM,30,Yes
iPhone,,10/05/2026 06:00:00 PM,10/05/2026 06:05:00 PM,5,Yes
iPhone,,10/05/2026 06:00:00 PM,10/05/2026 06:45:00 PM,45,Yes
""")
    report = parse_attendance_report(text.encode())
    taro = by_email(report, "taro@example.jp")
    assert taro.total_minutes == 50 and taro.sessions == 2
    # Two signed-in Ken Satos: the guest row could be either, so it stays on its own.
    assert by_email(report, "ken.sato@example.jp").total_minutes == 10
    assert by_email(report, "k.sato@example.org").total_minutes == 15
    assert [r.total_minutes for r in report.records if r.email is None] == [30, 5, 45]
    # A bare device name identifies nobody: the two iPhones are not merged.
    assert [r.name_keys for r in report.records if r.name == "iPhone"] == [(), ()]


# --------------------------------------------------------------------------- Zoom webinar



def test_zoom_webinar_attendee_report() -> None:
    report = parse_attendance_report(ZOOM_WEBINAR.encode())
    assert report.source is SourceKind.ZOOM_WEBINAR
    assert report.title == "市民講座 オンライン"
    assert report.meeting_id == "98765432100"
    assert report.start == at(5, 18, 0, 3)
    assert len(report.records) == 4

    host = by_email(report, "bosai@city.example.lg.jp")
    assert host.role is Role.HOST and host.total_minutes == 105

    # A panelist who also appears among attendees keeps the higher role; times are united.
    kato = by_email(report, "kato@univ.example.ac.jp")
    assert kato.role is Role.PANELIST
    assert kato.intervals == ((at(5, 17, 55), at(5, 19, 40)),)

    yamada = by_email(report, "yamada@example.jp")
    assert yamada.role is Role.ATTENDEE
    assert yamada.total_minutes == 29 + 40
    assert yamada.sessions == 2

    # Registered, did not come: kept so that the importer can count the no-show.
    an = by_email(report, "an@example.vn")
    assert an.attended is False
    assert an.total_seconds == 0 and an.intervals == () and an.first_join is None
    assert an.name == "Nguyễn Văn An"


def test_zoom_webinar_with_an_empty_panelist_section() -> None:
    text = ZOOM_WEBINAR.replace(
        "Yes,Prof. Kato,kato@univ.example.ac.jp,10/05/2026 05:55:00 PM,10/05/2026 07:35:00 PM,"
        "100,Yes,Japan\r\n", ""
    )
    report = parse_attendance_report(text.encode())
    assert by_email(report, "kato@univ.example.ac.jp").role is Role.ATTENDEE


# --------------------------------------------------------------------------- Teams


def utf16(text: str) -> bytes:
    return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")


TEAMS_EN_GB = """1. Summary
Meeting title\tCitizen lecture: disaster readiness
Attended participants\t4
Start time\t05/10/26, 17:55:12
End time\t05/10/26, 19:35:40
Meeting duration\t1h 40m 28s
Average attendance time\t58m 3s

2. Participants
Name\tFirst join\tLast leave\tIn-meeting duration\tEmail\tParticipant ID (UPN)\tRole
Disaster Office\t05/10/26, 17:55:12\t05/10/26, 19:35:40\t1h 40m 28s\tbosai@city.example.lg.jp\tbosai@city.example.lg.jp\tOrganizer
Yamada, Taro\t05/10/26, 18:03:00\t05/10/26, 19:30:00\t1h 27m\tTaro.Yamada@example.jp\ttaro.yamada@example.jp\tAttendee
Brian Smith (Guest)\t05/10/26, 18:10:00\t05/10/26, 18:20:00\t10m\t\t\tAttendee
Kato\t05/10/26, 18:00:00\t05/10/26, 18:45:30\t45m 30s\tkato@example.jp\tkato@example.jp\tPresenter

3. In-Meeting Activities
Name\tJoin time\tLeave time\tDuration\tEmail\tRole
Disaster Office\t05/10/26, 17:55:12\t05/10/26, 19:35:40\t1h 40m 28s\tbosai@city.example.lg.jp\tOrganizer
Yamada, Taro\t05/10/26, 18:03:00\t05/10/26, 18:40:30\t37m 30s\tTaro.Yamada@example.jp\tAttendee
Yamada, Taro\t05/10/26, 18:35:00\t05/10/26, 19:30:00\t55m\tTaro.Yamada@example.jp\tAttendee
Brian Smith (Guest)\t05/10/26, 18:10:00\t05/10/26, 18:20:00\t10m\t\tAttendee
"""


def test_teams_english_utf16_tsv() -> None:
    report = parse_attendance_report(utf16(TEAMS_EN_GB))
    assert report.source is SourceKind.TEAMS
    assert report.shape == "teams/activities"
    assert report.encoding == "utf-16"
    assert report.title == "Citizen lecture: disaster readiness"
    # 05/10/26 is ambiguous; no AM/PM, so day-first (en-GB): 5 October.
    assert report.start == at(5, 17, 55, 12)
    assert report.end == at(5, 19, 35, 40)
    assert len(report.records) == 4

    organizer = by_email(report, "bosai@city.example.lg.jp")
    assert organizer.role is Role.HOST and organizer.sessions == 1

    taro = by_email(report, "taro.yamada@example.jp")
    assert taro.name == "Yamada, Taro"
    assert taro.intervals == ((at(5, 18, 3), at(5, 19, 30)),)
    assert taro.total_minutes == 87  # union, not 37.5 + 55
    assert taro.sessions == 2
    assert taro.role is Role.ATTENDEE

    brian = by_name(report, "Brian Smith (Guest)")
    assert brian.email is None and brian.is_guest is True
    assert brian.total_minutes == 10
    assert "briansmith" in brian.name_keys

    # Kato has no activity rows (the file says so): the participants list is used.
    kato = by_email(report, "kato@example.jp")
    assert kato.role is Role.PRESENTER
    assert kato.intervals == ()
    assert kato.total_seconds == 45 * 60 + 30
    assert kato.first_join == at(5, 18, 0) and kato.last_leave == at(5, 18, 45, 30)


def test_teams_en_us_with_am_pm_is_month_first() -> None:
    text = """1. Summary
Meeting title\tLecture
Start time\t10/5/26, 5:55:12 PM
End time\t10/5/26, 7:35:40 PM

2. Participants
Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tParticipant ID (UPN)\tRole
Taro Yamada\t10/5/26, 6:03:00 PM\t10/5/26, 7:30:00 PM\t1h 27m\ttaro@example.jp\ttaro@example.jp\tAttendee
"""
    report = parse_attendance_report(utf16(text))
    assert report.shape == "teams/participants"
    assert report.start == at(5, 17, 55, 12)
    assert by_email(report, "taro@example.jp").total_minutes == 87


TEAMS_JA = """1. 要約
会議のタイトル\t"""  + '"""地域の防災"" で会議中"' + """
出席者数\t3
開始時刻\t2026/10/5 17:55:12
終了時刻\t2026/10/5 19:35:40
会議の長さ\t1 時間 40 分 28 秒

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


def test_teams_japanese_utf16_tsv() -> None:
    report = parse_attendance_report(utf16(TEAMS_JA))
    assert report.source is SourceKind.TEAMS
    assert report.title == '"地域の防災" で会議中'
    assert report.start == at(5, 17, 55, 12)
    assert len(report.records) == 3
    host = by_email(report, "bosai@city.example.lg.jp")
    assert host.role is Role.HOST
    assert host.total_seconds == 100 * 60 + 28
    yamada = by_email(report, "yamada@example.jp")
    assert yamada.total_minutes == 37 + 45
    assert yamada.intervals == ((at(5, 18, 3), at(5, 18, 40)), (at(5, 18, 45), at(5, 19, 30)))
    assert yamada.role is Role.ATTENDEE
    hanako = by_name(report, "佐藤 花子 (ゲスト)")
    assert hanako.is_guest is True and hanako.email is None and hanako.total_minutes == 30
    assert "佐藤花子" in hanako.name_keys


def test_teams_japanese_gaiyou_title_and_empty_activities() -> None:
    text = TEAMS_JA.replace("1. 要約", "1. 概要").split("3. 会議中のアクティビティ")[0]
    text += "3. 会議中のアクティビティ\nなし\n"
    report = parse_attendance_report(utf16(text))
    assert report.shape == "teams/participants"
    assert by_email(report, "yamada@example.jp").total_minutes == 82


def test_teams_without_bom_is_still_read() -> None:
    report = parse_attendance_report(TEAMS_EN_GB.encode("utf-16-le"))
    assert report.encoding == "utf-16-le"
    assert len(report.records) == 4


def test_day_first_override() -> None:
    report = parse_attendance_report(utf16(TEAMS_EN_GB), day_first=False)
    assert report.start == datetime(2026, 5, 10, 17, 55, 12, tzinfo=TOKYO)


# --------------------------------------------------------------------------- broken files


def expect_error(data: bytes, *fragments: str, line: int | None = None) -> AttendanceReportError:
    with pytest.raises(AttendanceReportError) as caught:
        parse_attendance_report(data)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    if line is not None:
        assert caught.value.line == line, message
        assert message.startswith(f"Line {line}: ")
    return caught.value


def test_empty_file() -> None:
    expect_error(b"", "empty")
    expect_error(codecs.BOM_UTF8 + b"\r\n\r\n", "empty")


def test_garbage_and_other_file_types() -> None:
    expect_error(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 50, "Excel workbook")
    expect_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "XLS")
    expect_error(b"%PDF-1.7\n...", "PDF")
    expect_error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary")
    expect_error(b"hello,world\r\n1,2\r\n", "not a report we know")
    expect_error("受付番号,氏名,メール\r\n1,山田,a@example.jp\r\n".encode(), "not a report we know")


def test_wrong_encoding() -> None:
    # Latin-1 bytes that are neither UTF-8 nor CP932.
    expect_error("Name,Email\r\nJosé,\xff\xfe\xfd".encode("latin-1")[:-3] + b"\x80\xfd\xfe",
                 "encoding we cannot read")
    # A UTF-16 BOM followed by a broken surrogate pair.
    expect_error(codecs.BOM_UTF16_LE + "1. Summary\n".encode("utf-16-le") + b"\x00\xd8\x41\x00",
                 "UTF-16", "damaged")


def test_missing_columns() -> None:
    expect_error(
        crlf("""
User Email,Join Time,Leave Time,Duration (Minutes),Guest
taro@example.jp,10/05/2026 06:03:00 PM,10/05/2026 06:10:00 PM,7,Yes
""").encode(),
        "missing required column", "Name (Original Name)",
        line=1,
    )
    expect_error(
        crlf("""
Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants
1,T,10/05/2026 05:55:12 PM,10/05/2026 07:35:40 PM,h@example.jp,101,1

Name (Original Name),User Email,Join Time,Duration (Minutes),Guest
Taro,taro@example.jp,10/05/2026 06:03:00 PM,7,Yes
""").encode(),
        "Leave Time",
        line=4,
    )
    expect_error(
        utf16(TEAMS_EN_GB.replace("\tJoin time\t", "\tSomething\t")),
        "3. In-Meeting Activities", "Join Time", "missing required column",
    )


def test_unparseable_time_names_the_line() -> None:
    broken = ZOOM_EN_NO_SUMMARY.replace("10/05/2026 06:12:00 PM", "10/05/2026 25:12:00")
    expect_error(broken.encode(), "cannot read the join time", "25:12", line=3)
    broken = ZOOM_EN_NO_SUMMARY.replace("10/05/2026 06:12:00 PM", "yesterday")
    expect_error(broken.encode(), "yesterday", line=3)
    teams = TEAMS_EN_GB.replace("1h 27m\t", "about an hour\t")
    expect_error(utf16(teams), "cannot read the duration", line=12)


def test_leave_before_join() -> None:
    broken = ZOOM_EN_NO_SUMMARY.replace(
        "10/05/2026 06:12:00 PM,10/05/2026 06:20:00 PM",
        "10/05/2026 06:20:00 PM,10/05/2026 06:12:00 PM",
    )
    expect_error(broken.encode(), "before the join time", line=3)


def test_truncated_files() -> None:
    data = ZOOM_EN_WITH_SUMMARY.encode()
    # Cut inside the quoted topic: the quote never closes.
    expect_error(data[: data.index(b"readiness")], "truncated", line=2)
    # Cut in the middle of a participant row.
    cut = data[: data.index(b"10/05/2026 06:40:30 PM")]
    expect_error(cut, "truncated", "Duration (Minutes)", line=6)
    # Teams cut inside the participants section.
    teams = utf16(TEAMS_EN_GB)
    cut_at = teams.index("Yamada, Taro\t05/10/26, 18:03:00\t".encode("utf-16-le")) + 60
    expect_error(teams[:cut_at], "Line 12")
    # Teams cut before the participants section.
    expect_error(utf16(TEAMS_EN_GB.split("2. Participants")[0]), "2. Participants")


def test_header_without_rows() -> None:
    expect_error(
        b"Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest\r\n",
        "no participants",
    )


def test_mixed_date_orders_are_refused() -> None:
    text = crlf("""
Name,Email,Join Time,Leave Time
A,a@example.jp,13/05/2026 06:00:00 PM,13/05/2026 06:10:00 PM
B,b@example.jp,05/13/2026 06:00:00 PM,05/13/2026 06:10:00 PM
""")
    expect_error(text.encode(), "day/month")


def test_nothing_is_returned_when_the_last_row_is_bad() -> None:
    """All or nothing: a damaged last row fails the whole file (no partial import)."""
    lines = ZOOM_EN_WITH_SUMMARY.splitlines()
    lines[-1] = lines[-1].replace("06:45:00 PM", "06:45:00 XM")
    with pytest.raises(AttendanceReportError):
        parse_attendance_report(io.BytesIO("\r\n".join(lines).encode()))


def test_oversized_upload_is_refused_without_reading_it_all() -> None:
    stream = io.BytesIO(b"x" * 2048)
    with pytest.raises(AttendanceReportError, match="larger than"):
        parse_attendance_report(stream, max_bytes=1024)
    assert stream.tell() == 1025


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h 27m 51s", 5271),
        ("11m 31s", 691),
        ("45s", 45),
        ("1 時間 2 分 3 秒", 3723),
        ("30 分 0 秒", 1800),
        ("1 時間 5 秒", 3605),
        ("１時間２分", 3720),
        ("01:27:51", 5271),
        ("87", 87 * 60),
        ("--", None),
        ("", None),
    ],
)
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_prose() -> None:
    with pytest.raises(ValueError):
        parse_duration("about an hour")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Name (Original Name)", "name(originalname)"),
        ("名前（元の名前）", "名前 (元の名前)"),
        ("所要時間【分】", "所要時間(分)"),
        ("ＵＳＥＲ　ＥＭＡＩＬ", "User Email"),
        ("Duration(Minutes)", "duration (minutes)"),
    ],
)
def test_header_normalisation(a: str, b: str) -> None:
    assert normalise_header(a) == normalise_header(b)


def test_name_normalisation() -> None:
    assert normalise_name("山田　太郎") == normalise_name("山田太郎") == "山田太郎"
    assert normalise_name(" 山田 太郎 ") == "山田太郎"
    assert normalise_name("ジョン・スミス") == normalise_name("ｼﾞｮﾝ ｽﾐｽ")
    assert normalise_name("Brian SMITH") == "briansmith"


def test_decode_report_detects_encodings() -> None:
    sample = "名前,メール\r\n山田,a@example.jp\r\n"
    assert decode_report(sample.encode())[1] == "utf-8"
    assert decode_report(codecs.BOM_UTF8 + sample.encode())[1] == "utf-8-sig"
    assert decode_report(sample.encode("utf-16"))[1] == "utf-16"
    assert decode_report(sample.encode("utf-16-be"))[1] == "utf-16-be"
    assert decode_report(sample.encode("cp932"))[1] == "cp932"
    for data in (sample.encode(), sample.encode("utf-16"), sample.encode("cp932")):
        assert decode_report(data)[0] == sample
