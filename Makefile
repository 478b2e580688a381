# Every target installs what it needs into .venv first, so each works from a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
# The demo needs only the package; tests and benchmarks need the dev extra too.
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(BASE_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $(BASE_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP) $(BASE_STAMP)

install: $(STAMP)

# The venv is not activated: grid_search.py prints its commands with the venv's yanex by path.
demo: $(BASE_STAMP)
	cd examples/run-api/02_batch_execution && "$(abspath $(PY))" grid_search.py
	@echo "(Or type plain yanex after activating the venv: . $(VENV)/bin/activate)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n 2 -q

# Every benchmark runs; the target fails at the end if any missed its target.
bench: $(STAMP)
	@status=0; for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || status=1; done; exit $$status

clean:
	rm -rf $(VENV) build dist *.egg-info
