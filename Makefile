# Two commands for a fresh clone: `make run` (the example app) and `make test`.
# Each creates .venv and installs the project with its dev extras when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test fuzz lint docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/litestar --app examples.counter.app:app run --host 127.0.0.1 --port 8000

test: install
	$(BIN)/python -m pytest -q

# The fuzz suite at length: 10,000 generated requests per store and test (over 20,000 per store),
# against the Litestar app on every store; `make test` runs 200 of each.
fuzz: install
	CHATKIT_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -p no:cacheprovider -p no:logging tests/execution/test_fuzz.py

lint: install
	$(BIN)/ruff check chatkit_handlers pytest_chatkit_handlers.py examples tests bench
	$(BIN)/ruff format --check chatkit_handlers pytest_chatkit_handlers.py examples tests bench
	$(BIN)/mypy --strict chatkit_handlers pytest_chatkit_handlers.py examples
	$(BIN)/lint-imports

# The documentation site (docs/, mkdocs.yml), warnings as errors; CI runs it. Its code blocks
# are run by the test suite (tests/test_docs.py).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Every bench in turn (bench/README.md has what each measures); installs the `bench` extra.
bench: install
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	$(BIN)/python -m bench.request
	$(BIN)/python -m bench.core
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.streams
	$(BIN)/python -m bench.over_http
	if command -v valgrind >/dev/null; then $(BIN)/python -m bench.instructions; else echo "bench.instructions skipped: no valgrind (apt-get install -y valgrind)"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
