# Softmax, from logits to attention.  `make` lists the commands.

PYTHON ?= python3
TORCH_INDEX ?=
VENV   := .venv
BIN    := $(VENV)/bin
# Rebuilt only when the pins or the package description change: re-running is fast.
STAMP  := $(VENV)/.installed
NBVAL  := --nbval-lax --nbval-current-env -n 2 --dist loadscope --nbval-cell-timeout=120 \
          -p tests.nbval_kernel_retry
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
.PHONY: help lab test bench

help:
	@echo "Softmax, from logits to attention"
	@echo
	@echo "  make lab     set up .venv if needed and open JupyterLab at notebooks/00_start_here.ipynb"
	@echo "  make test    set up .venv if needed and run every check: lint, unit, property and"
	@echo "               browser tests, then every notebook (lessons, exercises, solutions)"
	@echo "  make bench   print timings against the course's budgets"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "== installing the pinned packages into $(VENV)"
	if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then
	  $(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
	    || { echo "The course needs Python 3.11 or newer: make PYTHON=python3.11 ..."; exit 1; }
	  rm -rf $(VENV)
	  $(PYTHON) -m venv $(VENV)
	fi
	# TORCH_INDEX=URL takes torch from that index first (a CPU build instead of PyPI's GPU one)
	if [ -n "$(TORCH_INDEX)" ]; then
	  $(BIN)/python -m pip install torch==2.13.0 --index-url "$(TORCH_INDEX)"
	fi
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install -q -e . --no-deps
	touch $@

lab: $(STAMP)
	# Serve the whole course (lessons, exercises, solutions) and open the first lesson.
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" notebooks/00_start_here.ipynb

bench: $(STAMP)
	@export TUTOR_HOME="$$(mktemp -d)"; trap 'rm -rf "$$TUTOR_HOME"' EXIT
	$(BIN)/python tests/bench.py

# Each step stops the run on its first failure. TUTOR_HOME is a throwaway folder, so nothing
# lands in ~/.tutor.  Notebook folders with no notebook yet are passed over.
test: $(STAMP)
	@export TUTOR_HOME="$$(mktemp -d)"; trap 'rm -rf "$$TUTOR_HOME"' EXIT
	if ! command -v chromium >/dev/null; then
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	    echo "== installing Debian's chromium for the browser tests"
	    export DEBIAN_FRONTEND=noninteractive
	    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	      || echo "!! apt-get could not install chromium"
	  fi
	  if ! command -v chromium >/dev/null; then
	    echo "!! No chromium: the browser tests are skipped (with CI=true they fail)."
	    echo "!! Get it with 'sudo apt-get install chromium' (Debian, Ubuntu) or put a"
	    echo "!! Chromium binary named 'chromium' on PATH."
	  fi
	fi
	has_notebooks() { compgen -G "$$1/*.ipynb" >/dev/null; }
	echo "== ruff check (code and notebooks)"
	$(BIN)/ruff check .
	echo "== pytest tests/ (unit, property, browser)"
	# loadgroup spreads the checker tests over both workers and keeps every other file on one
	# (tests/conftest.py): the browser tests share one JupyterLab
	$(BIN)/python -m pytest tests -n 2 --dist loadgroup --timeout=900
	echo "== nbval notebooks/ exercises/"
	dirs=""
	for d in notebooks exercises; do if has_notebooks $$d; then dirs="$$dirs $$d"; fi; done
	if [ -n "$$dirs" ]; then $(BIN)/python -m pytest $(NBVAL) $$dirs; else echo "no notebooks yet"; fi
	echo "== nbval solutions/ with TUTOR_STRICT=1"
	if has_notebooks solutions; then
	  TUTOR_STRICT=1 $(BIN)/python -m pytest $(NBVAL) solutions
	else echo "no notebooks yet"; fi
