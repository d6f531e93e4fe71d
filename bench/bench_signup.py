"""Registration burst and event page through gunicorn, against bare baselines, in one run.

    .venv/bin/python bench/bench_signup.py [--requests 1100] [--capacity 1000]
        [--clients 16 64] [--backends postgresql sqlite] [--seconds 6] [--burst-seconds 45]
        [--json] [--profile N]

Cases, per database (a fresh PostgreSQL database, created and dropped here, and a fresh
SQLite file) and per number of concurrent clients:

* ``sign-up POST (form)``: N sign-ups for one popular event (capacity C, a waiting list).
  Tsudoi is sent what a browser sends: every sign-up first GETs the form (its own session
  cookie and CSRF token; not timed), then POSTs the whole form; only the POSTs are timed.
* ``sign-up POST (API)``: the same N people for another such event through
  ``POST /api/v1/events/<id>/registrations`` (JSON, an administrator's API token), the
  organizer's "add by hand".
* The baselines, bench/naive_app.py, get the same N POSTs: bare Flask + Flask-SQLAlchemy
  doing the naive locked insert (lock the event row, count, insert, commit), written with a
  mapped model (``naive (ORM)``, the issue's baseline) and as hand-written SQL
  (``naive SQL``). Both of Tsudoi's ways in are reported against both.
* ``event page``: GET /events/<slug> of Tsudoi against GET /hello of bench/hello_app.py,
  for a fixed time each.

Every app is served the same way: gunicorn with the repository's gunicorn.conf.py and its
default workers and threads for this machine (tests/live_server.py), rate limits off (every
request comes from 127.0.0.1). Each case warms the workers up first. After every burst the
database is checked: confirmed == min(capacity, sign-ups), the seat counter agrees, every
POST got its redirect (the form) or 201 Created (the API).

The load generator is a small asyncio HTTP/1.1 client (keep-alive connections, one per
client), not threads with `requests`: on two cores a heavy client would steal the CPU it is
measuring. Its own CPU time is reported (``client cpu``, % of one core), and so is the
servers' CPU per request, read from /proc.

Ratios are against the baseline measured in the same run, so they stay meaningful on a busy
machine; the apps take turns, in four slices each (a quarter of every burst, a quarter of
the page time), so that a host whose speed drifts during the run slows them alike. For
requests/s Tsudoi ÷ baseline, for latencies baseline ÷ Tsudoi, so that in every column a
ratio ≥ 1 means Tsudoi is at least as fast. Targets: sign-up ≥ 0.8 against the naive ORM
baseline (form and API alike), event page ≥ 0.5.

Each sign-up phase stops sending after ``--burst-seconds`` so that ``make bench`` stays
bounded on a slow or busy machine; the checks hold for however many were sent, and the
table gives that number.

``--profile N`` then runs N sign-ups and N event page views through Tsudoi in this process
(Flask's test client, on SQLite) under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import runpy
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.live_server import SECRET_KEY, LiveServer  # noqa: E402

PG_ADMIN_URL = os.environ.get("TSUDOI_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
WARMUP_SIGNUPS = 60
WARMUP_SECONDS = 1.5
# Tsudoi and its baselines take turns, in this many slices each, so that a machine whose
# speed drifts during the run (a shared host) slows them all alike.
SLICES = 4
REQUEST_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client: enough for gunicorn, cheap enough not to eat the server's CPU
# --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")

    def cookies(self) -> dict[str, str]:
        jar = {}
        for key, value in self.headers:
            if key == "set-cookie":
                pair = value.split(";", 1)[0]
                name, _, content = pair.partition("=")
                jar[name.strip()] = content.strip()
        return jar


class Connection:
    """One keep-alive connection; reconnects when the server closed it between requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(message)
                await self.writer.drain()
                reply = await self._read(self.reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                # A kept-alive connection the server had just closed (idle timeout, worker
                # restarted by max_requests): it read nothing, so sending again is safe.
                if reused and attempt == 1:
                    continue
                raise
            if reply.header("connection").lower() == "close":
                self.close()
            return reply
        raise AssertionError("unreachable")

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Reply:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = []
        for line in header_lines:
            if line:
                key, _, value = line.partition(":")
                headers.append((key.strip().lower(), value.strip()))
        reply = Reply(status, headers, b"")
        if reply.header("transfer-encoding").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            reply.body = b"".join(chunks)
        else:
            reply.body = await reader.readexactly(int(reply.header("content-length") or 0))
        return reply

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass(frozen=True)
class Job:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Load:
    """What one phase measured."""

    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    replies: list[Reply]
    client_cpu: float  # seconds of this process's CPU during the phase
    server_cpu: float  # seconds of the server's CPU during the phase

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def merged(cls, parts: list[Load]) -> Load:
        """Several slices of one app's load, as one measurement."""
        statuses: Counter[int] = Counter()
        for part in parts:
            statuses.update(part.statuses)
        return cls(sum(part.requests for part in parts), sum(part.seconds for part in parts),
                   [latency for part in parts for latency in part.latencies], statuses,
                   [reply for part in parts for reply in part.replies],
                   sum(part.client_cpu for part in parts), sum(part.server_cpu for part in parts))

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def _drive(url: str, jobs: Iterator[Job] | list[Job], clients: int, deadline: float | None,
                 keep: bool) -> tuple[list[float], list[Reply | None], float]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    queue = iter(jobs)
    latencies: list[float] = []
    replies: list[Reply | None] = []

    async def client() -> None:
        connection = Connection(parts.hostname or "", parts.port or 0)
        try:
            for job in queue:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                reply = await asyncio.wait_for(
                    connection.request(job.method, job.path, job.headers, job.body),
                    REQUEST_TIMEOUT)
                latencies.append(time.perf_counter() - started)
                replies.append(reply if keep else None)
                if not keep:
                    statuses_seen[reply.status] += 1
        finally:
            connection.close()

    statuses_seen: Counter[int] = Counter()
    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.monotonic() - started
    if not keep:
        replies = [Reply(status, [], b"") for status, n in statuses_seen.items()
                   for _ in range(n)]
    return latencies, replies, wall


def run_load(server: LiveServer, jobs: Iterator[Job] | list[Job], clients: int, *,
             seconds: float | None = None, keep: bool = False) -> Load:
    """Send the jobs from `clients` concurrent connections (for at most `seconds`)."""
    cpu, server_cpu = time.process_time(), process_tree_cpu(server)
    deadline = None if seconds is None else time.monotonic() + seconds
    latencies, replies, wall = asyncio.run(_drive(server.url, jobs, clients, deadline, keep))
    kept = [reply for reply in replies if reply is not None]
    return Load(len(latencies), wall, latencies, Counter(reply.status for reply in kept), kept,
                time.process_time() - cpu, process_tree_cpu(server) - server_cpu)


def process_tree_cpu(server: LiveServer) -> float:
    """CPU seconds of gunicorn's master and workers, including workers already replaced."""
    assert server.process is not None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for index, pid in enumerate([server.process.pid, *server.worker_pids()]):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker that has just been replaced
            continue
        # utime, stime; for the master also cutime, cstime: the workers it has reaped.
        total += sum(int(value) for value in fields[11:15 if index == 0 else 13])
    return total / ticks


# --------------------------------------------------------------------------------------------
# Databases, servers and data
# --------------------------------------------------------------------------------------------


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated database; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        migrate(url)
        yield url
        return
    import psycopg

    name = f"tsudoi_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
        url += "/" + name
        migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgresql_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade", "heads"],
                   cwd=ROOT, env=env, check=True, capture_output=True)


