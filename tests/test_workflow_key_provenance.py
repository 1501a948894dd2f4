"""Issue 8 at workflow level: a fresh copy without KETAMINE_BZD_KEY, key and raw-file checksums
as rerun facts, missing files on every run, duplicate studies, soft problems in QC, config and
results/ errors. Targets stop at the cohort (no analyses), so the runs are cheap.
"""

import os
import re
import shutil

import pandas as pd
import pytest
import yaml

from ketamine_bzd.checksum import file_sha256
from ketamine_bzd.io import read_table
from ketamine_bzd.pseudonym import key_fingerprint

from workflow_helpers import COHORT_TARGETS, copy_workflow, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _output(proc):
    """Snakemake prints parse-time errors on stdout, job errors on stderr."""
    return proc.stdout + proc.stderr


def _would_run(proc):
    """Rule names of the jobs a dry run lists."""
    return set(re.findall(r"^rule (\w+):", proc.stdout, re.M))


# ----------------------------------------------------------------------------- fresh clone


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh copy run to the cohort on the synthetic default WITHOUT KETAMINE_BZD_KEY at
    --cores 2 (both ingest jobs start together and need the key file that does not exist)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("fresh"))
    assert not (workdir / ".ketamine_bzd_key").exists()
    proc = snakemake(workdir, *COHORT_TARGETS, key=None)
    return workdir, proc


def test_fresh_copy_without_key_env_runs_and_records_the_key_fingerprint(fresh):
    workdir, proc = fresh
    key_file = workdir / ".ketamine_bzd_key"
    key = key_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", key) and oct(key_file.stat().st_mode & 0o777) == "0o600"
    fingerprint = key_fingerprint(key.encode())
    provenance = pd.read_csv(workdir / "results/cohort/provenance.csv")
    report = pd.read_csv(workdir / "results/qc/ingest_report.csv")
    assert set(provenance["key_fingerprint"]) == {fingerprint} == set(report["key_fingerprint"])
    assert key not in proc.stdout + proc.stderr and key not in provenance.to_csv()
    # every raw file's checksum, in QC and in the cohort's provenance
    for table in (provenance, report):
        assert len(table) == 6
        for path, sha in zip(table["file"], table["sha256"]):
            assert sha == file_sha256(workdir / path)
    # one console line per ingest job, and the (empty) soft-problem table
    assert "ingest ket2009: no soft problems" in proc.stderr
    assert "ingest ket2013: no soft problems" in proc.stderr
    assert pd.read_csv(workdir / "results/qc/soft_problems.csv").empty


def test_changing_the_key_reruns_every_ingest(fresh):
    workdir, _ = fresh
    assert not _would_run(snakemake(workdir, "-n", *COHORT_TARGETS, key=None))
    changed = snakemake(workdir, "-n", *COHORT_TARGETS, key="another-key")
    assert {"ingest", "ingest_report", "cohort"} <= _would_run(changed)
    assert changed.stdout.count("rule ingest:") == 2  # both studies: one key space


def test_key_file_inside_results_is_refused(fresh):
    workdir, _ = fresh
    proc = snakemake(
        workdir, "-n", "--config", "pseudonymization_key_file=results/key", key=None, check=False
    )
    assert proc.returncode != 0
    assert "pseudonymization_key_file 'results/key' is inside results/" in _output(proc)
    assert not (workdir / "results/key").exists()


def test_yaml_syntax_error_in_config_yaml_names_file_and_line(fresh, tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    text = (workdir / "config.yaml").read_text()
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("  seed:"))
    lines[n] = "  seed: [20200819"
    (workdir / "config.yaml").write_text("\n".join(lines) + "\n")
    proc = snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert re.search(
        rf"config\.yaml, line \d+, column \d+: YAML syntax error.*line {n + 1}", _output(proc)
    ), _output(proc)


