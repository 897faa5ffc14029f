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
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .coop coop.db coop.db-wal coop.db-shm test-output
