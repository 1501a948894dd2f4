"""The whole workflow with three studies: the default two plus a synthetic SDTM study given as
a directory of dm.xpt, ex.xpt, qs.xpt and cm.xpt with one config entry (README, "Running on
your own exports"). Resampling counts are small so that this stays cheap in ``make test``; the
three-study run executes the workflow's jobs in this process (``inprocess.run_default_target``:
Snakemake's DAG, the scripts' own code), the hard error goes through the ``snakemake`` command."""

import pandas as pd
import pyreadstat
import pytest
import yaml
from cluster.merge_config import deep_merge
from inprocess import run_default_target

from ketamine_bzd.formats import FORMATS, sdtm
from ketamine_bzd.synthetic import generate_cohort

from workflow_helpers import copy_workflow, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]
FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
FAST = {
    "analysis": {"roc": {"bootstrap_n": 20}},
    "multiverse": {"n_permutations": 5, "bootstrap": {"n": 10}},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("wf"))
    base = tmp_path_factory.mktemp("exports")
    default = generate_cohort(47, 20200819)
    files = {s: FORMATS[f].write(default[s], base / s) for s, f in FORMAT_OF.items()}
    # 30 other synthetic patients as SDTM domains; only the four required domains are given
    written = sdtm.write(generate_cohort(52, 20200819)["ket2013"], base / "trial3")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["synthetic"]["enabled"] = False
    for study, spec in config["studies"].items():
        spec["files"] = {r: str(p) for r, p in files[study].items()}
    config["studies"]["trial3"] = {
        "format": "sdtm",
        "files": {r: str(written[r]) for r in ("dm", "ex", "qs", "cm")},
        "options": {"study_drug": ["KETAMINE"], "arm_pattern": "ketamine"},
    }
    config = deep_merge(config, FAST)
    # a small multiverse grid that still holds the paper's specification and every study
    mv = config["multiverse"]
    mv["exposures"] = {k: mv["exposures"][k] for k in ("gt8mg", "log1p_mg")}
    mv["outcomes"] = {"response_any": mv["outcomes"]["response_any"]}
    mv["windows"] = {"mean_dm1_d7": mv["windows"]["mean_dm1_d7"]}
    mv["populations"] = {k: mv["populations"][k] for k in ("all", "study")}
    mv["estimators"] = ["ml"]
    (workdir / "three_studies.yaml").write_text(yaml.safe_dump(config))
    outcomes = run_default_target(
        workdir, workdir / "three_studies.yaml", env={"KETAMINE_BZD_KEY": "test-key"}
    )
    failed = [o for o in outcomes if not o.ok]
    assert not failed, f"{failed[0].rule} failed: {failed[0].error}\n{failed[0].log[-3000:]}"
    assert {o.rule for o in outcomes} >= {
        "ingest",
        "cohort_merge",
        "analysis_paper_comparison",
        "multiverse_combine",
    }
    return workdir, config, written


def test_three_studies_reach_every_result(run):
    run = run[0]
    patients = pd.read_parquet(run / "results/cohort/patients.parquet")
    assert patients["study"].value_counts().to_dict() == {"trial3": 30, "ket2013": 27, "ket2009": 20}
    assert patients["patient_id"].is_unique
    # SDTM without SUPPDM/VS/PC: those variables are missing, never invented
    trial3 = patients[patients["study"] == "trial3"]
    assert trial3["episode"].isna().all() and trial3["weight_kg"].isna().all()
    table1 = pd.read_csv(run / "results/analysis/table1.csv")
    assert table1["n_excluded"].notna().all()
    specs = pd.read_parquet(run / "results/multiverse/specifications.parquet")
    assert specs.astype(str).apply(lambda c: c.str.contains("study_trial3")).any().any()
    report = pd.read_csv(run / "results/qc/ingest_report.csv")
    sd = report[report["study"] == "trial3"]
    assert len(sd) == 4 and (sd.rows_read == sd.rows_accepted + sd.rows_quarantined).all()
    summary = pd.read_csv(run / "results/cohort/cohort_summary.csv")
    assert "trial3" in summary.to_csv()


def test_no_raw_sdtm_identifier_reaches_results(run):
    run = run[0]
    truth = generate_cohort(52, 20200819)["ket2013"]
    raw = {str(p) for p in truth.subjects["patient_id"]}
    for path in (run / "results").rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".md", ".log", ".tsv"):
            text = path.read_text(errors="replace")
            hits = [r for r in raw if f",{r}," in text or f'"{r}"' in text]
            assert not hits, (path, hits[:3])


def test_an_sdtm_hard_error_stops_the_run_with_one_clear_message(run, tmp_path):
    workdir, config, written = run
    cm = pyreadstat.read_xport(str(written["cm"]))[0]
    cm.loc[0, "CMENDTC"] = "2000-01-01"
    bad = tmp_path / "cm.xpt"
    sdtm.write_xpt(cm, bad, "CM")
    study = dict(config["studies"]["trial3"], files={**config["studies"]["trial3"]["files"], "cm": str(bad)})
    (workdir / "bad_sdtm.yaml").write_text(yaml.safe_dump({**config, "studies": {"bad3": study}}))
    proc = snakemake(
        workdir,
        "results/ingest/bad3/part-0/subjects.parquet",
        "--configfile",
        "bad_sdtm.yaml",
        "--replace-workflow-config",
        check=False,
    )
    assert proc.returncode != 0
    line = next((x for x in proc.stderr.splitlines() if x.startswith("ERROR in rule ingest")), None)
    assert line is not None, proc.stderr[-3000:]
    for fragment in (str(bad), "row 1", "'CMENDTC'", "'2000-01-01'", "ends before it starts"):
        assert fragment in line, (fragment, line)
