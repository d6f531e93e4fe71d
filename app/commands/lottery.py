"""`flask lottery draw EVENT` and `flask lottery verify EVENT`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import db
from app.services import lottery
from app.services.errors import DomainError
from app.services.registration import get_event

group = AppGroup("lottery", help="Draw and verify lotteries (抽選).")


@group.command("draw")
@click.argument("event_slug")
@click.option("--seed", help="Use this seed instead of a fresh random one (re-running a draw).")
@click.option("--force", is_flag=True, help="Draw before the event's draw date.")
def draw_command(event_slug: str, seed: str | None, force: bool) -> None:
    """Draw the lottery of EVENT_SLUG and queue the result messages."""
    try:
        event = get_event(db.session, event_slug, published_only=False)
        summary = lottery.draw(db.session, event.id, seed=seed, force=force)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(
        f"{summary.event_slug}: {summary.entrants} entrants, {summary.won} won, "
        f"{summary.waitlisted} waitlisted, {summary.not_drawn} not drawn; seed {summary.seed}"
    )


@group.command("verify")
@click.argument("event_slug")
def verify_command(event_slug: str) -> None:
    """Re-run the recorded draw of EVENT_SLUG and check it gives the same order."""
    try:
        event = get_event(db.session, event_slug, published_only=False)
        same = lottery.verify_draw(db.session, event.id)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    if not same:
        raise click.ClickException("the recorded draw does not reproduce")
    click.echo(f"{event_slug}: the draw reproduces from its seed and inputs")
