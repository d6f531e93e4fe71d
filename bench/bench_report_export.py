"""Benchmark the participant-list download end to end: database → HTTP response.

    .venv/bin/python bench/bench_report_export.py [--rows 100000] [--database-url URL]

bench/bench_exports.py measures the spreadsheet writer on rows generated in memory. This one
measures what an organizer waits for: the whole streamed download of
``/console/events/<id>/exports/participants.<csv|xlsx>`` for an event of ``--rows``
registrations, through the real app (sign-in, access check, audit entry, the attendance
subqueries, the streamed cursor), against the standard library's ``csv`` module writing the
same registrations' columns read by a plain streamed query, in the same run.

Cases, each in a fresh child process (see bench_exports.py for why):

* ``stdlib csv (baseline)`` — a streamed SELECT of the registration columns, ``csv.writer``;
* ``HTTP CSV utf-8-sig`` / ``HTTP CSV cp932`` / ``HTTP XLSX`` — the download, read chunk by
  chunk from the test client (no server socket: the app's own cost).

Reported: wall-clock time, RSS growth (peak after minus before), and in a second run the
tracemalloc peak. The database is built once in a temporary directory (SQLite), or in the
PostgreSQL database given by ``--database-url`` (its tables are created by the migrations
and must be empty).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_exports import FOREIGN, GIVEN, SURNAMES  # noqa: E402

PASSWORD = "bench password, long enough"  # noqa: S105 (a throwaway account)
EMAIL = "bench@example.lg.jp"
COLUMNS = "receipt,status,attendance_mode,name,furigana,email,organization,organization_type," \
          "prefecture,municipality,registered_at,attended,q_comment"
CASES = ("stdlib csv (baseline)", "HTTP CSV utf-8-sig", "HTTP CSV cp932", "HTTP XLSX")
BASELINE = CASES[0]


def make_app(database_url: str) -> Any:
    from app import create_app

    return create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database_url,
                       "RATELIMIT_ENABLED": False, "SERVER_NAME": "localhost",
                       "PUBLIC_BASE_URL": "http://localhost"})


def build(database_url: str, rows: int) -> int:
    """Migrate, then one event of `rows` registrations and an organizer; returns the event id."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import CheckIn, Event, EventMembership, Question, Registration, User
    from app.models.checkin import CheckInMethod
    from app.models.enums import (
        AttendanceMode,
        EventFormat,
        EventKind,
        EventStatus,
        MembershipRole,
        OrganizationType,
        QuestionKind,
        RegistrationStatus,
    )
    from app.services.accounts import hash_password
    from app.text import furigana_key

    app = make_app(database_url)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
        now = datetime.now(UTC)
        event = Event(slug="bench", kind=EventKind.LECTURE, status=EventStatus.PUBLISHED,
                      format=EventFormat.HYBRID, title="ベンチマーク講座",
                      starts_at=now - timedelta(days=1), ends_at=now - timedelta(hours=22))
        event.questions = [Question(key="comment", kind=QuestionKind.TEXT, label="ご意見")]
        user = User(email=EMAIL, password_hash=hash_password(PASSWORD))
        db.session.add_all([event, user])
        db.session.flush()
        db.session.add(EventMembership(event_id=event.id, user_id=user.id,
                                       role=MembershipRole.ORGANIZER))
        rng = random.Random(20261005)
        statuses = [RegistrationStatus.CONFIRMED] * 8 + [RegistrationStatus.WAITLISTED,
                                                         RegistrationStatus.CANCELLED]
        batch: list[dict[str, Any]] = []
        for number in range(1, rows + 1):
            if rng.random() < 0.03:
                name, kana = rng.choice(FOREIGN)
            else:
                (surname, s_kana), (given, g_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
                name, kana = f"{surname} {given}", f"{s_kana} {g_kana}"
            status = rng.choice(statuses)
            created = now - timedelta(days=60, minutes=-number)
            batch.append({
                "event_id": event.id, "status": status,
                "attendance_mode": rng.choice(list(AttendanceMode)), "name": name,
                "furigana": kana, "furigana_key": furigana_key(kana),
                "email": f"user{number}@example.jp", "email_normalized": f"user{number}@example.jp",
                "organization_name": "○○市役所 防災危機管理課",
                "organization_type": rng.choice(list(OrganizationType)),
                "prefecture_code": f"{rng.randrange(1, 48):02d}", "municipality_code": "13106",
                "answers": {"comment": rng.choice(["", "よろしくお願いします", "=1+1"])},
                "language": "ja", "manage_key": f"{number:064x}",
                "manage_token_hash": f"{number:064x}", "consented_at": created,
                "created_at": created, "updated_at": created,
                "confirmed_at": created if status is RegistrationStatus.CONFIRMED else None,
                "cancelled_at": created if status is RegistrationStatus.CANCELLED else None,
                "waitlist_seq": number if status is RegistrationStatus.WAITLISTED else None,
            })
            if len(batch) == 10_000:
                db.session.execute(insert(Registration), batch)
                batch = []
        if batch:
            db.session.execute(insert(Registration), batch)
        # Every fourth registration was checked in at the door.
        db.session.execute(insert(CheckIn), [
            {"registration_id": rid, "day": now.date(), "checked_in_at": now,
             "method": CheckInMethod.SEARCH, "nonce": f"bench-{rid}"}
            for rid in range(1, rows + 1, 4)])
        db.session.commit()
        return int(event.id)


def case_baseline(app: Any, event_id: int, path: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Registration

    columns = (Registration.id, Registration.status, Registration.attendance_mode,
               Registration.name, Registration.furigana, Registration.email,
               Registration.organization_name, Registration.organization_type,
               Registration.prefecture_code, Registration.municipality_code,
               Registration.created_at, Registration.answers)
    with app.app_context(), path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([column.key for column in columns])
        result = db.session.execute(
            select(*columns).where(Registration.event_id == event_id)
            .order_by(Registration.id)
            .execution_options(stream_results=True, yield_per=1000))
        for row in result:
            writer.writerow(row)
    return {}


def _signed_in_client(app: Any) -> Any:
    client = app.test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post("/console/login", data={"csrf_token": token.group(1), "email": EMAIL,
                                               "password": PASSWORD})
    assert done.status_code == 302, done.status_code
    return client


def case_http(client: Any, event_id: int, path: Path, fmt: str, encoding: str
              ) -> dict[str, Any]:
    response = client.get(f"/console/events/{event_id}/exports/participants.{fmt}",
                          query_string={"columns": COLUMNS, "encoding": encoding},
                          buffered=False)
    assert response.status_code == 200, response.status_code
    with path.open("wb") as out:
        for chunk in response.response:
            out.write(chunk)
    response.close()
    return {}


def run_case(case: str, app: Any, client: Any, event_id: int, path: Path) -> dict[str, Any]:
    if case == BASELINE:
        return case_baseline(app, event_id, path)
    fmt = "xlsx" if case.endswith("XLSX") else "csv"
    encoding = "cp932" if case.endswith("cp932") else "utf-8-sig"
    return case_http(client, event_id, path, fmt, encoding)


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def run_child(case: str, database_url: str, event_id: int, trace: bool) -> dict[str, Any]:
    app = make_app(database_url)
    # Signed in and warmed up (templates, statement cache) before the clock starts.
    client = _signed_in_client(app)
    assert client.get(f"/console/events/{event_id}/exports").status_code == 200
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.out"
        rss_before = _maxrss_bytes()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        run_case(case, app, client, event_id, path)
        result: dict[str, Any] = {"seconds": time.perf_counter() - started}
        if trace:
            result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result["rss_growth"] = _maxrss_bytes() - rss_before
        result["size"] = path.stat().st_size
    return result


def spawn(case: str, database_url: str, event_id: int, trace: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, "--database-url", database_url,
         "--event-id", str(event_id)] + (["--trace"] if trace else []),
        check=True, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: "
                                               "SQLite in a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--event-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child, args.database_url, args.event_id, args.trace)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        started = time.perf_counter()
        event_id = build(url, args.rows)
        print(f"  built {args.rows:,} registrations in {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)
        results = []
        for case in CASES:
            timed = spawn(case, url, event_id, trace=False)
            timed["tracemalloc_peak"] = spawn(case, url, event_id, trace=True)[
                "tracemalloc_peak"]
            results.append({"case": case, **timed})
            print(f"  measured {case}", file=sys.stderr, flush=True)
    base = results[0]
    for entry in results:
        entry["time_ratio"] = entry["seconds"] / base["seconds"]
    if args.json:
        print(json.dumps({"rows": args.rows, "results": results}, indent=2))
        return 0
    mb = 1024 * 1024
    print(f"{args.rows:,} registrations, {'PostgreSQL' if args.database_url else 'SQLite'}, "
          f"Python {sys.version.split()[0]}")
    print("| case | time s | × base | RSS growth MB | tracemalloc peak MB | file MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['case']} | {r['seconds']:.2f} | {r['time_ratio']:.2f} | "
              f"{r['rss_growth'] / mb:.1f} | {r['tracemalloc_peak'] / mb:.2f} | "
              f"{r['size'] / mb:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
