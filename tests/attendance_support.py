"""Builders for the attendance, statistics and report tests: registrations written straight
into the table (any status, any date), one at a time or 100,000 at once."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert

from app.extensions import db
from app.models import AttendanceRecord, BreakoutPreference, CheckIn, Event, Registration
from app.models.attendance import AttendanceSource
from app.models.checkin import CheckInMethod
from app.models.enums import AttendanceMode, OrganizationType, RegistrationStatus
from app.orm import utcnow
from app.services.tokens import manage_token, token_hash
from app.text import furigana_key, normalize_email

_numbers = itertools.count(1)


def _values(event_id: int, number: int, **fields: Any) -> dict[str, Any]:
    status = RegistrationStatus(fields.pop("status", RegistrationStatus.CONFIRMED))
    created_at = fields.pop("created_at", None) or utcnow()
    email = fields.pop("email", f"person{number}@example.jp")
    furigana = fields.pop("furigana", "やまだ たろう")
    values: dict[str, Any] = {
        "event_id": event_id,
        "status": status,
        "attendance_mode": AttendanceMode.IN_PERSON,
        "name": f"参加者 {number}",
        "furigana": furigana,
        "furigana_key": furigana_key(furigana),
        "email": email,
        "email_normalized": normalize_email(email),
        "organization_name": "",
        "organization_type": OrganizationType.MUNICIPALITY,
        "prefecture_code": "13",
        "municipality_code": "13106",
        "answers": {},
        "language": "ja",
        "manage_key": f"{number:064x}",
        "manage_token_hash": hashlib.sha256(f"token-{number}".encode()).hexdigest(),
        "consented_at": created_at,
        "created_at": created_at,
        "updated_at": created_at,
        "confirmed_at": created_at if status is RegistrationStatus.CONFIRMED else None,
        "cancelled_at": created_at if status is RegistrationStatus.CANCELLED else None,
        "waitlist_seq": number if status is RegistrationStatus.WAITLISTED else None,
    }
    values.update(fields)
    return values


def person(event: Event, **fields: Any) -> Registration:
    """One registration of `event`, confirmed and in person unless told otherwise."""
    values = _values(event.id, next(_numbers), **fields)
    # The real hash, so that the participant's own pages open with join_manage_token().
    values["manage_token_hash"] = token_hash(manage_token(values["manage_key"]))
    registration = Registration(**values)
    db.session.add(registration)
    db.session.commit()
    return registration


def many(event: Event, count: int, *, start: datetime | None = None,
         batch: int = 10_000, **fields: Any) -> None:
    """`count` registrations in bulk (Core inserts): a day apart every thousand."""
    start = start or utcnow() - timedelta(days=30)
    rows = []
    for index in range(count):
        number = next(_numbers)
        mode = AttendanceMode.ONLINE if index % 3 == 0 else AttendanceMode.IN_PERSON
        rows.append(_values(
            event.id, number, attendance_mode=mode,
            prefecture_code=f"{index % 47 + 1:02d}",
            created_at=start + timedelta(minutes=index), **fields))
        if len(rows) == batch:
            db.session.execute(insert(Registration), rows)
            rows = []
    if rows:
        db.session.execute(insert(Registration), rows)
    db.session.commit()


def join_manage_token(registration: Registration) -> str:
    return manage_token(registration.manage_key)


def check_in(registration: Registration, *, undone: bool = False,
             day: Any = None) -> CheckIn:
    now = utcnow()
    row = CheckIn(registration_id=registration.id, day=day or now.date(), checked_in_at=now,
                  method=CheckInMethod.SEARCH, nonce=f"nonce-{next(_numbers)}",
                  undone_at=now if undone else None)
    db.session.add(row)
    db.session.commit()
    return row


def prefer(registration: Registration, group_id: int, rank: int = 1) -> None:
    db.session.add(BreakoutPreference(registration_id=registration.id, group_id=group_id,
                                      rank=rank))
    db.session.commit()


def clicked(registration: Registration) -> None:
    """The registration opened its join link (as app.services.attendance records it)."""
    db.session.add(AttendanceRecord(
        event_id=registration.event_id, registration_id=registration.id,
        source=AttendanceSource.JOIN_LINK, first_join=utcnow(), joins=1))
    db.session.commit()


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", before)
