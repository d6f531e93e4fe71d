"""`flask users create|list|set-role`: organizer accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.models.enums import UserRole
from app.services import accounts
from app.services.errors import DomainError

group = AppGroup("users", help="Manage organizer accounts.")
ROLES = click.Choice([role.value for role in UserRole])


@group.command("create")
@click.argument("email")
@click.option("--role", type=ROLES, default=UserRole.ORGANIZER.value, show_default=True)
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
def create_command(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account for EMAIL."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(db.session, email, password, UserRole(role), name)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"created {user.email} ({user.role.value})")


@group.command("list")
def list_command() -> None:
    """List accounts."""
    for user in db.session.execute(select(User).order_by(User.email)).scalars():
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email}\t{user.role.value}\t{state}\t{user.display_name}")


@group.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLES)
def set_role_command(email: str, role: str) -> None:
    """Change the role of EMAIL's account."""
    try:
        user = accounts.set_role(db.session, email, UserRole(role))
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"{user.email} is now {user.role.value}")
