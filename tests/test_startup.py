"""What a web worker or a `flask` command pays before its first request: the heavy libraries
that only rare paths use (numpy and scipy for the breakout solver, openpyxl for Excel files)
must not be imported by `create_app()`; they are imported by the code that runs them.

Each check runs in a fresh interpreter: in the test process other tests have long since
imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

ROOT = Path(__file__).parent.parent
HEAVY = ("numpy", "scipy", "openpyxl")


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    """Run *code* in a new interpreter at the project root; it prints one JSON object."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.sqlite3'}",
           "SECRET_KEY": "startup-test"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_creating_the_app_imports_no_solver_and_no_excel_library(tmp_path: Path) -> None:
    """`import wsgi` is what gunicorn does in every worker (create_app, all blueprints, all
    commands). If this fails, `python -X importtime -c "import wsgi"` shows the chain."""
    result = _run(f"""
import json, sys
import wsgi
print(json.dumps({{"loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
""", tmp_path)
    assert result["loaded"] == []


def test_the_solver_is_loaded_on_first_use_and_works(tmp_path: Path) -> None:
    """The cold path: `flask breakouts solve` in a process that has not loaded scipy yet."""
    problem = {"groups": [{"id": "g1", "capacity": 1}, {"id": "g2", "capacity": 1}],
               "participants": [{"id": "a", "prefs": ["g2"]}, {"id": "b", "prefs": ["g2"]}]}
    result = _run(f"""
import json, sys
import wsgi
before = "scipy" in sys.modules
outcome = wsgi.app.test_cli_runner().invoke(args=["breakouts", "solve", "-"],
                                            input={json.dumps(problem)!r})
print(json.dumps({{"before": before, "after": "scipy" in sys.modules,
                  "exit": outcome.exit_code, "output": outcome.output}}))
""", tmp_path)
    assert result["exit"] == 0, result["output"]
    assert (result["before"], result["after"]) == (False, True)
    answer = json.loads(str(result["output"]))
    assert sorted(answer["assignment"].values()) == ["g1", "g2"]


def test_the_cli_default_penalty_is_the_engines() -> None:
    """app/commands/breakouts.py spells the default out so --help needs no scipy."""
    from app.commands.breakouts import DEFAULT_PENALTY as shown
    from app.engines.breakouts import DEFAULT_PENALTY

    assert shown == DEFAULT_PENALTY


def test_the_timing_decoy_costs_what_a_real_password_check_costs() -> None:
    """app/services/accounts.py stores the decoy hash instead of hashing at import; it must
    use werkzeug's current default method and parameters, or unknown addresses would answer
    faster (or slower) than wrong passwords."""
    from app.services.accounts import _TIMING_DECOY

    method = _TIMING_DECOY.split("$", 1)[0]
    assert method == generate_password_hash("x").split("$", 1)[0]
    assert check_password_hash(_TIMING_DECOY, "decoy-password-for-constant-time")
