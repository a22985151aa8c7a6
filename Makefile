# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The PostgreSQL server this machine runs; tests that need it read this variable.
export HPSEARCH_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test lint browser bench chaos clean experiments

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## run the book's study on the built-in mnist-5k dataset
	$(BIN)/hpsearch run studies/book.toml

test: lint browser  ## lint, then the whole test suite
	$(BIN)/python -m pytest

# The browser tests (tests/hpsearch_tests/view/test_browser.py) drive Debian's headless Chromium
# through chromedriver. As root, install both when missing; otherwise do nothing (the tests
# then skip with the reason, and fail under CI=true).
browser:  ## headless Chromium and chromium-driver for the browser tests
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "installing chromium and chromium-driver for the browser tests"; \
	        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	            apt-get install -y -qq --no-install-recommends chromium chromium-driver \
	            >/dev/null) || echo "could not install chromium: the browser tests will say so"; \
	    fi; \
	fi

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

EXPERIMENTS := optimizers init activations batchnorm overfit convnet
EXPERIMENTS_DB ?= experiments.db
experiments: $(STAMP)  ## the book's chapter 6-7 experiments (studies/*.toml), one at a time, and their figures in docs/
	@for s in $(EXPERIMENTS); do \
	  start=$$(date +%s); \
	  $(BIN)/hpsearch run studies/$$s.toml --storage sqlite:///$(EXPERIMENTS_DB) --jobs 2 --quiet || exit 1; \
	  echo "$$s: $$(( $$(date +%s) - start )) s"; \
	done
	$(BIN)/hpsearch plot optimizers -s sqlite:///$(EXPERIMENTS_DB) -k compare --curve train_loss -o docs/optimizers.png
	$(BIN)/hpsearch plot init -s sqlite:///$(EXPERIMENTS_DB) -k compare --curve train_loss -o docs/init.png
	$(BIN)/hpsearch plot activations -s sqlite:///$(EXPERIMENTS_DB) -k activations -o docs/activations.png
	$(BIN)/hpsearch plot batchnorm -s sqlite:///$(EXPERIMENTS_DB) -k compare --curve train_accuracy -o docs/batchnorm.png
	$(BIN)/hpsearch plot overfit -s sqlite:///$(EXPERIMENTS_DB) -k compare --by dropout_rate --facet weight_decay --curve train_accuracy,val_accuracy -o docs/overfit.png
	$(BIN)/hpsearch plot overfit -s sqlite:///$(EXPERIMENTS_DB) -k strength -o docs/overfit-strength.png
	$(BIN)/hpsearch plot convnet -s sqlite:///$(EXPERIMENTS_DB) -k compare --curve train_accuracy,val_accuracy -o docs/convnet.png
	@for s in $(EXPERIMENTS); do $(BIN)/hpsearch show $$s -s sqlite:///$(EXPERIMENTS_DB) --format json > docs/$$s.json; done
