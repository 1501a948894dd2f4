#!/usr/bin/env bash
# Snakemake runs this inside the new conda env, from the workflow's working directory (the
# repository root): install the package itself; its dependencies come from ketamine-bzd.yaml.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