def gunicorn_defaults() -> tuple[int, int]:
    """Workers and threads as gunicorn.conf.py sets them on this machine."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return int(settings["workers"]), int(settings["threads"])


def serve(stack: ExitStack, url: str, logs: Path, app_module: str, ready_path: str,
          extra_env: dict[str, str] | None = None) -> LiveServer:
    workers, threads = gunicorn_defaults()
    server = LiveServer(url, logs / app_module.replace(":", "_"), workers=workers,
                        threads=threads, app_module=app_module, ready_path=ready_path,
                        extra_env=extra_env or {})
    return stack.enter_context(server)


class Data:
    """Events and figures read and written directly in the benchmark's database."""

    def __init__(self, url: str) -> None:
        from app import create_app

        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY,
                               "TESTING": True, "RATELIMIT_ENABLED": False})

    def event(self, capacity: int | None, *, rich: bool = False) -> tuple[int, str]:
        """A published in-person lecture with a waiting list, open for sign-up."""
        from app.extensions import db
        from app.models import Event, EventPerson, ProgrammeSession, SeatPool
        from app.models.enums import (
            AttendanceMode,
            EventFormat,
            EventKind,
            EventStatus,
            PersonRole,
            SessionKind,
        )
        from app.orm import utcnow

        now = utcnow()
        starts = now + timedelta(days=10)
        with self.app.app_context():
            event = Event(
                slug=f"bench-{secrets.token_hex(4)}", kind=EventKind.LECTURE,
                format=EventFormat.IN_PERSON, status=EventStatus.PUBLISHED,
                title="多文化共生のまちづくりに向けた連携のあり方を考える",
                summary="外国人住民との共生に取り組む自治体職員向けの講演とグループ討議です。",
                body=("第1部は基調講演、第2部は事例紹介、第3部はグループ討議です。\n\n" * 6),
                organizer_name="台東区 企画課", contact="kikaku@example.lg.jp",
                venue_name="台東区民会館 9階ホール", venue_address="東京都台東区花川戸2-6-5",
                starts_at=starts, ends_at=starts + timedelta(hours=3),
                registration_opens_at=now - timedelta(days=1),
                registration_closes_at=now + timedelta(days=9), waitlist_enabled=True,
                themes=["多文化共生", "まちづくり"],
            )
            event.seat_pools = [SeatPool(mode=AttendanceMode.IN_PERSON, capacity=capacity)]
            if rich:  # an event page as organisers fill it: a programme with speakers
                for position, kind in enumerate((SessionKind.OPENING, SessionKind.KEYNOTE,
                                                 SessionKind.CASE_TALK, SessionKind.PANEL)):
                    session = ProgrammeSession(
                        kind=kind, position=position, title=f"第{position + 1}部 講演と討議",
                        description="地域の実践から学ぶ。" * 5,
                        starts_at=starts + timedelta(minutes=40 * position),
                        ends_at=starts + timedelta(minutes=40 * position + 35))
                    session.people = [EventPerson(
                        event=event, role=PersonRole.SPEAKER, position=0,
                        name=f"講師 {position + 1}", affiliation="○○大学", title="教授")]
                    event.sessions.append(session)
            db.session.add(event)
            db.session.commit()
            return event.id, event.slug

    def api_token(self) -> str:
        """A personal API token of an administrator, who may add registrations to any event."""
        from app.extensions import db
        from app.models.enums import UserRole
        from app.services import accounts, api_tokens

        with self.app.app_context():
            user = accounts.create_user(db.session, f"bench-{secrets.token_hex(4)}@example.lg.jp",
                                        secrets.token_urlsafe(16), UserRole.ADMIN)
            secret = api_tokens.create_token(db.session, user, "bench").secret
            db.session.remove()
        return secret

    def figures(self, event_id: int) -> dict[str, int]:
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import OutboxMessage, Registration, SeatPool

        with self.app.app_context():
            rows = dict(db.session.execute(
                select(Registration.status, func.count()).where(
                    Registration.event_id == event_id).group_by(Registration.status)).all())
            taken = db.session.execute(
                select(SeatPool.taken).where(SeatPool.event_id == event_id)).scalar_one()
            messages = db.session.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.event_id == event_id)).scalar_one()
            db.session.remove()
        return {"confirmed": rows.get("confirmed", 0), "waitlisted": rows.get("waitlisted", 0),
                "taken": taken, "messages": messages}


