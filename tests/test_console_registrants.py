"""The registrants of an event in the console: search, filters, sort, pages, edit, cancel,
moves between the waiting list and the seats, additions by hand, imports and announcements."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, ImportBatch, OutboxMessage, Registration, SeatPool
from app.models.enums import (
    AttendanceMode,
    EventFormat,
    MessageKind,
    OrganizationType,
    RegistrationStatus,
)
from app.services import importing, registrants
from app.services import registration as signups
from app.services.registrants import RegistrantFilters
from tests.factories import add_groups, make_event, signup
from tests.registrant_builders import (
    HEADER,
    ROWS,
    Console,
    bulk_registrations,
    count_queries,
    csv_bytes,
    visible_text,
    xlsx_bytes,
)


def register(event, email, **fields) -> Registration:
    result = signups.register(db.session, event.id, signup(email, **fields))
    return db.session.get(Registration, result.registration_id)


def status_of(registration_id: int) -> RegistrationStatus:
    db.session.expire_all()
    return db.session.get(Registration, registration_id).status


def registration_count() -> int:
    return db.session.execute(select(func.count()).select_from(Registration)).scalar_one()


def kinds_for(email: str) -> list[MessageKind]:
    return list(db.session.execute(select(OutboxMessage.kind).where(
        OutboxMessage.recipient == email).order_by(OutboxMessage.id)).scalars())


def actions() -> list[str]:
    return list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def pool(event_id: int) -> SeatPool:
    db.session.expire_all()
    return db.session.execute(select(SeatPool).where(SeatPool.event_id == event_id)).scalars(
    ).first()


@pytest.fixture
def people(app):
    """Four registrations of an unlimited event, with different names and places."""
    event = make_event(capacity=None)
    yamada = register(event, "taro@example.jp")
    sato = register(event, "hanako@example.jp", name="佐藤 花子", furigana="さとう はなこ",
                    organization_name="市川市役所", prefecture_code="12",
                    municipality_code="12203")
    suzuki = register(event, "suzuki@example.com", name="鈴木 一郎", furigana="スズキ イチロウ",
                      organization_name="", organization_type=OrganizationType.INDIVIDUAL)
    gone = register(event, "gone@example.jp", name="田中 次郎", furigana="たなか じろう")
    signups.cancel_registration(db.session, gone.id)
    return event, yamada, sato, suzuki, gone


def names(page) -> list[str]:
    return [registration.name for registration in page.items]


# --- Search, filters, sort, pages -----------------------------------------------------------


def test_search_by_reading_in_any_kana_name_email_and_organisation(people):
    event = people[0]

    def search(query: str) -> list[str]:
        return names(registrants.search_registrations(db.session, event.id, query))

    assert search("ヤマダ") == ["山田 太郎"]  # stored as やまだ たろう
    assert search("ﾔﾏﾀﾞ ﾀﾛｳ") == ["山田 太郎"]  # half-width katakana, two words
    assert search("すずき") == ["鈴木 一郎"]  # typed in hiragana, entered in katakana
    assert search("山田太郎") == ["山田 太郎"]  # without the space
    assert search("HANAKO@") == ["佐藤 花子"]
    assert search("example.com") == ["鈴木 一郎"]
    assert search("市川") == ["佐藤 花子"]
    assert search("100%") == []  # % is a character here, not a wildcard
    assert len(search("")) == 4


def test_filters_combine(app):
    event = make_event(event_format=EventFormat.HYBRID, capacity=None, online_capacity=None)
    groups = add_groups(event, ["A", "B"], ranks=2)
    online = register(event, "online@example.jp", attendance_mode=AttendanceMode.ONLINE,
                      preferences=[groups[1].id, groups[0].id])
    venue = register(event, "venue@example.jp", prefecture_code="12", municipality_code="12203",
                     organization_type=OrganizationType.COMPANY, organization_name="株式会社",
                     preferences=[groups[0].id])
    cancelled = register(event, "cancelled@example.jp")
    signups.cancel_registration(db.session, cancelled.id)

    def ids(**filters) -> set[int]:
        page = registrants.search_registrations(db.session, event.id, "",
                                                RegistrantFilters(**filters))
        return {registration.id for registration in page.items}

    assert ids(mode=AttendanceMode.ONLINE) == {online.id}
    assert ids(prefecture_code="12") == {venue.id}
    assert ids(organization_type=OrganizationType.COMPANY) == {venue.id}
    assert ids(first_choice_group_id=groups[0].id) == {venue.id}  # online ranked A second
    assert ids(status="active") == {online.id, venue.id}
    assert ids(status="cancelled") == {cancelled.id}
    assert ids(status="active", mode=AttendanceMode.IN_PERSON) == {venue.id}


def test_sort_orders(people):
    event, *_ = people

    def order(sort: str) -> list[str]:
        return names(registrants.search_registrations(db.session, event.id, sort=sort))

    assert order("furigana") == ["佐藤 花子", "鈴木 一郎", "田中 次郎", "山田 太郎"]
    assert order("-furigana") == list(reversed(order("furigana")))
    assert order("created") == ["山田 太郎", "佐藤 花子", "鈴木 一郎", "田中 次郎"]
    assert order("-created") == list(reversed(order("created")))
    assert order("status")[-1] == "田中 次郎"  # cancelled last
    assert order("organisation")[0] == "鈴木 一郎"  # no organisation sorts first
    assert order("bogus") == order("furigana")


def test_list_page_filters_and_pages_keep_the_query(client, app):
    event = make_event(capacity=None)
    bulk_registrations(event, 60)
    console = Console(client, event)
    page = console.get("?q=参加者&status=confirmed&per_page=25&sort=-created")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Registrations 1–25 of 60" in text and "Page 1 of 3" in text
    assert "参加者 59" in text  # newest first
    next_link = f"/console/events/{event.id}/registrants?q=%E5%8F%82%E5%8A%A0%E8%80%85"
    assert next_link in page.text and "status=confirmed" in page.text and "page=2" in page.text
    last = console.get("?q=参加者&status=confirmed&per_page=25&sort=-created&page=9")
    assert "Registrations 51–60 of 60" in visible_text(last.text)  # past the end: last page
    none = console.get("?q=nobody")
    assert "No registration matches." in none.text


def test_bad_list_arguments_answer_422(client, app):
    console = Console(client, make_event())
    bad = console.get("?status=bogus&sort=x")
    assert bad.status_code == 422
    assert "Not a valid choice" in bad.text


def test_a_page_of_10000_registrations_takes_a_bounded_number_of_queries(client, app):
    event = make_event(capacity=None)
    group_id = add_groups(event, ["A"], ranks=1)[0].id
    bulk_registrations(event, 10_000, group_id=group_id)
    console = Console(client, event)
    last_page = f"?per_page=200&group={group_id}&page=50"
    counts = {}
    for per_page in (25, 200):
        with count_queries() as statements:
            page = console.get(f"?q=さ&per_page={per_page}&sort=furigana&page=3")
        assert page.status_code == 200
        counts[per_page] = len(statements)
    with count_queries() as statements:
        page = console.get(last_page)
    assert "Registrations 9801–10000 of 10000" in visible_text(page.text)
    # No query per row: eight times the rows cost the same statements.
    assert counts[25] == counts[200] == len(statements)
    assert counts[25] <= 15, counts


# --- One registration -----------------------------------------------------------------------


def test_detail_and_registrations_of_other_events_are_404(client, app):
    event, other = make_event(), make_event()
    mine = register(event, "taro@example.jp")
    theirs = register(other, "hanako@example.jp")
    console = Console(client, event)
    detail = console.get(f"/{mine.id}")
    assert detail.status_code == 200 and "taro@example.jp" in detail.text
    assert console.get(f"/{theirs.id}").status_code == 404
    assert console.get(f"/{theirs.id}/edit").status_code == 404
    assert console.post(f"/{theirs.id}/cancel").status_code == 404
    assert console.post(f"/{theirs.id}/confirm").status_code == 404


def edit_data(**fields: str) -> dict[str, str]:
    data = {"name": "山田 太郎", "furigana": "やまだ たろう", "email": "taro@example.jp",
            "organization_type": "municipality", "organization_name": "台東区",
            "prefecture": "13", "municipality": "13106"}
    data.update(fields)
    return data


def test_edit_renormalises_and_refuses_a_clash(client, app):
    event = make_event()
    taro = register(event, "taro@example.jp")
    register(event, "hanako@example.jp")
    console = Console(client, event)
    clash = console.post(f"/{taro.id}/edit", edit_data(email="ＨＡＮＡＫＯ@example.jp"))
    assert clash.status_code == 409
    assert "already uses this email address" in clash.text
    kanji = console.post(f"/{taro.id}/edit", edit_data(furigana="山田"))
    assert kanji.status_code == 422 and "hiragana or katakana" in kanji.text
    wrong_place = console.post(f"/{taro.id}/edit", edit_data(municipality="12203"))
    assert wrong_place.status_code == 422
    saved = console.post(f"/{taro.id}/edit", edit_data(
        name="山田　太郎", furigana="ヤマダ タロウ", email="Taro.Yamada@Example.jp"))
    assert saved.status_code == 302
    db.session.expire_all()
    registration = db.session.get(Registration, taro.id)
    assert registration.email_normalized == "taro.yamada@example.jp"
    assert registration.furigana == "やまだ たろう" and registration.name == "山田 太郎"
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "registration.edit")).scalar_one()
    assert entry.details == {"fields": ["email"]} and entry.target_id == taro.id
    # A cancelled registration's address may be reused by anyone.
    signups.cancel_registration(db.session, registration.id)
    hanako = db.session.execute(select(Registration).where(
        Registration.email == "hanako@example.jp")).scalar_one()
    assert console.post(f"/{hanako.id}/edit", edit_data(
        email="taro.yamada@example.jp")).status_code == 302


def test_cancel_by_organizer_promotes_the_first_waiting(client, app):
    event = make_event(capacity=1)
    holder = register(event, "holder@example.jp")
    first = register(event, "first@example.jp")
    second = register(event, "second@example.jp")
    console = Console(client, event)
    page = console.get(f"/{holder.id}/cancel")
    assert page.status_code == 200 and "Cancel the registration of" in page.text
    done = console.post(f"/{holder.id}/cancel", {"reason": "会場変更のため"})
    assert done.status_code == 302
    assert status_of(holder.id) is RegistrationStatus.CANCELLED
    assert status_of(first.id) is RegistrationStatus.CONFIRMED
    assert status_of(second.id) is RegistrationStatus.WAITLISTED
    assert pool(event.id).taken == 1
    assert kinds_for("holder@example.jp")[-1] is MessageKind.CANCELLED_BY_ORGANIZER
    assert kinds_for("first@example.jp")[-1] is MessageKind.PROMOTED
    message = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.CANCELLED_BY_ORGANIZER)).scalar_one()
    assert "会場変更のため" in message.body_text
    assert actions()[-2:] == ["registration.cancel", "registration.promote"]
    again = console.post(f"/{holder.id}/cancel", {"reason": ""})
    assert again.status_code == 409 and "already been cancelled" in again.text


def test_over_capacity_only_by_explicit_choice_and_audited(client, app):
    event = make_event(capacity=1)
    holder = register(event, "holder@example.jp")
    waiting = register(event, "waiting@example.jp")
    console = Console(client, event)
    refused = console.post(f"/{waiting.id}/confirm")
    assert refused.status_code == 409
    assert "Confirm over capacity" in refused.text
    assert "Every seat is taken (capacity: 1)" in refused.text
    assert status_of(waiting.id) is RegistrationStatus.WAITLISTED
    assert (pool(event.id).capacity, pool(event.id).taken) == (1, 1)
    confirmed = console.post(f"/{waiting.id}/confirm", {"over_capacity": "y"})
    assert confirmed.status_code == 302
    assert status_of(waiting.id) is RegistrationStatus.CONFIRMED
    assert (pool(event.id).capacity, pool(event.id).taken) == (2, 2)
    raised = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "seat_pool.raise_capacity")).scalar_one()
    assert raised.details["from"] == 1 and raised.details["to"] == 2
    assert raised.actor_id == console.user.id
    assert kinds_for("waiting@example.jp")[-1] is MessageKind.PROMOTED
    # Back to the waiting list with nobody waiting: the seat returns to the pool.
    moved = console.post(f"/{holder.id}/waitlist")
    assert moved.status_code == 302
    assert status_of(holder.id) is RegistrationStatus.WAITLISTED
    assert pool(event.id).taken == 1
    # A free seat needs no choice.
    assert console.post(f"/{holder.id}/confirm").status_code == 302
    assert (pool(event.id).capacity, pool(event.id).taken) == (2, 2)
    assert console.post(f"/{holder.id}/confirm").status_code == 409  # already confirmed


def test_moving_to_the_waitlist_hands_the_seat_to_the_first_waiting(app):
    event = make_event(capacity=1)
    holder = register(event, "holder@example.jp")
    first = register(event, "first@example.jp")
    promoted = registrants.move_to_waitlist(db.session, None, holder.id)
    assert promoted is not None and promoted.id == first.id
    assert status_of(holder.id) is RegistrationStatus.WAITLISTED
    assert pool(event.id).taken == 1
    holder = db.session.get(Registration, holder.id)
    assert signups.waitlist_position(db.session, holder) == 1
    assert kinds_for("holder@example.jp")[-1] is MessageKind.WAITLISTED


# --- By hand --------------------------------------------------------------------------------


def new_data(**fields: str) -> dict[str, str]:
    data = {"attendance_mode": "in_person", "name": "電話 受付", "furigana": "でんわ うけつけ",
            "email": "phone@example.jp", "organization_type": "individual",
            "organization_name": "", "prefecture": "13", "municipality": "13106",
            "language": "ja", "source": "phone", "source_note": "3/12 電話 担当:佐藤",
            "notify": "y"}
    data.update(fields)
    return data


def test_add_by_hand_takes_a_seat_or_the_waitlist_and_records_the_source(client, app):
    event = make_event(capacity=1, registration_closes_at=None)
    console = Console(client, event)
    assert console.get("/new").status_code == 200
    added = console.post("/new", new_data())
    assert added.status_code == 302
    phone = db.session.execute(select(Registration)).scalar_one()
    assert phone.status is RegistrationStatus.CONFIRMED and phone.furigana_key == "でんわうけつけ"
    assert kinds_for("phone@example.jp") == [MessageKind.CONFIRMATION]
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "registration.add_by_hand")).scalar_one()
    assert entry.details["source"] == "phone" and entry.summary == "3/12 電話 担当:佐藤"
    walk_in = console.post("/new", new_data(email="door@example.jp", source="walk_in",
                                            notify=""))
    assert walk_in.status_code == 302
    door = db.session.execute(select(Registration).where(
        Registration.email == "door@example.jp")).scalar_one()
    assert door.status is RegistrationStatus.WAITLISTED and kinds_for("door@example.jp") == []
    duplicate = console.post("/new", new_data(email="PHONE@example.jp"))
    assert duplicate.status_code == 409 and "already uses this email" in duplicate.text
    missing = console.post("/new", new_data(email="", source=""))
    assert missing.status_code == 422
    assert "Please enter your email address." in missing.text
    assert registration_count() == 2


def test_add_by_hand_to_a_full_event_without_waitlist_is_refused(client, app):
    event = make_event(capacity=1, waitlist_enabled=False)
    register(event, "holder@example.jp")
    console = Console(client, event)
    full = console.post("/new", new_data())
    assert full.status_code == 409 and "full" in full.text
    assert registration_count() == 1


# --- Import ---------------------------------------------------------------------------------

ENCODED = {
    "utf-8-sig": ("list.csv", "UTF-8 (BOM)"),
    "utf-8": ("list.csv", "UTF-8"),
    "cp932": ("list.csv", "Shift_JIS (CP932)"),
    "xlsx": ("list.xlsx", "Excel (XLSX)"),
}


def encoded(rows: list[list[str]], encoding: str, header: list[str] | None = None) -> bytes:
    if encoding == "xlsx":
        return xlsx_bytes(rows, header)
    return csv_bytes(rows, encoding, header)


@pytest.mark.parametrize("encoding", list(ENCODED))
def test_import_each_encoding_writes_nothing_until_accepted(client, app, encoding):
    event = make_event(capacity=10)
    console = Console(client, event)
    filename, label = ENCODED[encoding]
    token = console.import_through_mapping(encoded(ROWS, encoding), filename)
    mapping = console.get(f"/import/{token}")
    assert label in mapping.text and "髙橋 一郎" in mapping.text
    preview = console.get(f"/import/{token}/preview")
    assert preview.status_code == 200
    text = visible_text(preview.text)
    assert "Rows: 2. To import: 2. With problems, left out: 0." in text and "山﨑 花子" in text
    assert registration_count() == 0  # upload, mapping and preview write no registration
    accepted = console.post(f"/import/{token}/accept", {"notify": "no", "expected": "2"})
    assert accepted.status_code == 302
    stored = db.session.execute(select(Registration).order_by(Registration.id)).scalars().all()
    assert [(r.name, r.furigana, r.municipality_code) for r in stored] == [
        ("髙橋 一郎", "たかはし いちろう", "13106"), ("山﨑 花子", "やまざき はなこ", "12203")]
    assert all(r.status is RegistrationStatus.CONFIRMED for r in stored)
    assert db.session.execute(select(OutboxMessage)).first() is None  # "send no messages"
    assert db.session.execute(select(ImportBatch)).first() is None  # the file is gone
    assert pool(event.id).taken == 2
    assert actions().count("registration.import") == 2 and "import.accept" in actions()


def test_import_can_send_the_confirmations_and_waitlists_beyond_the_seats(client, app):
    event = make_event(capacity=1)
    console = Console(client, event)
    token = console.import_through_mapping(csv_bytes(ROWS))
    preview = visible_text(console.get(f"/import/{token}/preview").text)
    assert "Seats left: 1. Confirmed: 1. Beyond the seats: 1" in preview
    assert console.post(f"/import/{token}/accept",
                        {"notify": "yes", "expected": "2"}).status_code == 302
    assert kinds_for("takahashi@example.jp") == [MessageKind.CONFIRMATION]
    assert kinds_for("yamazaki@example.jp") == [MessageKind.WAITLISTED]


def test_import_guesses_english_and_connpass_headers(app):
    event = make_event(event_format=EventFormat.HYBRID)
    fields = importing.import_fields(event)
    english = importing.guess_mapping(
        ["Name", "Furigana", "E-mail", "Organization", "Organization type", "Prefecture",
         "City", "Attendance"], fields)
    assert english == {"name": 0, "furigana": 1, "email": 2, "organization_name": 3,
                       "organization_type": 4, "prefecture": 5, "municipality": 6,
                       "attendance_mode": 7}
    japanese = importing.guess_mapping(
        ["参加枠名", "ユーザー名", "表示名", "氏名（フリガナ）", "Eメール", "所属団体名",
         "住所・市区町村"], fields)
    assert japanese == {"attendance_mode": 0, "name": 2, "furigana": 3, "email": 4,
                        "organization_name": 5, "municipality": 6}


def test_import_rows_with_problems_are_listed_with_their_messages(client, app):
    event = make_event(capacity=10)
    register(event, "taken@example.jp")
    rows = [
        ROWS[0],
        ["漢字 読み", "漢字", "kanji@example.jp", "台東区", "東京都", "台東区"],
        ["メール 不正", "めーる", "not-an-address", "台東区", "東京都", "台東区"],
        ["場所 不明", "ばしょ", "place@example.jp", "台東区", "東京都", "存在しない市"],
        ["重複 一", "ちょうふく", "TAKAHASHI@example.jp", "台東区", "東京都", "台東区"],
        ["登録 済", "とうろく", "taken@example.jp", "台東区", "東京都", "台東区"],
        ["県 なし", "けん", "pref@example.jp", "市川市", "", "千葉県市川市"],
        ["団体 なし", "だんたい", "org@example.jp", "", "東京都", "台東区"],
    ]
    console = Console(client, event)
    token = console.import_through_mapping(csv_bytes(rows))
    preview = console.get(f"/import/{token}/preview")
    text = visible_text(preview.text)
    assert "Rows: 8. To import: 3. With problems, left out: 5." in text
    expected = {
        3: "Name reading (furigana): Please write your name's reading in hiragana or katakana.",
        4: "Email address: Please enter a valid email address",
        5: "Municipality: There is no municipality “存在しない市” in 東京都.",
        6: "Email address: The same email address as row 2.",
        7: "Email address: Already registered for this event.",
    }
    for line, message in expected.items():
        assert f" {line} " in text and message in text, (line, message)
    accepted = console.post(f"/import/{token}/accept", {"notify": "no", "expected": "3"})
    assert accepted.status_code == 302
    imported = {r.email: r for r in db.session.execute(select(Registration)).scalars()}
    assert set(imported) == {"taken@example.jp", "takahashi@example.jp", "pref@example.jp",
                             "org@example.jp"}
    assert imported["pref@example.jp"].prefecture_code == "12"  # from "千葉県市川市"
    assert imported["org@example.jp"].organization_type is OrganizationType.INDIVIDUAL
    assert imported["takahashi@example.jp"].organization_type is OrganizationType.MUNICIPALITY


@pytest.mark.parametrize(("content", "filename", "message"), [
    (b"", "empty.csv", "The file is empty."),
    (bytes(range(256)) * 4, "garbage.csv", "could not be read as text in UTF-8 or Shift_JIS"),
    ("氏名,フリガナ\n".encode("euc_jp") + b"\x81\x20\xff", "euc.csv",
     "could not be read as text"),
    (csv_bytes([]), "header-only.csv", "a header row but no registrants below it"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "old Excel file (.xls)"),
    (b"PK\x03\x04broken zip", "broken.xlsx", "could not be opened as an Excel workbook"),
])
def test_broken_files_are_refused_with_a_message(client, app, content, filename, message):
    console = Console(client, make_event())
    response = console.upload(content, filename)
    assert response.status_code == 422
    assert message in visible_text(response.text)
    assert db.session.execute(select(ImportBatch)).first() is None


def test_a_file_over_the_row_cap_is_refused_clearly(client, app):
    console = Console(client, make_event())
    rows = [[f"人 {i}", "ひと", f"p{i}@example.jp", "台東区", "東京都", "台東区"]
            for i in range(importing.MAX_IMPORT_ROWS + 1)]
    response = console.upload(csv_bytes(rows))
    assert response.status_code == 422
    assert "more than 5000 rows" in response.text and "split it" in response.text


def test_a_missing_required_column_is_named_at_the_mapping_step(client, app):
    console = Console(client, make_event())
    header = [title for title in HEADER if title != "メールアドレス"]
    rows = [[cell for cell in row if "@" not in cell] for row in ROWS]
    uploaded = console.upload(csv_bytes(rows, header=header))
    token = uploaded.headers["Location"].rsplit("/", 1)[1]
    mapping = console.post(f"/import/{token}", {
        "col_name": "0", "col_furigana": "1", "col_municipality": "4",
        "default_attendance_mode": "in_person"})
    assert mapping.status_code == 422
    assert "Please choose the column that holds this." in mapping.text
    assert console.get(f"/import/{token}/preview").status_code == 302  # back to the mapping
    twice = console.post(f"/import/{token}", {
        "col_name": "0", "col_furigana": "0", "col_email": "1", "col_municipality": "4",
        "default_attendance_mode": "in_person"})
    assert twice.status_code == 422 and "This column is already used for" in twice.text


def test_accept_is_all_or_nothing_when_a_row_finds_no_seat(client, app):
    event = make_event(capacity=1, waitlist_enabled=False)
    console = Console(client, event)
    token = console.import_through_mapping(csv_bytes(ROWS))
    preview = console.get(f"/import/{token}/preview")
    assert "accepting would import nothing" in preview.text
    refused = console.post(f"/import/{token}/accept", {"notify": "yes", "expected": "2"})
    assert refused.status_code == 409
    assert "Row 3: This event is full and has no waiting list. Nothing was imported." in (
        visible_text(refused.text))
    assert registration_count() == 0 and pool(event.id).taken == 0
    assert db.session.execute(select(OutboxMessage)).first() is None
    assert db.session.execute(select(ImportBatch)).scalar_one().token == token  # kept


def test_accept_is_all_or_nothing_when_anything_fails_midway(client, app, monkeypatch):
    event = make_event(capacity=10)
    console = Console(client, event)
    rows = [[f"人 {i}", "ひと", f"p{i}@example.jp", "台東区", "東京都", "台東区"]
            for i in range(5)]
    token = console.import_through_mapping(csv_bytes(rows))
    from app.services import registration

    original = registration.queue_signup_message
    calls = []

    def failing_queue(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("mail template broke")
        return original(*args, **kwargs)

    monkeypatch.setattr(registration, "queue_signup_message", failing_queue)
    with pytest.raises(RuntimeError):
        importing.accept_import(db.session, console.user, event.id, token, notify=True)
    assert len(calls) == 3
    assert registration_count() == 0 and pool(event.id).taken == 0
    assert db.session.execute(select(OutboxMessage)).first() is None
    assert "import.accept" not in actions()


def test_accept_refuses_when_the_rows_changed_since_the_preview(client, app):
    event = make_event(capacity=10)
    console = Console(client, event)
    token = console.import_through_mapping(csv_bytes(ROWS))
    register(event, "takahashi@example.jp")  # signs up meanwhile
    changed = console.post(f"/import/{token}/accept", {"notify": "no", "expected": "2"})
    assert changed.status_code == 409 and "1 now, 2 in the preview" in changed.text
    assert registration_count() == 1


def test_an_import_belongs_to_its_user_and_can_be_discarded(client, app):
    event = make_event()
    console = Console(client, event)
    token = console.import_through_mapping(csv_bytes(ROWS))
    other = app.test_client()
    stranger = Console(other, event, email="colleague@example.lg.jp")
    assert stranger.get(f"/import/{token}").status_code == 404
    assert stranger.post(f"/import/{token}/accept", {"notify": "no"}).status_code == 404
    assert console.post(f"/import/{token}/discard").status_code == 302
    assert db.session.execute(select(ImportBatch)).first() is None
    assert console.get(f"/import/{token}").status_code == 404
    assert registration_count() == 0


# --- Announcements --------------------------------------------------------------------------


def test_announcement_goes_to_exactly_the_filtered_set_after_a_confirm_step(client, app):
    event = make_event(event_format=EventFormat.HYBRID, capacity=None, online_capacity=None)
    online = [register(event, f"online{i}@example.jp", attendance_mode=AttendanceMode.ONLINE)
              for i in range(2)]
    register(event, "venue@example.jp")
    gone = register(event, "gone@example.jp", attendance_mode=AttendanceMode.ONLINE)
    signups.cancel_registration(db.session, gone.id)
    console = Console(client, event)
    compose = console.get("/announce?mode=online&status=cancelled")
    assert compose.status_code == 200
    data = {"status": "active", "mode": "online", "prefecture": "", "organization_type": "",
            "subject": "接続テストのお知らせ", "body": "前日に接続テストを行います。"}
    review = console.post("/announce", {**data, "review": "1"})
    assert review.status_code == 200
    assert "Recipients: 2." in review.text
    assert db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.ANNOUNCEMENT)).first() is None
    sent = console.post("/announce", {**data, "expected": "2", "send": "1"})
    assert sent.status_code == 302
    messages = db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.ANNOUNCEMENT)).scalars().all()
    assert sorted(m.recipient for m in messages) == sorted(r.email for r in online)
    assert messages[0].subject == f"【{event.title}】接続テストのお知らせ"
    assert "前日に接続テストを行います。" in messages[0].body_text
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "announcement.send")).scalar_one()
    assert entry.details["recipients"] == 2 and entry.summary == "接続テストのお知らせ"


def test_announcement_refuses_a_stale_count_and_bad_input(client, app):
    event = make_event(capacity=None)
    register(event, "a@example.jp")
    console = Console(client, event)
    data = {"status": "active", "subject": "お知らせ", "body": "本文"}
    stale = console.post("/announce", {**data, "expected": "5", "send": "1"})
    assert stale.status_code == 409 and "has changed to 1" in stale.text
    empty = console.post("/announce", {**data, "status": "not_drawn", "review": "1"})
    assert empty.status_code == 422 and "No registrants match" in empty.text
    blank = console.post("/announce", {"status": "active", "subject": "", "body": "",
                                       "review": "1"})
    assert blank.status_code == 422 and "Please enter a subject." in blank.text
    cancelled = console.post("/announce", {**data, "status": "cancelled", "review": "1"})
    assert cancelled.status_code == 422
    assert db.session.execute(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.ANNOUNCEMENT)).first() is None


# --- Access and forms -----------------------------------------------------------------------


def test_every_form_refuses_a_post_without_csrf_token(client, app):
    event = make_event(capacity=1)
    holder = register(event, "holder@example.jp")
    console = Console(client, event)
    for path in (f"/{holder.id}/edit", f"/{holder.id}/cancel", f"/{holder.id}/waitlist",
                 f"/{holder.id}/confirm", "/new", "/import", "/import/x", "/import/x/accept",
                 "/import/x/discard", "/announce"):
        response = client.post(console.url(path), data=edit_data())
        assert response.status_code == 400, path
    assert status_of(holder.id) is RegistrationStatus.CONFIRMED


def test_viewers_read_but_do_not_change(client, app):
    event = make_event()
    taro = register(event, "taro@example.jp")
    viewer = Console(client, event, event_role="viewer")
    assert viewer.get().status_code == 200
    assert viewer.get(f"/{taro.id}").status_code == 200
    assert "Edit details" not in viewer.get(f"/{taro.id}").text
    for path in (f"/{taro.id}/edit", f"/{taro.id}/cancel", "/new", "/import", "/announce"):
        assert viewer.get(path).status_code == 403, path
    assert viewer.post(f"/{taro.id}/cancel").status_code == 403
    assert status_of(taro.id) is RegistrationStatus.CONFIRMED


def test_a_facilitator_sees_only_their_group(client, app):
    from app.models import EventMembership

    event = make_event(capacity=None)
    groups = add_groups(event, ["A", "B"], ranks=1)
    mine = register(event, "mine@example.jp", preferences=[groups[0].id])
    other = register(event, "other@example.jp", preferences=[groups[1].id])
    facilitator = Console(client, event, event_role="viewer")
    membership = db.session.execute(select(EventMembership)).scalar_one()
    membership.breakout_group_id = groups[0].id
    db.session.commit()
    page = facilitator.get(f"?group={groups[1].id}").text
    assert "mine@example.jp" in page and "other@example.jp" not in page
    assert facilitator.get(f"/{other.id}").status_code == 404
    assert facilitator.get(f"/{mine.id}").status_code == 200
