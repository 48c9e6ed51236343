# The two commands a new user runs are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-scan test unit bench lint controlplane helm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The incident, live: a local control plane, gwwatch run, examples/techresolve applied.
## Keeps running until Ctrl-C; `make demo DEMO_ARGS=--exit` stops after showing the result.
demo: $(STAMP) controlplane
	$(PY) -m examples.techresolve.demo $(DEMO_ARGS)

## The same finding offline, no control plane needed: scan the incident's manifests (each
## examples/ folder is a world of its own: they reuse names, so scan them one at a time).
demo-scan: $(STAMP)
	$(PY) -m gwwatch scan examples/techresolve --fail-on never

## Builds (or reuses) the test control plane, then runs every test: lint, types, unit, tools,
## pypi, integration, e2e (tests/README.md says what each folder needs).
test: $(STAMP) controlplane helm lint
	$(PY) -m pytest -q

## Only tests/unit: pure and offline (no network, no apt, no PyPI, no built binary).
unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

## Figures, not assertions (run from the repository root: bench/ imports tests/builders.py).
bench: $(STAMP)
	$(PY) -m bench.engine

lint: $(STAMP)
	$(VENV)/bin/ruff check gwwatch tests bench alerts dashboards deploy examples
	$(VENV)/bin/mypy --strict gwwatch

controlplane: $(STAMP)
	$(PY) -m tests.controlplane build

## helm for the chart tests, built from its Go module and cached (tests/helm/build.py).
helm: $(STAMP)
	$(PY) -m tests.helm.build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
