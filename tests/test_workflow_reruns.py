"""Reruns that match what changed (issue 5): driving the snakemake CLI in temporary copies."""

import hashlib
import os
import re
import signal
import subprocess
import time

import pytest
import yaml

from workflow_helpers import SNAKEMAKE, copy_workflow, run_env, snakemake

pytestmark = pytest.mark.slow


def digest(root):
    """sha256 of every result file, logs and the report excepted (they carry timestamps)."""
    out = {}
    for path in sorted((root / "results").rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[1] not in ("logs",) and path.suffix != ".html":
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def mtimes(root):
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns for p in (root / "results").rglob("*") if p.is_file()
    }


def changed(before, after):
    return {k for k in after if before.get(k) != after[k]}


@pytest.fixture
def full_run(default_run_copy):
    return default_run_copy, digest(default_run_copy)


def test_second_run_does_nothing_and_says_so(full_run):
    workdir, _ = full_run
    before = mtimes(workdir)
    proc = snakemake(workdir)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert changed(before, mtimes(workdir)) == set()


def planned(workdir, *args, package=None):
    """Jobs a dry run plans, per rule, and its text: Snakemake's rerun decision, without running."""
    proc = snakemake(workdir, "--dry-run", *args, package=package)
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}, text
    table = text[text.index("Job stats:") :]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    jobs.pop("total", None)
    return jobs, text


def _start_and_interrupt(workdir, sig, after):
    """Start the default run and send ``sig`` once the folder ``after`` exists."""
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--cores", "2", "--profile", "profiles/default"],
        cwd=workdir,
        env=run_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (workdir / after).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)  # snakemake and its jobs die at once, as in a crash
    else:
        proc.send_signal(sig)  # `kill PID`: snakemake stops its jobs and releases its lock
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert not (workdir / "results/multiverse/joint_inference.json").exists(), "interrupted too late"


@pytest.mark.integration  # a second whole run, from scratch, in three invocations
def test_interrupted_then_crashed_run_finishes_identically(full_run, tmp_path):
    """Also the determinism check of every result: a run from scratch in another folder, stopped
    twice, gives the shared default run's bytes (analyses, figures and multiverse included)."""
    _, reference = full_run
    other = copy_workflow(tmp_path / "wf_interrupted")
    _start_and_interrupt(other, signal.SIGTERM, after="results/cohort")
    # the next invocation goes on where it stopped; this one crashes in the analyses (kill -9)
    _start_and_interrupt(other, signal.SIGKILL, after="results/analysis")
    # a crash leaves snakemake's lock behind; releasing it is the one manual step (README)
    assert snakemake(other, check=False).returncode != 0
    snakemake(other, "--unlock")
    proc = snakemake(other)
    assert "Nothing to be done" not in proc.stdout + proc.stderr
    assert digest(other) == reference


def test_editing_one_study_export_reruns_only_that_study(full_run):
    workdir, _ = full_run
    raw = workdir / "results/synthetic/ket2009/medication_daily.csv"
    text = raw.read_text()
    assert ",venlafaxine,75," in text
    raw.write_text(text.replace(",venlafaxine,75,", ",venlafaxine,150,", 1))
    jobs, plan = planned(workdir)
    assert jobs["ingest"] == 1 and "study=ket2009" in plan and "study=ket2013" not in plan
    assert jobs["cohort"] == 1
    assert "synthetic_exports" not in jobs


def test_changing_an_analysis_parameter_reruns_only_its_analysis(full_run):
    workdir, _ = full_run
    cfg_path = workdir / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["analysis"]["roc"]["bootstrap_n"] = 500
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs, _ = planned(workdir)
    # the ROC rule, what reads its outputs, and the final target
    assert set(jobs) == {"analysis_roc", "analysis_figures", "analysis_paper_comparison", "all"}


def test_changing_a_permutation_setting_leaves_the_observed_fits_and_bootstrap_alone(full_run):
    workdir, _ = full_run
    cfg_path = workdir / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["multiverse"]["n_permutations"] += 1
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs, _ = planned(workdir)
    assert {"multiverse_permutations", "multiverse_combine"} <= set(jobs)
    assert set(jobs) == {"multiverse_permutations", "multiverse_combine", "all"}


def test_changing_package_code_reruns_the_rules_that_call_it(full_run):
    workdir, _ = full_run
    package = workdir / "src"  # the copy's own package, edited below
    module = package / "ketamine_bzd/definitions.py"
    text = module.read_text()
    module.write_text(text + "\n# a comment: the code the cohort rule runs is unchanged\n")
    assert planned(workdir, package=package)[0] == {}
    module.write_text(text + "\nCHANGED_FOR_A_TEST = 1\n")
    jobs, _ = planned(workdir, package=package)
    assert {"cohort", "multiverse_slice", "analysis_tables"} <= set(jobs)  # they import definitions
    assert not {"ingest", "synthetic_exports", "ingest_report"} & set(jobs)  # these do not
    # and the edit does take effect: a real run redoes the cohort
    before = mtimes(workdir)
    snakemake(workdir, "results/cohort/patients.parquet", package=package)
    assert "results/cohort/patients.parquet" in changed(before, mtimes(workdir))


def test_make_run_rebuilds_the_report_only_when_a_result_changed(full_run, tmp_path):
    workdir, _ = full_run
    venv = tmp_path / "venv"  # stands for a venv installed after the locks were written
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/uv").touch()
    (venv / ".installed-base").touch()
    report = workdir / "results/report.html"
    report.write_text("a report built after every result")
    now = time.time()
    os.utime(report, (now - 1, now - 1))  # the results are older still (the run before)

    def up_to_date():
        proc = subprocess.run(
            ["make", "-q", "results/report.html", f"VENV={venv}"], cwd=workdir, capture_output=True, text=True
        )
        return proc.returncode == 0

    assert up_to_date()
    os.utime(workdir / "results/analysis/roc.json", (now, now))
    assert not up_to_date()
