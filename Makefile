# Tsudoi — `make run` serves the demo on http://127.0.0.1:8000; `make test` runs everything.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
export FLASK_APP = wsgi
PYTEST_WORKERS ?= 2

.PHONY: install translations run migrate demo test lint typecheck test-sqlite test-postgresql bench reliability clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

translations: install
	$(BIN)/pybabel -q compile -d app/translations

migrate: translations
	$(BIN)/flask db upgrade

demo: migrate
	$(BIN)/flask demo load

run: demo
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test-sqlite: translations
	TSUDOI_TEST_DB=sqlite $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# Skips when PostgreSQL is unreachable, except in CI (CI=true), where it must run.
test-postgresql: translations
	TSUDOI_TEST_DB=postgresql $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not browser"

test: lint typecheck test-sqlite test-postgresql

# Each script is bounded in time; bench_signup.py needs PostgreSQL on 127.0.0.1:5432 (as
# postgres) and reports its figures against baselines measured in the same run.
bench: translations
	$(BIN)/python bench/bench_breakouts.py
	$(BIN)/python bench/bench_exports.py
	$(BIN)/python bench/bench_signup.py

# Load and fault tests alone (also part of `make test`): each database's pass runs its own.
reliability: translations
	TSUDOI_TEST_DB=sqlite $(BIN)/pytest -q -p no:cacheprovider tests/test_reliability.py
	TSUDOI_TEST_DB=postgresql $(BIN)/pytest -q -p no:cacheprovider tests/test_reliability.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
