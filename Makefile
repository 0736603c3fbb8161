# Limit Desk. `make run` serves the demo; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m config.stack

.PHONY: help install run test lint typecheck pytest screenshots bench shell clean

help:
	@echo "make run    install, start PostgreSQL + Redis, migrate, load the demo, serve"
	@echo "make test   ruff, mypy and the whole test suite against PostgreSQL + Redis"
	@echo "make bench  benchmarks; figures go to docs/benchmarks.md"
	@echo "make screenshots  the browser tests, screenshots into docs/screenshots"

install:
	@scripts/bootstrap
	@$(PY) scripts/compile-messages
	@mkdir -p .local/staticfiles

run: install
	@$(STACK) dev -- scripts/serve

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

# The django-stubs plugin imports the settings; they need URLs, not servers.
typecheck: install
	DEBUG=1 DATABASE_URL=postgres:///limitdesk REDIS_URL=redis://localhost:6379/0 $(VENV)/bin/mypy .

pytest: install
	@scripts/ensure-browser
	@$(STACK) test -- $(PY) scripts/run-tests $(PYTEST_ARGS)

test: lint typecheck pytest

# The browser tests again, keeping their screenshots in docs/screenshots (the README shows them).
screenshots: install
	@scripts/ensure-browser
	@SCREENSHOT_DIR=docs/screenshots $(STACK) test -- $(VENV)/bin/pytest tests/browser

# Benchmarks use the `bench` profile: servers of their own under .local/bench.
bench: install
	@$(STACK) bench -- $(PY) -m bench $(BENCH)

shell: install
	@$(STACK) dev -- $(PY) manage.py shell

clean:
	rm -rf .local/test
