# Entry points for people and CI alike. `make serve` and `make test` create
# the virtual environment on first use; the stamp files make later runs skip
# the install until pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
# pytest-xdist worker processes for make test: a number, or auto for one per
# CPU. 0 runs the tests in this process, in file order. Each file's tests stay
# in one worker (--dist loadfile), so its module fixtures start once.
PYTEST_WORKERS ?= auto

.PHONY: serve test test-sqlite test-postgres test-tools fuzz lint schema schema-baseline bench clean distclean

serve: $(RUNTIME_STAMP)
	$(BIN)/graphql-api serve --demo

# The suite runs twice: on SQLite, then on PostgreSQL. The PostgreSQL run
# starts a throwaway server and stops it at the end, unless TEST_DATABASE_URL
# names a server to use (see tests/database_backend.py). The server binaries
# are installed with apt-get when missing.
test: test-sqlite test-postgres

test-sqlite: $(DEV_STAMP) test-tools
	$(BIN)/pytest --database=sqlite -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-postgres: $(DEV_STAMP) test-tools
	.ci/ensure-postgres
	$(BIN)/pytest --database=postgres -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Debian's Chromium for the GraphiQL browser test, installed when missing.
# The tests install their npm packages (npm ci from the committed lock
# files) and the Python client generator (clients/python/.venv) themselves.
test-tools:
	command -v chromium >/dev/null 2>&1 || \
		(apt-get update && apt-get install -y chromium chromium-driver)

# A longer, randomized search of generated GraphQL operations than the one
# in `make test`; FUZZ_OPERATIONS counts operations per strategy and mode.
FUZZ_OPERATIONS ?= 5000
fuzz: $(DEV_STAMP)
	SECURITY_FUZZ_OPERATIONS=$(FUZZ_OPERATIONS) SECURITY_FUZZ_RANDOM=1 \
		$(BIN)/pytest --database=sqlite tests/test_security_fuzz.py $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: $(RUNTIME_STAMP)
	$(BIN)/graphql-api export-schema --output schema.graphql

# At a release: make the released schema the baseline that
# tests/test_schema_evolution.py checks breaking changes against.
schema-baseline: schema
	cp schema.graphql tests/schema_evolution/baseline.graphql

# The benchmark (see BENCHMARKS.md); not part of `make test`. It needs wrk
# from the system packages, installed here with apt-get when missing, and
# PostgreSQL's initdb and pg_ctl for the PostgreSQL half. Settings such as
# BENCH_DURATION, BENCH_ROUNDS and BENCH_DATABASES pass through the
# environment: `make bench BENCH_DATABASES=sqlite BENCH_DURATION=5`.
bench: $(DEV_STAMP)
	command -v wrk >/dev/null 2>&1 || apt-get install -y wrk
	$(BIN)/python -m bench.run

clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -f graphql_api.db graphql_api.db-wal graphql_api.db-shm

distclean: clean
	rm -rf $(VENV) clients/python/.venv clients/typescript/generated
	rm -rf clients/typescript/node_modules tests/http_audit/node_modules

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev extra includes the runtime dependencies, so it satisfies both.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)
