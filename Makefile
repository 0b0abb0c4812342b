# retail-lake: two commands do all set-up on a fresh machine.
#   make demo   creates .venv, installs everything, synthesizes the CDK app and runs the pipeline on the local twin
#   make test   installs what the tests need and runs the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev
EVENTS ?= 200000
SEED ?= 42
PYTEST_ARGS ?=

export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
LAYER := build/layers/stream_deps/.stamp
EMR_PYTHON := build/emr/python_deps/.stamp
# DAG tests run Airflow in its own environment: Airflow pins its own dependency set (requirements/airflow*.txt)
AIRFLOW_VENV := .venv-airflow
AIRFLOW_INSTALLED := $(AIRFLOW_VENV)/.installed

.PHONY: help prerequisites install postgres airflow demo test synth bench layer emr-python lint clean

help:
	@echo "make demo    set up everything and run the streaming pipeline end to end on the local twin"
	@echo "make test    set up everything and run the whole test suite"
	@echo "make synth   cdk synth (stage=$(STAGE)) into cdk.out with the pinned CDK CLI"
	@echo "make bench   stream-transform benchmark (results: docs/benchmarks.md)"
	@echo "make clean   remove build outputs (keeps .venv and node_modules)"

prerequisites:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: Python 3.11 or newer is required as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1 || echo none))." >&2; \
	  echo "       Install it, or run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 is required for Spark (the Glue and EMR jobs run on local Spark); install a JDK 17 (e.g. apt-get install openjdk-17-jdk-headless)." >&2; exit 1; }
	@java -version 2>&1 | head -1 | grep -Eq '"(17|18|19|2[0-9])[."]' || { echo "error: Java 17 or newer is required for Spark; found: $$(java -version 2>&1 | head -1)" >&2; exit 1; }
	@command -v node >/dev/null 2>&1 || { echo "error: Node.js 20 or newer is required for the AWS CDK CLI; install it (e.g. apt-get install nodejs npm)." >&2; exit 1; }
	@node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' || { echo "error: Node.js 20 or newer is required for the AWS CDK CLI; found $$(node --version)." >&2; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is required to install the pinned AWS CDK CLI." >&2; exit 1; }

$(INSTALLED): pyproject.toml requirements/constraints.txt | prerequisites
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[cdk,spark,test]'
	@touch $@

$(NODE_INSTALLED): package.json package-lock.json | prerequisites
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(LAYER): lambdas/stream_transform/requirements.txt scripts/build_lambda_layer.py stacks/dependency_builds.py $(INSTALLED)
	$(BIN)/python scripts/build_lambda_layer.py

# The EMR Serverless driver's packages (pydeequ, PyYAML, boto3, ...): CPython 3.9 wheels, deployed as one zip
$(EMR_PYTHON): requirements/emr-python.txt scripts/build_emr_python.py stacks/dependency_builds.py $(INSTALLED)
	$(BIN)/python scripts/build_emr_python.py

$(AIRFLOW_INSTALLED): requirements/airflow.txt requirements/airflow-constraints.txt | prerequisites
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip==25.3
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -c requirements/airflow-constraints.txt -r requirements/airflow.txt
	@touch $@

airflow: $(AIRFLOW_INSTALLED)

install: $(INSTALLED) $(NODE_INSTALLED) $(LAYER) $(EMR_PYTHON) postgres

# The operational store's PostgreSQL server for the twin (Debian packages; nothing to do when installed)
postgres:
	bash scripts/install_postgres.sh

layer: $(LAYER)

emr-python: $(EMR_PYTHON)

synth: install
	PATH="$(CURDIR)/$(BIN):$$PATH" npx --no-install cdk synth --no-notices --quiet -c stage=$(STAGE) --output cdk.out

demo: synth
	$(BIN)/retail-lake demo --events $(EVENTS) --seed $(SEED) --stage $(STAGE)

test: install $(AIRFLOW_INSTALLED)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/retail-lake bench stream

clean:
	rm -rf cdk.out build .pytest_cache demo-output
