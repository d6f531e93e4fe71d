"""Benchmark of the breakout-group engine against the first-come greedy baseline.

    .venv/bin/python bench/bench_breakouts.py            # readable table
    .venv/bin/python bench/bench_breakouts.py --json     # the same figures as JSON
    .venv/bin/python bench/bench_breakouts.py --milp     # also 2 attributes at 10,000 × 50

Problems are generated from a fixed seed: N participants rank 3 of G groups with Zipf-like
popularity (the favourite group gets several times the first choices it has seats for), carry a
prefecture (47, skewed), an organisation type and an organisation, and each group has one
pinned facilitator. Capacity is 5 % above the head count.

Each case runs in a fresh Python process so that its memory figures are its own:

* time: time.perf_counter around ``solve`` / ``greedy`` (validation, model building, HiGHS,
  decoding and figures; not the problem generation), median and worst of --repeat runs;
* RSS Δ: growth of the process' peak resident set (getrusage ru_maxrss) across those runs,
  over the peak reached after imports and generation. It includes HiGHS' C++ memory, which
  tracemalloc cannot see, but it is a lower bound: memory reused from an earlier, freed peak
  does not show;
* heap peak: tracemalloc's peak over one more run, i.e. Python objects and NumPy/SciPy arrays
  (NumPy reports to tracemalloc), without HiGHS' own allocations. tracemalloc slows Python
  down, so that run is not timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.engines.breakouts import (
    Group,
    Options,
    Participant,
    Problem,
    Result,
    evaluate,
    greedy,
    solve,
)

PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)
ORG_TYPES = ("municipality", "prefecture", "national", "company", "npo", "university", "other")
ORG_TYPE_WEIGHTS = (0.45, 0.15, 0.05, 0.2, 0.07, 0.05, 0.03)
RANKS = 3
SLACK = 1.05
SIZES = ((10_000, 50), (1_000, 8))
SEED = 20_241_128

CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (function, diversity attributes)
    "engine": ("solve", ()),
    "engine+pref": ("solve", ("prefecture",)),
    "engine+pref+type": ("solve", ("prefecture", "org_type")),
    "greedy": ("greedy", ()),
}


def zipf(rng: np.random.Generator, k: int, s: float) -> np.ndarray:
    """Weights 1/rank^s over k items, the ranks shuffled so the favourite is not always #0."""
    weights = 1.0 / np.arange(1, k + 1) ** s
    return np.asarray(weights[rng.permutation(k)] / weights.sum())


