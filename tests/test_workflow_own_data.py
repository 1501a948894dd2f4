"""Running the workflow on a user's own exports: config, a third study, and hard errors.

The exports are written by the format writers from the synthetic cohort into a folder outside
results/, and the workflow is pointed at them with ``--configfile`` and synthetic.enabled false.
"""

import shutil

import pandas as pd
import pytest
import yaml

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.synthetic import generate_cohort

from workflow_helpers import copy_workflow, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]
FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("wf"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    truth = generate_cohort(47, 20200819)
    return {s: FORMATS[f].write(truth[s], base / s) for s, f in FORMAT_OF.items()}


def user_config(workdir, exports, extra=None, name="my_study.yaml"):
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["synthetic"]["enabled"] = False
    config["studies"] = {
        s: {"format": FORMAT_OF[s], "files": {r: str(p) for r, p in exports[s].items()}} for s in FORMAT_OF
    }
    config["studies"].update(extra or {})
    path = workdir / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_third_study_is_added_by_config_alone(workflow, exports, tmp_path):
    # a third study in the spss_wide format: another synthetic cohort's ket2009 part (other patients:
    # the same export configured twice is refused as duplicate records, tests/test_workflow_key_provenance.py)
    third = FORMATS["spss_wide"].write(generate_cohort(47, 20211231)["ket2009"], tmp_path / "ket2021")
    cfg = user_config(
        workflow,
        exports,
        {"ket2021": {"format": "spss_wide", "files": {r: str(p) for r, p in third.items()}}},
    )
    snakemake(
        workflow, "results/cohort/patients.parquet", "--replace-workflow-config", "--configfile", cfg.name
    )
    patients = pd.read_parquet(workflow / "results/cohort/patients.parquet")
    assert patients["study"].value_counts().to_dict() == {"ket2013": 27, "ket2009": 20, "ket2021": 20}
    # the same raw ids in another study get other pseudonyms
    assert patients["patient_id"].is_unique
    assert patients["data_source"].eq("study exports").all()
    assert not (workflow / "results/synthetic").exists()


def _edit_csv(path, encoding, old, new):
    """Replace the first occurrence; return its 1-based data row (the header is row 0)."""
    text = path.read_text(encoding=encoding)
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1), encoding=encoding)
    return text[: text.index(old) + 1].count("\n")


CORRUPTIONS = {
    # name: (study, role, edit(path), expected fragments of the one-line error)
    "unknown_drug": (
        "ket2009",
        "medication",
        lambda p: _edit_csv(p, "utf-8", ",venlafaxine,", ",venlafaxinum,"),
        ["medication_daily.csv", "row {row}", "'DRUG'", "'venlafaxinum'", "rule ingest"],
    ),
    "unknown_brand": (
        "ket2013",
        "prescriptions",
        lambda p: _edit_csv(p, "cp1250", "Neurol 0,25 mg", "Neurol 0,3 mg"),
        ["preskripce.csv", "row {row}", "Přípravek", "'Neurol 0,3 mg'", "rule ingest"],
    ),
    "score_out_of_range": (
        "ket2013",
        "ratings",
        lambda p: _edit_csv(p, "cp1250", ";MADRS;16\n", ";MADRS;96\n"),
        ["hodnoceni.csv", "row {row}", "Celkové skóre", "value 96", "0..60", "rule ingest"],
    ),
    "utf8_instead_of_cp1250": (
        "ket2013",
        "patients",
        lambda p: p.write_text(p.read_text(encoding="cp1250"), encoding="utf-8"),
        ["pacienti.csv", "rule ingest"],
    ),
    "missing_column": (
        "ket2009",
        "medication",
        lambda p: _edit_csv(p, "utf-8", "ID,DAY,DRUG,DOSE_MG,PRN", "ID,DAY,DRUG,DOSE,PRN"),
        ["medication_daily.csv", "DOSE_MG", "rule ingest"],
    ),
    "impossible_dose": (
        "ket2009",
        "medication",
        lambda p: _edit_csv(p, "utf-8", ",venlafaxine,75,", ",venlafaxine,-75,"),
        ["medication_daily.csv", "row {row}", "'DOSE_MG'", "-75", "rule ingest"],
    ),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_hard_errors_stop_the_run_with_one_clear_message(workflow, exports, tmp_path, name):
    study, role, edit, fragments = CORRUPTIONS[name]
    files = {s: dict(f) for s, f in exports.items()}
    bad = tmp_path / exports[study][role].name
    shutil.copy(exports[study][role], bad)
    row = edit(bad)
    files[study][role] = bad
    cfg = user_config(workflow, files, name=f"bad_{name}.yaml")
    proc = snakemake(
        workflow, f"results/ingest/{study}/part-0/subjects.parquet", "--configfile", cfg.name, check=False
    )
    assert proc.returncode != 0
    line = next((s for s in proc.stderr.splitlines() if s.startswith("ERROR in rule ingest")), None)
    assert line is not None, proc.stderr[-3000:]
    for fragment in fragments:
        fragment = fragment.format(row=row)
        assert fragment in line, (fragment, line)
    assert "K09-" not in line and "13-00" not in line  # no raw identifier in the message


def test_a_missing_file_is_named_before_anything_runs(workflow, exports, tmp_path):
    files = {s: dict(f) for s, f in exports.items()}
    files["ket2013"]["prn"] = tmp_path / "nowhere.csv"
    cfg = user_config(workflow, files, name="bad_missing.yaml")
    proc = snakemake(workflow, "--configfile", cfg.name, check=False)
    assert proc.returncode != 0
    assert "nowhere.csv" in proc.stdout + proc.stderr