def person(n: int) -> dict[str, str]:
    email = f"bench{n:06d}.{secrets.token_hex(3)}@example.jp"
    return {
        "attendance_mode": "in_person", "name": f"台東 太郎{n}", "furigana": "たいとう たろう",
        "email": email, "email_confirm": email, "organization_type": "municipality",
        "organization_name": "台東区役所 企画課", "prefecture": "13", "municipality": "13106",
        "consent": "y", "submit": "登録する",
    }


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def tsudoi_signups(server: LiveServer, slug: str, count: int, clients: int,
                   seconds: float | None = None) -> list[Job]:
    """Each sign-up's form GET (a new browser session), for at most `seconds`; returns the
    POSTs to send."""
    path = f"/events/{slug}/register"
    forms = run_load(server, [Job("GET", path)] * count, clients, keep=True, seconds=seconds)
    jobs = []
    for n, reply in enumerate(forms.replies):
        match = CSRF.search(reply.body)
        if reply.status != 200 or match is None:
            raise RuntimeError(f"the sign-up form answered {reply.status}: {reply.body[:300]!r}")
        cookie = "; ".join(f"{key}={value}" for key, value in reply.cookies().items())
        body = urlencode({"csrf_token": match.group(1).decode(), **person(n)}).encode()
        jobs.append(Job("POST", path, {**FORM, "Cookie": cookie}, body))
    return jobs


