# Each target sets up .venv itself, so a fresh clone needs nothing but python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-integration lint typecheck bench clean

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
	$(BIN)/python -m pytest -q -m "not integration"

# Real clients and a real local model: installs the Gemini CLI (npm) and builds llama.cpp
# (measured: 5 min 42 s on 2 cores, once) into ~/.cache/phoenix-integration, then runs them
# (about 1 minute; the Gemini CLI ones also run in `make test` where node/npm are found).
test-integration: $(STAMP)
	bash scripts/integration_setup.sh
	$(BIN)/python -m pytest -q -m "integration or real_client" tests/integration

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
