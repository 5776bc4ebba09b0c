# fenghuo 烽火 — the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | sha1sum | cut -c1-12)

.PHONY: install run test lint bench bench-nab bench-skab bench-defaults bench-text-crisis bench-text-budget clean

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## run: create the venv, install, start the embedded service with its demo drill on http://127.0.0.1:8000
run: install
	$(BIN)/fenghuo run --demo --data-dir .data/demo

## test: install test needs, start real PostgreSQL and Kafka (and Chromium), run every test, stop them
test: install
	bash scripts/test.sh

lint: install
	$(BIN)/ruff check .

## bench: embedded pipeline throughput and latency on a mixed replay of the real data
bench: install
	bash scripts/bench.sh

## bench-nab: every detector over the Numenta Anomaly Benchmark, scored with NAB's rules
bench-nab: install
	$(BIN)/python -m benchmarks.nab.run_nab

## bench-skab: every detector over SKAB (1 Hz pumps, 8 sensors), SKAB's protocol and metrics beside its leaderboard
bench-skab: install
	$(BIN)/python -m benchmarks.skab.run_skab

## bench-defaults: the anomaly detector's defaults chosen by one rule over NAB, SKAB and Gloria, cross-validated
bench-defaults: install
	$(BIN)/python -m benchmarks.defaults.run_defaults

## bench-text-crisis: crisis relevance on CrisisLex T6, leave-one-crisis-out (classifier, lexicon, keywords)
bench-text-crisis: install
	$(BIN)/python -m benchmarks.text_crisis

## bench-text-budget: the share of routine texts (Boston 311, reviews) raising an alert, and crisis recall
bench-text-budget: install
	$(BIN)/python -m benchmarks.text_budget

clean:
	rm -rf $(VENV) .data .services .pytest_cache .ruff_cache .hypothesis