def api_signups(event_id: int, token: str, count: int) -> list[Job]:
    """The same people through `POST /api/v1/events/<id>/registrations` (JSON, a token)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    jobs = []
    for n in range(count):
        form = person(n)
        body = {"attendance_mode": form["attendance_mode"], "name": form["name"],
                "furigana": form["furigana"], "email": form["email"],
                "organization_type": form["organization_type"],
                "organization_name": form["organization_name"],
                "prefecture_code": form["prefecture"], "municipality_code": form["municipality"],
                "source": "phone"}
        jobs.append(Job("POST", f"/api/v1/events/{event_id}/registrations", headers,
                        json.dumps(body, ensure_ascii=False).encode()))
    return jobs


NAIVE_BASELINES = {"naive (ORM)": "/naive", "naive SQL": "/naive-sql"}
# Tsudoi's two ways in, each measured against both baselines.
TSUDOI_PATHS = ("form", "API")


def naive_signups(event_id: int, count: int, prefix: str = "/naive") -> list[Job]:
    return [Job("POST", f"{prefix}/{event_id}", FORM, urlencode(person(n)).encode())
            for n in range(count)]


def check_burst(label: str, load: Load, figures: dict[str, int], capacity: int,
                *, outbox: bool, status: int = 302) -> None:
    """Nothing overbooked, nobody lost, every POST answered as a success (a redirect to the
    registration, or 201 Created from the API)."""
    problems = []
    if load.statuses != Counter({status: load.requests}):
        problems.append(f"statuses {dict(load.statuses)}")
    if figures["confirmed"] != min(capacity, load.requests):
        problems.append(f"{figures['confirmed']} confirmed for {capacity} seats")
    if figures["confirmed"] + figures["waitlisted"] != load.requests:
        problems.append(f"{figures['confirmed'] + figures['waitlisted']} registrations")
    if outbox and (figures["taken"] != figures["confirmed"]
                   or figures["messages"] != load.requests):
        problems.append(f"seat counter {figures['taken']}, {figures['messages']} messages")
    if problems:
        raise RuntimeError(f"{label}: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    case: str
    clients: int
    baseline: dict[str, float]
    tsudoi: dict[str, float]
    target: float
    load_average: float

    @property
    def ratios(self) -> dict[str, float]:
        return {
            "rps": self.tsudoi["rps"] / self.baseline["rps"],
            "p50": self.baseline["p50_ms"] / self.tsudoi["p50_ms"],
            "p99": self.baseline["p99_ms"] / self.tsudoi["p99_ms"],
        }


def summary(load: Load) -> dict[str, float]:
    return {
        "requests": load.requests,
        "rps": round(load.rate, 1),
        "p50_ms": round(load.percentile(0.50) * 1000, 1),
        "p99_ms": round(load.percentile(0.99) * 1000, 1),
        "client_cpu_pct": round(100 * load.client_cpu / load.seconds),
        "server_cpu_ms_per_request": round(1000 * load.server_cpu / max(load.requests, 1), 2),
    }


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path,
                  report: Callable[[Row], None]) -> None:
    logs = workdir / backend
    with database(backend, workdir) as url, ExitStack() as stack:
        data = Data(url)
        # All three apps get gunicorn's access log (tests/live_server.py reads it for 5xx);
        # Tsudoi's own request log would be a second line per request, so it is off here as
        # in a deployment that keeps gunicorn's.
        tsudoi = serve(stack, url, logs, "wsgi:app", "/privacy", {"REQUEST_LOG": "0"})
        naive = serve(stack, url, logs, "bench.naive_app:app", "/naive/ready")
        hello = serve(stack, url, logs, "bench.hello_app:app", "/hello")
        _page_id, page_slug = data.event(capacity=None, rich=True)
        token = data.api_token()

        # Warm every worker: templates compiled, statement caches and connection pools filled.
        for clients in args.clients:
            warm_id, warm_slug = data.event(capacity=WARMUP_SIGNUPS // 2)
            for prefix in NAIVE_BASELINES.values():
                warm_id, _slug = data.event(capacity=WARMUP_SIGNUPS // 2)
                run_load(naive, naive_signups(warm_id, WARMUP_SIGNUPS, prefix), clients)
            run_load(tsudoi, tsudoi_signups(tsudoi, warm_slug, WARMUP_SIGNUPS, clients), clients)
            warm_id, _slug = data.event(capacity=WARMUP_SIGNUPS // 2)
            run_load(tsudoi, api_signups(warm_id, token, WARMUP_SIGNUPS), clients)
        for server, path in ((hello, "/hello"), (tsudoi, f"/events/{page_slug}")):
            run_load(server, _forever(Job("GET", path)), max(args.clients),
                     seconds=WARMUP_SECONDS)

        for clients in args.clients:
            load_average = os.getloadavg()[0]
            # On a slow or busy machine every phase stops after --burst-seconds: the checks
            # hold for however many were sent, and the table says how many that was.
            event_id, slug = data.event(capacity=args.capacity)
            form_jobs = tsudoi_signups(tsudoi, slug, args.requests, clients, args.burst_seconds)
            api_event_id = data.event(capacity=args.capacity)[0]
            jobs = {"form": form_jobs,
                    "API": api_signups(api_event_id, token, len(form_jobs))}
            events = {"form": event_id, "API": api_event_id}
            for name, prefix in NAIVE_BASELINES.items():
                events[name] = data.event(capacity=args.capacity)[0]
                jobs[name] = naive_signups(events[name], len(form_jobs), prefix)
            parts: dict[str, list[Load]] = {name: [] for name in jobs}
            # Each slice sends the next share of every app's sign-ups: all four events fill
            # up, and reach their waiting lists, at the same pace.
            for part in range(SLICES):
                share = slice(part * len(form_jobs) // SLICES,
                              (part + 1) * len(form_jobs) // SLICES)
                for name in jobs:
                    ours = name in TSUDOI_PATHS
                    parts[name].append(run_load(tsudoi if ours else naive, jobs[name][share],
                                                clients, keep=ours,
                                                seconds=args.burst_seconds / SLICES))
            loads = {name: Load.merged(parts[name]) for name in jobs}
            for name in jobs:
                ours = name in TSUDOI_PATHS
                check_burst(name, loads[name], data.figures(events[name]), args.capacity,
                            outbox=ours, status=201 if name == "API" else 302)
            for path in TSUDOI_PATHS:
                for name in NAIVE_BASELINES:
                    report(Row(backend, f"sign-up POST ({path}) vs {name}", clients,
                               summary(loads[name]), summary(loads[path]), 0.8, load_average))

            load_average = os.getloadavg()[0]
            bare_parts, page_parts = [], []
            for _part in range(SLICES):
                bare_parts.append(run_load(hello, _forever(Job("GET", "/hello")), clients,
                                           seconds=args.seconds / SLICES))
                page_parts.append(run_load(tsudoi, _forever(Job("GET", f"/events/{page_slug}")),
                                           clients, seconds=args.seconds / SLICES))
            bare, page = Load.merged(bare_parts), Load.merged(page_parts)
            if set(bare.statuses) != {200} or set(page.statuses) != {200}:
                raise RuntimeError(f"GET statuses: {bare.statuses} {page.statuses}")
            report(Row(backend, "event page GET", clients, summary(bare), summary(page), 0.5,
                       load_average))
        for server in (tsudoi, naive, hello):
            problems = server.problems_since()
            if problems:
                raise RuntimeError(f"{server.app_module}: " + "\n".join(problems[:20]))


def profile(count: int, workdir: Path) -> str:
    """Where a sign-up POST and an event page GET spend their time, one at a time, in-process."""
    import cProfile
    import io
    import pstats

    url = f"sqlite:///{workdir / 'profile.sqlite3'}"
    migrate(url)
    data = Data(url)
    client = data.app.test_client()
    _page_id, page_slug = data.event(capacity=None, rich=True)
    _event_id, slug = data.event(capacity=count // 2)
    output = io.StringIO()

    def prepared(n: int) -> dict[str, Any]:
        page = client.get(f"/events/{slug}/register")
        match = CSRF.search(page.data)
        assert match is not None
        return {"csrf_token": match.group(1).decode(), **person(n)}

    for n in range(5):  # warm up
        client.post(f"/events/{slug}/register", data=prepared(n))
        client.get(f"/events/{page_slug}")
    forms = [prepared(n) for n in range(5, count + 5)]
    for label, actions in (
        ("sign-up POST", [partial(client.post, f"/events/{slug}/register", data=form)
                          for form in forms]),
        ("event page GET", [partial(client.get, f"/events/{page_slug}")] * count),
    ):
        profiler = cProfile.Profile()
        started = time.perf_counter()
        for action in actions:
            profiler.enable()
            status = action().status_code
            profiler.disable()
            assert status in (200, 302), status
        output.write(f"\n## {label}: {count} requests, "
                     f"{1000 * (time.perf_counter() - started) / count:.1f} ms each with "
                     "the profiler on\n")
        stats = pstats.Stats(profiler, stream=output)
        stats.sort_stats("cumulative").print_stats(r"/app/|templates|icalendar|flask_wtf", 30)
        stats.sort_stats("tottime").print_stats(15)
    return output.getvalue()


def _forever(job: Job) -> Iterator[Job]:
    while True:
        yield job


def table(rows: list[Row]) -> str:
    lines = [
        "| database | case | clients | requests | baseline req/s | Tsudoi req/s | **ratio** | "
        "p50 ms (base / Tsudoi) | p50 ratio | p99 ms (base / Tsudoi) | p99 ratio | target | "
        "client CPU | server CPU ms/req (base / Tsudoi) | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base, ours, ratio = row.baseline, row.tsudoi, row.ratios
        lines.append(
            f"| {row.backend} | {row.case} | {row.clients} | {ours['requests']:.0f} | "
            f"{base['rps']:.0f} | "
            f"{ours['rps']:.0f} | **{ratio['rps']:.2f}** | {base['p50_ms']:.0f} / "
            f"{ours['p50_ms']:.0f} | {ratio['p50']:.2f} | {base['p99_ms']:.0f} / "
            f"{ours['p99_ms']:.0f} | {ratio['p99']:.2f} | ≥ {row.target} | "
            f"{base['client_cpu_pct']:.0f}% / {ours['client_cpu_pct']:.0f}% | "
            f"{base['server_cpu_ms_per_request']:.1f} / {ours['server_cpu_ms_per_request']:.1f} "
            f"| {row.load_average:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1100, help="sign-ups per burst")
    parser.add_argument("--capacity", type=int, default=1000, help="seats of the event")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--backends", nargs="+", choices=["postgresql", "sqlite"],
                        default=["postgresql", "sqlite"])
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="duration of each event page measurement")
    parser.add_argument("--burst-seconds", type=float, default=45.0,
                        help="time limit of each sign-up phase (forms, then POSTs)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="then profile N sign-ups and N page views in-process")
    args = parser.parse_args(argv)

    workers, threads = gunicorn_defaults()
    print(f"# bench_signup: {os.cpu_count()} cores, gunicorn {workers} workers x {threads} "
          f"threads (gthread), {args.requests} sign-ups for {args.capacity} seats per burst, "
          f"load average before: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    rows: list[Row] = []
    started = time.monotonic()

    def report(row: Row) -> None:
        rows.append(row)
        ratio = row.ratios
        print(f"  {row.backend:10} {row.case:28} {row.clients:3} clients: baseline "
              f"{row.baseline['rps']:7.1f} req/s, Tsudoi {row.tsudoi['rps']:7.1f} req/s, "
              f"ratio {ratio['rps']:.2f} (p50 {ratio['p50']:.2f}, p99 {ratio['p99']:.2f}); "
              f"client CPU {row.tsudoi['client_cpu_pct']:.0f}%", file=sys.stderr)

    if "postgresql" in args.backends and not postgresql_reachable():
        print(f"# PostgreSQL is not reachable at {PG_ADMIN_URL}: SQLite only", file=sys.stderr)
        args.backends = [backend for backend in args.backends if backend != "postgresql"]
    with tempfile.TemporaryDirectory(prefix="tsudoi-bench-") as workdir:
        for backend in args.backends:
            bench_backend(backend, args, Path(workdir), report)
        profiled = profile(args.profile, Path(workdir)) if args.profile else ""
    print(f"# {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps([{**asdict(row), "ratios": row.ratios} for row in rows], indent=2))
    else:
        print(table(rows))
    print(profiled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
