# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
# Test processes: the suite mostly waits on servers, browsers and databases, so three
# processes on two cores take about half the time of one.
TEST_PROCESSES ?= 3
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: help run test test-fast lint fmt typecheck bench chromium dovecot node clean

## List the targets and what each does.
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-z][a-z-]*:/{if(doc){split($$0,t,":"); printf "  %-10s %s\n", t[1], doc}; doc=""} !/^## /{doc=""}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.runtime: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --compile-bytecode
	@rm -f .venv/.dev
	@touch $@

.venv/.dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch .venv/.runtime $@

## Run Relink on SQLite at http://127.0.0.1:8000 with the demo platform.
run: .venv/.runtime
	.venv/bin/relink migrate
	.venv/bin/relink demo
	.venv/bin/relink serve --host 127.0.0.1 --port 8000

## Install test dependencies, Chromium, Dovecot, Node.js and stripe-node, then run every test (with coverage).
test: .venv/.dev chromium dovecot tests/node/node_modules/.installed
	.venv/bin/ruff check relink tests bench
	.venv/bin/ruff format --check relink tests bench
	.venv/bin/lint-imports
	.venv/bin/mypy
	.venv/bin/pytest -n $(TEST_PROCESSES) --cov --cov-report=
	.venv/bin/python -m tests.coverage_complete

## The quick loop: lint, then the tests on SQLite only, without Chromium, Dovecot or PostgreSQL.
test-fast: .venv/.dev
	.venv/bin/ruff check relink tests bench
	.venv/bin/lint-imports
	.venv/bin/pytest -k "not postgresql" -m "not browser and not imap and not postgres and not slow" -q

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Chromium from the system package manager"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The IMAP server of the bounce-mailbox tests (tests/email/imap_server.py runs its own).
dovecot:
	@test -x /usr/lib/dovecot/imap || { \
	  echo "Installing Dovecot (IMAP) from the system package manager"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; }

node:
	@{ command -v node && command -v npm; } >/dev/null 2>&1 || { \
	  echo "Installing Node.js and npm from the system package manager"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }

# stripe-node for tests/node, exactly as tests/node/package-lock.json pins it.
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json | node
	cd tests/node && npm ci --no-audit --no-fund
	@touch $@

## Lint: ruff, the formatting check, and the layer map (import-linter contracts).
lint: .venv/.dev
	.venv/bin/ruff check relink tests bench
	.venv/bin/ruff format --check relink tests bench
	.venv/bin/lint-imports

## Format the code and apply ruff's safe fixes.
fmt: .venv/.dev
	.venv/bin/ruff check --fix relink tests bench
	.venv/bin/ruff format relink tests bench

## Type-check relink/, tests/ and bench/ with mypy (strict).
typecheck: .venv/.dev
	.venv/bin/mypy

## Run the benchmarks (bench/).
bench: .venv/.dev
	.venv/bin/python -m bench

## Remove the environment, tools, local data and node modules.
clean:
	rm -rf .venv $(TOOLS) var tests/node/node_modules
