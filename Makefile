# Quick start: `make run` (venv + install + whole workflow on the synthetic default), `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= all
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: run report test bench lint fmt test-cluster test-matrix dry-run clean check-config

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[test]"
	touch $(VENV)/.installed-base $@

run: $(VENV)/.installed-base
	$(SNAKEMAKE) --cores $(CORES) --profile profiles/default
	$(MAKE) --no-print-directory report

report: $(VENV)/.installed-base
	$(SNAKEMAKE) --cores 1 --profile profiles/default --report results/report.html

# YAML syntax of config.yaml and your own config (CONFIG=my_study.yaml), with file and line
check-config: $(VENV)/.installed-base
	$(PY) -m ketamine_bzd.yaml_check config.yaml $(CONFIG)

dry-run: $(VENV)/.installed-base
	$(SNAKEMAKE) --cores $(CORES) --profile profiles/default --dry-run

test: $(VENV)/.installed-test
	$(PY) -m pytest

bench: $(VENV)/.installed-test
	@for b in benchmarks/bench_*.py; do echo "# $$b"; $(PY) $$b || exit 1; done

lint: $(VENV)/.installed-test
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules/

fmt: $(VENV)/.installed-test
	$(VENV)/bin/snakefmt Snakefile rules/

test-cluster: $(VENV)/.installed-test
	bash tests/cluster/run.sh

# every degenerate cohort (docs/reliability.md) through the real snakemake command line
test-matrix: $(VENV)/.installed-test
	KETAMINE_BZD_MATRIX=1 $(PY) -m pytest -m matrix tests/test_degenerate_matrix.py

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
