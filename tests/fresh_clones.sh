#!/usr/bin/env bash
# Issue 8, "a first run that cannot race": N fresh clones in a row, each running the README's
# quick start (`make run`, here at --cores 2) without KETAMINE_BZD_KEY, so that the default key
# file is created by the workflow itself. Each clone gets its own .venv (uv's download cache is
# shared). Prints one line per clone and a summary; exits non-zero if any clone failed.
# Usage: bash tests/fresh_clones.sh [N=10] [CORES=2]      (make test-fresh-clones)
set -u
N=${1:-10}
CORES=${2:-2}
REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ketamine-bzd-clones.XXXXXX")
unset KETAMINE_BZD_KEY
echo "fresh clones of $(git -C "$REPO" rev-parse --short HEAD) in $WORK, --cores $CORES, load $(cut -d' ' -f1-3 /proc/loadavg)"
passed=0
for i in $(seq 1 "$N"); do
    dir="$WORK/clone$i"
    git clone --quiet "$REPO" "$dir"
    start=$(date +%s)
    if (cd "$dir" && make run CORES="$CORES" >"$WORK/clone$i.log" 2>&1) &&
        [ -s "$dir/.ketamine_bzd_key" ] && [ -s "$dir/results/report.html" ] &&
        [ -s "$dir/results/analysis/paper_comparison.csv" ] &&
        [ -s "$dir/results/multiverse/joint_inference.json" ]; then
        status=passed
        passed=$((passed + 1))
        rm -rf "$dir" # keep only the log of a clone that passed
    else
        status="FAILED (clone kept: $dir)"
    fi
    echo "clone $i: $status in $(($(date +%s) - start)) s, log $WORK/clone$i.log"
done
echo "fresh clones: $passed of $N passed"
[ "$passed" -eq "$N" ]
