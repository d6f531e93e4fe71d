"""Configuration read from the environment, with safe defaults for a laptop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class ConfigurationError(RuntimeError):
    """Raised at start-up when production settings are unsafe or missing."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def build_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings for one app: defaults, then environment, then explicit overrides."""
    env = os.environ
    overrides = overrides or {}
    production = _bool(env.get("TSUDOI_PRODUCTION")) or env.get("FLASK_ENV") == "production"
    production = bool(overrides.get("PRODUCTION", production))
    sqlite_path = Path(instance_path) / "tsudoi.sqlite3"
    config: dict[str, Any] = {
        "PRODUCTION": production,
        "SECRET_KEY": env.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or f"sqlite:///{sqlite_path}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "SUPPORTED_LOCALES": ("ja", "en"),
        "WTF_CSRF_TIME_LIMIT": 4 * 3600,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL") or (
            "http://127.0.0.1:8000" if production else _url_of_bind(env.get("GUNICORN_BIND"))),
        "MAIL_FROM": env.get("MAIL_FROM", "Tsudoi <no-reply@tsudoi.localhost>"),
        # Mail delivery (docs/email.md): "console" prints, "smtp" sends through MAIL_SERVER.
        "MAIL_BACKEND": env.get("MAIL_BACKEND", "console"),
        "MAIL_SERVER": env.get("MAIL_SERVER", "localhost"),
        # Unset: 465 with MAIL_USE_SSL, 587 with MAIL_USE_TLS, else 25.
        "MAIL_PORT": int(env["MAIL_PORT"]) if env.get("MAIL_PORT") else None,
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS")),  # STARTTLS after connecting
        "MAIL_USE_SSL": _bool(env.get("MAIL_USE_SSL")),  # implicit TLS from the first byte
        "MAIL_USERNAME": env.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD"),
        "MAIL_CA_FILE": env.get("MAIL_CA_FILE"),  # a private CA for an internal relay
        "MAIL_TIMEOUT": float(env.get("MAIL_TIMEOUT", "30")),
        "MAIL_MAX_ATTEMPTS": int(env.get("MAIL_MAX_ATTEMPTS", "10")),
        "MAIL_RETRY_BASE_SECONDS": float(env.get("MAIL_RETRY_BASE_SECONDS", "60")),
        "MAIL_RETRY_MAX_SECONDS": float(env.get("MAIL_RETRY_MAX_SECONDS", "21600")),
        "MAIL_CLAIM_TIMEOUT_SECONDS": float(env.get("MAIL_CLAIM_TIMEOUT_SECONDS", "900")),
        # Invitations' ORGANIZER (default: MAIL_FROM) and the domain of their UIDs (default:
        # PUBLIC_BASE_URL's host; never change it once invitations have gone out).
        "CALENDAR_ORGANIZER": env.get("CALENDAR_ORGANIZER"),
        "CALENDAR_UID_DOMAIN": env.get("CALENDAR_UID_DOMAIN"),
        "REDIS_URL": env.get("REDIS_URL"),
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down must not stop sign-ups: limits fall back to per-process memory meanwhile.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "PRIVACY_RETENTION_DAYS": int(env.get("PRIVACY_RETENTION_DAYS", "180")),
        "SIGNUP_RATE_LIMIT": env.get("SIGNUP_RATE_LIMIT", "10 per minute;60 per hour"),
        "LOGIN_RATE_LIMIT_PER_ADDRESS": env.get("LOGIN_RATE_LIMIT_PER_ADDRESS",
                                                "10 per minute;50 per hour"),
        "LOGIN_RATE_LIMIT_PER_ACCOUNT": env.get("LOGIN_RATE_LIMIT_PER_ACCOUNT",
                                                "5 per minute;20 per hour"),
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # Uploads (imports of registrants and attendance reports) are refused above this size.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(8 * 1024 * 1024))),
        "API_RATE_LIMIT": env.get("API_RATE_LIMIT", "600 per minute"),
        "CLOSING_SOON_HOURS": int(env.get("CLOSING_SOON_HOURS", "72")),
        # One JSON line per request (app/web/security.py). Off where another access log
        # (gunicorn's GUNICORN_ACCESS_LOG, nginx) already writes that line.
        "REQUEST_LOG_ENABLED": env.get("REQUEST_LOG", "1") != "0",
        # Rendered event pages kept per worker, checked against the database on every view.
        "PAGE_CACHE_ENABLED": env.get("PAGE_CACHE_ENABLED", "1") != "0",
        "PAGE_CACHE_ENTRIES": int(env.get("PAGE_CACHE_ENTRIES", "512")),
        # Served without checking the database for this long after a check (0: always check).
        "PAGE_CACHE_FRESH_SECONDS": float(env.get("PAGE_CACHE_FRESH_SECONDS", "1")),
        # Events that ask people to confirm their address: how long the emailed link works.
        "EMAIL_CONFIRMATION_HOURS": int(env.get("EMAIL_CONFIRMATION_HOURS", "24")),
        # Uploaded files (app/storage.py): a folder on this machine, or S3-compatible object
        # storage shared by every instance (credentials from boto3's usual AWS_* variables).
        "STORAGE_BACKEND": env.get("STORAGE_BACKEND", "local"),
        "STORAGE_LOCAL_PATH": env.get("STORAGE_LOCAL_PATH",
                                      str(Path(instance_path) / "uploads")),
        "S3_BUCKET": env.get("S3_BUCKET"),
        "S3_PREFIX": env.get("S3_PREFIX", ""),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL"),
        "S3_REGION": env.get("S3_REGION"),
        # The largest file a person may upload (attachments, materials, images); a request
        # is refused above MAX_CONTENT_LENGTH before any of it is read.
        "UPLOAD_MAX_BYTES": int(env.get("UPLOAD_MAX_BYTES", str(8 * 1024 * 1024))),
    }
    config.update(overrides)
    if config["PRODUCTION"] and not config["SECRET_KEY"]:
        raise ConfigurationError(
            "SECRET_KEY must be set in production (TSUDOI_PRODUCTION=1): "
            "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _development_secret(Path(instance_path))
    if config["STORAGE_BACKEND"] not in ("local", "s3"):
        raise ConfigurationError("STORAGE_BACKEND must be 'local' or 's3'.")
    if config["STORAGE_BACKEND"] == "s3" and not config["S3_BUCKET"]:
        raise ConfigurationError("STORAGE_BACKEND=s3 needs S3_BUCKET.")
    if config["MAIL_BACKEND"] not in ("smtp", "console"):
        raise ConfigurationError("MAIL_BACKEND must be 'smtp' or 'console'.")
    if not 1 <= config["EMAIL_CONFIRMATION_HOURS"] <= 24 * 14:
        raise ConfigurationError("EMAIL_CONFIRMATION_HOURS must be between 1 and 336 (two "
                                 "weeks).")
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigurationError(
            "Set MAIL_USE_TLS (STARTTLS, usually port 587) or MAIL_USE_SSL (implicit TLS, "
            "usually port 465), not both."
        )
    return config


def _url_of_bind(bind: str | None) -> str:
    """Where a browser on this machine reaches `make run`'s gunicorn bound to `bind`
    (GUNICORN_BIND, "HOST:PORT"), so that links in messages work in development without
    setting PUBLIC_BASE_URL too. A wildcard address is reached through the loopback one;
    a Unix socket or a file descriptor has no URL, and keeps the default."""
    default = "http://127.0.0.1:8000"
    if not bind or bind.startswith(("unix:", "fd://")):
        return default
    host, separator, port = bind.strip().rpartition(":")
    if not separator or not port.isdigit():
        host, port = bind.strip(), "8000"
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):  # noqa: S104 - a bind address being read, not bound
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _development_secret(instance_path: Path) -> str:
    """A per-checkout random key, so sessions survive restarts without a shared default."""
    import secrets

    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
