# Reprise: `make run` serves the demo with a worker; `make test` runs the whole suite.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
# Seconds the simulator takes per model call in `make run`: a demo replay takes about as long as a real one.
DEMO_SIMULATED_LATENCY ?= 1.5
VENV := .venv
PY := $(VENV)/bin/python
# pyenv reads .python-version (3.13); elsewhere any python3 >= 3.12 will do.
PYTHON ?= $(shell pyenv which python3 2>/dev/null || command -v python3.13 || command -v python3.12 || command -v python3)
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast lint lint-openapi soak bench check-python install chromium clean worker

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 12) else "Reprise needs Python 3.12 or newer; found %d.%d at $(PYTHON). Install 3.13 (pyenv install 3.13) or set PYTHON=/path/to/python3.13." % v[:2])'

$(VENV)/.installed: pyproject.toml | check-python
	@test -x $(PY) && $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(PY) -m pip check
	@touch $@

install: $(VENV)/.installed

chromium:
	@test -x $(CHROMIUM) || { echo "Installing Debian's Chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| { echo "Could not install chromium: run 'apt-get install -y chromium' as root."; exit 1; }; }

# gunicorn with config/gunicorn.py (gthread; one process unless REDIS_URL is set), static files from var/static,
# a worker and beat, supervised by config/supervise.py (a dead worker is restarted; everything stops together).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py seed_demo
	@echo "Serving http://$(HOST):$(PORT)/ with gunicorn, one Celery worker of 32 threads and beat (Ctrl-C stops all)."
	@SIMULATED_LATENCY=$${SIMULATED_LATENCY:-$(DEMO_SIMULATED_LATENCY)} HOST=$(HOST) PORT=$(PORT) \
		exec $(PY) -m config.supervise

# One more worker beside `make run` (same var/ and broker): no beat, which must run exactly once.
worker: install
	$(PY) -m celery -A config worker --loglevel=INFO

# Lint, format, types and layers: each fails the build on its own.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The served OpenAPI document as integrators' tools read it: Redocly's recommended rules, 0 errors (npm registry).
REDOCLY ?= @redocly/cli@2.77.0
lint-openapi: install
	@command -v npx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@mkdir -p var
	$(PY) manage.py shell -v 0 -c "import json; from config.openapi import document; print(json.dumps(document()))" > var/openapi.json
	npx --yes $(REDOCLY) lint var/openapi.json --format=summary

test: install chromium lint lint-openapi
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run >/dev/null || { echo "Models changed without a migration."; exit 1; }
	REPRISE_VAR_DIR=$(CURDIR)/var/test $(PY) -m pytest -q $(PYTEST_ARGS)

# The inner loop: no worker subprocesses, no browser, no reliability proofs, no live contract test.
test-fast: install
	REPRISE_VAR_DIR=$(CURDIR)/var/test-fast $(PY) -m pytest -q -m "not worker and not browser" --ignore=tests/reliability --ignore=tests/contract $(PYTEST_ARGS)

soak: install
	REPRISE_VAR_DIR=$(CURDIR)/var/soak $(PY) -m tests.reliability.soak $(SCENARIOS)

bench: install
	REPRISE_VAR_DIR=$(CURDIR)/var/bench $(PY) -m bench $(FIGURES)

clean:
	rm -rf var/test var/test-fast var/soak var/bench
