"""The sign-up baseline of bench/bench_signup.py: bare Flask + Flask-SQLAlchemy, naive locking.

    DATABASE_URL=... gunicorn bench.naive_app:app

One endpoint, POST /naive/<event id>, does what a first implementation usually does: lock the
event row, count who is confirmed, insert the registration, commit:

    BEGIN;                                   -- SQLite: BEGIN IMMEDIATE (its write lock)
    SELECT ... FROM events ... FOR UPDATE;   -- every sign-up of the event queues here
    SELECT count(*) ... FROM registrations;  -- under the lock, growing with the event
    INSERT INTO registrations ...;
    COMMIT;

It is correct (it never overbooks) but pays for a count and three round trips while holding
the lock. It writes into Tsudoi's own `registrations` table (same indexes, same constraints)
and answers like Tsudoi, with a redirect to the registration's page, but it does no
validation, no CSRF check, no e-mail and no templates: everything Tsudoi adds on top.
The SQLite connection settings are Tsudoi's (WAL, busy timeout, synchronous=NORMAL), so the
comparison is about the request, not the storage settings.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask, redirect, request
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, bindparam, event, text

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


@app.post("/naive/<int:event_id>")
def naive_signup(event_id: int) -> ResponseReturnValue:
    form = request.form
    now = datetime.now(UTC)
    if SQLITE:
        now = now.replace(tzinfo=None)
    token = secrets.token_urlsafe(32)
    capacity = db.session.execute(LOCK_EVENT, {"event_id": event_id}).scalar_one()
    total, confirmed = db.session.execute(COUNT, {"event_id": event_id}).one()
    status = "confirmed" if capacity is None or confirmed < capacity else "waitlisted"
    db.session.execute(INSERT, {
        "event_id": event_id, "status": status, "name": form["name"],
        "furigana": form["furigana"], "email": form["email"].lower(),
        "organization": form["organization_name"], "prefecture": form["prefecture"],
        "municipality": form["municipality"],
        "seq": None if status == "confirmed" else total - confirmed + 1,
        "key": secrets.token_hex(32), "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "now": now, "confirmed_at": now if status == "confirmed" else None,
    })
    db.session.commit()
    return redirect(f"/r/{token}?new=1")


@app.get("/naive/ready")
def ready() -> ResponseReturnValue:
    return "ok"
