# Entry points for people and CI alike. `make serve` and `make test` create
# the virtual environment on first use; the stamp files make later runs skip
# the install until pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: serve test lint schema clean distclean

serve: $(RUNTIME_STAMP)
	$(BIN)/graphql-api serve --demo

test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: $(RUNTIME_STAMP)
	$(BIN)/graphql-api export-schema --output schema.graphql

clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -f graphql_api.db graphql_api.db-wal graphql_api.db-shm

distclean: clean
	rm -rf $(VENV)

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
