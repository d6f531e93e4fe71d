"""The sign-up baselines of bench/bench_signup.py: bare Flask + Flask-SQLAlchemy, naive locking.

    DATABASE_URL=... gunicorn bench.naive_app:app

Two endpoints do what a first implementation usually does: lock the event row, count who is
confirmed, insert the registration, commit:

    BEGIN;                                   -- SQLite: BEGIN IMMEDIATE (its write lock)
    SELECT ... FROM events ... FOR UPDATE;   -- every sign-up of the event queues here
    SELECT count(*) ... FROM registrations;  -- under the lock, growing with the event
    INSERT INTO registrations ...;
    COMMIT;

* POST /naive/<event id> writes it as a Flask-SQLAlchemy application does: a mapped model,
  `select()` statements and `db.session.add()` of an instance (the issue's baseline).
* POST /naive-sql/<event id> sends the same statements as hand-written SQL text through the
  session: no model, no unit of work. A stricter baseline, reported beside the first.

Both are correct (they never overbook) but pay for a count and three round trips while
holding the lock. They write into Tsudoi's own `registrations` table (same indexes, same
constraints) and answer like Tsudoi, with a redirect to the registration's page, but do no
validation, no CSRF check, no e-mail and no templates: everything Tsudoi adds on top.
The SQLite connection settings are Tsudoi's (WAL, busy timeout, synchronous=NORMAL), so the
comparison is about the request, not the storage settings.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, redirect, request
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    String,
    bindparam,
    case,
    event,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import Executable

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
db = SQLAlchemy(app)

with app.app_context():
    SQLITE = db.engine.dialect.name == "sqlite"
    if SQLITE:
        @event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we send BEGIN ourselves
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                           "synchronous=NORMAL"):
                dbapi_connection.execute(f"PRAGMA {pragma}")

        @event.listens_for(db.engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

LOCK_EVENT = text(
    "SELECT p.capacity FROM events e JOIN seat_pools p ON p.event_id = e.id"
    " WHERE e.id = :event_id" + ("" if SQLITE else " FOR UPDATE OF e")
)
COUNT = text(
    "SELECT count(*), coalesce(sum(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), 0)"
    " FROM registrations WHERE event_id = :event_id"
)
INSERT = text(
    "INSERT INTO registrations (event_id, status, attendance_mode, name, furigana, furigana_key,"
    " email, email_normalized, organization_name, organization_type, prefecture_code,"
    " municipality_code, answers, language, waitlist_seq, manage_key, manage_token_hash,"
    " consented_at, created_at, updated_at, confirmed_at)"
    " VALUES (:event_id, :status, 'in_person', :name, :furigana, :furigana, :email, :email,"
    " :organization, 'municipality', :prefecture, :municipality, '{}', 'ja', :seq, :key,"
    " :token_hash, :now, :now, :now, :confirmed_at)"
).bindparams(  # SQLAlchemy's own datetime storage (SQLite: naive UTC text; PostgreSQL: tz)
    bindparam("now", type_=DateTime(timezone=not SQLITE)),
    bindparam("confirmed_at", type_=DateTime(timezone=not SQLITE)),
)


@dataclass(frozen=True)
class Decision:
    """What the naive sign-up decided under the event's lock, and the values it writes."""

    status: str
    waitlist_seq: int | None
    now: datetime
    confirmed_at: datetime | None
    token: str
    token_hash: str
    manage_key: str


def decide_under_lock(event_id: int, lock: Executable, count: Executable) -> Decision:
    """Lock the event row, count its registrations, and place the new one."""
    now = datetime.now(UTC)
    if SQLITE:
        now = now.replace(tzinfo=None)
    token = secrets.token_urlsafe(32)
    capacity = db.session.execute(lock, {"event_id": event_id}).scalar_one()
    total, confirmed = db.session.execute(count, {"event_id": event_id}).one()
    confirmed_now = capacity is None or confirmed < capacity
    return Decision(
        status="confirmed" if confirmed_now else "waitlisted",
        waitlist_seq=None if confirmed_now else total - confirmed + 1,
        now=now, confirmed_at=now if confirmed_now else None, token=token,
        token_hash=hashlib.sha256(token.encode()).hexdigest(), manage_key=secrets.token_hex(32),
    )


