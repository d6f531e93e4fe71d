"""The Japanese catalog: up to date with the sources, complete, placeholders intact, served.

The compiled catalogs (.mo) are git-ignored. The session fixture `compiled_catalogs` compiles
every app/translations/*/LC_MESSAGES/messages.po with Babel when its .mo is missing or older
than the .po, so these tests pass on a fresh clone without `make translations`.

When a test here fails because of new or changed text, run scripts/update_translations.sh
and translate what it lists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_token_from

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
JA_PO = TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.po"
UPDATE = "run scripts/update_translations.sh"

# The same options as scripts/update_translations.sh (keep them in step).
EXTRACT_ARGS = [
    "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2",
    "-k", "lazy_pgettext:1c,2", "-k", "lazy_npgettext:1c,2,3",
    "--ignore-dirs", ".* venv node_modules", "--no-location", "--sort-output",
]

# A %-placeholder as Python formats it: %(name)s, %(count)d, %s, %5.2f, and the escape %%.
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<kind>[diouxXeEfFgGcrsa%])"
)

JA_UPCOMING = "開催予定のイベント"
EN_UPCOMING = "Upcoming events"


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog: Catalog) -> set[tuple[str | None, object]]:
    return {(m.context, m.id) for m in catalog if m.id}


def _first(message_id: object) -> str:
    return str(message_id[0] if isinstance(message_id, tuple) else message_id)


def _strings(message: Message) -> list[str]:
    string = message.string
    return [str(s) for s in string] if isinstance(string, tuple) else [str(string or "")]


def _placeholders(text: str) -> Counter[tuple[str | None, str]]:
    return Counter((m.group("name"), m.group("kind")) for m in PLACEHOLDER.finditer(text))


@pytest.fixture(scope="session")
def template_catalog() -> Catalog:
    return _read(POT)


@pytest.fixture(scope="session")
def ja_catalog() -> Catalog:
    return _read(JA_PO)


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Compile each .po whose .mo is missing or stale; written atomically (xdist workers)."""
    for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalog = _read(po_path)
        handle, temporary = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(handle, "wb") as f:
                write_mo(f, catalog)
            os.chmod(temporary, 0o644)
            os.replace(temporary, mo_path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


# (a) The committed template is what the sources give today.


def test_template_is_up_to_date_with_the_sources(
    template_catalog: Catalog, tmp_path: Path
) -> None:
    fresh_path = tmp_path / "messages.pot"
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", *EXTRACT_ARGS,
         "-o", str(fresh_path), "."],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh, committed = _ids(_read(fresh_path)), _ids(template_catalog)
    new = sorted(_first(i) for _, i in fresh - committed)
    gone = sorted(_first(i) for _, i in committed - fresh)
    assert not new and not gone, (
        f"messages.pot is stale ({UPDATE}).\nNew in the sources: {new}\nNo longer used: {gone}"
    )


GETTEXT_LITERAL = re.compile(
    r"""\b(?:_|_l|gettext|lazy_gettext)\(\s*(?P<q>["'])(?P<text>(?:(?!(?P=q))[^\\]|\\.)*)(?P=q)\s*[,)]"""
)


def test_every_literal_in_the_sources_reaches_the_template(template_catalog: Catalog) -> None:
    """Catches a template or module the extractor skips (Jinja syntax errors used to be
    skipped without a word: babel.cfg now sets silent = false) or a babel.cfg pattern that
    misses a folder."""
    ids = {_first(i) for _, i in _ids(template_catalog)}
    sources = [*(ROOT / "app").rglob("*.py"), *(ROOT / "templates").rglob("*.html"),
               *(ROOT / "templates").rglob("*.txt")]
    found, missing = 0, []
    for path in sources:
        for match in GETTEXT_LITERAL.finditer(path.read_text(encoding="utf-8")):
            found += 1
            if match.group("text") not in ids:
                missing.append(f"{path.relative_to(ROOT)}: {match.group('text')!r}")
    assert found > 100
    assert not missing, f"not in messages.pot ({UPDATE}):\n" + "\n".join(missing)


# (b) Every message has a Japanese translation.


