"""CPU per sign-up POST in this process, Tsudoi against the naive ORM baseline, in one run.

    .venv/bin/python bench/bench_signup_cpu.py [--backend sqlite|postgresql]
        [--requests 300] [--rounds 5] [--profile]

bench/bench_signup.py measures sign-ups through gunicorn, where the two cores are shared by
the servers, the database and the client. This one isolates what a change does to the
request's own Python: every POST is a WSGI call (`app.wsgi_app`) timed with
`time.process_time()`, one Tsudoi sign-up (its form GET first, not timed, for its session
cookie and CSRF token) then one baseline sign-up (bench/naive_app.py, the naive locked
insert), alternately, so that a host whose speed drifts slows both alike. Per round it prints
the median and mean of each and the ratio of the medians (Tsudoi ÷ baseline: below 1 means
Tsudoi spends less CPU). `--profile` runs the Tsudoi POSTs under cProfile instead.

The event is open, with room for every sign-up, so every POST takes the common path: a
seat, the outbox row, the redirect to the registration's page.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402

from bench.bench_signup import CSRF, Data, database, person  # noqa: E402

WARMUP = 30
FORM = "application/x-www-form-urlencoded"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def timed_call(app: WSGIApp, environ: dict[str, Any]) -> tuple[float, str]:
    """CPU seconds of one request, its body read and closed as a server does, and its status."""
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    started = time.process_time()
    body = app(environ, start_response)
    for _chunk in body:
        pass
    close = getattr(body, "close", None)
    if close is not None:
        close()
    return time.process_time() - started, statuses[0]


class SignUps:
    """Ready-made WSGI environs of sign-up POSTs, each from a new browser."""

    def __init__(self, data: Data, naive_app: Any) -> None:
        self.app = data.app
        self.naive_app = naive_app
        _event_id, self.slug = data.event(capacity=1_000_000)
        self.naive_event_id, _slug = data.event(capacity=1_000_000)
        self.count = 0

    def tsudoi(self) -> dict[str, Any]:
        self.count += 1
        browser = self.app.test_client()
        path = f"/events/{self.slug}/register"
        page = browser.get(path)
        match = CSRF.search(page.data)
        assert match is not None, page.status
        cookie = "; ".join(value.split(";", 1)[0] for value in page.headers.getlist("Set-Cookie"))
        body = urlencode({"csrf_token": match.group(1).decode(), **person(self.count)})
        return EnvironBuilder(path=path, method="POST", data=body, content_type=FORM,
                              headers=[("Cookie", cookie)],
                              environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()

    def naive(self) -> dict[str, Any]:
        self.count += 1
        return EnvironBuilder(path=f"/naive/{self.naive_event_id}", method="POST",
                              data=urlencode(person(self.count)),
                              content_type=FORM).get_environ()


def expect_redirect(status: str) -> None:
    if not status.startswith("302"):
        raise RuntimeError(f"a sign-up answered {status}, not its redirect")


def measure(signups: SignUps, requests: int, rounds: int) -> list[dict[str, float]]:
    tsudoi_app, naive_app = signups.app.wsgi_app, signups.naive_app.wsgi_app
    for _ in range(WARMUP):
        expect_redirect(timed_call(tsudoi_app, signups.tsudoi())[1])
        expect_redirect(timed_call(naive_app, signups.naive())[1])
    results = []
    for number in range(1, rounds + 1):
        pairs = [(signups.tsudoi(), signups.naive()) for _ in range(requests)]
        tsudoi_times, naive_times = [], []
        for tsudoi_environ, naive_environ in pairs:
            seconds, status = timed_call(tsudoi_app, tsudoi_environ)
            expect_redirect(status)
            tsudoi_times.append(seconds)
            seconds, status = timed_call(naive_app, naive_environ)
            expect_redirect(status)
            naive_times.append(seconds)
        result = {
            "tsudoi_median_ms": 1000 * statistics.median(tsudoi_times),
            "tsudoi_mean_ms": 1000 * statistics.mean(tsudoi_times),
            "naive_median_ms": 1000 * statistics.median(naive_times),
            "naive_mean_ms": 1000 * statistics.mean(naive_times),
        }
        result["ratio"] = result["tsudoi_median_ms"] / result["naive_median_ms"]
        print(f"round {number}: Tsudoi {result['tsudoi_median_ms']:.2f} ms "
              f"(mean {result['tsudoi_mean_ms']:.2f}), naive ORM "
              f"{result['naive_median_ms']:.2f} ms (mean {result['naive_mean_ms']:.2f}), "
              f"ratio {result['ratio']:.2f}", flush=True)
        results.append(result)
    return results


def profile(signups: SignUps, requests: int) -> None:
    import cProfile
    import pstats

    for _ in range(WARMUP):
        expect_redirect(timed_call(signups.app.wsgi_app, signups.tsudoi())[1])
    environs = [signups.tsudoi() for _ in range(requests)]
    profiler = cProfile.Profile()
    for environ in environs:
        profiler.enable()
        _seconds, status = timed_call(signups.app.wsgi_app, environ)
        profiler.disable()
        expect_redirect(status)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(50)
    stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300, help="POSTs of each per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the Tsudoi POSTs instead of timing both")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        url = stack.enter_context(database(args.backend, Path(tempfile.mkdtemp())))
        data = Data(url)
        data.app.config["TESTING"] = False  # errors answer as in production
        os.environ["DATABASE_URL"] = url  # bench/naive_app.py reads it when imported
        signups = SignUps(data, importlib.import_module("bench.naive_app").app)
        if args.profile:
            profile(signups, args.requests)
        else:
            results = measure(signups, args.requests, args.rounds)
            ratios = [result["ratio"] for result in results]
            print(f"# {args.backend}: CPU per sign-up POST, Tsudoi ÷ naive ORM: "
                  f"{min(ratios):.2f}–{max(ratios):.2f} (median of rounds "
                  f"{statistics.median(ratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
