"""Builders for the registrant console tests: many registrations at once, import files, and a
counter of the SQL statements a request runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html import unescape
from typing import Any

from openpyxl import Workbook
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select

from app.extensions import db
from app.models import BreakoutPreference, Event, ImportBatch, Registration, SeatPool
from app.models.enums import AttendanceMode, OrganizationType, RegistrationStatus
from app.orm import utcnow
from app.text import furigana_key
from tests.factories import AuthActions, make_user

HEADER = ["氏名", "フリガナ", "メールアドレス", "所属", "都道府県", "市区町村"]
ROWS = [
    ["髙橋 一郎", "タカハシ イチロウ", "takahashi@example.jp", "台東区", "東京都", "台東区"],
    ["山﨑 花子", "ヤマザキ ハナコ", "yamazaki@example.jp", "市川市", "千葉県", "市川市"],
]


def bulk_registrations(event: Event, count: int, *, group_id: int | None = None) -> None:
    """`count` confirmed registrations in two statements, bypassing the seat logic."""
    now = utcnow()
    kana = "あいうえおかきくけこさしすせそたちつてとなにぬねの"
    rows = [{
        "event_id": event.id,
        "status": RegistrationStatus.CONFIRMED,
        "attendance_mode": AttendanceMode.IN_PERSON,
        "name": f"参加者 {i}",
        "furigana": f"{kana[i % len(kana)]}{kana[(i // 7) % len(kana)]} {i}",
        "furigana_key": furigana_key(f"{kana[i % len(kana)]}{kana[(i // 7) % len(kana)]}{i}"),
        "email": f"p{i}@example.jp",
        "email_normalized": f"p{i}@example.jp",
        "organization_name": "台東区",
        "organization_type": OrganizationType.MUNICIPALITY,
        "prefecture_code": "13",
        "municipality_code": "13106",
        "answers": {},
        "language": "ja",
        "manage_key": f"{i:064x}",
        "manage_token_hash": f"{event.id:08x}{i:056x}",
        "consented_at": now,
        "created_at": now - timedelta(seconds=count - i),
        "updated_at": now,
        "confirmed_at": now,
    } for i in range(count)]
    db.session.execute(insert(Registration), rows)
    if group_id is not None:
        ids = db.session.execute(select(Registration.id).where(
            Registration.event_id == event.id)).scalars().all()
        db.session.execute(insert(BreakoutPreference), [
            {"registration_id": rid, "group_id": group_id, "rank": 1} for rid in ids])
    pool = db.session.execute(select(SeatPool).where(SeatPool.event_id == event.id)).scalars()
    for seat_pool in pool:
        seat_pool.capacity = None
        seat_pool.taken = count
    db.session.commit()


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig",
              header: list[str] | None = None) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER if header is None else header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER if header is None else header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", listener)


class Console:
    """A signed-in organizer of `event`, with shortcuts to its registrant pages."""

    def __init__(self, client: Any, event: Event, email: str = "organizer@example.lg.jp",
                 role: str = "organizer", event_role: str = "organizer") -> None:
        self.client = client
        self.event_id = event.id
        self.user = make_user(email, role=role, events=[event], event_role=event_role)
        self.auth = AuthActions(client)
        self.auth.login(email)
        self.token = self.auth.csrf_token()

    def url(self, path: str = "") -> str:
        return f"/console/events/{self.event_id}/registrants{path}"

    def get(self, path: str = "", **kwargs: Any) -> Any:
        return self.client.get(self.url(path), **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(self.url(path), data={"csrf_token": self.token, **(data or {})},
                                **kwargs)

    def upload(self, content: bytes, filename: str = "list.csv") -> Any:
        return self.post("/import", {"file": (io.BytesIO(content), filename)},
                         content_type="multipart/form-data")

    def import_through_mapping(self, content: bytes, filename: str = "list.csv",
                               **mapping: str) -> str:
        """Upload and save the guessed mapping (with overrides); returns the batch token."""
        uploaded = self.upload(content, filename)
        assert uploaded.status_code == 302, uploaded.text
        token = uploaded.headers["Location"].rsplit("/", 1)[1]
        batch = db.session.execute(
            select(ImportBatch).where(ImportBatch.token == token)).scalar_one()
        data = {f"col_{key}": str(index) for key, index in batch.settings["columns"].items()}
        data.update({f"default_{key}": value for key, value in batch.settings["defaults"].items()})
        data["default_organization_type"] = "municipality"
        data.update(mapping)
        saved = self.post(f"/import/{token}", data)
        assert saved.status_code == 302, saved.text
        return token


def visible_text(html: str) -> str:
    """The page's text without tags, for assertions on what a person reads."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
