# Scaleboard: `make run` (the dashboard on the embedded default) and `make test`;
# `make serve` + `make worker` for scale-out (PostgreSQL and Redis, docs/operations.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8000
# DEBUG pages stay on the loopback address: `make run HOST=0.0.0.0` refuses with DEBUG
# on (dashboard/runguard.py); add DEBUG=false (or ALLOW_DEBUG_ON_NETWORK=true).
DEBUG  ?= true
# `make serve`: ASGI server processes on one port (one per core), `make worker`: Celery.
WEB_PROCESSES      ?= 2
WORKER_CONCURRENCY ?= 2
# Simulations are batch work: on a machine that also serves pages, a worker yields the
# CPU to the web processes (0 = same priority; docs/operations.md "Serving").
WORKER_NICE        ?= 10

# `make test` uses the local PostgreSQL and Redis when they answer and the variables
# are unset (CI sets them explicitly); otherwise service tests skip loudly.
TEST_ENV := $(shell $(PYTHON) tests/detect_services.py 2>/dev/null)

.PHONY: run serve worker scale-out-env test venv lint format bench check-deploy clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

run: venv
	@DEBUG=$(DEBUG) $(BIN)/python -m dashboard.runguard $(HOST)
	DEBUG=$(DEBUG) $(BIN)/python manage.py migrate --noinput
	DEBUG=$(DEBUG) $(BIN)/python manage.py load_examples
	DEBUG=$(DEBUG) $(BIN)/python manage.py ensure_local_account
	@echo "Scaleboard on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	DEBUG=$(DEBUG) EMBEDDED_WORKER=true $(BIN)/daphne -b $(HOST) -p $(PORT) dashboard.asgi:application

# Scale-out: needs DATABASE_URL and REDIS_URL (and SECRET_KEY, ALLOWED_HOSTS, HTTPS in
# production). Each process: DB_POOL_MAX connections at most (docs/operations.md).
scale-out-env:
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "make serve and make worker need DATABASE_URL and REDIS_URL (PostgreSQL and Redis); make run needs neither"; exit 2; }

serve: scale-out-env venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_examples
	$(BIN)/uvicorn --host $(HOST) --port $(PORT) --workers $(WEB_PROCESSES) \
	  --no-access-log --timeout-graceful-shutdown 10 dashboard.asgi:application

worker: scale-out-env venv
	nice -n $(WORKER_NICE) $(BIN)/celery -A dashboard worker --loglevel INFO --concurrency $(WORKER_CONCURRENCY)

# The engine's tests are pure computation: on two processes (pytest-xdist). Then the
# web, service and browser tests in three shards at once, each with its own test
# database and Redis database number (tests/shards.py): they mostly wait.
test: venv
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 tests/engine tests/test_imports.py $(PYTEST_ARGS)
	$(TEST_ENV) $(BIN)/python tests/shards.py $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python bench/engine.py

check-deploy: venv
	DEBUG=false HTTPS=true SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(50))') \
	  ALLOWED_HOSTS=scaleboard.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
