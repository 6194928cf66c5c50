# Each target sets up .venv itself, so a fresh clone needs nothing but python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-integration test-frameworks lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/phoenix demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "not integration and not frameworks"

# Real clients and a real local model: installs the Gemini CLI (npm) and builds llama.cpp
# (measured: 5 min 42 s on 2 cores, once) into ~/.cache/phoenix-integration, then runs them
# (about 1 minute; the Gemini CLI ones also run in `make test` where node/npm are found).
test-integration: $(STAMP)
	bash scripts/integration_setup.sh
	$(BIN)/python -m pytest -q -m "integration or real_client" tests/integration

# Live runs of the real trainers (tests/frameworks) in their own venv: torch first, pinned to
# the CPU wheel on local disk (any other version downloads GBs of CUDA), then the versions the
# README's tables were tested with.
FW_VENV := .venv-frameworks
FW_STAMP := $(FW_VENV)/.installed
FW_PINS := transformers==5.24.0 lightning==2.6.6 tqdm==4.70.1 accelerate==1.15.0 rich==15.0.0

$(FW_STAMP): pyproject.toml
	$(PYTHON) -m venv $(FW_VENV)
	$(FW_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(FW_VENV)/bin/python -m pip install --quiet $(FW_PINS)
	$(FW_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(FW_STAMP)

test-frameworks: $(FW_STAMP)
	HF_HUB_OFFLINE=1 $(FW_VENV)/bin/python -m pytest -q -m frameworks tests/frameworks

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
