# `make test` is what CI runs (.ci/run): on a fresh clone it creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The suite mostly waits (workers, web processes, stand-ins): two pytest-xdist processes halve its
# time on CI's two cores. `make unit TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2

.PHONY: test lint types imports unit bench demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(BIN)/.installed
	$(BIN)/mypy

imports: $(BIN)/.installed
	$(BIN)/lint-imports

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test: lint types imports unit

bench: $(BIN)/.installed
	$(BIN)/python -m bench

$(BIN)/.demo-installed: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[dev,demo]'
	touch $@

# A whole incident on this machine (no Slack, PagerDuty or system Redis needed): see examples/demo.py.
demo: $(BIN)/.demo-installed
	$(BIN)/python -m examples.demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
