# The two commands: `make run` (platform + demo org) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= $(or $(METAQORE_PORT),8001)
BIND   ?= 127.0.0.1

.PHONY: run test lint format venv venv-dev browser screenshots bench bench-smoke bench-overhead bench-provisioning migrate clean-db audit-export audit-tail require-org

# Run time (make run) and, for make test / make lint, the tests, lint and type checkers too.
$(BIN)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed

venv-dev: $(BIN)/.installed-dev

migrate: venv
	$(BIN)/python manage.py migrate_schemas --verbosity 0

# An ASGI server, so the SSE stream and WebSockets work too; reloads when the code changes.
# One background worker runs beside it (webhooks, schedules); it stops when the server stops.
RELOAD_DIRS := metaqore_site access tenants jobs compliance projects governance artifacts hmcp events dashboard
run: migrate
	$(BIN)/python manage.py demo_setup --port $(PORT)
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py run_worker --concurrency 2 & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	DEBUG=$${DEBUG:-true} $(BIN)/python -m uvicorn metaqore_site.asgi:application \
	  --host $(BIND) --port $(PORT) --reload $(RELOAD_DIRS:%=--reload-dir %) \
	  --timeout-graceful-shutdown 2

test: venv-dev lint browser
	$(BIN)/python -m pytest

# Benchmarks (not part of `make test`; a smoke run of the harness is): table + bench/results/latest.json
bench: migrate venv-dev
	$(BIN)/python bench/run.py

bench-smoke: migrate venv-dev
	$(BIN)/python bench/run.py --smoke --output bench/results/smoke.json

# Only the request overhead: ratios to a FastAPI hello world in the same run (under 2 minutes)
bench-overhead: migrate venv-dev
	$(BIN)/python bench/run.py --overhead-only --output bench/results/overhead.json

# Seconds per new org (template clone vs migrating) and `migrate_schemas` over 100 orgs per
# executor: bench/results/provisioning.json and migrate_orgs.json, about 6 minutes.
bench-provisioning: migrate
	$(BIN)/python bench/provisioning.py
	$(BIN)/python bench/migrate_orgs.py

# Refresh the committed dashboard screenshots from the browser journeys.
screenshots: venv-dev browser
	METAQORE_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser -q

# The browser tests drive Debian's Chromium (browser downloads fail here): install it when it is
# missing and we are root (CI is); otherwise those tests skip, saying why (and fail when CI=true).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium and chromium-driver for the browser tests..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium chromium-driver; } \
	      >/tmp/metaqore-apt-browser.log 2>&1 \
	      || echo "warning: could not install chromium (see /tmp/metaqore-apt-browser.log)"; \
	  else \
	    echo "note: no /usr/bin/chromium or chromedriver and not root: browser tests will skip"; \
	  fi; \
	fi

# Style (ruff) and static types (mypy with the Django and DRF plugins; scope in pyproject.toml).
lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-db: venv
	$(BIN)/python manage.py embedded_db stop
	rm -rf $${METAQORE_DATA_DIR:-.data}/pg

# The audit CLI: `make audit-export ORG=acme FORMAT=csv [OUTPUT=file]`, `make audit-tail ORG=acme`.
FORMAT ?= csv
audit-export: require-org venv
	$(BIN)/python manage.py audit_export --org $(ORG) --format $(FORMAT) $(if $(OUTPUT),--output $(OUTPUT))

audit-tail: require-org venv
	$(BIN)/python manage.py audit_tail --org $(ORG) --follow

require-org:
	@test -n "$(ORG)" || { echo "usage: make audit-export ORG=<slug> FORMAT=csv|json|jsonl [OUTPUT=file] | make audit-tail ORG=<slug>"; exit 2; }
