# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Both create .venv on first use with the pinned versions in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --constraint constraints.txt
STAMP := $(VENV)/.installed

.PHONY: venv demo lint test

venv: $(STAMP)

# basicsr's sdist declares torch in setup_requires, so it is built against the torch already in the venv
# (--no-build-isolation) instead of pulling a second torch into a throwaway build environment.
$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch torchvision
	$(PIP) --no-build-isolation basicsr
	$(PIP) --no-build-isolation -e '.[test]'
	touch $@

demo: $(STAMP)
	$(PY) -m igan_basicsr.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The whole suite, lint first; `$(PY) -m pytest -m "not slow" tests` runs the fast part alone.
test: lint
	$(PY) -m pytest -q -n 2 tests
