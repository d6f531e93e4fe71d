"""Personal API tokens: create (the secret is shown once), list, revoke, and authenticate.

A token acts as its user, with exactly the user's permissions (app.services.permissions):
it is a way to sign in, not a grant of its own. Only its SHA-256 is stored; see
app.models.api_token for why a plain hash is enough for 256 random bits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from app.database import SessionLike, write_transaction
from app.models import ApiToken, User
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.text import normalize_spaces

# Recognisable in configuration files and by secret scanners.
TOKEN_PREFIX = "tsd_"  # noqa: S105 (a prefix, not a secret)
_TOKEN_PATTERN = re.compile(r"^tsd_[A-Za-z0-9_-]{43}$")
HINT_LENGTH = 10
MAX_NAME = 100
MAX_ACTIVE_TOKENS = 20
# `last_used_at` is written at most this often, so that reading through the API does not
# turn every request into a write.
LAST_USED_PRECISION = timedelta(minutes=5)


class ApiTokenError(DomainError):
    code = "api_token_invalid"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: SessionLike, actor: User, name: str) -> IssuedToken:
    """A new token for the actor, named so that they can tell it apart later."""
    name = normalize_spaces(name)
    if not name:
        raise ApiTokenError(_l("Please give the token a name."), field="name")
    if len(name) > MAX_NAME:
        raise ApiTokenError(_l("Please use at most %(max)d characters.", max=MAX_NAME),
                            field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(session):
        active = session.execute(
            select(ApiToken.id).where(ApiToken.user_id == actor.id,
                                      ApiToken.revoked_at.is_(None))
        ).all()
        if len(active) >= MAX_ACTIVE_TOKENS:
            raise ApiTokenError(_l("You have %(count)d active tokens, the most allowed. "
                                   "Please revoke one you no longer use.",
                                   count=MAX_ACTIVE_TOKENS), field="name")
        token = ApiToken(user_id=actor.id, name=name, token_hash=_hash(secret),
                         hint=secret[:HINT_LENGTH], created_at=utcnow())
        session.add(token)
        session.flush()
        record(session, actor, "api_token.create", token, details={"name": name})
    return IssuedToken(token, secret)


def list_tokens(session: SessionLike, user: User) -> list[ApiToken]:
    """The user's tokens: active ones first, newest first."""
    return list(session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                  ApiToken.id.desc())
    ).scalars())


def revoke_token(session: SessionLike, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens; revoking twice changes nothing."""
    with write_transaction(session):
        token = session.get(ApiToken, token_id, populate_existing=True)
        if token is None or token.user_id != actor.id:
            raise NotFound(_l("This token does not exist."))
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            record(session, actor, "api_token.revoke", token, details={"name": token.name})
    return token


def authenticate(session: SessionLike, secret: str, *, now: datetime | None = None
                 ) -> User | None:
    """The user a presented token acts as; None for a malformed, unknown or revoked token, or
    an account that has been deactivated."""
    if not _TOKEN_PATTERN.match(secret):
        return None
    found = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _hash(secret))
    ).first()
    if found is None:
        return None
    token, user = found
    if token.revoked_at is not None or not user.active:
        return None
    now = now or utcnow()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
        with write_transaction(session):
            # Conditional: of several requests arriving together, one writes.
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == token.id,
                       or_(ApiToken.last_used_at.is_(None),
                           ApiToken.last_used_at < now - LAST_USED_PRECISION))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False))
    return user
