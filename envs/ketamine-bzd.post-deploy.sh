#!/usr/bin/env bash
# Snakemake runs this inside the new conda env, from the working directory (which need not be
# the workflow's folder): install the workflow's own package from the workflow's source folder,
# named by rules/common.smk in KETAMINE_BZD_WORKFLOW_DIR; no dependencies (ketamine-bzd.yaml has
# them) and not editable (the env keeps the code it was made with).
set -euo pipefail
src="${KETAMINE_BZD_WORKFLOW_DIR:?not set: run through the workflow (snakemake --use-conda)}"
if [ ! -f "$src/pyproject.toml" ]; then
    echo "ketamine-bzd post-deploy: $src is not a local copy of the workflow; with --use-conda" \
        "deploy the workflow as a local clone (e.g. snakedeploy deploy-workflow) " >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation "$src"
