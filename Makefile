# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint bench bench-quick extension chromium redis clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes; `pip install -e` keeps the source tree live.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fast]'
	touch $(STAMP)

run: setup
	$(PY) -m server serve

chromium:
	scripts/ensure_chromium.sh

redis:
	scripts/ensure_redis.sh

test: setup chromium redis
	$(VENV)/bin/ruff check server tests bench scripts
	$(VENV)/bin/kefu lint phrases/
	PYTHONASYNCIODEBUG=1 $(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check server tests bench scripts
	$(VENV)/bin/ruff format --check server tests bench scripts
	$(VENV)/bin/mypy

bench: setup
	$(PY) -m bench

bench-quick: setup
	$(PY) -m bench --quick

extension: setup
	$(PY) scripts/build_extension.py

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache
