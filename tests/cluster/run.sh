#!/usr/bin/env bash
# `make test-cluster`: run the workflow on a real one-node SLURM cluster and
# check that it gives the same results as a local run.
#
#  1. install slurmctld/slurmd/slurm-client/munge (apt-get, once) and the
#     Snakemake SLURM executor plugin (into an isolated directory, see below);
#  2. start munged + slurmctld + slurmd on 127.0.0.1 and submit a trivial job;
#  3. copy the project's workflow (git-tracked files) to a temp dir, merge
#     tests/cluster/config-fast.yaml into its config.yaml, and run it locally
#     (--cores 2); meanwhile submit a workflow whose only job fails on
#     purpose: snakemake must exit non-zero within a time bound and print the
#     job's rule log and SLURM log;
#  4. run the workflow again through SLURM in the same directory and compare
#     every file under results/ with the local run (compare_results.py).
# Daemons and running snakemake processes are stopped on every exit path.
#
# Environment: KEEP_CLUSTER_WORKDIR=1 keeps the temp dir even on success;
# CLUSTER_TIMEOUT_S bounds each snakemake run (default 1200 s) and
# CLUSTER_BUDGET_S all of them together (default 2400 s, so that with clean-up
# `make test-cluster` ends within about 40 minutes even when something hangs);
# CLUSTER_FULL_CONFIG=1 runs with the workflow's own config.yaml (slow);
# CLUSTER_WORKFLOW_DIR runs another git checkout's workflow (default: this one);
# CLUSTER_INCLUDE_UNTRACKED=1 also copies untracked, not ignored files.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/tests/cluster"
venv_bin="$repo/.venv/bin"
timeout_s="${CLUSTER_TIMEOUT_S:-1200}"
budget_end=$(( SECONDS + ${CLUSTER_BUDGET_S:-2400} ))
fail_bound_s=120
t_start=$SECONDS

