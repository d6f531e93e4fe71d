"""`flask mail send [--loop] [--batch N]` and `flask mail reminders`: the mail worker.

Run `flask mail send --loop` as a long-lived process (systemd, a container); as many copies
as you like can run side by side. MAIL_BACKEND=console prints instead of sending.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.services.mailer import ConsoleSender, Sender, SmtpSender, SmtpSettings
from app.services.outbox import DeliveryReport, RetryPolicy, deliver_pending, run_worker
from app.services.reminders import queue_due_reminders

group = AppGroup("mail", help="Deliver queued messages and queue reminders.")

# A new registration's confirmation leaves within this many seconds; each look at an idle
# outbox is one indexed query, so several workers polling this often cost the database little.
POLL_SECONDS = 2.0
# How often the loop looks for due reminders; they are due hours ahead, so a minute is ample.
REMINDER_INTERVAL_SECONDS = 60.0


def make_sender_factory() -> Callable[[], Sender]:
    config = current_app.config
    if config["MAIL_BACKEND"] == "smtp":
        settings = SmtpSettings.from_config(config)
        return lambda: SmtpSender(settings)
    return lambda: ConsoleSender(click.echo)


def _echo(report: DeliveryReport) -> None:
    click.echo(f"{report.sent} message(s) delivered, {report.retrying} to retry, "
               f"{report.parked} parked, {report.released} put back"
               + (f", {report.reclaimed} stale claim(s) taken back" if report.reclaimed else ""))
    for error in report.errors:
        click.echo(f"  {error}", err=True)


def _every(seconds: float, action: Callable[[], object]) -> Callable[[], None]:
    last = -seconds

    def maybe() -> None:
        nonlocal last
        if time.monotonic() - last >= seconds:
            action()
            last = time.monotonic()

    return maybe


@group.command("send")
@click.option("--loop", is_flag=True, help="Keep running; stop with SIGTERM or Ctrl-C.")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Messages claimed at a time.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=POLL_SECONDS,
              show_default=True,
              help="Seconds between looks at the outbox when nothing is due (with --loop).")
def send_command(loop: bool, batch: int, interval: float) -> None:
    """Send due messages once, or keep sending with --loop (which also queues reminders)."""
    make_sender = make_sender_factory()
    policy = RetryPolicy.from_config(current_app.config)
    if not loop:
        _echo(deliver_pending(db.session, make_sender(), policy=policy, limit=batch))
        return
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        # The message being sent is finished and recorded; then the loop ends.
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"Mail worker started (backend: {current_app.config['MAIL_BACKEND']}; "
               f"polling every {interval:g} s).")
    run_worker(
        db.session, make_sender, stop, policy=policy, batch=batch, poll_seconds=interval,
        between_batches=_every(REMINDER_INTERVAL_SECONDS,
                               lambda: queue_due_reminders(db.session)),
        on_report=_echo,
    )
    click.echo("Mail worker stopped.")


@group.command("reminders")
def reminders_command() -> None:
    """Queue the reminders that are due (`flask mail send --loop` does this every minute)."""
    click.echo(f"{queue_due_reminders(db.session)} reminder(s) queued")
