# The two set-up commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test install install-dev migrate bench fuzz lint clean soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# make run installs what runs the product; make test (and bench, fuzz, soak, lint) also the test tools.
# Each stamp is older than a requirements file that changed, so that file is installed again.
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

## make run: web + workers (default and exports queues) + scheduler on the embedded default (SQLite, files in var/), port $(PORT)
run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "eventsite on http://127.0.0.1:$(PORT)/ (admin at /admin/; create a login with: $(BIN)/python manage.py createsuperuser)"
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) $(BIN)/honcho start -f Procfile

## make test: the whole suite (DATABASE_URL / REDIS_URL switch it to PostgreSQL / Redis)
test: install-dev
	EVENTSITE_TESTING=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

## make soak: 2-minute soak with accounting against a live gunicorn on PostgreSQL (scratch database
## SOAK_DATABASE_URL, recreated); SOAK_ARGS="--seconds 600 --producers 16 --restart-postgres-at 60";
## SOAK_ARGS="--instances 2": two gunicorn instances on different ports sharing PostgreSQL and Redis
## SOAK_ARGS="--stop-postgres-for 20" stops the cluster behind the URL (root; never a shared one): the spool takes over
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/eventsite_soak
soak: install-dev
	$(BIN)/python -m bench.soak --database-url $(SOAK_DATABASE_URL) $(SOAK_ARGS)

## make bench: ingest, export, purge, retention and console-page benchmarks on PostgreSQL (scratch database BENCH_DATABASE_URL,
## recreated; needs wrk: apt-get install wrk). make bench BENCH_ROWS=10000000 for the 10-million figures.
BENCH_ROWS ?= 1000000
bench: install-dev
	$(BIN)/python -m bench.ingest --grown-rows $(BENCH_ROWS)
	$(BIN)/python -m bench.export --rows $(BENCH_ROWS)
	$(BIN)/python -m bench.purge --rows $(BENCH_ROWS)
	$(BIN)/python -m bench.retention --rows $(BENCH_ROWS)
	$(BIN)/python -m bench.console --rows $(BENCH_ROWS)

## make fuzz: the schema fuzz test (tests/test_fuzz_api.py) with FUZZ_EXAMPLES (500) examples per operation,
## against a live gunicorn on PostgreSQL (pytest-django creates test_<name of FUZZ_DATABASE_URL> and drops it)
FUZZ_EXAMPLES ?= 500
FUZZ_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/eventsite_fuzz
## It also runs the parser property tests (pytest -m properties) with the `fuzz` Hypothesis profile
## (20,000 examples per test; PROPERTY_EXAMPLES=N to choose), on the same database.
PROPERTY_EXAMPLES ?=
fuzz: install-dev
	EVENTSITE_TESTING=1 DATABASE_URL=$(FUZZ_DATABASE_URL) EVENTSITE_HYPOTHESIS_PROFILE=fuzz \
		EVENTSITE_HYPOTHESIS_EXAMPLES=$(PROPERTY_EXAMPLES) $(BIN)/python -m pytest -m properties $(PYTEST_ARGS)
	EVENTSITE_TESTING=1 DATABASE_URL=$(FUZZ_DATABASE_URL) EVENTSITE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(BIN)/python -m pytest tests/test_fuzz_api.py $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/python -m ruff check . || true
	$(BIN)/lint-imports --no-cache --no-logo

clean:
	rm -rf $(VENV) var/eventsite.sqlite3* var/celery var/exports var/static
