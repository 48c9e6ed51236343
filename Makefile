# The two commands a new user runs are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-scan test unit lint controlplane clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The incident, live: a local control plane, gwwatch run, examples/techresolve applied.
## Keeps running until Ctrl-C; `make demo DEMO_ARGS=--exit` stops after showing the result.
demo: $(STAMP) controlplane
	$(PY) examples/techresolve/demo.py $(DEMO_ARGS)

## The same finding offline, no control plane needed: scan the shipped examples.
demo-scan: $(STAMP)
	$(PY) -m gwwatch scan examples/ --fail-on never

## Builds (or reuses) the test control plane, then runs every test: lint, types, unit, integration.
test: $(STAMP) controlplane lint
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check gwwatch tests bench dashboards deploy examples
	$(VENV)/bin/mypy --strict gwwatch

controlplane: $(STAMP)
	$(PY) -m tests.controlplane build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
