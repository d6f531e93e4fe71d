"""Template filters and globals shared by every blueprint."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Flask, request, url_for

from app import i18n
from app.models import Question
from app.services.catalog import few_seats_left
from app.web.public.forms import preference_fields


def url_for_language(language: str) -> str:
    args: dict[str, Any] = dict(request.view_args or {})
    args.update(request.args.to_dict())
    args["lang"] = language
    endpoint = request.endpoint or "public.index"
    return url_for(endpoint, **args)


# A label that says it may be left empty: 「講師への質問（任意）」, "Comments (optional)".
_SAYS_OPTIONAL = re.compile(r"[（(]\s*(任意|optional)\s*[)）]", re.IGNORECASE)


def says_optional(label: object) -> bool:
    """The form macros give such a label no second 任意 tag."""
    return bool(_SAYS_OPTIONAL.search(str(label or "")))


def register(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = i18n.format_local_datetime
    app.jinja_env.filters["date"] = i18n.format_local_date
    app.jinja_env.filters["time"] = i18n.format_local_time
    app.jinja_env.filters["month"] = i18n.format_month
    app.jinja_env.globals["format_period"] = i18n.format_period
    app.jinja_env.globals["current_language"] = i18n.current_language
    app.jinja_env.globals["url_for_language"] = url_for_language
    app.jinja_env.globals["preference_fields"] = preference_fields
    app.jinja_env.globals["answer_text"] = answer_text
    app.jinja_env.tests["says_optional"] = says_optional
    app.jinja_env.globals["few_seats_left"] = few_seats_left
    app.jinja_env.filters["isodate"] = lambda text: i18n.format_local_date(
        date.fromisoformat(text))

    @app.after_request
    def remember_language(response: Any) -> Any:
        from flask import g

        choice = getattr(g, "language_choice", None)
        if choice and request.args.get("lang") == choice:
            response.set_cookie(
                i18n.LANGUAGE_COOKIE, choice, max_age=365 * 24 * 3600, samesite="Lax",
                httponly=True, secure=app.config["SESSION_COOKIE_SECURE"],
            )
        return response


def answer_text(question: Question, answer: Any) -> str:
    """An answer as the reader's language shows it: options are stored in Japanese."""
    values = answer if isinstance(answer, list) else [answer]
    if i18n.current_language() == "en" and len(question.options_en) == len(question.options):
        english = dict(zip(question.options, question.options_en, strict=True))
        values = [english.get(value, value) for value in values]
    return "、".join(str(value) for value in values)
