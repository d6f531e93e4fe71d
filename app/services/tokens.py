"""Unguessable participant links: an HMAC of a per-registration key, looked up by its hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app


def new_manage_key() -> str:
    return secrets.token_hex(32)


def manage_token(manage_key: str, purpose: str = "manage") -> str:
    """256 bits, URL-safe; only the server, holding SECRET_KEY, can derive it from the key."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, f"{purpose}:{manage_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
