# Quick start: `make run` (venv + locked install + whole workflow on the synthetic default), `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= all
PIP_FLAGS ?= --quiet --disable-pip-version-check
# Locked installs: exact versions with hashes (requirements/*.lock, made by `make lock`), then the
# package itself without dependencies, built by the locked setuptools. uv installs them (as
# hash-checked as pip, and 2-14x faster here: docs/development.md); uv itself comes from
# requirements/bootstrap.lock through pip, hash-checked too. --compile-bytecode and compileall
# write the .pyc files at install: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines)
# every process would otherwise compile pandas, scipy, statsmodels and Snakemake from source,
# about 3 s more for each job and each snakemake call (docs/development.md).
UV := $(VENV)/bin/uv
INSTALL_LOCKED = $(UV) pip install --quiet --python $(PY) --require-hashes --no-deps --compile-bytecode -r
# The multiverse's numba kernels are compiled once here too, into their cache beside the source:
# the first run's parallel jobs would each compile them (about 20 CPU-s apiece).
INSTALL_SELF = $(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e . \
	&& $(PY) -m compileall -q src \
	&& $(PY) -c "from ketamine_bzd.multiverse.kernels import compile_kernels; compile_kernels()"
LOCK = $(UV) pip compile pyproject.toml requirements/build.in --generate-hashes --quiet \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28

.PHONY: run report test test-integration test-fast bench lint fmt test-cluster test-matrix test-fresh-clones dry-run clean check-config lock

$(UV): requirements/bootstrap.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --require-hashes --no-deps -r requirements/bootstrap.lock
	touch $@

$(VENV)/.installed-base: requirements/base.lock pyproject.toml | $(UV)
	$(INSTALL_LOCKED) requirements/base.lock
	$(INSTALL_SELF)
	touch $@

$(VENV)/.installed-test: requirements/test.lock pyproject.toml | $(UV)
	$(INSTALL_LOCKED) requirements/test.lock
	$(INSTALL_SELF)
	touch $(VENV)/.installed-base $@

# CONFIG=my_study.yaml: your own config, its YAML checked first (Snakemake reads --configfile
# before the workflow starts and names neither file nor line on a syntax error); ARGS: more
# snakemake options, e.g. ARGS=--replace-workflow-config
RUN_ARGS = $(if $(CONFIG),--configfile $(CONFIG)) $(ARGS)
run: $(VENV)/.installed-base
	$(if $(CONFIG),$(PY) -m ketamine_bzd.yaml_check $(CONFIG))
	$(SNAKEMAKE) --cores $(CORES) --profile profiles/default $(RUN_ARGS)
	@$(MAKE) --no-print-directory results/report.html

# The report is rebuilt only when a result, a caption or the config is newer than it
# (the prerequisites are listed after the workflow has run: `run` calls make again).
REPORT_INPUTS = $(shell find results -type f ! -path 'results/logs/*' ! -name report.html \
	! -name .gitkeep 2>/dev/null) $(wildcard report/*.rst) config.yaml
results/report.html: $(REPORT_INPUTS) | $(VENV)/.installed-base
	$(SNAKEMAKE) --cores 1 --profile profiles/default $(RUN_ARGS) --report $@

report: $(VENV)/.installed-base
	$(SNAKEMAKE) --cores 1 --profile profiles/default $(RUN_ARGS) --report results/report.html

# YAML syntax of config.yaml and your own config (CONFIG=my_study.yaml), with file and line
check-config: $(VENV)/.installed-base
	$(PY) -m ketamine_bzd.yaml_check config.yaml $(CONFIG)

dry-run: $(VENV)/.installed-base
	$(SNAKEMAKE) --cores $(CORES) --profile profiles/default $(RUN_ARGS) --dry-run

# Two pytest-xdist workers (TEST_WORKERS=1: one process); a test file stays on one worker, and the
# workflow runs the files share are built once (tests/conftest.py). (--dist loadgroup would spread
# files better, but it does not group on pytest 9.2: pytest-dev/pytest-xdist#1386.)
TEST_WORKERS ?= 2
PYTEST = $(PY) -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)
# make test: unit tests, the shared default run and what reads it, the wheel-and-module deployment
# and the rerun decisions (about 3.5 minutes on 2 cores); make test-integration: the other workflow
# runs (about 6 minutes; CI runs both, .ci/run).
test: $(VENV)/.installed-test
	$(PYTEST) -m "not integration" --durations=25

test-integration: $(VENV)/.installed-test
	$(PYTEST) -m integration --durations=25

# Unit tests only: no workflow runs (those are marked slow).
test-fast: $(VENV)/.installed-test
	$(PYTEST) -m "not slow"

bench: $(VENV)/.installed-test
	@for b in benchmarks/bench_*.py; do echo "# $$b"; $(PY) $$b || exit 1; done

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules/

fmt: $(VENV)/.installed-test
	$(VENV)/bin/snakefmt Snakefile rules/

# Regenerate the locks after a change of pyproject.toml's dependencies.
lock: | $(UV)
	$(LOCK) -o requirements/base.lock
	$(LOCK) --extra test -o requirements/test.lock
	$(LOCK) --extra slurm -o requirements/slurm.lock
	$(UV) pip compile requirements/bootstrap.in --generate-hashes --quiet --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements/bootstrap.lock

test-cluster: $(VENV)/.installed-test
	bash tests/cluster/run.sh

# every degenerate cohort (docs/reliability.md) through the real snakemake command line
test-matrix: $(VENV)/.installed-test
	KETAMINE_BZD_MATRIX=1 $(PY) -m pytest -m matrix tests/test_degenerate_matrix.py

# issue 8: ten fresh clones in a row, each `make run` at --cores 2 without KETAMINE_BZD_KEY
test-fresh-clones:
	bash tests/fresh_clones.sh 10 2

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
