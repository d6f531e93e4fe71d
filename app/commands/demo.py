"""`flask demo load`: the newsletter's four events, with sign-up open, for a demo."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import AppGroup

from app.extensions import db
from app.services.demo import TOKYO, load_demo

group = AppGroup("demo", help="Demo data (the 特別区全国連携プロジェクト newsletter's events).")


@group.command("load")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Schedule as if loaded on this date (YYYY-MM-DD); default: today in Tokyo.",
)
def load_command(today: datetime | None) -> None:
    """Create the demo events that do not exist yet; existing ones are left untouched."""
    # The events are in Tokyo, so "today" is Tokyo's date, not the server's.
    day: date = today.date() if today is not None else datetime.now(TOKYO).date()
    # The scoped session proxies one real Session, which is what the service works on.
    for line in load_demo(db.session(), day):
        click.echo(line)
