"""Locale choice and Japanese-style date formatting."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.lists import format_list
from flask import current_app, g, has_request_context, request
from flask_babel import get_locale

LANGUAGE_COOKIE = "lang"
TOKYO = ZoneInfo("Asia/Tokyo")


def select_locale() -> str:
    """`?lang=` first (the visible switch), then the cookie it sets, then Accept-Language."""
    supported = current_app.config["SUPPORTED_LOCALES"]
    if not has_request_context():  # CLI and workers: the default, unless forced per message
        return str(supported[0])
    requested = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if requested in supported:
        g.language_choice = requested
        return str(requested)
    return request.accept_languages.best_match(supported) or supported[0]


def select_timezone() -> str:
    return "Asia/Tokyo"


def current_language() -> str:
    return str(get_locale() or "ja")


def format_list_local(items: Iterable[str], language: str | None = None) -> str:
    """A list as the language writes one (CLDR): 申込数、参加確定、出席 / A, B, and C.

    ", ".join would put ASCII commas between Japanese words.
    """
    return format_list(list(items), locale=language or current_language())


def join_sentences(*sentences: str, language: str | None = None) -> str:
    """Sentences one after another: Japanese puts no space after 。, English does."""
    separator = "" if (language or current_language()) == "ja" else " "
    return separator.join(sentence for sentence in sentences if sentence)


def _local(value: datetime, tz: ZoneInfo = TOKYO) -> datetime:
    return value.astimezone(tz)


def format_local_datetime(value: datetime | None, language: str | None = None) -> str:
    """2023年1月25日(水) 14:00 in Japanese; Wed 25 Jan 2023, 14:00 in English."""
    if value is None:
        return ""
    language = language or current_language()
    local = _local(value)
    if language == "ja":
        return format_datetime(local, "y年M月d日(E) H:mm", locale="ja", tzinfo=TOKYO)
    return format_datetime(local, "EEE d MMM y, H:mm", locale="en", tzinfo=TOKYO)


def format_local_date(value: date | datetime | None, language: str | None = None) -> str:
    if value is None:
        return ""
    language = language or current_language()
    if isinstance(value, datetime):
        value = _local(value).date()
    if language == "ja":
        return format_date(value, "y年M月d日(E)", locale="ja")
    return format_date(value, "EEE d MMM y", locale="en")


def format_local_time(value: datetime | None, language: str | None = None) -> str:
    if value is None:
        return ""
    return format_time(_local(value), "H:mm", locale=language or current_language(), tzinfo=TOKYO)


def format_month(value: str, language: str | None = None) -> str:
    """A month given as "YYYY-MM", as the language writes it (CLDR): 2026年12月 / December 2026."""
    year, month = (int(part) for part in value.split("-", 1))
    return format_skeleton("yMMMM", date(year, month, 1), locale=language or current_language())


def format_period(start: datetime, end: datetime, language: str | None = None) -> str:
    """One day: date, start–end time. Several days: first date – last date."""
    language = language or current_language()
    local_start, local_end = _local(start), _local(end)
    if local_start.date() == local_end.date():
        return f"{format_local_datetime(start, language)}–{format_local_time(end, language)}"
    return f"{format_local_date(start, language)} – {format_local_date(end, language)}"
