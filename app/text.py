"""Folding of Japanese text so that the same name or address compares equal."""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = re.compile(r"\s+")
_KANA = re.compile(r"^[\u3041-\u3096\u309d\u309e\u30fc\u30fb ]+$")


def normalize_spaces(value: str) -> str:
    """NFKC (full-width letters, half-width kana to usual forms), one space between words."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def normalize_furigana(value: str) -> str:
    """Katakana and half-width kana become hiragana: ﾔﾏﾀﾞ ﾀﾛｳ, ヤマダ　タロウ → やまだ たろう."""
    return jaconv.kata2hira(normalize_spaces(value))


def furigana_key(value: str) -> str:
    """The search and sort key: folded furigana without spaces or middle dots."""
    return normalize_furigana(value).replace(" ", "").replace("・", "")


def is_kana(value: str) -> bool:
    return bool(_KANA.match(normalize_furigana(value)))


def normalize_email(value: str) -> str:
    """Compare addresses case-insensitively, after folding full-width characters."""
    return unicodedata.normalize("NFKC", value).strip().lower()
