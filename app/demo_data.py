"""The demo events: the four events of the 特別区全国連携プロジェクト newsletter
(特別区全国連携プロジェクトNEWS, 令和5年3月28日発行), with their real content.

The text, people, groups and places are the newsletter's. What the newsletter does not say
is marked "demo value" where it is chosen: opening hours, closed days, capacities, the
lecture's timetable, the festival's viewing-seat lottery. Dates are never absolute here:
each event says how it is placed relative to the day the demo is loaded, so that sign-up is
open whenever `flask demo load` runs (`app.services.demo` turns this into datetimes).

This lives in Python rather than JSON so that every chosen value can say why it was chosen,
and so that mypy checks the shape of the data against what the loader expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any

from app.models.enums import (
    EventFormat,
    EventKind,
    QuestionKind,
    RegistrationMode,
    SessionKind,
)

# The newsletter: 特別区長会と公益財団法人特別区協議会が連携して取り組んでいます.
PROJECT_ORGANIZER = "特別区長会・公益財団法人特別区協議会"
PROJECT_CONTACT = "特別区長会事務局 調査第1課 全国連携プロジェクト担当 03-5210-9747"
PROJECT_WEBSITE = "https://collabo.tokyo-23city.or.jp/"

# Every body ends with this, so nobody mistakes the moved dates for the real ones.
DEMO_NOTE = (
    "※デモデータです。日程・時間・定員はデモ用に読み込み日を基準として設定しており、"
    "実際の開催日時とは異なります。"
)


@dataclass(frozen=True)
class Person:
    name: str
    affiliation: str
    title: str = ""


@dataclass(frozen=True)
class SessionSpec:
    kind: SessionKind
    title: str
    minutes: int
    description: str = ""
    speakers: tuple[Person, ...] = ()


@dataclass(frozen=True)
class GroupSpec:
    name: str
    theme: str
    facilitator: Person
    # How the newsletter labels the facilitator beside the group: 佐賀県, 知立市, ...
    facilitator_label: str
    capacity: int | None


@dataclass(frozen=True)
class QuestionSpec:
    key: str
    kind: QuestionKind
    label: str
    label_en: str
    required: bool = False
    options: tuple[str, ...] = ()
    options_en: tuple[str, ...] = ()
    help_text: str = ""
    max_length: int | None = None


@dataclass(frozen=True)
class Schedule:
    """Where the event falls, relative to the load date (all times are Asia/Tokyo).

    The first day is the first day on or after `today + starts_in_days` that falls on
    `weekday` (if given) and on which the venue is open on each of `days` consecutive
    open days; this keeps the pattern of the original dates (a Wednesday lecture, a
    Tuesday-to-Thursday travelling exhibition, a Saturday-Sunday festival) and keeps
    the events off national holidays and the year-end closure.
    """

    starts_in_days: int
    days: int
    opens: time
    closes: time
    weekday: int | None = None  # Monday is 0
    # Exhibitions at a public building: closed on weekends, national holidays and over
    # the New Year; the dates are listed on the event.
    closed_on_weekends_and_holidays: bool = False
    # Events whose opening hours are a daily window (exhibitions, the festival), as
    # opposed to one continuous programme (the lecture).
    daily_hours: bool = False
    registration_opened_days_ago: int = 3
    # None: sign-up runs until the event starts (the model closes it then in any case).
    registration_closes_days_before: int | None = None
    registration_closes_at: time = time(17, 0)
    lottery_draw_in_days: int | None = None


@dataclass(frozen=True)
class EventSpec:
    slug: str
    kind: EventKind
    format: EventFormat
    title: str
    summary: str
    body: str
    schedule: Schedule
    organizer_name: str = PROJECT_ORGANIZER
    contact: str = PROJECT_CONTACT
    website_url: str = PROJECT_WEBSITE
    venue_name: str = ""
    venue_address: str = ""
    online_url: str = ""
    themes: tuple[str, ...] = ()
    # Municipalities of one prefecture, by name; the loader takes their codes from the
    # municipality master (app.geo) rather than from codes typed here.
    exhibitors: tuple[str, ...] = ()
    exhibitors_prefecture_code: str = ""
    registration_required: bool = True
    # Seats of the event's one attendance mode; None is "no limit".
    capacity: int | None = None
    registration_mode: RegistrationMode = RegistrationMode.FIRST_COME
    waitlist_enabled: bool = True
    lottery_tiers: tuple[dict[str, Any], ...] = ()
    max_preference_ranks: int = 0
    questions: tuple[QuestionSpec, ...] = ()
    moderator: Person | None = None
    programme: tuple[SessionSpec, ...] = ()
    breakout_groups: tuple[GroupSpec, ...] = field(default=())


# --- 魅力いっぱい ギュッと 千葉 ----------------------------------------------------------

CHIBA_THEMES = ("自然", "レジャー・体験", "歴史・文化", "街・暮らし")

# The 37 cities, in the newsletter's order.
CHIBA_CITIES: tuple[str, ...] = (
    "千葉市", "銚子市", "市川市", "船橋市", "館山市", "木更津市", "松戸市", "野田市", "茂原市",
    "成田市", "佐倉市", "東金市", "旭市", "習志野市", "柏市", "勝浦市", "市原市", "流山市",
    "八千代市", "我孫子市", "鴨川市", "鎌ケ谷市", "君津市", "富津市", "浦安市", "四街道市",
    "袖ケ浦市", "八街市", "印西市", "白井市", "富里市", "南房総市", "匝瑳市", "香取市",
    "山武市", "いすみ市", "大網白里市",
)

CHIBA = EventSpec(
    slug="chiba-37-cities-2022",
    kind=EventKind.EXHIBITION,
    format=EventFormat.IN_PERSON,
    title="魅力いっぱい ギュッと 千葉",
    summary=(
        "令和４年度第２回全国連携展示（千葉県37市）。千葉県市長会との連携事業として、"
        "千葉県内37市の魅力を「自然」「レジャー・体験」「歴史・文化」「街・暮らし」の"
        "テーマで紹介する展示を東京区政会館で開催します。"
    ),
    body="\n\n".join((
        "千葉県市長会との連携事業として、千葉県内37市の魅力を紹介する展示を東京区政会館"
        "1階エントランスホールで開催します。",
        "各市の「市のイチオシ情報」を「自然」「レジャー・体験」「歴史・文化」「街・暮らし」"
        "等のテーマごとに分けた紹介パネルを展示するほか、千葉県のPR映像の上映、"
        "各市のパンフレットの配布を行います。",
        "千葉県は、美しい海岸線や豊かな自然に囲まれ、魅力的な観光地や多様な文化を有し、"
        "豊富な農林水産物にも恵まれています。東京湾アクアライン、圏央道、鉄道等の交通網も"
        "充実しており、都心からのアクセスも良好です。展示をきっかけに千葉県の新たな魅力を"
        "知り、ぜひ各市を直接訪れてみてください。",
        "千葉県市長会と特別区長会は、令和元年10月26日に連携協定を締結しています。",
        "展示の観覧に申込みは不要です。来場登録をされた方には、カレンダー招待と"
        "リマインダーをお送りします。",
        DEMO_NOTE,
    )),
    venue_name="東京区政会館 1階エントランスホール",
    venue_address="東京都千代田区飯田橋3-5-1",
    # The original ran 令和4年11月9日(水)～12月22日(木): about six weeks. 9:00-17:00 and
    # closing with the building on weekends, holidays and the New Year are demo values.
    schedule=Schedule(
        starts_in_days=7,
        days=42,
        opens=time(9, 0),
        closes=time(17, 0),
        closed_on_weekends_and_holidays=True,
        daily_hours=True,
    ),
    themes=CHIBA_THEMES,
    exhibitors=CHIBA_CITIES,
    exhibitors_prefecture_code="12",
    # A visit needs no sign-up, but the demo should show sign-up for an exhibition too:
    # visitors may register, without a seat limit, to get a calendar invitation and
    # reminders (and the organisers an idea of the numbers).
    registration_required=True,
    capacity=None,
    waitlist_enabled=False,
    questions=(
        QuestionSpec(
            key="interests",
            kind=QuestionKind.MULTIPLE_CHOICE,
            label="特に関心のあるテーマ（複数選択可）",
            label_en="Themes you are most interested in (choose any)",
            options=CHIBA_THEMES,
            options_en=("Nature", "Leisure and activities", "History and culture",
                        "Towns and living"),
        ),
    ),
)

# --- まるごと楽しむ とっておきの山梨 ----------------------------------------------------

# The newsletter gives only "山梨県14町村": these are all of Yamanashi's towns and
# villages (8 町 and 6 村), in code order.
YAMANASHI_TOWNS: tuple[str, ...] = (
    "市川三郷町", "早川町", "身延町", "南部町", "富士川町", "昭和町", "道志村", "西桂町",
    "忍野村", "山中湖村", "鳴沢村", "富士河口湖町", "小菅村", "丹波山村",
)

YAMANASHI = EventSpec(
    slug="yamanashi-marugoto",
    kind=EventKind.EXHIBITION,
    format=EventFormat.IN_PERSON,
    title="まるごと楽しむ とっておきの山梨 ～やまなしの魅力を感じよう、感動を味わおう～",
    summary=(
        "東京区政会館で開催した全国連携展示（山梨県14町村）の巡回展示を、"
        "明治安田生命丸の内本社ビルで3日間開催します。"
    ),
    body="\n\n".join((
        "令和４年５月から６月にかけて東京区政会館で開催した全国連携展示（山梨県14町村）の"
        "巡回展示を、明治安田生命丸の内本社ビルで開催します。",
        "山梨県14町村の魅力をまるごと紹介します。やまなしの魅力を感じ、感動を味わってください。",
        "本展示は、特別区長会と明治安田生命保険相互会社との包括連携協定"
        "（締結日：令和４年３月29日）に基づく取組みの一環として、同社の協力により開催します。",
        "展示の観覧に申込みは不要です。来場登録をされた方には、カレンダー招待と"
        "リマインダーをお送りします。",
        DEMO_NOTE,
    )),
    venue_name="明治安田生命丸の内本社ビル",
    venue_address="東京都千代田区丸の内2-1-1",
    # The original ran 令和4年10月25日(火)～27日(木); 10:00-17:00 is a demo value.
    schedule=Schedule(
        starts_in_days=28,
        days=3,
        weekday=1,
        opens=time(10, 0),
        closes=time(17, 0),
        daily_hours=True,
    ),
    exhibitors=YAMANASHI_TOWNS,
    exhibitors_prefecture_code="19",
    # As for the Chiba exhibition: optional visit registration, no seat limit.
    registration_required=True,
    capacity=None,
    waitlist_enabled=False,
)

# --- 多文化共生のまちづくりに向けた連携のあり方を考える ----------------------------------------

DOI = Person("土井 佳彦", "NPO法人多文化共生マネージャー全国協議会", "代表理事")
TAMURA = Person("田村 太郎", "一般財団法人ダイバーシティ研究所", "代表理事")
IZAKI = Person("井崎 和也", "佐賀県国際交流部", "国際課長")
SATO = Person("佐藤 浩二", "愛知県知立市企画部企画政策課", "地方創生ＳＤＧｓ係長")
KAWASHIMA = Person("川島 俊二", "東京都台東区総務部", "人権・多様性推進課長")
# The newsletter names the secretariat's own facilitator by surname only, without 氏.
DANZUKA = Person("段塚", "特別区長会事務局")

BREAKOUT_GROUP_CAPACITY = 30  # demo value: four groups of 30 seat the lecture's 120

LECTURE = EventSpec(
    slug="tabunka-kyosei-lecture",
    kind=EventKind.LECTURE,
    format=EventFormat.ONLINE,
    title="多文化共生のまちづくりに向けた連携のあり方を考える",
    summary=(
        "令和４年度 第２回全国連携講演会。多文化共生のまちづくりに向けた自治体・企業・"
        "地域団体の連携のあり方を、基調講演・事例紹介・オンラインのグループディスカッションで"
        "考えます。"
    ),
    body="\n\n".join((
        "「多文化共生のまちづくりに向けた連携のあり方を考える」をテーマに、オンライン講演会を"
        "開催します。",
        "NPO法人多文化共生マネージャー全国協議会代表理事・土井 佳彦 氏の全体進行のもと、"
        "一般財団法人ダイバーシティ研究所代表理事・田村 太郎 氏による基調講演と、"
        "佐賀県・愛知県知立市・東京都台東区の事例紹介を行います。",
        "後半は初めての試みとして、登壇者と参加者がオンライン上でグループディスカッションを行う"
        "ブレイクアウトルームを設けます。お申込みの際に、参加を希望するグループを第３希望まで"
        "お選びください。",
        "参加用URLは、参加が確定した方にお知らせします。本講演会の資料及び録画映像は、後日、"
        "特別区協議会HP（https://www.tokyo-23city.or.jp/）・特別区全国連携プロジェクトHP"
        "（https://collabo.tokyo-23city.or.jp/）で公開する予定です。",
        DEMO_NOTE,
    )),
    # A placeholder meeting: the demo must not send anyone to a real one.
    online_url="https://zoom.us/j/0000000000",
    # The original was 令和5年1月25日(水); the afternoon slot is a demo value.
    schedule=Schedule(
        starts_in_days=21,
        days=1,
        weekday=2,
        opens=time(14, 0),
        closes=time(16, 30),
        registration_closes_days_before=2,
    ),
    # 104 took part in the original; 120 is a demo value that leaves room for the waitlist
    # to show only when the demo is busy.
    capacity=120,
    waitlist_enabled=True,
    max_preference_ranks=3,
    questions=(
        QuestionSpec(
            key="question_for_speakers",
            kind=QuestionKind.TEXT,
            label="講師への質問（任意）",
            label_en="A question for the speakers (optional)",
            help_text="いただいたご質問は、当日の進行の参考にさせていただきます。",
            max_length=400,
        ),
        QuestionSpec(
            key="referral",
            kind=QuestionKind.SINGLE_CHOICE,
            label="この講演会を何で知りましたか",
            label_en="How did you hear about this lecture?",
            required=True,
            options=("自治体からの案内", "特別区全国連携プロジェクトHP", "Twitter", "その他"),
            options_en=("A notice from a local government",
                        "The Special Wards Nationwide Collaboration Project website",
                        "Twitter", "Other"),
        ),
    ),
    moderator=DOI,
    # 14:00-16:30, back to back; the lengths are demo values.
    programme=(
        SessionSpec(
            SessionKind.OPENING, "開会・趣旨説明", 10, description="全体進行：土井 佳彦 氏"
        ),
        SessionSpec(
            SessionKind.KEYNOTE,
            "多様化する外国人住民と自治体施策のこれから"
            " ～持続可能な地域づくりと多文化共生について～",
            40,
            description="基調講演",
            speakers=(TAMURA,),
        ),
        SessionSpec(
            SessionKind.CASE_TALK,
            "企業等との連携による働く環境づくり 佐賀県での多文化共生の取組",
            15,
            description="事例紹介①",
            speakers=(IZAKI,),
        ),
        SessionSpec(
            SessionKind.CASE_TALK,
            "地域福祉から多文化共生へ ～集住地域「知立市昭和地区」の事例から～",
            15,
            description="事例紹介②",
            speakers=(SATO,),
        ),
        SessionSpec(
            SessionKind.CASE_TALK,
            "多文化共生推進における地域団体等との連携",
            15,
            description="事例紹介③",
            speakers=(KAWASHIMA,),
        ),
        SessionSpec(SessionKind.OTHER, "休憩", 10),
        SessionSpec(
            SessionKind.BREAKOUT,
            "ブレイクアウトルーム（オンライン上のグループディスカッション）",
            40,
            description=(
                "登壇者と参加者が4つのグループに分かれ、オンライン上でディスカッションを行います。"
            ),
        ),
        SessionSpec(SessionKind.OTHER, "閉会", 5),
    ),
    breakout_groups=(
        GroupSpec("企業連携グループ",
                  "外国人にとって働きやすい企業づくり、多文化共生の視点から見る大学と企業の連携など",
                  IZAKI, "佐賀県", BREAKOUT_GROUP_CAPACITY),
        GroupSpec("地域福祉グループ",
                  "地域づくりを進めるうえでの「つながり」の重要性、意思決定の場に多様な人材が"
                  "参画することの必要性など",
                  SATO, "知立市", BREAKOUT_GROUP_CAPACITY),
        GroupSpec("地域コミュニティグループ",
                  "特徴の見えにくいコミュニティにおけるアプローチの方法など",
                  KAWASHIMA, "台東区", BREAKOUT_GROUP_CAPACITY),
        GroupSpec("多文化共生全般グループ",
                  "地域の特色を活かした連携、テーマや課題を絞ったネットワーク・プラットフォームを"
                  "構築することの有用性など",
                  DANZUKA, "特別区長会事務局", BREAKOUT_GROUP_CAPACITY),
    ),
)

# --- 東北絆まつり2023青森 ------------------------------------------------------------------

RESIDENCE_OPTIONS = ("青森市内在住", "青森市内在勤・在学", "その他")

FESTIVAL = EventSpec(
    slug="tohoku-kizuna-2023-aomori",
    kind=EventKind.FESTIVAL,
    format=EventFormat.IN_PERSON,
    title="東北絆まつり2023青森",
    summary=(
        "東北の６つの祭りが青森に集結。「東北絆まつりパレード」のほか、PRブース・グルメブース・"
        "音楽イベント等を２日間にわたり青森市で開催します。パレード観覧席は抽選です。"
    ),
    body="\n\n".join((
        "「青森ねぶた祭」「秋田竿燈まつり」「盛岡さんさ踊り」「山形花笠まつり」「仙台七夕まつり」"
        "「福島わらじまつり」が合同で行う「東北絆まつりパレード」（インターネットでライブ配信"
        "予定）のほか、東北６市６祭りＰＲブース・協賛ブース・東北絆まつり展示、青森県内市町村"
        "ＰＲブース・グルメブース、青森に縁のあるアーティスト・伝統芸能・吹奏楽による音楽"
        "イベント等が行われる予定です。",
        "「東北絆まつり」は、東日本大震災からの更なる復興と、その先の未来へ向けて前進するために"
        "始まり、2023年、青森市での開催で一巡となります。東北の６つの祭りが青森に集結し、"
        "東北の勇気と未来への希望を発信します。東京23区・特別区長会は、「東北絆まつり」を"
        "応援しています。",
        "パレード観覧席（200席）は抽選でご案内します。青森市内にお住まいの方、次に青森市内に"
        "通勤・通学されている方を優先して抽選し、当選されなかった方は抽選順にキャンセル待ちと"
        "なります。抽選後に空席がある場合は、先着順で受け付けます。",
        "詳細情報は東北絆まつり公式HP（https://tohoku-kizunamatsuri.jp/）をご確認ください。",
        DEMO_NOTE,
    )),
    organizer_name="東北絆まつり実行委員会",
    contact="東北絆まつり実行委員会（公式HP https://tohoku-kizunamatsuri.jp/）",
    website_url="https://tohoku-kizunamatsuri.jp/",
    # The newsletter says only 青森市: the venue is described, not invented.
    venue_name="青森市内中心部（パレード会場ほか）",
    venue_address="青森県青森市",
    # The original was 令和5年6月17日(土)・18日(日); 10:00-17:00 is a demo value. The
    # draw comes well before the festival so winners can plan the trip; entries made
    # before it go into the draw, and seats left after it go first come until a week
    # before the festival.
    schedule=Schedule(
        starts_in_days=56,
        days=2,
        weekday=5,
        opens=time(10, 0),
        closes=time(17, 0),
        daily_hours=True,
        registration_closes_days_before=7,
        lottery_draw_in_days=28,
    ),
    # The registration is for the parade's viewing seats (観覧席), the one part of a
    # street festival that has seats to give out; it shows the lottery with priority tiers.
    capacity=200,
    registration_mode=RegistrationMode.LOTTERY,
    waitlist_enabled=True,
    questions=(
        QuestionSpec(
            key="residence",
            kind=QuestionKind.SINGLE_CHOICE,
            label="お住まい",
            label_en="Where you live",
            required=True,
            options=RESIDENCE_OPTIONS,
            options_en=("I live in Aomori City", "I work or study in Aomori City", "Other"),
            help_text="青森市内在住の方、次に青森市内在勤・在学の方を優先して抽選します。",
        ),
    ),
    # Ward programmes put residents first, then those who work or study there.
    lottery_tiers=(
        {"question": "residence", "any_of": ["青森市内在住"]},
        {"question": "residence", "any_of": ["青森市内在勤・在学"]},
    ),
)

DEMO_EVENTS: tuple[EventSpec, ...] = (CHIBA, YAMANASHI, LECTURE, FESTIVAL)