def generate(n: int, n_groups: int, seed: int = SEED) -> Problem:
    rng = np.random.default_rng([seed, n, n_groups])
    popularity = zipf(rng, n_groups, 1.1)
    # Gumbel top-k: sampling RANKS distinct groups per person without replacement, weighted,
    # for all participants at once.
    keys = np.log(popularity)[None, :] + rng.gumbel(size=(n, n_groups))
    prefs = np.argsort(-keys, axis=1)[:, :RANKS]
    prefecture = rng.choice(len(PREFECTURES), size=n, p=zipf(rng, len(PREFECTURES), 1.0))
    org_type = rng.choice(len(ORG_TYPES), size=n, p=np.array(ORG_TYPE_WEIGHTS))
    organisation = rng.zipf(1.6, size=n) % 40
    group_ids = [f"room{g:02d}" for g in range(n_groups)]
    participants = [
        Participant(
            f"p{i:05d}@example.jp",
            tuple(group_ids[g] for g in row),
            {
                "prefecture": PREFECTURES[pf],
                "org_type": ORG_TYPES[ot],
                "organization": f"{PREFECTURES[pf]}-org{og:02d}",
            },
        )
        for i, (row, pf, ot, og) in enumerate(
            zip(prefs.tolist(), prefecture.tolist(), org_type.tolist(), organisation.tolist(),
                strict=True)
        )
    ]
    facilitators = [Participant(f"facilitator-{g}@example.jp") for g in group_ids]
    seats = -(-int(np.ceil(n * SLACK)) // n_groups) + 1
    groups = [Group(g, seats, (f.id,)) for g, f in zip(group_ids, facilitators, strict=True)]
    return Problem(tuple(groups), tuple(participants + facilitators))


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def worker(n: int, n_groups: int, case: str, repeat: int, seed: int) -> dict[str, Any]:
    problem = generate(n, n_groups, seed)
    function_name, diversity = CASES[case]
    function = solve if function_name == "solve" else greedy
    options = Options(diversity=diversity)
    gc.collect()
    rss_before = max_rss_kib()
    times: list[float] = []
    cpu_times: list[float] = []
    result: Result | None = None
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = function(problem, options)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    rss_delta = max_rss_kib() - rss_before
    tracemalloc.start()
    function(problem, options)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is not None
    # Every case scored on the same scale, so that the mixing of prefectures compares too.
    spread = evaluate(problem, result.assignment, Options(diversity=("prefecture",)))
    counts = list(result.rank_counts)
    counts[-1] -= n_groups  # the facilitators have no preferences: not "unlisted" people
    return {
        "participants": n,
        "groups": n_groups,
        "case": case,
        "method": result.method,
        "diversity": list(diversity),
        "time_median_s": statistics.median(times),
        "time_worst_s": max(times),
        "cpu_median_s": statistics.median(cpu_times),
        "runs": repeat,
        "rss_delta_mib": rss_delta / 1024,
        "heap_peak_mib": heap_peak / 2**20,
        "cost": result.cost,
        "preference_cost": result.preference_cost,
        "prefecture_overflow": sum(spread.overflow["prefecture"].values()),
        "rank_counts": counts,
        "shares": {
            label: count / n
            for label, count in zip(("1st", "2nd", "3rd", "none"), counts, strict=True)
        },
    }


def favourite_demand(n: int, n_groups: int, seed: int) -> dict[str, Any]:
    problem = generate(n, n_groups, seed)
    firsts: dict[str, int] = {}
    for p in problem.participants:
        if p.prefs:
            firsts[p.prefs[0]] = firsts.get(p.prefs[0], 0) + 1
    favourite, demand = max(firsts.items(), key=lambda item: item[1])
    seats = next(g.capacity - len(g.fixed) for g in problem.groups if g.id == favourite)
    return {"favourite": favourite, "first_choices": demand, "free_seats": seats}


def run_case(n: int, n_groups: int, case: str, repeat: int, seed: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", f"{n}x{n_groups}", case,
               "--repeat", str(repeat), "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{n}x{n_groups} {case} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def table(rows: list[dict[str, Any]], demand: dict[str, dict[str, Any]]) -> str:
    header = (f"{'problem':<10} {'case':<16} {'method':<10} {'median s':>8} {'worst s':>7} "
              f"{'cpu s':>6} "
              f"{'RSS Δ MiB':>9} {'heap MiB':>8} {'1st':>6} {'2nd':>6} {'3rd':>6} {'none':>6} "
              f"{'pref cost':>9} {'pref over':>9}")
    lines = [header, "-" * len(header)]
    for row in rows:
        size = f"{row['participants']}x{row['groups']}"
        shares = row["shares"]
        lines.append(
            f"{size:<10} {row['case']:<16} {row['method']:<10} {row['time_median_s']:>8.3f} "
            f"{row['time_worst_s']:>7.3f} {row['cpu_median_s']:>6.3f} {row['rss_delta_mib']:>9.1f} "
            f"{row['heap_peak_mib']:>8.1f} "
            + " ".join(f"{shares[k]:>6.1%}" for k in ("1st", "2nd", "3rd", "none"))
            + f" {row['preference_cost']:>9} {row['prefecture_overflow']:>9}"
        )
    lines.append("")
    for size, info in demand.items():
        lines.append(
            f"{size}: favourite {info['favourite']} is the 1st choice of {info['first_choices']} "
            f"for {info['free_seats']} free seats"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--milp", action="store_true",
                        help="also spread on two attributes (MILP) at the largest size")
    parser.add_argument("--worker", nargs=2, metavar=("NxG", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        size, case = args.worker
        n, n_groups = (int(part) for part in size.split("x"))
        print(json.dumps(worker(n, n_groups, case, args.repeat, args.seed), ensure_ascii=False))
        return

    rows: list[dict[str, Any]] = []
    demand: dict[str, dict[str, Any]] = {}
    for n, n_groups in SIZES:
        demand[f"{n}x{n_groups}"] = favourite_demand(n, n_groups, args.seed)
        cases = ["engine", "engine+pref", "greedy"]
        if args.milp or n <= 1_000:
            cases.insert(2, "engine+pref+type")
        for case in cases:
            rows.append(run_case(n, n_groups, case, args.repeat, args.seed))

    if args.json:
        print(json.dumps({
            "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                        "python": platform.python_version(),
                        "numpy": np.__version__, "scipy": _scipy_version()},
            "demand": demand,
            "results": rows,
        }, ensure_ascii=False, indent=2))
    else:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPUs (load average {load}), Python {platform.python_version()}, "
              f"NumPy {np.__version__}, SciPy {_scipy_version()}; "
              f"wall time: median and worst of {args.repeat} runs; cpu s: median process time\n")
        print(table(rows, demand))


def _scipy_version() -> str:
    import scipy

    return str(scipy.__version__)


if __name__ == "__main__":
    main()
