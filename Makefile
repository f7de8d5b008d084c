# skucast: every target bootstraps what it needs (uv, then the locked environment).
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/local:$(CURDIR)/layers/shared
export SAM_CLI_TELEMETRY := 0
UV ?= uv
SAM_VERSION := 1.170.0
RUN := $(UV) run --frozen

.PHONY: help bootstrap up demo test lint typecheck validate openapi bench clean

help:
	@echo "make demo     run the main job end to end on the local stack"
	@echo "make test     run the whole test suite (what CI runs)"
	@echo "make up       serve the API on 127.0.0.1:\$${SKUCAST_API_PORT:-3000} until Ctrl-C"
	@echo "make lint     ruff + mypy;  make validate: sam validate --lint + cfn-lint"

bootstrap:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet --user uv
	@$(UV) sync --frozen --quiet

up: bootstrap
	@$(RUN) python -m skucast_local

demo: bootstrap
	@$(RUN) python -m skucast_local.demo

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) mypy

typecheck: lint

validate: bootstrap
	@command -v sam >/dev/null 2>&1 || $(UV) tool install --quiet aws-sam-cli==$(SAM_VERSION)
	AWS_DEFAULT_REGION=us-east-1 sam validate --lint
	$(RUN) cfn-lint template.yaml

openapi: bootstrap
	$(RUN) python -m skucast_local.openapi --write

test: bootstrap validate lint
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)
	$(RUN) pytest

bench: bootstrap
	$(RUN) python -m bench

clean:
	rm -rf .local demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
