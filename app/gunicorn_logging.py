"""gunicorn's logger with participants' links and credentials masked (gunicorn.conf.py).

gunicorn writes the access log itself, from the raw request, before and outside the app:
its atoms (%(r)s, %(U)s, %(q)s, %(f)s, headers, environ) are masked here with the app's own
rules (app/logging_support.py), whatever `access_log_format` an operator chooses. An atom is
masked when the format reads it: a line reads a handful of the sixty-odd atoms (one per
header), and masking them all cost more than writing the line. Its error log names the
request target too ("Error handling request /r/…"), so it is filtered alike.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from app.logging_support import MASK, add_masking_filter, mask_query, mask_text

# Atoms whose whole value is a credential: replaced, never parsed. Request headers are
# "{name}i", response headers "{name}o", WSGI environ "{key}e" (all lower case).
_CREDENTIALS = frozenset({
    "{authorization}i", "{proxy-authorization}i", "{cookie}i", "{x-api-key}i",
    "{set-cookie}o",
    "{http_authorization}e", "{http_proxy_authorization}e", "{http_cookie}e",
    "{http_x_api_key}e",
})
_QUERY_STRINGS = frozenset({"q", "{query_string}e"})


def mask_atom(name: str, value: Any) -> Any:
    if not isinstance(value, str) or not value or value == "-":
        return value
    if name in _CREDENTIALS:
        return MASK
    if name in _QUERY_STRINGS:
        return mask_query(value)
    return mask_text(value)


class MaskedAtoms(SafeAtoms):
    """gunicorn's atoms as the access log format reads them, each masked as it is read."""

    def __getitem__(self, key: str) -> Any:
        # gunicorn looks header and environ atoms up in lower case
        return mask_atom(key.lower() if key.startswith("{") else key, super().__getitem__(key))


class MaskingLogger(Logger):
    atoms_wrapper_class = MaskedAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_masking_filter(self.error_log)