def test_unwritable_results_is_one_clear_line(fresh, tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    shutil.rmtree(workdir / "results")
    if os.geteuid() == 0:  # root writes through chmod a-w: point results/ at read-only /sys
        (workdir / "results").symlink_to("/sys")
    else:
        (workdir / "results").mkdir()
        (workdir / "results").chmod(0o555)
    proc = snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    out = _output(proc)
    assert "results/ (" in out and "is not writable" in out
    assert "Traceback" not in out and len(out.splitlines()) < 10, out


# ----------------------------------------------------------------------------- own exports
# own_exports_run (conftest.py): the 24 h MADRS of one ket2013 patient dated before the infusion,
# and the ket2009 export configured a second time as study ket2009b.


def test_the_same_export_configured_twice_is_an_error_naming_both_studies(own_exports_run):
    _, _, _, first = own_exports_run
    assert first.returncode != 0
    assert (
        "ERROR in rule cohort_merge: the same patient records appear in two studies (20 of study "
        "ket2009b also in study ket2009;"
    ) in first.stderr
    assert "overlapping_studies" in first.stderr


def _complete(workdir):
    """The own-exports run with the overlap declared (a no-op once done)."""
    return snakemake(workdir, *COHORT_TARGETS, "--configfile", "overlap.yaml")


def test_declared_overlap_counts_each_record_once(own_exports_run):
    workdir, *_ = own_exports_run
    _complete(workdir)
    patients = pd.read_parquet(workdir / "results/cohort/patients.parquet")
    assert len(patients) == 47 and set(patients["study"]) == {"ket2009", "ket2013"}
    provenance = pd.read_csv(workdir / "results/cohort/provenance.csv")
    dropped = provenance.groupby("study")["shared_records_dropped"].first().to_dict()
    assert dropped == {"ket2009": 0, "ket2009b": 20, "ket2013": 0}
    assert provenance["data_source"].eq("study exports").all()
    # the visits and intakes datasets leave out the same records: their files that held them
    # were written again without them
    ingested = {
        s: pd.read_parquet(workdir / f"results/ingest/{s}/part-0/subjects.parquet")["patient_id"]
        for s in ("ket2009", "ket2009b")
    }
    for table in ("visits", "medication_daily"):
        frame = read_table(workdir / "results/cohort" / table)
        assert set(frame["study"]) == {"ket2009", "ket2013"}, table
        assert set(frame["patient_id"]) == set(patients["patient_id"]), table
        assert not frame["patient_id"].isin(ingested["ket2009b"]).any(), table
        assert len(list((workdir / "results/cohort" / table).glob("*.parquet"))) == (
            3 if table == "visits" else 1
        )


def test_off_schedule_visit_is_counted_in_qc_and_on_the_console(own_exports_run):
    workdir, _, row, first = own_exports_run
    problems = pd.read_csv(workdir / "results/qc/soft_problems.csv")
    assert problems[["study", "count", "example"]].values.tolist() == [
        ["ket2013", 1, f"hodnoceni.csv row {row}"]
    ]
    assert problems["kind"].iloc[0].startswith("off-schedule visit")
    assert "ingest ket2013: 1 soft problem(s) (off-schedule visit" in first.stderr


def test_an_edited_export_reruns_ingest_even_if_its_mtime_lies(own_exports_run):
    workdir, exports, *_ = own_exports_run
    path = exports["ket2009"]["medication"]
    _complete(workdir)
    assert not _would_run(snakemake(workdir, "-n", *COHORT_TARGETS, "--configfile", "overlap.yaml"))
    stat = path.stat()
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b",venlafaxine,75,", b",venlafaxine,150,", 1))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime as before the edit
        proc = snakemake(workdir, "-n", *COHORT_TARGETS, "--configfile", "overlap.yaml")
        assert {"ingest", "cohort"} <= _would_run(proc)
        # the edited file's two studies (it is configured twice), not the other one
        studies = set(re.findall(r"wildcards: study=(\w+)", proc.stdout))
        assert studies == {"ket2009", "ket2009b"}, proc.stdout
        assert re.search(r"reason: .*[Pp]arams have changed", proc.stdout), proc.stdout
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_missing_file_stops_every_run(own_exports_run):
    workdir, exports, *_ = own_exports_run
    config = yaml.safe_load((workdir / "overlap.yaml").read_text())
    missing = str(exports["ket2013"]["ratings"]) + ".moved"
    config["studies"]["ket2013"]["files"]["ratings"] = missing
    (workdir / "missing.yaml").write_text(yaml.safe_dump(config))
    # results of an earlier run exist: the run must still stop, naming study, role and path
    _complete(workdir)
    # checked at parse time, so a dry run stops the same way
    proc = snakemake(workdir, *COHORT_TARGETS, "--configfile", "missing.yaml", check=False)
    assert proc.returncode != 0
    assert f"study 'ket2013', file role 'ratings': {missing}" in _output(proc)
