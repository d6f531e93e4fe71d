"""`flask privacy purge [--days N] [--dry-run]`: anonymise events past the retention period.

Run it daily (cron, a systemd timer; see docs/deploy.md). It is idempotent: what is done
stays done, and a run that finds nothing writes nothing, not even an audit entry.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.services.privacy import DEFAULT_RETENTION_DAYS, purge_ended_events

group = AppGroup("privacy", help="Personal data retention.")


@group.command("purge")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Anonymise events that ended more than this many days ago "
                   f"(default: PRIVACY_RETENTION_DAYS, else {DEFAULT_RETENTION_DAYS}).")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
def purge_command(days: int | None, dry_run: bool) -> None:
    """Anonymise the personal data of events that ended long enough ago; figures stay."""
    if days is None:
        days = int(current_app.config.get("PRIVACY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    report = purge_ended_events(db.session, days=days, dry_run=dry_run)
    cutoff = report.cutoff.isoformat(timespec="seconds")
    if report.dry_run:
        click.echo(f"Dry run: {report.events} event(s) ended before {cutoff} hold personal "
                   f"data; {report.counts.registrations} registration(s) would be anonymised, "
                   f"{report.counts.pending_signups} expired unconfirmed sign-up(s) deleted.")
        return
    counts = report.counts
    click.echo(f"{report.events} event(s) ended before {cutoff}: "
               f"{counts.registrations} registration(s) anonymised, "
               f"{counts.attendance_records} attendance record(s) and {counts.messages} "
               f"message(s) cleared, {counts.files} uploaded file(s) removed; "
               f"{counts.pending_signups} expired unconfirmed sign-up(s) deleted.")