def test_japanese_catalog_matches_the_template(
    template_catalog: Catalog, ja_catalog: Catalog
) -> None:
    wanted, present = _ids(template_catalog), _ids(ja_catalog)
    missing = sorted(_first(i) for _, i in wanted - present)
    stale = sorted(_first(i) for _, i in present - wanted)
    assert not missing and not stale, (
        f"ja/messages.po was not updated from the template ({UPDATE}).\n"
        f"Missing: {missing}\nNot in the template: {stale}"
    )


def test_every_message_is_translated_into_japanese(
    template_catalog: Catalog, ja_catalog: Catalog
) -> None:
    problems = []
    for wanted in template_catalog:
        if not wanted.id:
            continue
        message = ja_catalog.get(wanted.id, wanted.context)
        if message is None or not all(s.strip() for s in _strings(message)):
            problems.append(f"untranslated: {_first(wanted.id)!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {_first(wanted.id)!r}")
    assert not problems, f"{UPDATE} and translate:\n" + "\n".join(problems)


def test_japanese_catalog_header(ja_catalog: Catalog) -> None:
    assert not ja_catalog.fuzzy, "the catalog header is marked fuzzy"
    assert str(ja_catalog.locale) == "ja"
    assert ja_catalog.plural_forms == "nplurals=1; plural=0;"
    assert ja_catalog.charset.lower() == "utf-8"


# (c) Placeholders survive translation.


def test_placeholders_match(ja_catalog: Catalog) -> None:
    problems = []
    for message in ja_catalog:
        if not message.id or message.fuzzy or not all(_strings(message)):
            continue  # untranslated and fuzzy entries are reported above and not compiled
        # Japanese has one plural form: it follows the plural id (which carries the count).
        source = message.id[-1] if isinstance(message.id, tuple) else message.id
        expected = _placeholders(str(source))
        for string in _strings(message):
            if _placeholders(string) != expected:
                problems.append(f"{_first(message.id)!r} -> {string!r}")
            elif "%" in PLACEHOLDER.sub("", string):
                # Templates %-format every message (Flask-Babel's new-style gettext), so a
                # stray percent sign breaks the page; write %% or a full-width ％.
                problems.append(f"stray %: {_first(message.id)!r} -> {string!r}")
    assert not problems, "placeholders differ from the English id:\n" + "\n".join(problems)


def test_babel_checks_pass(ja_catalog: Catalog) -> None:
    errors = [f"{m.id!r}: {e}" for m, errs in ja_catalog.check() if not m.fuzzy for e in errs]
    assert not errors, "\n".join(errors)


def test_placeholder_pattern() -> None:
    assert _placeholders("%(left)d of %(capacity)d, %s and 100%%") == Counter(
        {("left", "d"): 1, ("capacity", "d"): 1, (None, "s"): 1, (None, "%"): 1})
    assert _placeholders("残り%(left)d席") == Counter({("left", "d"): 1})


# (d) The app speaks Japanese unless asked for English.


def _html(client: FlaskClient, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_japanese_by_default(client: FlaskClient) -> None:
    html = _html(client, "/")
    assert '<html lang="ja"' in html
    assert JA_UPCOMING in html
    assert EN_UPCOMING not in html
    assert "個人情報の取り扱い" in html


def test_lang_parameter_switches_to_english_and_is_remembered(client: FlaskClient) -> None:
    response = client.get("/?lang=en")
    html = response.get_data(as_text=True)
    assert '<html lang="en"' in html
    assert EN_UPCOMING in html
    assert JA_UPCOMING not in html
    assert any(h.startswith("lang=en;") for h in response.headers.getlist("Set-Cookie"))
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"

    assert EN_UPCOMING in _html(client, "/"), "the lang cookie is not honoured"

    html = _html(client, "/?lang=ja")
    assert '<html lang="ja"' in html and JA_UPCOMING in html
    assert client.get_cookie("lang").value == "ja"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("accept_language", "english"),
    [
        ("en", True),
        ("en-US,en;q=0.9", True),
        ("ja", False),
        ("ja-JP,ja;q=0.9,en;q=0.8", False),
        ("fr", False),
    ],
)
def test_accept_language(client: FlaskClient, accept_language: str, english: bool) -> None:
    html = _html(client, "/", **{"Accept-Language": accept_language})
    assert (f'<html lang="{"en" if english else "ja"}"' in html)
    assert (EN_UPCOMING in html) is english
    assert (JA_UPCOMING in html) is not english


