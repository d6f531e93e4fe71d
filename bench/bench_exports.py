"""Benchmark the registration exports against the standard library, in one run.

    .venv/bin/python bench/bench_exports.py [--rows 100000] [--json] [--repeat 1]

Cases, all writing the *same* generated rows to a file on disk:

* ``generate only``   — iterate the rows and throw them away: the cost every case shares;
* ``stdlib csv``      — ``csv.writer`` on a UTF-8 text file (the baseline);
* ``write_csv utf-8`` — our writer, UTF-8 with BOM, formula neutralisation;
* ``write_csv cp932`` — our writer, Shift_JIS/CP932 with counted replacements;
* ``write_xlsx``      — our typed XLSX (openpyxl write-only mode).

How it measures, and why
------------------------
Every measurement runs in a **fresh child process**, one per case and kind:

* *time*: wall-clock of the export alone (imports and start-up excluded), best of
  ``--repeat`` runs, **without** tracemalloc — tracemalloc hooks every allocation
  and slows allocation-heavy code (openpyxl) by up to 5x, so timing under it would
  be fiction;
* *tracemalloc peak*: a separate run with tracemalloc on — the Python-heap
  high-water mark during the export; it does not see C allocations;
* *RSS*: ``ru_maxrss`` of the timing child, before and after the export. It counts
  everything (C libraries, allocator slack), but it is a process-lifetime
  high-water mark: in one long process, each case would inherit the peaks of the
  cases before it and the allocator's cached arenas. A child per case starts
  clean, so "RSS growth" (peak after minus peak before the export) is honest.

Ratios are against the stdlib baseline measured in the same invocation, on the
same machine, so they stay meaningful when the machine is busy. Absolute times on
a shared machine are noisy; use ``--repeat`` for steadier numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.engines.spreadsheets import Row, write_csv, write_xlsx  # noqa: E402

HEADER = [
    "受付番号", "氏名", "ふりがな", "メールアドレス", "電話番号", "郵便番号", "都道府県",
    "所属団体", "団体種別", "参加形態", "申込状況", "申込日時", "参加日", "人数", "参加費", "備考",
]

SURNAMES = [
    ("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"),
    ("伊藤", "いとう"), ("渡辺", "わたなべ"), ("山本", "やまもと"), ("中村", "なかむら"),
    ("小林", "こばやし"), ("加藤", "かとう"), ("吉田", "よしだ"), ("山田", "やまだ"),
    ("髙橋", "たかはし"), ("﨑山", "さきやま"), ("𠮷田", "よしだ"), ("齋藤", "さいとう"),
]
GIVEN = [
    ("太郎", "たろう"), ("花子", "はなこ"), ("一郎", "いちろう"), ("美咲", "みさき"),
    ("翔太", "しょうた"), ("陽菜", "ひな"), ("健", "けん"), ("さくら", "さくら"),
]
FOREIGN = [  # residents whose names CP932 cannot fully hold
    ("Nguyễn Văn An", "グエン ヴァン アン"), ("Trần Thị Hoa", "チャン ティ ホア"),
    ("José García", "ホセ ガルシア"), ("Zoë Müller", "ゾーイ ミュラー"),
]
PREFECTURES = [
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
]
ORGANISATIONS = [
    ("○○市役所 防災危機管理課", "自治体"), ("△△町社会福祉協議会", "社会福祉法人"),
    ("NPO法人 まちづくりネット", "NPO"), ("株式会社つどいテック", "企業"),
    ("□□大学 地域連携センター", "教育機関"), ("", "個人"),
]
MODES = ["オンライン", "会場", "オンライン", "オンライン"]
STATUSES = ["確定", "確定", "確定", "補欠", "キャンセル"]
REMARKS = [
    None, None, None, None, "車椅子で参加します", "手話通訳を希望します。\n同伴者1名",
    "=HYPERLINK(\"http://example.invalid\")", "-", "アレルギー：なし", "よろしくお願いします🙏",
]


def registrations(count: int, seed: int = 20261005) -> Iterator[Row]:
    """Deterministic, realistic rows, produced lazily like a database cursor would."""
    rng = random.Random(seed)
    opened = datetime(2026, 8, 1, 9, 0)
    for number in range(1, count + 1):
        if rng.random() < 0.03:
            name, kana = rng.choice(FOREIGN)
        else:
            (surname, surname_kana), (given, given_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
            name, kana = f"{surname} {given}", f"{surname_kana} {given_kana}"
        organisation, kind = rng.choice(ORGANISATIONS)
        yield [
            number,
            name,
            kana,
            f"user{number}@example.jp",
            f"090-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}",
            f"{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
            rng.choice(PREFECTURES),
            organisation or None,
            kind,
            rng.choice(MODES),
            rng.choice(STATUSES),
            opened + timedelta(minutes=rng.randrange(60 * 24 * 60)),
            date(2026, 10, 5),
            rng.choice((1, 1, 1, 2, 3)),
            Decimal(rng.choice(("0", "500", "1000", "1500.50"))),
            rng.choice(REMARKS),
        ]


# --------------------------------------------------------------------------- cases


def case_generate(rows: int, _path: Path) -> dict[str, Any]:
    for _row in registrations(rows):
        pass
    return {}


def case_stdlib(rows: int, path: Path) -> dict[str, Any]:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for row in registrations(rows):
            writer.writerow(row)
    return {}


def case_csv_utf8(rows: int, path: Path) -> dict[str, Any]:
    with path.open("wb") as out:
        report = write_csv(HEADER, registrations(rows), out)
    return {"rows_written": report.rows_written}


def case_csv_cp932(rows: int, path: Path) -> dict[str, Any]:
    with path.open("wb") as out:
        report = write_csv(HEADER, registrations(rows), out, encoding="cp932")
    return {"rows_written": report.rows_written, "replaced_characters": report.replaced_characters}


def case_xlsx(rows: int, path: Path) -> dict[str, Any]:
    with path.open("wb") as out:
        write_xlsx(HEADER, registrations(rows), out, sheet_title="参加者一覧")
    return {}


CASES = {
    "generate only": case_generate,
    "stdlib csv (baseline)": case_stdlib,
    "write_csv utf-8-sig": case_csv_utf8,
    "write_csv cp932": case_csv_cp932,
    "write_xlsx": case_xlsx,
}
BASELINE = "stdlib csv (baseline)"


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def run_child(case: str, rows: int, trace: bool) -> dict[str, Any]:
    """Body of a child process: one export, one kind of measurement, JSON on stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.out"
        rss_before = _maxrss_bytes()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        extra = CASES[case](rows, path)
        elapsed = time.perf_counter() - started
        result: dict[str, Any] = {"seconds": elapsed, **extra}
        if trace:
            result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result["rss_before"] = rss_before
        result["rss_peak"] = _maxrss_bytes()
        result["size"] = path.stat().st_size if path.exists() else 0
    return result


