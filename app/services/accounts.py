"""Organizer accounts: creation, sign-in, passwords and their reset by e-mailed link."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.database import SessionLike, write_transaction
from app.models import OutboxMessage, User
from app.models.enums import MessageKind, UserRole
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError
from app.text import normalize_email

MIN_PASSWORD_LENGTH = 12
RESET_MAX_AGE_SECONDS = 3600
# A hash of a password nobody has, so unknown addresses take as long as wrong passwords.
# Written out rather than computed: hashing it at import cost every worker and `flask`
# command ~0.1 s of CPU and ~30 MB of peak memory (scrypt). It is
# generate_password_hash("decoy-password-for-constant-time"); its parameters must stay those
# of werkzeug's default, which tests/test_startup.py checks.
_TIMING_DECOY = (
    "scrypt:32768:8:1$qVZC6KoeGmmUC4GS$f5cc6742df8665aa5c563d994e7308782a1aa7832f6f5bbfbf8742f"
    "ecfc9fc7d3e364316657551bc6e2c8fc77c9cd4ab7edf3434577d09b7161d963860733b8e"
)


class AccountError(DomainError):
    code = "account_error"


def hash_password(password: str) -> str:
    """scrypt, werkzeug's default: memory-hard and salted."""
    return generate_password_hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _l("Please use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
            field="password",
        )
    if len(password) > 200:
        raise AccountError(_l("Please use at most %(max)d characters.", max=200),
                           field="password")


def find_user(session: SessionLike, email: str) -> User | None:
    return session.execute(
        select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()


def create_user(
    session: SessionLike, email: str, password: str, role: UserRole, display_name: str = "",
    actor: User | None = None,
) -> User:
    check_password_strength(password)
    with write_transaction(session):
        if find_user(session, email) is not None:
            raise AccountError(_l("An account with this email address already exists."),
                               field="email")
        user = User(email=normalize_email(email), password_hash=hash_password(password),
                    role=role, display_name=display_name)
        session.add(user)
        session.flush()
        record(session, actor, "user.create", user, details={"role": role.value})
    return user


def authenticate(session: SessionLike, email: str, password: str) -> User | None:
    """The user when the password is right and the account active; else None, in equal time."""
    user = find_user(session, email)
    if user is None:
        check_password_hash(_TIMING_DECOY, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    with write_transaction(session):
        user = session.get(User, user.id, populate_existing=True)
        assert user is not None
        user.last_login_at = utcnow()
    return user


def change_password(session: SessionLike, user_id: int, current: str, new: str) -> None:
    check_password_strength(new)
    with write_transaction(session):
        user = session.get(User, user_id, populate_existing=True)
        if user is None or not check_password_hash(user.password_hash, current):
            raise AccountError(_l("The current password is not correct."),
                               field="current_password")
        _set_password(user, new)
        record(session, user, "user.password_change", user)


def _set_password(user: User, new: str) -> None:
    user.password_hash = hash_password(new)
    user.session_version += 1  # every other signed-in session ends here


def set_role(session: SessionLike, email: str, role: UserRole, actor: User | None = None) -> User:
    with write_transaction(session):
        user = find_user(session, email)
        if user is None:
            raise AccountError(_l("There is no account with this email address."),
                               field="email")
        previous = user.role
        user.role = role
        record(session, actor, "user.set_role", user,
               details={"from": previous.value, "to": role.value})
    return user


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def reset_token(user: User) -> str:
    # Signing the current hash makes the link single-use: it dies once the password changes.
    return _serializer().dumps({"id": user.id, "hash": user.password_hash[-16:]})


def request_password_reset(session: SessionLike, email: str, language: str = "ja") -> None:
    """Queue a reset link when the account exists; say nothing either way."""
    with write_transaction(session):
        user = find_user(session, email)
        if user is None or not user.active:
            return
        base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
        link = f"{base}/console/reset/{reset_token(user)}"
        with force_locale(language):
            subject = _("Reset your Tsudoi password")
            body = render_template("emails/password_reset.txt", user=user, link=link,
                                   minutes=RESET_MAX_AGE_SECONDS // 60)
        session.add(OutboxMessage(kind=MessageKind.PASSWORD_RESET, recipient=user.email,
                                  language=language, subject=subject, body_text=body))
        record(session, user, "user.password_reset_requested", user)


def reset_password(session: SessionLike, token: str, new: str) -> User:
    check_password_strength(new)
    invalid = AccountError(_l("This reset link is invalid or has expired. Please ask for a "
                              "new one."))
    try:
        data = _serializer().loads(token, max_age=RESET_MAX_AGE_SECONDS)
    except (SignatureExpired, BadSignature):
        raise invalid from None
    with write_transaction(session):
        user = session.get(User, data.get("id"), populate_existing=True)
        if user is None or user.password_hash[-16:] != data.get("hash"):
            raise invalid
        _set_password(user, new)
        record(session, user, "user.password_reset", user)
    return user
