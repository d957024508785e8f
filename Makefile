# Two entry points: `make repro` regenerates the default study (the DVC pipeline run in parallel on
# Ray), `make test` runs the tests. Both install from requirements.lock: the exact versions, with
# their hashes, of every package the study runs on (README, Reproducibility).
PYTHON ?= python3.11
UV ?= uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: repro quick test bench verify lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the lock first (pip checks every file's hash), then the project itself, whose dependencies the
# lock already holds
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" molere-bench repro

# a small version of the default study in quick-study/, a few minutes (studies/quick.yaml)
quick: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" molere-bench quick

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

# regenerate the study in a fresh clone of HEAD; list the committed files that differ
verify: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" molere-bench verify

# refresh requirements.lock from pyproject.toml's ranges, for Linux x86-64 and Python 3.11: it
# keeps the locked versions that still satisfy them (`make lock UV_FLAGS=--upgrade` moves every
# package to its newest release, `UV_FLAGS="-P torch"` one). Needs uv (`pip install uv`).
lock:
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" \
		$(UV_FLAGS) -o requirements.lock
