# The two commands a newcomer needs: `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
# MWAA's Airflow 3 (what `make mwaa` resolves the requirements against) and the Airflow 3.0 venv of the bundle test.
AIRFLOW30_VENV := .venv-airflow30
MWAA_AIRFLOW_VERSION ?= 3.0.6
MWAA_PYTHON_VERSION ?= 3.12
AWSGLUE_LIB := $(VENV)/awsglue-dataplane
export DATALAKE_HOME ?= $(CURDIR)/.datalake
SAMPLE_DATE ?= 2026-03-29
# pytest-xdist workers for make test and test-fast (0: one process). Each worker takes a whole module at a
# time, so a module's fixtures (the end-to-end lake, the UI) start once; tests/conftest.py orders them.
TEST_WORKERS ?= 2
PYTEST_WORKERS := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.DEFAULT_GOAL := help
.PHONY: help setup run ui test test-fast lint format checkov-venv airflow30-venv mwaa bench clean

help: ## Show this help
	@# The help texts name $(DATALAKE_HOME): shown as its value, not as make's variable.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's|$$(DATALAKE_HOME)|$(DATALAKE_HOME)|g' \
		| awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt -c constraints.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@# Glue's own Python library (argument parser, GlueContext): tests only, outside the venv's site-packages,
	@# so local jobs never import it (its licence limits its use to AWS services).
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --target $(AWSGLUE_LIB) AWSGlueDataplanePython==5.1.0
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check uv
	$(CHECKOV_VENV)/bin/uv pip install -q --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	touch $@

setup: $(BIN)/.installed $(CHECKOV_VENV)/.installed ## Create the virtual environments (idempotent)

checkov-venv: $(CHECKOV_VENV)/.installed ## Create the separate checkov environment

# Airflow 3.0 without our project installed; the provider at the version constraints.txt pins.
$(AIRFLOW30_VENV)/.installed: constraints.txt
	test -x $(AIRFLOW30_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW30_VENV)
	$(AIRFLOW30_VENV)/bin/python -m pip install -q --disable-pip-version-check uv
	$(AIRFLOW30_VENV)/bin/uv pip install -q --python $(AIRFLOW30_VENV)/bin/python apache-airflow==3.0.6 \
		"apache-airflow-providers-amazon[aiobotocore]==$$(sed -n 's/^apache-airflow-providers-amazon==//p' constraints.txt)"
	touch $@

airflow30-venv: $(AIRFLOW30_VENV)/.installed ## Airflow 3.0 environment the MWAA bundle test parses the DAG with

lint: $(BIN)/.installed ## ruff check (with Airflow's AIR rules) and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed ## Apply ruff's fixes and formatter
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup lint airflow30-venv ## README test command: set up, lint, run every test
	AIRFLOW30_PYTHON=$(CURDIR)/$(AIRFLOW30_VENV)/bin/python CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov AWSGLUE_LIB=$(CURDIR)/$(AWSGLUE_LIB) $(BIN)/pytest $(PYTEST_WORKERS)

test-fast: setup airflow30-venv ## Tests that start no Spark, PostgreSQL, Airflow, browser or template linter (about 70 s)
	AIRFLOW30_PYTHON=$(CURDIR)/$(AIRFLOW30_VENV)/bin/python CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov AWSGLUE_LIB=$(CURDIR)/$(AWSGLUE_LIB) $(BIN)/pytest $(PYTEST_WORKERS) -m "not slow"

run: $(BIN)/.installed ## README run command: generate sample data, run the daily DAG locally, show the status, write the report
	$(BIN)/datalake generate --date $(SAMPLE_DATE)
	$(BIN)/datalake run --date $(SAMPLE_DATE)
	$(BIN)/datalake status --date $(SAMPLE_DATE)
	$(BIN)/datalake report --date $(SAMPLE_DATE)

ui: $(BIN)/.installed ## Airflow UI on http://localhost:8080 over the local lake (airflow standalone; password in $(DATALAKE_HOME)/airflow)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m energy_datalake.ui

mwaa: $(BIN)/.installed ## MWAA artefacts in dist/mwaa: plugins.zip, requirements.txt, dags/ (MWAA_AIRFLOW_VERSION=3.0.6)
	$(BIN)/python -m energy_datalake.mwaa --out dist/mwaa --airflow-version $(MWAA_AIRFLOW_VERSION) \
		--python-version $(MWAA_PYTHON_VERSION)

bench: $(BIN)/.installed ## Every benchmark (~30 min on 2 cores), then the table and chart in benchmarks/results/
	$(BIN)/python benchmarks/raw_to_processed.py
	$(BIN)/python benchmarks/warehouse_load.py
	$(BIN)/python benchmarks/dim_client_load.py
	$(BIN)/python benchmarks/local_run.py
	$(BIN)/python benchmarks/incremental.py
	$(BIN)/python benchmarks/report.py

clean: ## Remove the local lake state ($(DATALAKE_HOME)); keeps the virtual environments
	rm -rf $(DATALAKE_HOME)
