"""`flask breakouts …`: plan breakout groups offline from a JSON problem file.

The engine (app.engines.breakouts) does the work; this module only reads the file, turns every
problem into a one-line message on stderr with a non-zero exit, and prints the answer as JSON.
"""

from __future__ import annotations

import json
from typing import IO

import click
from flask.cli import AppGroup

# The engine is imported by the command itself: it loads numpy and scipy (~0.4 s, ~60 MB), and
# every `flask …` command and every web worker imports this module to register the group.
# The option's default mirrors app.engines.breakouts.DEFAULT_PENALTY (tests/test_startup.py
# checks that they agree) so that --help can show it without loading the solver.
DEFAULT_PENALTY = 2

group = AppGroup("breakouts", help="Assign participants to breakout groups.")


@group.command("solve")
@click.argument("problem_file", metavar="PROBLEM.json", type=click.File("rb"))
@click.option(
    "--diversity",
    "diversity",
    multiple=True,
    metavar="ATTR",
    help="Spread participants sharing this attribute (e.g. prefecture, round1); repeatable.",
)
@click.option(
    "--diversity-penalty",
    "penalty",
    type=click.FloatRange(min=0),
    default=DEFAULT_PENALTY,
    show_default=True,
    help="Cost of each participant above a group's fair share of an attribute value.",
)
def solve_command(problem_file: IO[bytes], diversity: tuple[str, ...], penalty: float) -> None:
    """Read PROBLEM.json ("-" for stdin) and print the optimal assignment as JSON."""
    raw = problem_file.read()
    try:
        # utf-8-sig: files saved by Windows tools often start with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{problem_file.name}: not UTF-8 text (byte {exc.start})"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{problem_file.name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    from app.engines.breakouts import BreakoutError, Options, parse_problem, solve

    try:
        problem = parse_problem(data)
        result = solve(problem, Options(diversity=diversity, penalty=penalty))
    except BreakoutError as exc:
        raise click.ClickException(f"{problem_file.name}: {exc}") from exc
    click.echo(
        json.dumps(
            {
                "assignment": result.assignment,
                "cost": result.cost,
                "rank_counts": result.rank_counts,
            },
            ensure_ascii=False,
        )
    )