say() { echo "[test-cluster] $*"; }
die() { say "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (starts slurmd/slurmctld); see docs/cluster.md to use a real cluster instead"
[ -x "$venv_bin/snakemake" ] || die "$venv_bin/snakemake not found; create the venv first (make test installs it)"

work="$(mktemp -d /tmp/kbzd-test-cluster.XXXXXX)"
export CLUSTER_RUN_DIR="$work/slurm"
export SLURM_CONF="$CLUSTER_RUN_DIR/slurm.conf"
export PATH="$venv_bin:$PATH"
cluster_started=0
sm_pids=()

# Snakemake ignores a single SIGTERM while it waits on remote jobs: ask with
# SIGINT (it then cancels its SLURM jobs), then escalate.
stop_snakemake() {
    local pid="$1" sig i
    for sig in INT TERM KILL; do
        kill -0 "$pid" 2>/dev/null || return 0
        kill -"$sig" "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    done
}

cleanup() {
    local rc=$? pid ids
    trap - EXIT INT TERM
    for pid in "${sm_pids[@]}"; do stop_snakemake "$pid"; done
    if [ "$cluster_started" = 1 ]; then
        # Only our own jobs can be on this private cluster.
        ids="$(squeue -h -o %i 2>/dev/null || true)"
        if [ -n "$ids" ]; then scancel $ids 2>/dev/null || true; fi
        bash "$here/cluster.sh" stop || rc=1
    fi
    if [ "$rc" -eq 0 ] && [ "${KEEP_CLUSTER_WORKDIR:-0}" != 1 ]; then
        rm -rf "$work"
    else
        say "work dir kept for inspection: $work"
    fi
    say "total wall time: $(( SECONDS - t_start )) s (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_snakemake LOG DIR ARGS...: runs snakemake in the background (so that
# traps fire at once on Ctrl-C) and sets $started_pid.
start_snakemake() {
    local log="$1" dir="$2"
    shift 2
    ( cd "$dir" && exec "$venv_bin/snakemake" "$@" ) > "$log" 2>&1 &
    started_pid=$!
    sm_pids+=("$started_pid")
}

# wait_snakemake PID START -> its exit status, or 124 after stopping it once
# $timeout_s have passed since START (a $SECONDS value) or the budget is spent.
wait_snakemake() {
    local pid="$1" deadline=$(( $2 + timeout_s )) rc=0 timed_out=0 kept=() p
    [ "$deadline" -le "$budget_end" ] || deadline=$budget_end
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            say "snakemake (pid $pid) still running after $(( SECONDS - $2 )) s; stopping it" >&2
            stop_snakemake "$pid"
            timed_out=1
            break
        fi
        sleep 1
    done
    wait "$pid" || rc=$?
    for p in "${sm_pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    sm_pids=("${kept[@]}")
    [ "$timed_out" = 0 ] || rc=124
    return "$rc"
}

# --- 1. software --------------------------------------------------------------
bash "$here/install.sh"
# The plugin makes every snakemake start query `scontrol show config`, so it is
# kept out of the shared .venv unless the user installed it there
# (pip install -e .[slurm]); otherwise it lives in its own directory that only
# this script puts on PYTHONPATH (sbatch exports the environment to jobs).
if ! "$venv_bin/python" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    plugin_dir="${KBZD_SLURM_PLUGIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ketamine-bzd-cluster/site}"
    if ! PYTHONPATH="$plugin_dir" "$venv_bin/python" -c \
        "import snakemake_executor_plugin_slurm, snakemake_executor_plugin_slurm_jobstep" 2>/dev/null; then
        say "installing snakemake-executor-plugin-slurm into $plugin_dir"
        # Same bounds as the `slurm` extra in pyproject.toml; the plugins' other
        # dependencies (pandas, numpy, pyyaml, throttler) are already in .venv.
        "$venv_bin/pip" install --quiet --disable-pip-version-check --no-deps \
            --target "$plugin_dir" \
            'snakemake-executor-plugin-slurm>=1.0,<3' \
            'snakemake-executor-plugin-slurm-jobstep>=0.6,<1' 2>&1 \
            | grep -v '^WARNING: Location' >&2 || true
    fi
    export PYTHONPATH="$plugin_dir${PYTHONPATH:+:$PYTHONPATH}"
fi
"$venv_bin/python" -c "import snakemake_executor_plugin_slurm, snakemake_executor_plugin_slurm_jobstep" \
    || die "snakemake-executor-plugin-slurm is not importable"

# --- 2. cluster ---------------------------------------------------------------
t0=$SECONDS
cluster_started=1
bash "$here/cluster.sh" start
t_daemons=$(( SECONDS - t0 ))
out="$work/smoke.out"
smoke_id="$(sbatch --parsable --time=1 --mem=50 -o "$out" --wrap 'echo smoke-ok on $(hostname -s)')" \
    || die "could not submit a trivial sbatch job"
# Poll ourselves: `sbatch --wait` backs off to 10 s between checks.
state=""
for i in $(seq 1 120); do
    state="$(squeue -h -t all -j "$smoke_id" -o %T 2>/dev/null || true)"
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
    sleep 0.5
done
[ "$state" = COMPLETED ] || die "trivial sbatch job ended as '${state:-unknown}'"
grep -q smoke-ok "$out" || die "trivial sbatch job produced no output"
t_cluster=$(( SECONDS - t0 ))
say "cluster up in ${t_daemons} s, trivial job done after ${t_cluster} s"

profile="$here/profile"

# --- 3. workflow copy; local run and, meanwhile, a deliberately failing job -----
wf_src="${CLUSTER_WORKFLOW_DIR:-$repo}"
[ -f "$wf_src/Snakefile" ] || die "no $wf_src/Snakefile to run"
wf="$work/workflow"
mkdir -p "$wf"
# Git-tracked files (working-tree versions): what a clone would hold.
untracked=()
if [ "${CLUSTER_INCLUDE_UNTRACKED:-0}" = 1 ]; then untracked=(--others --exclude-standard); fi
(cd "$wf_src" && git ls-files -z --cached "${untracked[@]}" \
    | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -xf - -C "$wf"
rm -rf "$wf/results"
# The editable install points at $repo/src, which colleagues may be editing while
# this runs: import the copy's package instead so both runs use the same code.
if [ -d "$wf/src" ]; then export PYTHONPATH="$wf/src${PYTHONPATH:+:$PYTHONPATH}"; fi
if [ "${CLUSTER_FULL_CONFIG:-0}" != 1 ] && [ -f "$wf/config.yaml" ]; then
    "$venv_bin/python" "$here/merge_config.py" "$wf/config.yaml" "$here/config-fast.yaml"
fi

mkdir -p "$work/failing"
cp "$here/failing/Snakefile" "$work/failing/"
t_fail0=$SECONDS
# After the failure the plugin's shutdown still waits out its current polling
# interval (see the profile), hence ~40 s from submission to exit.
start_snakemake "$work/failing.log" "$work/failing" --profile "$profile"
fail_pid=$started_pid

t0=$SECONDS
start_snakemake "$work/local.log" "$wf" --cores 2
local_pid=$started_pid

# The failing run finishes long before the local one.
rc=0
wait_snakemake "$fail_pid" "$t_fail0" || rc=$?
t_fail=$(( SECONDS - t_fail0 ))
if [ "$rc" -eq 0 ]; then
    cat "$work/failing.log" >&2; die "a deliberately failing SLURM job did not fail the run"
fi
[ "$rc" -ne 124 ] || { tail -n 60 "$work/failing.log" >&2; die "failing job: snakemake hung (stopped after ${timeout_s} s)"; }
[ "$t_fail" -le "$fail_bound_s" ] || die "failing job: took ${t_fail} s to fail (bound ${fail_bound_s} s)"
grep -q "KBZD-DELIBERATE-FAILURE marker from the failing job" "$work/failing.log" \
    || { tail -n 60 "$work/failing.log" >&2; die "failing job: the job's rule log was not printed"; }
grep -q "KBZD-DELIBERATE-FAILURE on stderr" "$work/failing.log" \
    || { tail -n 60 "$work/failing.log" >&2; die "failing job: the SLURM log (job stderr) was not printed"; }
say "deliberate failure: exit $rc after ${t_fail} s, rule log and SLURM log printed"

rc=0
wait_snakemake "$local_pid" "$t0" || rc=$?
t_local=$(( SECONDS - t0 ))
[ "$rc" -eq 0 ] || { tail -n 80 "$work/local.log" >&2; die "local run failed (exit $rc)"; }
say "local run: ${t_local} s"
[ -d "$wf/results" ] || die "local run wrote no results/"
mv "$wf/results" "$work/results.local"
# Fresh start for the SLURM run in the same directory, so that paths written
# into outputs are the same in both runs.
rm -rf "$wf/.snakemake" "$wf/logs"

# --- 4. the same workflow through SLURM, then compare ----------------------------
t0=$SECONDS
start_snakemake "$work/slurm.log" "$wf" --profile "$profile" --executor slurm --jobs 4
rc=0
wait_snakemake "$started_pid" "$t0" || rc=$?
t_slurm=$(( SECONDS - t0 ))
[ "$rc" -eq 0 ] || { tail -n 120 "$work/slurm.log" >&2; die "SLURM run failed (exit $rc)"; }
n_jobs=$(grep -c 'has been submitted with SLURM jobid' "$work/slurm.log" || true)
[ "$n_jobs" -gt 0 ] || die "SLURM run submitted no jobs (did it run locally?)"
say "SLURM run: ${t_slurm} s, ${n_jobs} jobs submitted"
# The multiverse permutations run as multiverse.permutation_shards jobs per table
# (config-fast.yaml: 4): each shard must have been its own SLURM job.
want_shards=$("$venv_bin/python" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['multiverse'].get('permutation_shards', 1))" "$wf/config.yaml")
n_shards=$(grep -E -A12 '^(local)?rule multiverse_permutations:' "$work/slurm.log" | grep -oE 'shard=[0-9]+' | sort -u | wc -l)
n_shard_jobs=$(grep -E -A12 '^(local)?rule multiverse_permutations:' "$work/slurm.log" | grep -cE 'wildcards: table=[^,]+, shard=[0-9]+' || true)
[ "$n_shards" -eq "$want_shards" ] \
    || die "expected ${want_shards} multiverse permutation shards as SLURM jobs, saw ${n_shards}"
say "multiverse permutations: ${n_shard_jobs} jobs (${n_shards} shards per table)"
# Ingest runs once per study (each raw file decoded once, every partition written); the cohort
# runs once per partition of patients (config-fast.yaml: 47 patients, 16 per partition, so 3):
# each partition's cohort must have been its own SLURM job.
want_parts=$("$venv_bin/python" -c "import math, sys, yaml; c = yaml.safe_load(open(sys.argv[1])); print(max(1, math.ceil(c['synthetic']['n_patients'] / c['partitioning']['patients_per_partition'])))" "$wf/config.yaml")
n_studies=$("$venv_bin/python" -c "import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))['studies']))" "$wf/config.yaml")
n_ingest_jobs=$(grep -E -A12 '^(local)?rule ingest:' "$work/slurm.log" | grep -cE 'wildcards: study=[^,]+$' || true)
n_cohort_parts=$(grep -E -A12 '^rule cohort:' "$work/slurm.log" | grep -oE 'wildcards: part=[0-9]+' | sort -u | wc -l)
[ "$n_ingest_jobs" -eq "$n_studies" ] \
    || die "expected ${n_studies} ingest jobs (one per study, writing ${want_parts} partitions each) as SLURM jobs, saw ${n_ingest_jobs}"
[ "$n_cohort_parts" -eq "$want_parts" ] \
    || die "expected ${want_parts} cohort partitions as SLURM jobs, saw ${n_cohort_parts}"
grep -qE '^localrule (ingest|cohort):' "$work/slurm.log" \
    && die "a partition's ingest or cohort job ran locally, not as a SLURM job"
say "partitions: ${want_parts}; ${n_ingest_jobs} ingest jobs, ${n_cohort_parts} cohort jobs"

"$venv_bin/python" "$here/compare_results.py" "$work/results.local" "$wf/results" \
    || die "local and SLURM results differ"

echo "cluster_daemons_up: ${t_daemons} s"
echo "cluster_up_with_first_job: ${t_cluster} s"
echo "failing_job_detected: ${t_fail} s"
echo "local_run: ${t_local} s"
echo "slurm_run: ${t_slurm} s"
echo "slurm_jobs: ${n_jobs} jobs"
echo "slurm_permutation_shard_jobs: ${n_shard_jobs} jobs"
echo "slurm_partition_jobs: ${n_ingest_jobs} ingest, ${n_cohort_parts} cohort"
say "OK"
