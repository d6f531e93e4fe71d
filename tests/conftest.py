"""Fixtures: one database per test run (SQLite, or PostgreSQL with TSUDOI_TEST_DB=postgresql),
migrated by Alembic once, emptied after every test."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from app.extensions import db

PG_ADMIN_URL = os.environ.get(
    "TSUDOI_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKEND = os.environ.get("TSUDOI_TEST_DB", "sqlite")


def _pg_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(_libpq(PG_ADMIN_URL), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "tsudoi.sqlite3"
        yield f"sqlite:///{path}"
        return
    if not _pg_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required in CI but is not reachable at " + PG_ADMIN_URL)
        pytest.skip("PostgreSQL is not reachable")
    import psycopg

    name = f"tsudoi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class IsolatedClient(FlaskClient):
    """Runs each request in its own app context, as a server would.

    The `app` fixture keeps an app context pushed so tests can use `db.session`; without
    this, requests would share that context's `g` (and CSRF token) and database session.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Commit around the request: it sees what the test wrote, and the test then sees
        # what it wrote (a still-open read transaction would keep an old snapshot).
        if has_app_context():
            db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            db.session.commit()
        return response


def make_app(database_url: str, **overrides: Any) -> Flask:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
        "PUBLIC_BASE_URL": "http://localhost",
        # Pages checked against the database on every view: tests edit and look at once.
        "PAGE_CACHE_FRESH_SECONDS": 0,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    from flask_migrate import upgrade

    app = make_app(database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


def _empty_all_tables() -> None:
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(tables))))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@contextmanager
def app_context_for(database_url: str, **overrides: Any) -> Iterator[Flask]:
    """An app with its own settings, inside its context; the tables are emptied afterwards."""
    app = make_app(database_url, **overrides)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


@pytest.fixture
def app(migrated_database: str) -> Iterator[Flask]:
    with app_context_for(migrated_database) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright, one per test module."""
    from tests.browser_support import chromium

    with chromium() as launched:
        yield launched
