"""Japan's prefectures and municipalities, for address fields and reports.

The data is app/data/municipalities.json, generated from Japan Post's data by
scripts/build_municipalities.py. Codes are JIS X 0402 local government codes without the
check digit. A designated city (政令指定都市) is one municipality, not its wards; Tokyo's 23
special wards are municipalities. A town or village in a 郡 has the plain name ("大多喜町")
and the 郡 in `district` ("夷隅郡"); so do 三宅村 and 八丈町, whose `district` is their island,
because Japan Post writes their addresses island first.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).resolve().parent / "data" / "municipalities.json"

_SPACES = re.compile(r"\s+")
# Official names mix the two (鎌ケ谷市 but 茅ヶ崎市, as Japan Post spells them), so people
# type either; no two municipalities differ by that letter alone.
_KE = str.maketrans({"ヶ": "ケ", "ヵ": "ケ"})
_LABEL = re.compile(r"^(?P<name>.+)\((?P<district>.+)\)$")
_DESIGNATED_WARD = re.compile(r"^(?P<city>.+市).+区$")


@dataclass(frozen=True)
class Prefecture:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Municipality:
    code: str
    prefecture_code: str
    name: str
    kana: str
    district: str = ""

    @property
    def full_name(self) -> str:
        """The name as written in an address: "夷隅郡大多喜町"."""
        return self.district + self.name

    @property
    def label(self) -> str:
        """For a dropdown, where the name has to come first to be found: "大多喜町（夷隅郡）"."""
        return f"{self.name}（{self.district}）" if self.district else self.name


@dataclass(frozen=True)
class _Data:
    prefectures: tuple[Prefecture, ...]
    prefectures_by_code: dict[str, Prefecture]
    by_prefecture: dict[str, tuple[Municipality, ...]]
    by_code: dict[str, Municipality]
    by_key: dict[tuple[str, str], Municipality]


def _key(name: str) -> str:
    """Fold width (NFKC), spaces and the ケ/ヶ spelling so that variants compare equal."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", name)).translate(_KE)


@cache
def _data() -> _Data:
    raw: dict[str, Any] = json.loads(DATA_PATH.read_text(encoding="utf-8"))
    prefectures = tuple(
        Prefecture(code=p["code"], name=p["name"], name_en=p["name_en"]) for p in raw["prefectures"]
    )
    by_code = {
        code: Municipality(
            code=code,
            prefecture_code=m["prefecture_code"],
            name=m["name"],
            kana=m["kana"],
            district=m["district"],
        )
        for code, m in sorted(raw["municipalities"].items())
    }
    grouped: dict[str, list[Municipality]] = {p.code: [] for p in prefectures}
    by_key: dict[tuple[str, str], Municipality] = {}
    for m in by_code.values():
        grouped[m.prefecture_code].append(m)
        for variant in (m.name, m.full_name):
            by_key[(m.prefecture_code, _key(variant))] = m
    return _Data(
        prefectures=prefectures,
        prefectures_by_code={p.code: p for p in prefectures},
        by_prefecture={code: tuple(ms) for code, ms in grouped.items()},
        by_code=by_code,
        by_key=by_key,
    )


def prefectures() -> list[Prefecture]:
    """All 47, in JIS order (北海道 first, 沖縄県 last)."""
    return list(_data().prefectures)


def prefecture(code: str) -> Prefecture | None:
    return _data().prefectures_by_code.get(code)


def municipalities(prefecture_code: str) -> list[Municipality]:
    """In code order, which is the order the prefecture itself lists them (cities first)."""
    return list(_data().by_prefecture.get(prefecture_code, ()))


def municipality(code: str) -> Municipality | None:
    return _data().by_code.get(code)


def find_municipality(prefecture_code: str, name: str) -> Municipality | None:
    """The municipality called `name` in that prefecture, however the name was typed.

    Accepts "大多喜町", "夷隅郡大多喜町", the dropdown label "大多喜町（夷隅郡）",
    full-width or half-width characters, stray spaces, a leading prefecture name
    ("千葉県市川市"), and a designated city's ward ("千葉市中央区" finds 千葉市).
    """
    data = _data()
    key = _key(name)
    keys = [key]
    pref = data.prefectures_by_code.get(prefecture_code)
    if pref is not None and key.startswith(_key(pref.name)):
        keys.append(key.removeprefix(_key(pref.name)))
    for base in keys:
        candidates = [base]
        if label := _LABEL.match(base):
            candidates.append(label["district"] + label["name"])
        if ward := _DESIGNATED_WARD.match(base):
            candidates.append(ward["city"])
        for candidate in candidates:
            if found := data.by_key.get((prefecture_code, candidate)):
                return found
    return None
