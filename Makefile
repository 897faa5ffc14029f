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
	touch $(STAMP)

install: $(STAMP)

## Plan every shipped agreement into ./coop.db through the real Prefect flow and print the summary.
demo: $(STAMP)
	$(BIN)/coop demo

## Install everything the tests need, then run the whole suite (SQLite and the local PostgreSQL).
test: $(STAMP) browser
	$(BIN)/python -m pytest

## Debian's Chromium for the browser tests (Playwright cannot download browsers here), and a CJK font for screenshots.
.PHONY: browser
browser:
	command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || (apt-get update && apt-get install -y chromium fonts-wqy-microhei)

## Coordinators' Prefect UI: server on .coop/prefect, every deployment in prefect.yaml, a worker; prints the URL. Ctrl-C stops.
.PHONY: ui
ui: $(STAMP)
	$(BIN)/python -m coop.ui --port $(or $(UI_PORT),4200)

clean:
	rm -rf $(VENV) .coop coop.db coop.db-wal coop.db-shm test-output
