"""Secrets out of log lines: participants' links and tokens in request paths and queries.

A request target can be a key: /r/<token> opens someone's registration, /feeds/<id>/<token>
their calendar, /j/<token> the meeting they joined, /events/<slug>/confirm/<token> a pending
sign-up (and the address it was made for), /console/reset/<token> an account;
/console/events/<id>/registrants/import/<token> (and attendance imports) a staged upload.
Anyone who reads the logs (a log system, a support contractor, a backup) must not be able
to use them, so every line that may hold a request target is masked here, by the same
rules: gunicorn's access and error logs (app/gunicorn_logging.py), the app's JSON log and
request log (app/web/security.py), the development server's log. The same links as the
nginx `log_format` in docs/deploy.md.

Free text typed into a query (a search for a name or an address) is personal data, and
some keys carry secrets (`?token=`, a meeting's `pwd=` in a redirect): their values are
masked too. Pure functions and a logging filter; no Flask here, gunicorn's master imports it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote, unquote_plus

MASK = "***"

# The secret segment, after the fixed segments that lead to it. Found after any slash, not
# only at the start of a path: a mount prefix (SCRIPT_NAME) or a full URL (a Referer, a
# Location) leads to it too. Masking a public event whose slug is "r" or "j" in passing is
# the harmless side of the trade. Staged imports' tokens need an organizer's session, but
# are masked all the same: no token of any kind reaches a log.
_SECRET_SEGMENT = re.compile(
    r"(/(?:r|j|console/reset|feeds/[0-9]+|events/[^/?#\s\"'<>]+/confirm"
    r"|(?:attendance|registrants)/imports?)/)"
    r"(?!deleted(?:[/?#\s\"'<>]|$))"  # /r/deleted: the page after deleting one's data
    r"([^/?#\s\"'<>]+)")
# Query keys whose values are secrets or free text about a person.
_SENSITIVE_KEYS = frozenset({
    "token", "key", "secret", "password", "passwd", "pwd", "passcode", "code", "signature",
    "sig", "auth", "q", "query", "search", "email", "mail", "name", "tel", "phone",
})
_SENSITIVE_SUFFIXES = ("token", "secret", "password", "_key", "apikey")
_QUERY_SEPARATORS = re.compile(r"([&;])")
# A path or URL inside free text ("GET /r/x HTTP/1.1", "https://host/r/x?new=1"): from a
# slash to the next space or quote; the scheme and host before it need no masking.
_URL_IN_TEXT = re.compile(r"/[^\s\"'<>]*")


def _mask_segments(path: str) -> str:
    return _SECRET_SEGMENT.sub(lambda match: match.group(1) + MASK, path)


def _has_secret_segment(path: str) -> bool:
    return _SECRET_SEGMENT.search(path) is not None


def _sensitive(key: str) -> bool:
    name = unquote_plus(key).strip().lower()
    return name in _SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def mask_path(path: str) -> str:
    """A path with its secret segment masked: /r/<token>/edit -> /r/***/edit.

    A percent-encoded path (/%72/<token> reaches the same page) is judged, and logged,
    decoded, so encoding cannot smuggle a token past the mask.
    """
    if "%" in path:
        decoded = unquote(path)
        if _has_secret_segment(decoded):
            path = decoded
    return _mask_segments(path)


def mask_query(query: str) -> str:
    """A query string with the values of sensitive keys masked (and links in any value)."""
    if not query:
        return query
    parts = _QUERY_SEPARATORS.split(query)
    for index in range(0, len(parts), 2):  # the odd ones are the separators
        key, equals, value = parts[index].partition("=")
        if not (equals and value):
            continue
        if _sensitive(key):
            parts[index] = f"{key}={MASK}"
            continue
        decoded = unquote_plus(value)
        if _has_secret_segment(decoded):  # ?next=%2Fr%2F<token>
            parts[index] = f"{key}={quote(_mask_segments(decoded), safe='/*:')}"
    return "".join(parts)


def mask_url(url: str) -> str:
    """A request target or URL (path, optional query) with every secret in it masked."""
    path, question, query = url.partition("?")
    masked = mask_path(path)
    return f"{masked}?{mask_query(query)}" if question else masked


def mask_text(text: str) -> str:
    """Any log text with the secrets of the paths and URLs it contains masked."""
    # Most texts hold nothing to mask (gunicorn's atoms are dozens of strings per request):
    # without a secret segment, an encoded character or a query, nothing can change.
    if "/" not in text or ("%" not in text and "?" not in text
                           and _SECRET_SEGMENT.search(text) is None):
        return text
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group()), text)


class MaskingFilter(logging.Filter):
    """Masks the message of every record of the logger (or handler) it is added to.

    For loggers whose messages we do not write: gunicorn's "Error handling request <uri>",
    the development server's request lines. The message is formatted here, once, so the
    secret is gone before any handler sees the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format: logging reports it itself
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def add_masking_filter(logger: logging.Logger) -> None:
    """Once per logger, however often the app or gunicorn's logging is set up again."""
    if not any(isinstance(existing, MaskingFilter) for existing in logger.filters):
        logger.addFilter(MaskingFilter())
