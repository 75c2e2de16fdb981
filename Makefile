# notclip — the two commands of the README's Quickstart.
#   make demo   set up .venv if missing with the light core (no torch), then scan the embedded
#               sample shard and print the report
#   make test   set up .venv with everything (all extras + dev tools), then lint (ruff, mypy) and
#               run the suite
#   make env    only set up that .venv (the README's "Try it" block starts with it)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.notclip-core
FULL   := $(VENV)/.notclip-installed

.PHONY: demo test env lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

# The demo needs only the core (polars, pyarrow, fsspec, braceexpand, typer, rich, numpy): well
# under a minute.
$(CORE): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $(CORE)

$(FULL): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(FULL) $(CORE)

demo: $(CORE)
	$(VENV)/bin/negscan laion

env: $(FULL)

lint: $(FULL)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
