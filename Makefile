# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The PostgreSQL server this machine runs; tests that need it read this variable.
export HPSEARCH_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test lint bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## run the book's study on the built-in mnist-5k dataset
	$(BIN)/hpsearch run studies/book.toml

test: lint  ## lint, then the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff (lint and format), mypy, and the import contracts of pyproject.toml
	$(BIN)/ruff check trainer hpsearch tests
	$(BIN)/ruff format --check trainer hpsearch tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)  ## speed and storage benchmarks (installs the CPU build of torch for comparison)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m tests.benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache

chaos: $(STAMP)  ## kill runs at random moments, resume, count losses (target: 0)
	$(BIN)/python -m tests.benchmarks.chaos --iterations 100 --max-minutes 120
