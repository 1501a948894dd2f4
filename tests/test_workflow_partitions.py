"""Partitioned ingest and cohort through the workflow (issue 10): with 3 partitions of the 47
synthetic patients, ingest and cohort run as separate jobs per partition, and the merged cohort
and QC tables are those of the default run (1 partition): byte for byte for the files, row for
row for the datasets (visits and intakes, one file per partition)."""

import re

import pandas as pd
import pytest
import yaml

from ketamine_bzd.io import read_table

from workflow_helpers import COHORT_TARGETS, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]

MERGED = [
    "results/cohort/patients.parquet",
    "results/cohort/cohort_summary.csv",
    "results/cohort/provenance.csv",
    "results/qc/ingest_report.csv",
    "results/qc/quarantine.csv",
    "results/qc/soft_problems.csv",
]


@pytest.fixture(scope="module")
def three_partitions(default_run, tmp_path_factory):
    """The default run's synthetic exports run again to the cohort with 16 patients per
    partition (47 patients: 3 partitions)."""
    import shutil

    workdir = tmp_path_factory.mktemp("partitions") / "run"
    shutil.copytree(default_run, workdir, symlinks=True)
    for stage in ("ingest", "cohort", "qc"):
        shutil.rmtree(workdir / "results" / stage)
    (workdir / "k3.yaml").write_text(yaml.safe_dump({"partitioning": {"patients_per_partition": 16}}))
    proc = snakemake(workdir, *COHORT_TARGETS, "--configfile", "k3.yaml")
    return workdir, proc


def test_ingest_and_cohort_run_as_one_job_per_partition(three_partitions):
    """One ingest job per study (each raw file decoded once) writes every partition; the
    cohort runs as one job per partition."""
    workdir, proc = three_partitions
    log = proc.stdout + proc.stderr
    assert sorted(re.findall(r"rule ingest:\n(?:.*\n){0,12}?\s*wildcards: study=(\w+)\n", log)) == [
        "ket2009",
        "ket2013",
    ]
    for study in ("ket2009", "ket2013"):
        text = (workdir / f"results/logs/ingest/{study}.log").read_text()
        assert re.findall(r"partition (\d) of 3", text) == ["0", "1", "2"]
    assert set(re.findall(r"rule cohort:\n(?:.*\n){0,8}?\s*wildcards: part=(\d+)", log)) == {"0", "1", "2"}
    for part in range(3):
        patients = pd.read_parquet(workdir / f"results/cohort/parts/part-{part}/patients.parquet")
        assert 0 < len(patients) < 47
        # each job logs its true peak memory
        text = (workdir / f"results/logs/cohort/part-{part}.log").read_text()
        assert re.search(r"peak RSS \(VmHWM\) \d+ MB", text)


@pytest.mark.parametrize("path", MERGED)
def test_the_merged_cohort_equals_the_one_partition_run(three_partitions, default_run, path):
    workdir, _ = three_partitions
    assert (workdir / path).read_bytes() == (default_run / path).read_bytes(), path


@pytest.mark.parametrize(("dataset", "files_k3"), [("visits", 6), ("medication_daily", 3)])
def test_the_merged_datasets_equal_the_one_partition_run(three_partitions, default_run, dataset, files_k3):
    """The visits (one file per study and partition) and the intakes (one per partition) read
    as the one-partition run's tables: same rows in the same order, values, dtypes."""
    workdir, _ = three_partitions
    path = f"results/cohort/{dataset}"
    files = sorted(p.name for p in (workdir / path).glob("*.parquet"))
    assert files == [f"part-{i:05d}.parquet" for i in range(files_k3)]
    assert len(list((default_run / path).glob("*.parquet"))) == files_k3 // 3
    pd.testing.assert_frame_equal(read_table(workdir / path), read_table(default_run / path))


def test_partition_count_comes_from_the_rows_of_own_patients_files(default_run, tmp_path):
    """Own exports (synthetic disabled): K from the rows of the .sav (20) and of the eCRF
    patients CSV (27), counted at parse time without reading the data: 47 / 10 -> 5."""
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(default_run, workdir, symlinks=True)
    config = {"synthetic": {"enabled": False}, "partitioning": {"patients_per_partition": 10}}
    (workdir / "own.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(workdir, "-n", "--forceall", *COHORT_TARGETS, "--configfile", "own.yaml")
    parts = set(re.findall(r"results/ingest/ket2009/part-(\d+)/subjects.parquet", proc.stdout))
    assert parts == {"0", "1", "2", "3", "4"}
