# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PREFECT_HOME ?= $(CURDIR)/.coop/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_LOGGING_LEVEL ?= WARNING

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	mkdir -p $(PREFECT_HOME)
	# What installing a wheel does: byte-compile, so no command pays for compiling (PYTHONDONTWRITEBYTECODE or not).
	$(BIN)/python -m compileall -q coop models flows tasks
	# Prefect's own database schema, migrated once per Prefect version: `make ui` on a new home starts from it.
	$(BIN)/python -m coop.ui --prepare
	touch $(STAMP)

install: $(STAMP)

## Plan every shipped agreement into ./coop.db through the real Prefect flow and print the summary.
demo: $(STAMP)
	$(BIN)/coop db upgrade
	$(BIN)/python -m flows.plan_agreement
	$(BIN)/coop demo

## The department report form and the JSON API (OpenAPI at /docs) on http://127.0.0.1:8000; Ctrl-C stops.
.PHONY: serve
serve: $(STAMP)
	$(BIN)/coop serve --host 127.0.0.1 --port $(or $(PORT),8000)

## Benchmarks for issue 7 (under 10 minutes; needs the local PostgreSQL like `make test`): prints the
## table of ratios and writes bench/RESULTS.md. `make bench BENCH_ARGS=--quick` is a 10k/100k smoke run.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## The gates, cheapest first, so CI fails fast: lint, format, types (mypy --strict), import layers (lint-imports).
.PHONY: gates
gates: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## pytest-xdist workers (`auto` = one per core); `make test PYTEST_WORKERS=0` runs the suite in one process.
PYTEST_WORKERS ?= auto

## Install everything the tests need, run the gates, then the whole suite (SQLite and the local PostgreSQL) in
## parallel; tests that share a server are kept on one worker by their xdist_group (--dist loadgroup).
test: $(STAMP) browser gates
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

## Mutation testing of the core (issue 17), outside `make test`: mutmut, one module at a time against the tests that
## mirror it; scores and survivors in .coop/mutation/, summarised in tests/MUTATION.md. `make mutation MODULES=coop/ledger.py`.
.PHONY: mutation
mutation: $(STAMP)
	$(BIN)/python tests/mutation.py $(MODULES)

## Debian's Chromium for the browser tests (Playwright cannot download browsers here), and a CJK font for screenshots.
.PHONY: browser
browser:
	command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-microhei)

## Coordinators' Prefect UI: server on .coop/prefect, every deployment in prefect.yaml, a worker; prints the URL. Ctrl-C stops.
.PHONY: ui
ui: $(STAMP)
	$(BIN)/python -m coop.ui --port $(or $(UI_PORT),4200)

clean:
	rm -rf $(VENV) .coop coop.db coop.db-wal coop.db-shm test-output
