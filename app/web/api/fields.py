"""Marshmallow fields and validators for the API, with messages in the reader's language.

Marshmallow's own messages are English constants; these subclasses give translatable ones,
in the language of the request. They subclass marshmallow's classes, so apispec
still documents their types, lengths, ranges and choices in the OpenAPI document.

Every text is also checked for what the database cannot store or nobody types: PostgreSQL
refuses NUL in text, lone surrogates cannot be encoded, and other control characters in a
name or a title are a mistake or an attack.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_smorest.fields import Upload as SmorestUpload
from marshmallow import ValidationError, fields, validate

# A database integer: larger ids cannot exist, and SQLite cannot even bind them.
MAX_ID = 2_147_483_647
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Dates the events of a municipality can have; far years overflow time zone conversions.
FIRST_YEAR, LAST_YEAR = 2000, 2100

_COMMON = {
    "required": _l("This field is required."),
    "null": _l("This field may not be empty."),
    "validator_failed": _l("This value is not valid."),
}


class _Translated:
    """Messages are lazy strings, turned into text here, in the request's language:
    marshmallow would take a lazy string for a list of characters."""

    error_messages: dict[str, Any]

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        return ValidationError(str(self.error_messages[key]))


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


class Text(_Translated, fields.String):
    default_error_messages = {  # noqa: RUF012 (marshmallow merges these per class)
        **_COMMON,
        "invalid": _l("Please give a text."),
        "invalid_utf8": _l("Please give a text."),
        "control": _l("Please remove control characters."),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROL.search(text):
            raise self.make_error("control")
        return text


class Integer(_Translated, fields.Integer):
    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": _l("Please give a whole number."),
        "too_large": _l("This number is too large."),
    }


class Boolean(_Translated, fields.Boolean):
    default_error_messages = {**_COMMON, "invalid": _l("Please give true or false.")}  # noqa: RUF012


class DateTime(_Translated, fields.AwareDateTime):
    """An ISO 8601 date and time with its offset, like 2025-04-01T14:00:00+09:00."""

    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": _l("Please give a date and time like 2025-04-01T14:00:00+09:00."),
        "invalid_awareness": _l("Please give the time zone offset, like +09:00."),
        "format": _l("Please give a date and time like 2025-04-01T14:00:00+09:00."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise ValidationError(str(_l("Please give a date between %(first)d and %(last)d.",
                                         first=FIRST_YEAR, last=LAST_YEAR)))
        return moment


class Date(_Translated, fields.Date):
    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": _l("Please give a date like 2025-04-01."),
        "format": _l("Please give a date like 2025-04-01."),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        day: date = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValidationError(str(_l("Please give a date between %(first)d and %(last)d.",
                                         first=FIRST_YEAR, last=LAST_YEAR)))
        return day


class Time(_Translated, fields.Time):
    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": _l("Please give a time like 10:00."),
        "format": _l("Please give a time like 10:00."),
    }


class List(_Translated, fields.List):
    default_error_messages = {**_COMMON, "invalid": _l("Please give a list.")}  # noqa: RUF012


class Dict(_Translated, fields.Dict):
    default_error_messages = {**_COMMON, "invalid": _l("Please give an object.")}  # noqa: RUF012


class Enum(_Translated, fields.Enum):
    """An enum by its stored value, as the API shows it."""

    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "unknown": _l("Please use one of the values listed in the API documentation."),
    }

    def __init__(self, enum: Any, **kwargs: Any) -> None:
        super().__init__(enum, by_value=True, **kwargs)


class Upload(_Translated, SmorestUpload):
    default_error_messages = {**_COMMON, "invalid": _l("Please send a file.")}  # noqa: RUF012


# The validators below are marshmallow's own, so that the OpenAPI document states their
# limits (minLength, maximum, enum, pattern); each checks as marshmallow's does and says why
# in the user's language.


class Length(validate.Length):
    def __call__(self, value: Any) -> Any:
        if self.min is not None and len(value) < self.min:
            raise ValidationError(str(_l("This field is required.") if self.min == 1 else
                                      _l("Please use at least %(min)d characters.",
                                         min=self.min)))
        if self.max is not None and len(value) > self.max:
            raise ValidationError(str(_l("Please use at most %(max)d characters.",
                                         max=self.max)))
        return value


class Range(validate.Range):
    """Inclusive at both ends, as every range of the API is."""

    def __call__(self, value: Any) -> Any:
        if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max):
            raise ValidationError(str(_l("Please give a number from %(min)d to %(max)d.",
                                         min=self.min, max=self.max)))
        return value


class OneOf(validate.OneOf):
    def __call__(self, value: Any) -> Any:
        if value not in self.choices:
            raise ValidationError(str(_l("Please use one of the values listed in the API "
                                         "documentation.")))
        return value


class Pattern(validate.Regexp):
    def __call__(self, value: Any) -> Any:
        if self.regex.match(value) is None:
            raise ValidationError(str(_l("This value is not valid.")))
        return value


def web_address(value: str) -> None:
    """http(s) only: these addresses become links on pages, and a javascript: link would run."""
    if not value:
        return
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value.strip():
        raise ValidationError(str(_l("Please enter a full web address starting with "
                                     "https://.")))


def identifier(**kwargs: Any) -> Integer:
    """A record id as the database can hold it."""
    return Integer(strict=True, validate=Range(min=1, max=MAX_ID), **kwargs)