def test_messages_from_python_code_are_translated(client: FlaskClient) -> None:
    response = client.get("/events/no-such-event")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "お探しのページは見つかりませんでした。" in html
    assert "does not exist" not in html


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _english_leaks(text: str, catalog: Catalog) -> list[str]:
    """English ids of at least two words, translated differently, that show on a page."""
    leaks = []
    for message in catalog:
        english = _first(message.id)
        if not message.id or " " not in english or "%(" in english:
            continue
        if _strings(message)[0] != english and english in text:
            leaks.append(english)
    return leaks


def test_event_pages_and_forms_are_in_japanese(
    app: Flask, client: FlaskClient, ja_catalog: Catalog
) -> None:
    """Lazy form labels, choices, validation messages and state badges come out in Japanese."""
    from app.extensions import db
    from app.services.demo import TOKYO, load_demo

    load_demo(db.session, datetime.now(TOKYO).date())
    index = _html(client, "/")
    slugs = sorted(set(re.findall(r'href="/events/([^"/]+)"', index)))
    assert slugs, "the demo events are not listed"
    assert not _english_leaks(_visible_text(index), ja_catalog)

    signup_html = None
    for slug in slugs:
        page = _html(client, f"/events/{slug}")
        assert '<html lang="ja"' in page
        assert not _english_leaks(_visible_text(page), ja_catalog), slug
        if f'href="/events/{slug}/register"' in page and signup_html is None:
            signup_html = (slug, _html(client, f"/events/{slug}/register"))
    assert signup_html is not None, "no demo event accepts sign-ups"

    slug, html = signup_html
    text = _visible_text(html)
    for label in ("氏名", "ふりがな", "メールアドレス（確認用）", "所属の種別", "所属（団体名）",
                  "都道府県", "市区町村", "必須", "任意", "自治体", "選択してください"):
        assert label in text, label
    assert not _english_leaks(text, ja_catalog)

    response = client.post(f"/events/{slug}/register",
                           data={"csrf_token": csrf_token_from(html)})
    assert response.status_code == 422
    text = _visible_text(response.get_data(as_text=True))
    for error in ("以下の項目をご確認ください", "氏名を入力してください。",
                  "メールアドレスを入力してください。",
                  "お申し込みには「個人情報の取り扱い」への同意が必要です。"):
        assert error in text, error
    assert not _english_leaks(text, ja_catalog)


def test_registration_page_and_email_are_in_japanese(
    app: Flask, client: FlaskClient, ja_catalog: Catalog
) -> None:
    """A sign-up without Accept-Language: its manage page and its email are in Japanese."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import OutboxMessage
    from tests.factories import form_data, make_event, render_queued_messages

    event = make_event()
    signup = _html(client, f"/events/{event.slug}/register")
    response = client.post(f"/events/{event.slug}/register",
                           data=form_data(csrf_token_from(signup)))
    assert response.status_code == 302, _visible_text(response.get_data(as_text=True))
    text = _visible_text(_html(client, response.headers["Location"]))
    assert "お申し込みを受け付けました。" in text and "参加が確定しました。" in text
    assert not _english_leaks(text, ja_catalog)

    render_queued_messages()
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.language == "ja"
    assert message.subject.endswith("お申し込み確定のお知らせ")
    assert message.body_text.startswith("山田 太郎 様")
    assert "参加が確定しました。" in message.body_text
    assert not _english_leaks(message.body_text, ja_catalog)


@pytest.fixture
def english_client(client: FlaskClient) -> Iterator[FlaskClient]:
    client.get("/?lang=en")
    yield client


def test_english_still_english(english_client: FlaskClient) -> None:
    html = _html(english_client, "/privacy")
    assert '<html lang="en"' in html
    assert "Privacy notice" in html
    assert "個人情報の取り扱い" not in html
