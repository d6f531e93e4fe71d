"""`flask mail send`: deliver queued messages (printed to the console in development)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import db
from app.models import OutboxMessage
from app.services.outbox import deliver_pending

group = AppGroup("mail", help="Deliver queued messages.")


def print_message(message: OutboxMessage) -> None:
    click.echo(f"To: {message.recipient}\nSubject: {message.subject}\n\n{message.body_text}\n"
               + "-" * 60)


@group.command("send")
def send_command() -> None:
    """Print every pending message and mark it sent (development backend)."""
    count = deliver_pending(db.session, print_message)
    click.echo(f"{count} message(s) delivered")
