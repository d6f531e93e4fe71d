"""`flask breakouts solve PROBLEM.json`: output shape, options, and a clear error with a
non-zero exit for every kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from app import create_app


@pytest.fixture(scope="module")
def cli_app() -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def good_problem() -> dict[str, Any]:
    return {
        "groups": [
            {"id": "g1", "capacity": 2, "fixed": ["a@example.jp"]},
            {"id": "g2", "capacity": 2},
            {"id": "g3", "capacity": 2},
        ],
        "participants": [
            {"id": "a@example.jp", "prefs": ["g3", "g1"],
             "attrs": {"prefecture": "千葉県", "org_type": "municipality",
                       "organization": "市川市"}},
            {"id": "b@example.jp", "prefs": ["g1", "g2"],
             "attrs": {"prefecture": "千葉県", "org_type": "municipality",
                       "organization": "市川市"}},
            {"id": "c@example.jp", "prefs": ["g1", "g3"],
             "attrs": {"prefecture": "東京都", "org_type": "company", "organization": "株式会社"}},
            {"id": "d@example.jp", "prefs": ["g2"], "attrs": {"prefecture": "千葉県"}},
        ],
    }


def run(app: Flask, tmp_path: Path, content: str | bytes | dict[str, Any],
        *options: str) -> Result:
    path = tmp_path / "problem.json"
    if isinstance(content, dict):
        content = json.dumps(content, ensure_ascii=False)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return app.test_cli_runner().invoke(args=["breakouts", "solve", str(path), *options])


def test_prints_assignment_cost_and_rank_counts(cli_app: Flask, tmp_path: Path) -> None:
    result = run(cli_app, tmp_path, good_problem())
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"assignment", "cost", "rank_counts"}
    assert list(out["assignment"]) == ["a@example.jp", "b@example.jp", "c@example.jp",
                                       "d@example.jp"]
    assert out["assignment"]["a@example.jp"] == "g1"  # pinned
    assert set(out["assignment"].values()) <= {"g1", "g2", "g3"}
    # K = 2; a is pinned to their 2nd choice (1); g1 has one seat left for b or c, the other
    # takes their 2nd choice (1); d gets g2 (0).
    assert out["cost"] == 2
    assert isinstance(out["cost"], int)
    assert out["rank_counts"] == [2, 2, 0]


def test_output_keeps_japanese_text_unescaped(cli_app: Flask, tmp_path: Path) -> None:
    problem = {"groups": [{"id": "分科会A", "capacity": 1}],
               "participants": [{"id": "市川市役所", "prefs": ["分科会A"]}]}
    result = run(cli_app, tmp_path, problem)
    assert result.exit_code == 0, result.output
    assert '"市川市役所": "分科会A"' in result.stdout


def test_diversity_options(cli_app: Flask, tmp_path: Path) -> None:
    problem = {
        "groups": [{"id": "g1", "capacity": 2}, {"id": "g2", "capacity": 2}],
        "participants": [
            {"id": f"p{i}", "prefs": ["g1", "g2"], "attrs": {"prefecture": pref}}
            for i, pref in enumerate(["千葉県", "千葉県", "東京都", "東京都"])
        ],
    }
    plain = json.loads(run(cli_app, tmp_path, problem).stdout)
    assert plain["assignment"] == {"p0": "g1", "p1": "g1", "p2": "g2", "p3": "g2"}
    spread = run(cli_app, tmp_path, problem, "--diversity", "prefecture")
    assert spread.exit_code == 0, spread.output
    groups = json.loads(spread.stdout)["assignment"]
    assert groups["p0"] != groups["p1"] and groups["p2"] != groups["p3"]
    free = run(cli_app, tmp_path, problem, "--diversity", "prefecture",
               "--diversity-penalty", "0")
    assert json.loads(free.stdout)["cost"] == 2
    both = run(cli_app, tmp_path, problem, "--diversity", "prefecture",
               "--diversity", "prefecture", "--diversity-penalty", "0.5")
    assert both.exit_code == 0, both.output


def test_byte_order_mark_is_accepted(cli_app: Flask, tmp_path: Path) -> None:
    content = b"\xef\xbb\xbf" + json.dumps(good_problem()).encode()
    result = run(cli_app, tmp_path, content)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda p: p["participants"][1]["prefs"].append("g9"),
                     "participant 'b@example.jp' lists unknown group 'g9'", id="unknown-group"),
        pytest.param(lambda p: p["participants"].append(dict(p["participants"][0])),
                     "duplicate participant id 'a@example.jp'", id="duplicate-participant"),
        pytest.param(lambda p: p["groups"][1].update(capacity=-1),
                     "group 'g2': capacity -1 is below zero", id="capacity-below-zero"),
        pytest.param(lambda p: p["groups"][1].update(capacity=1, fixed=["b@example.jp",
                                                                       "c@example.jp"]),
                     "group 'g2' is full: 2 pinned participants exceed its capacity 1",
                     id="pin-to-full-group"),
        pytest.param(lambda p: [p["groups"][k].update(capacity=c) for k, c in ((1, 1), (2, 0))],
                     "total capacity 3 is below the 4 participants", id="infeasible"),
        pytest.param(lambda p: p["groups"][1].update(fixed=["nobody@example.jp"]),
                     "group 'g2' pins unknown participant 'nobody@example.jp'",
                     id="pin-unknown-participant"),
        pytest.param(lambda p: p.pop("groups"), "missing key 'groups'", id="missing-groups"),
        pytest.param(lambda p: p.pop("participants"), "missing key 'participants'",
                     id="missing-participants"),
        pytest.param(lambda p: p["groups"][0].pop("capacity"),
                     "group 'g1': missing key 'capacity'", id="missing-capacity"),
        pytest.param(lambda p: p["participants"][0].pop("id"),
                     r"participants[0]: missing key 'id'", id="missing-id"),
        pytest.param(lambda p: p["groups"].append({"id": "g1", "capacity": 3}),
                     "duplicate group id 'g1'", id="duplicate-group"),
        pytest.param(lambda p: p["groups"][0].update(capacity="30"),
                     "group 'g1': capacity must be a whole number", id="capacity-not-number"),
    ],
)
def test_bad_problem_files(cli_app: Flask, tmp_path: Path, mutate: Any, message: str) -> None:
    problem = good_problem()
    mutate(problem)
    result = run(cli_app, tmp_path, problem)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param('{"groups": [', "invalid JSON at line 1", id="truncated"),
        pytest.param("", "invalid JSON at line 1 column 1", id="empty"),
        pytest.param(b"\x82\xa0", "not UTF-8", id="shift-jis"),
        pytest.param("[1, 2]", "must be a JSON object", id="not-an-object"),
        pytest.param('{"groups": {}, "participants": []}', "'groups' must be a list",
                     id="groups-not-a-list"),
    ],
)
def test_unreadable_files(cli_app: Flask, tmp_path: Path, content: str | bytes,
                          message: str) -> None:
    result = run(cli_app, tmp_path, content)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "problem.json" in result.stderr


def test_unknown_diversity_attribute(cli_app: Flask, tmp_path: Path) -> None:
    result = run(cli_app, tmp_path, good_problem(), "--diversity", "prefecure")
    assert result.exit_code == 1
    assert "no participant has the attribute 'prefecure'" in result.stderr


def test_usage_errors(cli_app: Flask, tmp_path: Path) -> None:
    negative = run(cli_app, tmp_path, good_problem(), "--diversity-penalty", "-1")
    assert negative.exit_code == 2
    assert "--diversity-penalty" in negative.stderr
    missing = cli_app.test_cli_runner().invoke(
        args=["breakouts", "solve", str(tmp_path / "nope.json")]
    )
    assert missing.exit_code == 2
    assert "nope.json" in missing.stderr


def test_reads_standard_input(cli_app: Flask) -> None:
    result = cli_app.test_cli_runner().invoke(
        args=["breakouts", "solve", "-"], input=json.dumps(good_problem())
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cost"] == 2