def spawn(case: str, rows: int, trace: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, "--rows", str(rows)]
        + (["--trace"] if trace else []),
        check=True, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rows: int, repeat: int, with_tracemalloc: bool) -> list[dict[str, Any]]:
    results = []
    for case in CASES:
        timed = [spawn(case, rows, trace=False) for _ in range(repeat)]
        best = min(timed, key=lambda r: r["seconds"])
        entry: dict[str, Any] = {
            "case": case,
            "seconds": best["seconds"],
            "rss_peak": max(r["rss_peak"] for r in timed),
            "rss_growth": max(r["rss_peak"] - r["rss_before"] for r in timed),
            "size": best["size"],
        }
        for key in ("rows_written", "replaced_characters"):
            if key in best:
                entry[key] = best[key]
        if with_tracemalloc:
            entry["tracemalloc_peak"] = spawn(case, rows, trace=True)["tracemalloc_peak"]
        results.append(entry)
        print(f"  measured {case}", file=sys.stderr, flush=True)
    base = next(r for r in results if r["case"] == BASELINE)
    for entry in results:
        entry["time_ratio"] = entry["seconds"] / base["seconds"]
        entry["rss_growth_ratio"] = entry["rss_growth"] / max(base["rss_growth"], 1)
        if with_tracemalloc:
            base_peak = max(base["tracemalloc_peak"], 1)
            entry["tracemalloc_ratio"] = entry["tracemalloc_peak"] / base_peak
    return results


def table(results: list[dict[str, Any]], rows: int) -> str:
    mb = 1024 * 1024
    traced = "tracemalloc_peak" in results[0]
    head = ["case", "time s", "× base", "RSS peak MB", "RSS growth MB", "× base"]
    if traced:
        head += ["tracemalloc peak MB", "× base"]
    head += ["file MB"]
    lines = [
        f"{rows:,} rows, Python {sys.version.split()[0]}, best of the timed runs",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    # The baseline often reuses memory it already had (growth 0): a ratio to 0 means nothing.
    base_grows = next(r for r in results if r["case"] == BASELINE)["rss_growth"] >= mb
    for r in results:
        cells = [
            r["case"], f"{r['seconds']:.2f}", f"{r['time_ratio']:.2f}",
            f"{r['rss_peak'] / mb:.1f}", f"{r['rss_growth'] / mb:.1f}",
            f"{r['rss_growth_ratio']:.2f}" if base_grows else "—",
        ]
        if traced:
            cells += [f"{r['tracemalloc_peak'] / mb:.2f}", f"{r['tracemalloc_ratio']:.1f}"]
        cells += [f"{r['size'] / mb:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if not base_grows:
        lines.append("RSS growth × base: — because the baseline's RSS grew by less than 1 MB "
                     "(it reused pages it already had).")
    notes = [r for r in results if "replaced_characters" in r]
    for r in notes:
        lines.append(f"{r['case']}: {r['replaced_characters']:,} characters replaced by 〓")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per case (best kept)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the (slow) tracemalloc runs")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_child(args.child, args.rows, args.trace)))
        return 0
    results = measure(args.rows, max(args.repeat, 1), not args.no_tracemalloc)
    if args.json:
        print(json.dumps({"rows": args.rows, "results": results}, indent=2))
    else:
        print(table(results, args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
