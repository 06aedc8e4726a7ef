# Two commands: `make run` sets everything up and starts the bot; `make test` runs the tests.
# pgserver (embedded Postgres + pgvector) ships wheels for CPython 3.11 and 3.12 only.
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null && $$p -c 'import sys; exit(not (3,11) <= sys.version_info[:2] <= (3,12))' 2>/dev/null && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lint clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Switchboard needs Python 3.11 or 3.12 (pgserver has no wheels for others); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/switchboard serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/pip install --quiet ruff
	$(BIN)/ruff check core store jobs bots tests

clean:
	rm -rf $(VENV) .pytest_cache
