# `make run` serves the review API on 127.0.0.1:5002 (a demo store on a fresh clone);
# `make test` runs everything: lint, types, and the whole test suite on SQLite and PostgreSQL (4.5 to 12 minutes on 2 cores from a fresh clone, by the machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The store `make run` serves: DB=path if given, else ./rasa-messaging.db once you have imported
# into it, else the demo store (built on first run, never your own).
DB ?= $(wildcard rasa-messaging.db)
PORT ?= 5002

.PHONY: run test lint browser-deps bench screenshots install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/rasa-messaging serve $(if $(DB),--db $(DB),--demo) --host 127.0.0.1 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Debian's Chromium and axe-core (npm) for the browser tests: installed when missing.
browser-deps:
	bash .ci/browser-deps

test: lint browser-deps
	$(BIN)/pytest -q -n 3 --durations=10  # 3 workers on 2 cores (the tests wait on servers and disks); the 10 slowest: `make test` must stay under 10 minutes (the tests alone: 8:23-10:52 on most machines; 16:38 and 17:58 on the slowest so far, 2026-12-07's ninth session, whose baseline import ran at 82.6k events/s against 125k-207k elsewhere)

screenshots: $(STAMP) browser-deps
	$(BIN)/python docs/screenshots.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) *.egg-info build
