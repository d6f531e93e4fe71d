"""Tsudoi (集い): registration for online lectures, exhibitions and events."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import lazy_gettext

from app.config import build_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers, commands."""
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates",
                static_folder="../static")
    app.config.update(build_config(app.instance_path, config))
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import (
        models,  # noqa: F401  (the whole schema, for Alembic)
        storage,
    )
    from app.database import configure_engine
    from app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from app.i18n import select_locale, select_timezone
    from app.services import job_signal
    from app.web import event_snapshots, page_cache, session_cookie

    session_cookie.init_app(app)
    db.init_app(app)
    register_session_teardown(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    login_manager.init_app(app)
    page_cache.init_app(app)
    storage.init_app(app)
    event_snapshots.init_app(app)
    job_signal.init_app(app)  # with REDIS_URL: wake mail workers after commits that queue mail
    login_manager.login_view = "console.login"
    login_manager.login_message = lazy_gettext("Please sign in to continue.")
    login_manager.session_protection = "strong"


def register_session_teardown(app: Flask) -> None:
    """Flask-SQLAlchemy's own teardown rolls back on a connection that may have died after
    the response was rendered; that must cost a log line, not a 500."""
    from sqlalchemy.exc import DBAPIError

    from app.extensions import db

    @app.teardown_appcontext
    def remove_session(_exception: BaseException | None) -> None:
        try:
            db.session.remove()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            app.logger.warning("database connection lost at the end of a request")
            db.session.registry.clear()


def register_blueprints(app: Flask) -> None:
    from app.web.api import register as register_api
    from app.web.console import bp as console_bp
    from app.web.ops import bp as ops_bp
    from app.web.participant import bp as participant_bp
    from app.web.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(participant_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(ops_bp)
    register_api(app)  # /api/v1 (exempt from CSRF: token auth, no cookies), /api/docs


def register_errorhandlers(app: Flask) -> None:
    from app.web.errors import register

    register(app)


def register_security(app: Flask) -> None:
    from app.web.security import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from app.web.helpers import register

    register(app)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)
