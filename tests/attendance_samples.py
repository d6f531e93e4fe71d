"""Attendance reports as Zoom writes them, shared by the engine tests and the web tests.

No app and no database here: the engine tests stay pure."""

# The samples are kept byte-for-byte in the vendors' shapes; their lines are long.
# ruff: noqa: E501

from __future__ import annotations


def crlf(text: str) -> str:
    return text.strip("\n").replace("\n", "\r\n") + "\r\n"


# A Zoom webinar's attendee report as Zoom writes it: host, panelists (one of them also in
# the attendee list), a participant who joined twice, and one who registered but never came.
ZOOM_WEBINAR = crlf("""
Attendee Report
Report Generated:,10/06/2026 09:12 AM
Topic,Webinar ID,Actual Start Time,Actual Duration (minutes),# Registered,# Cancelled,Unique Viewers,Total Users,Max Concurrent Views
市民講座 オンライン,987 6543 2100,10/05/2026 06:00:03 PM,95,120,2,3,4,3
Host Details
Attended,User Name (Original Name),Email,Join Time,Leave Time,Time in Session (minutes),Is Guest,Country/Region Name
Yes,Disaster Office,bosai@city.example.lg.jp,10/05/2026 05:50:00 PM,10/05/2026 07:35:00 PM,105,No,Japan
Panelist Details
Attended,User Name (Original Name),Email,Join Time,Leave Time,Time in Session (minutes),Is Guest,Country/Region Name
Yes,Prof. Kato,kato@univ.example.ac.jp,10/05/2026 05:55:00 PM,10/05/2026 07:35:00 PM,100,Yes,Japan
Attendee Details
Attended,User Name (Original Name),First Name,Last Name,Email,Phone,Registration Time,Approval Status,Join Time,Leave Time,Time in Session (minutes),Is Guest,Country/Region Name
Yes,山田 太郎,太郎,山田,Yamada@example.jp,,09/20/2026 10:00:00 AM,approved,10/05/2026 06:01:00 PM,10/05/2026 06:30:00 PM,29,Yes,Japan
Yes,山田 太郎,太郎,山田,yamada@example.jp,,09/20/2026 10:00:00 AM,approved,10/05/2026 06:40:00 PM,10/05/2026 07:20:00 PM,40,Yes,Japan
No,Nguyễn Văn An,An,Nguyễn,an@example.vn,,09/21/2026 08:00:00 PM,approved,--,--,--,--,
Yes,Prof. Kato,,,kato@univ.example.ac.jp,,,,10/05/2026 07:30:00 PM,10/05/2026 07:40:00 PM,10,Yes,Japan
""")
