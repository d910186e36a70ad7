# The README's two commands: `make repro` and `make test`. Both create .venv when it is missing.
SHELL := /bin/bash
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export PYTHONHASHSEED := 0

.PHONY: repro test venv clean-data bench help

help:
	@echo "make repro  - create .venv, install, run every pipeline (profile from params.yaml), regenerate reports/"
	@echo "make test   - create .venv if missing, run the fast test suite (pytest)"
	@echo "make bench  - run benchmarks/ (side-by-side ratios)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch/torchvision first: pip takes the local CUDA build (see README, "Install")
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

repro: $(STAMP)
	$(VENV)/bin/dvc config --local core.analytics false
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

test: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks need the prepared smoke data (make repro first); each writes reports/benchmarks/<name>.json.
bench: $(STAMP)
	set -e; for b in benchmarks/*.py; do echo "== $$b"; PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) $$b; done
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro tables

clean-data:
	rm -rf data/*/
