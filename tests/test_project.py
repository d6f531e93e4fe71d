"""Configuration, the schema against the migrations, and the command-line tools."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from packaging.version import Version

from app import create_app
from app.config import ConfigurationError, build_config
from app.extensions import db
from app.models.enums import MessageKind
from app.services import registration as service
from tests.factories import make_event, signup

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_production_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("TSUDOI_PRODUCTION", "1")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        build_config(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    config = build_config(str(tmp_path))
    assert config["SECRET_KEY"] == "from-the-environment"
    assert config["SESSION_COOKIE_SECURE"] is True


def test_development_defaults_are_safe(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "TSUDOI_PRODUCTION", "DATABASE_URL", "FLASK_ENV"):
        monkeypatch.delenv(name, raising=False)
    first = build_config(str(tmp_path))
    second = build_config(str(tmp_path))
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) == 64
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/tsudoi.sqlite3"
    assert first["SESSION_COOKIE_HTTPONLY"] and first["SESSION_COOKIE_SAMESITE"] == "Lax"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db.example/tsudoi")
    assert build_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"].endswith("/tsudoi")


@pytest.mark.parametrize(("bind", "url"), [
    (None, "http://127.0.0.1:8000"),
    ("127.0.0.1:8081", "http://127.0.0.1:8081"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),  # a wildcard is reached through loopback
    ("[::]:9000", "http://[::1]:9000"),
    ("localhost:5000", "http://localhost:5000"),
    ("unix:/run/tsudoi.sock", "http://127.0.0.1:8000"),  # no URL of its own
])
def test_links_follow_the_bind_address_in_development(tmp_path, monkeypatch, bind, url):
    for name in ("PUBLIC_BASE_URL", "TSUDOI_PRODUCTION", "FLASK_ENV", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    if bind:
        monkeypatch.setenv("GUNICORN_BIND", bind)
    assert build_config(str(tmp_path))["PUBLIC_BASE_URL"] == url


def test_a_public_base_url_that_is_set_wins_over_the_bind(tmp_path, monkeypatch):
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:8080")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://events.example.lg.jp")
    assert build_config(str(tmp_path))["PUBLIC_BASE_URL"] == "https://events.example.lg.jp"
    # In production the bind is behind a proxy: it says nothing about the public address.
    monkeypatch.delenv("PUBLIC_BASE_URL")
    monkeypatch.setenv("TSUDOI_PRODUCTION", "1")
    monkeypatch.setenv("SECRET_KEY", "x")
    assert build_config(str(tmp_path))["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_the_licence_is_declared_in_the_current_form():
    """PEP 639: an SPDX string; the old table form makes setuptools warn at every install
    (`make run`), and only setuptools 77 and later read the string."""
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)
    assert project["project"]["license"] == "MIT"
    requirement = next(r for r in project["build-system"]["requires"]
                       if r.startswith("setuptools"))
    assert Version(requirement.split(">=")[1]) >= Version("77")


def test_models_and_the_migration_head_agree(app):
    """`flask db upgrade` built this database: autogenerate must find nothing to change."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_mail_send_prints_and_marks_messages_sent(app):
    event = make_event()
    service.register(db.session, event.id, signup())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0
    assert "To: taro@example.jp" in result.output and "1 message(s) delivered" in result.output
    assert "/r/" in result.output
    assert "0 message(s)" in runner.invoke(args=["mail", "send"]).output


def test_every_message_kind_has_a_template(app):
    for kind in set(MessageKind) - {MessageKind.PASSWORD_RESET}:
        assert app.jinja_env.get_template(f"emails/{kind.value}.txt")


def test_create_app_does_no_work_at_import():
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert {"public", "participant"} <= set(app.blueprints)
