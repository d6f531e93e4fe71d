"""Flask's signed session cookie, with its signing serializer built once per key."""

from __future__ import annotations

import threading

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

_SerializerKey = tuple[str | bytes, tuple[str | bytes, ...]]


class KeptSerializerSessionInterface(SecureCookieSessionInterface):
    """The same cookies as Flask's own interface, signed and checked the same way.

    Flask builds the serializer on every request, and building it signs a test value to
    learn whether it produces text: about 17 µs, some 3 % of a cached event page view. It
    depends only on the secret key and its fallbacks, so it is kept per key; a new key (or
    a key rotated into the fallbacks) gets a new one.
    """

    def __init__(self) -> None:
        self._serializers: dict[_SerializerKey, URLSafeTimedSerializer] = {}
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            assert serializer is not None
            with self._lock:
                if len(self._serializers) >= 8:  # keys change rarely; never grow without end
                    self._serializers.clear()
                self._serializers[key] = serializer
        return serializer


def init_app(app: Flask) -> None:
    app.session_interface = KeptSerializerSessionInterface()