@app.post("/naive-sql/<int:event_id>")
def naive_sql_signup(event_id: int) -> ResponseReturnValue:
    form = request.form
    decision = decide_under_lock(event_id, LOCK_EVENT, COUNT)
    db.session.execute(INSERT, {
        "event_id": event_id, "status": decision.status, "name": form["name"],
        "furigana": form["furigana"], "email": form["email"].lower(),
        "organization": form["organization_name"], "prefecture": form["prefecture"],
        "municipality": form["municipality"], "seq": decision.waitlist_seq,
        "key": decision.manage_key, "token_hash": decision.token_hash, "now": decision.now,
        "confirmed_at": decision.confirmed_at,
    })
    db.session.commit()
    return redirect(f"/r/{decision.token}?new=1")


# --- the same with a mapped model --------------------------------------------------------------

Stamp = DateTime(timezone=not SQLITE)  # SQLAlchemy's own storage, as Tsudoi's models use it


class Event(db.Model):  # type: ignore[name-defined]
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)


class SeatPool(db.Model):  # type: ignore[name-defined]
    __tablename__ = "seat_pools"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    capacity: Mapped[int | None]


class Registration(db.Model):  # type: ignore[name-defined]
    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    status: Mapped[str] = mapped_column(String(20))
    attendance_mode: Mapped[str] = mapped_column(String(20), default="in_person")
    name: Mapped[str] = mapped_column(String(100))
    furigana: Mapped[str] = mapped_column(String(100))
    furigana_key: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    organization_name: Mapped[str] = mapped_column(String(200))
    organization_type: Mapped[str] = mapped_column(String(20), default="municipality")
    prefecture_code: Mapped[str] = mapped_column(String(2))
    municipality_code: Mapped[str] = mapped_column(String(5))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str] = mapped_column(String(5), default="ja")
    waitlist_seq: Mapped[int | None]
    manage_key: Mapped[str] = mapped_column(String(64))
    manage_token_hash: Mapped[str] = mapped_column(String(64))
    consented_at: Mapped[datetime] = mapped_column(Stamp)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)
    confirmed_at: Mapped[datetime | None] = mapped_column(Stamp)


LOCK_EVENT_ORM = select(SeatPool.capacity).join(Event).where(Event.id == bindparam("event_id"))
if not SQLITE:
    LOCK_EVENT_ORM = LOCK_EVENT_ORM.with_for_update(of=Event)
COUNT_ORM = select(
    func.count(), func.coalesce(func.sum(case((Registration.status == "confirmed", 1), else_=0)), 0)
).where(Registration.event_id == bindparam("event_id"))


@app.post("/naive/<int:event_id>")
def naive_signup(event_id: int) -> ResponseReturnValue:
    form = request.form
    decision = decide_under_lock(event_id, LOCK_EVENT_ORM, COUNT_ORM)
    db.session.add(Registration(
        event_id=event_id, status=decision.status, name=form["name"],
        furigana=form["furigana"], furigana_key=form["furigana"], email=form["email"],
        email_normalized=form["email"].lower(), organization_name=form["organization_name"],
        prefecture_code=form["prefecture"], municipality_code=form["municipality"],
        waitlist_seq=decision.waitlist_seq, manage_key=decision.manage_key,
        manage_token_hash=decision.token_hash, consented_at=decision.now,
        created_at=decision.now, updated_at=decision.now, confirmed_at=decision.confirmed_at,
    ))
    db.session.commit()
    return redirect(f"/r/{decision.token}?new=1")


@app.get("/naive/ready")
def ready() -> ResponseReturnValue:
    return "ok"
