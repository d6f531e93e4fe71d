"""gunicorn's logger with participants' links and credentials masked (gunicorn.conf.py).

gunicorn writes the access log itself, from the raw request, before and outside the app:
its atoms (%(r)s, %(U)s, %(q)s, %(f)s, headers, environ) are masked here with the app's own
rules (app/logging_support.py), whatever `access_log_format` an operator chooses. Its error
log names the request target too ("Error handling request /r/…"), so it is filtered alike.
"""

from __future__ import annotations

import datetime
from typing import Any

from gunicorn.glogging import Logger

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


class MaskingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_masking_filter(self.error_log)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any],
              request_time: datetime.timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {name: mask_atom(name, value) for name, value in atoms.items()}
