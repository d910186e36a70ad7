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

.PHONY: repro test venv clean-data bench help system peers fonts

help:
	@echo "make repro  - create .venv, install, run every pipeline (profile from params.yaml), regenerate reports/"
	@echo "make test   - create .venv if missing, run the fast test suite (pytest)"
	@echo "make bench  - run benchmarks/ (side-by-side ratios)"
	@echo "make system - install the Debian packages the OCR task needs (Noto fonts, Tesseract + language packs)"

# Debian packages the OCR task needs: Noto fonts (the synthetic scenes) and Tesseract 5 + its language packs
# (a real peer). Installed only when missing; needs root (or sudo) and the Debian mirror.
APT_OCR := fonts-noto-core fonts-noto-cjk tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra \
	tesseract-ocr-spa tesseract-ocr-rus tesseract-ocr-ell tesseract-ocr-ara tesseract-ocr-hin tesseract-ocr-chi-sim \
	tesseract-ocr-jpn tesseract-ocr-kor
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system:
	@missing="$$(for p in $(APT_OCR); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:" $$missing; \
	$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; fi
peers fonts: system

# The exact versions the committed reports were produced with (pyproject.toml gives ranges, for users' own
# environments). torch/torchvision go first: pip takes the local CUDA build (see README, "Install").
PINS := torch==2.14.1 torchvision==0.29.1
EXTRAS := all,dev

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PINS)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]' $(PINS)
	touch $(STAMP)

venv: $(STAMP)

repro: $(STAMP) system
	$(VENV)/bin/dvc config --local core.analytics false
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

test: $(STAMP) system
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks need the prepared smoke data (make repro first); each writes reports/benchmarks/<name>.json.
bench: $(STAMP)
	set -e; for b in benchmarks/*.py; do echo "== $$b"; PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) $$b; done
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro --single-item tables

clean-data:
	rm -rf data/*/
