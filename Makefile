# mlrepro: `make` lists the targets; a newcomer needs `make repro` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
# uv from PATH if present, else bootstrapped with pip into .tools/
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

BASE ?= main

.PHONY: help env repro verify pr-report test test-fast lint typecheck pytest bench s3-local clean

help: ## list the targets
	@echo "mlrepro: reproducible ML pipelines on DVC and Git"
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: each stage is a new Python process; with PYTHONDONTWRITEBYTECODE set (as on
# some machines) every import of pandas or scikit-learn would otherwise compile from source
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

env: $(VENV)/.synced ## build the pinned environment (.venv) from uv.lock

repro: env ## run the pipeline (dvc repro) on the default data and print the metrics
	dvc repro
	mlrepro metrics show
	@git diff --quiet -- dvc.lock 2>/dev/null || echo "note: dvc.lock differs from the committed one (git diff dvc.lock)"

verify: env ## re-run HEAD from scratch in a clean checkout and prove every hash in dvc.lock
	mlrepro verify HEAD

pr-report: env ## the pull-request report against BASE (default main) in report/, then the gate
	dvc repro
	mlrepro report $(BASE) workspace -o report
	mlrepro diff $(BASE) workspace --gate > /dev/null

test: lint typecheck pytest ## ruff, mypy and the test suite

test-fast: lint ## ruff and the tests not marked e2e (no git + DVC repo): seconds, for the edit loop
	pytest -m "not e2e"

lint: env ## ruff lint and format check
	ruff check src tests bench
	ruff format --check src tests bench

typecheck: env ## mypy on src/
	mypy

pytest: env ## the test suite only
	pytest

bench: env ## benchmark dvc repro (cold and no-op) against a plain script; writes bench/RESULTS.md
	python bench/pipeline.py --output bench/RESULTS.md

s3-local: PORT ?= 5555
s3-local: env ## start a local S3 API server (moto) on 127.0.0.1:5555 (or PORT=...) to try it out
	python -m mlrepro.remote.local_server --port $(PORT)

clean: ## remove the environment and tool caches (keeps data and the DVC cache)
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
