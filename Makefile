# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test e2e bench cluster-test replica-test lint format serve migrate demo clean sdk worker

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Serve the demo on http://$(HOST):$(PORT) (SQLite unless DATABASE_URL says otherwise).
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input -v0
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

# The background worker with its beat schedule (needs CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0).
worker: $(STAMP)
	$(BIN)/python manage.py worker --loglevel $${LOG_LEVEL:-INFO}

# The whole suite except the browser tests (`make e2e`), a file per process on TEST_PROCESSES
# processes (pytest-xdist; each has its own test database; TEST_PROCESSES=0 runs in this one).
TEST_PROCESSES ?= 2
test: $(STAMP)
	SECRET_KEY=$${SECRET_KEY:-test-only-secret} $(BIN)/python -m pytest -m "not e2e" -q -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

# Browser tests in Debian's Chromium (installed with apt when missing).
e2e: $(STAMP)
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	SECRET_KEY=$${SECRET_KEY:-test-only-secret} $(BIN)/python -m pytest -m e2e -q $(PYTEST_ARGS)

# Benchmarks on PostgreSQL (README, "Benchmarks"); sizes via BENCH_EVENTS=...
bench: $(STAMP)
	SECRET_KEY=$${SECRET_KEY:-bench-only-secret} $(BIN)/python -m bench

# Two gunicorn servers, two workers, Redis and a fresh PostgreSQL database on loopback; one server
# and one worker killed mid-run (tests/cluster/cluster_test.py; at most 30 s of load).
cluster-test: $(STAMP)
	$(BIN)/python tests/cluster/cluster_test.py

# A primary and a streaming hot standby on loopback ports, two servers and two workers: replica answers
# equal the oracle at paused replay points; the standby stopped and started mid-run (tests/cluster/replica_test.py).
replica-test: $(STAMP)
	$(BIN)/python tests/cluster/replica_test.py

# The JS SDK (sdk/js): Node's test runner, static/sdk/ equal to a fresh build, and the
# npm tarball (into a temporary folder). Node and npm come from Debian when missing.
sdk:
	command -v node >/dev/null && command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 11)) { console.error("make sdk: the tests need Node.js 20.11 or later (node:test mock timers with Date), found " + process.version); process.exit(1); }'
	cd sdk/js && npm ci --no-audit --no-fund --loglevel=error
	cd sdk/js && npm run --silent check
	cd sdk/js && npm test
	tmp=$$(mktemp -d) && cd sdk/js && npm pack --pack-destination "$$tmp" --loglevel=warn && ls -l "$$tmp" && rm -rf "$$tmp"

# ruff's linter and formatter, and the import-direction contracts of pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 tests/artifacts
