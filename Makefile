# Every target sets up what it needs from nothing: a fresh .venv with the packages of pyproject.toml,
# and the machine services the tests rely on.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_VERSION := $(shell ls /etc/postgresql 2>/dev/null | head -n 1)

.PHONY: demo test test-slow lint typecheck bench-invitations bench-registration bench-recap bench-planner bench-two-workers services browser print server worker clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## services: start the local PostgreSQL server if it is installed and down (tests use it)
services:
	@if [ -n "$(PG_VERSION)" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then \
		pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start; fi

## browser: install Debian's Chromium and its driver if missing (browser tests drive /usr/bin/chromium;
## Playwright's own browser download cannot be used here)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; fi

## print: fonts with Latin, Arabic, Cyrillic and CJK glyphs for the PDFs (Noto Sans CJK for Hangul, which Droid Sans
## Fallback lacks), HarfBuzz's subsetter (WeasyPrint embeds font subsets with it and warns without it), and poppler
## (pdftotext, pdftoppm) for their tests
print:
	@if [ ! -x /usr/bin/pdftotext ] || [ ! -d /usr/share/fonts/truetype/noto ] || [ ! -d /usr/share/fonts/truetype/droid ] \
		|| [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] \
		|| ! /sbin/ldconfig -p | grep -q libharfbuzz-subset.so.0; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils fonts-noto-core \
			fonts-noto-cjk fonts-droid-fallback libharfbuzz-subset0; fi

## the ephemeral Prefect API gets 90 s to start (its default, 20 s, is short on a busy 2-core machine)
demo: $(STAMP) print
	PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=$${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-90} \
		$(BIN)/eventkit demo --out demo-output

## the suite without the tests marked slow (real Prefect servers, two workers, the whole demo, 500-way races):
## about 12 minutes here; `make test-slow` runs those (about 8 minutes), and CI (.ci/run) runs both
test: $(STAMP) services browser print
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP) services browser print
	$(BIN)/python -m pytest -m slow

## lint: ruff, and the dependency rule's import-linter contracts ([tool.importlinter] in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check src flows tests benchmarks
	$(BIN)/ruff format --check src flows tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench-invitations: $(STAMP)
	$(BIN)/python benchmarks/invitations.py

bench-registration: $(STAMP) services
	$(BIN)/python benchmarks/registration.py

bench-recap: $(STAMP) print
	$(BIN)/python benchmarks/recap.py

bench-planner: $(STAMP)
	$(BIN)/python benchmarks/planner.py

## bench-two-workers: a Prefect server and the store on PostgreSQL, two workers, one campaign: each email once
bench-two-workers: $(STAMP) services
	$(BIN)/python benchmarks/two_workers.py

## server: a Prefect server for the deployments of prefect.yaml, UI on http://127.0.0.1:4200 (foreground)
server: $(STAMP)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server start --host 127.0.0.1 --port 4200

## worker: the eventkit work pool, every deployment of prefect.yaml, and a process worker (foreground);
## the worker needs the EVENTKIT_* settings (database, SMTP relay, secret key) in its environment
PREFECT_API_URL ?= http://127.0.0.1:4200/api
worker: $(STAMP)
	export PREFECT_API_URL=$(PREFECT_API_URL) EVENTKIT_HOME=$(CURDIR); \
	$(BIN)/prefect work-pool inspect eventkit >/dev/null 2>&1 || $(BIN)/prefect work-pool create eventkit --type process; \
	$(BIN)/prefect --no-prompt deploy --all && \
	$(BIN)/prefect worker start --pool eventkit

clean:
	rm -rf $(VENV) var demo-output
