"""The MMRM in the analysis stage (ketamine_bzd.analysis.mmrm_analysis) and its figure."""

import json
from pathlib import Path

import numpy as np
import pytest

from ketamine_bzd import analysis as a
from ketamine_bzd import figures as f
from ketamine_bzd.stats import mmrm as M

from analysis_helpers import make_patients

SYNTHETIC = "synthetic (seed 1, n=47; not patient data)"


@pytest.fixture(scope="module")
def patients():
    p = a.add_groups(make_patients(), 8)
    p.loc[p.index[:3], "madrs_day7"] = np.nan  # 3 missing day-7 visits
    p.loc[p.index[3], ["madrs_day1", "madrs_day3", "madrs_day7"]] = np.nan  # no follow-up at all
    return p


@pytest.fixture(scope="module")
def result(patients):
    return a.mmrm_analysis(patients, a.AnalysisSettings())


def test_mmrm_analysis_is_the_stats_model_and_counts_reconcile(patients, result):
    json.dumps(result, allow_nan=False)
    assert result["estimable"] and result["converged"] and result["bzd_cutoff_mg"] == 8
    assert result["n_excluded_no_follow_up"] == 1 and result["n_patients"] == len(patients) - 1
    assert result["missing_by_visit"]["day7"] >= 3
    assert result["n_observations"] + result["n_missing_visits"] == 3 * result["n_patients"]
    direct = M.mmrm(
        patients,
        subject="patient_id",
        group="bzd_group",
        baseline="madrs_day0",
        columns=["madrs_day1", "madrs_day3", "madrs_day7"],
        groups=["BZD+", "BZD-"],
        visits=["day1", "day3", "day7"],
    )
    np.testing.assert_allclose([c["estimate"] for c in result["contrasts"]], direct.contrasts["estimate"])
    assert [c["visit"] for c in result["contrasts"]] == ["day1", "day3", "day7"]


def test_not_estimable_design_is_reported_not_raised(patients):
    p = patients.copy()
    p.loc[p["bzd_group"] == "BZD+", "madrs_day3"] = np.nan
    out = a.mmrm_analysis(p, a.AnalysisSettings())
    assert out["estimable"] is False and "day3" in out["error"] and out["warnings"]
    json.dumps(out, allow_nan=False)
    fig = f.mmrm_figure(out, "study exports")
    assert any("no estimates" in t.get_text() for t in fig.axes[0].texts)


def test_mmrm_figure_labels_and_reproducible_bytes(result, tmp_path):
    fig = f.mmrm_figure(result, SYNTHETIC)
    assert "SYNTHETIC DATA" in [t.get_text() for t in fig.texts]
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert texts.count("p ") + texts.count("p<") >= 3 and "Missing visits: " in texts
    paths = f.save(fig, tmp_path / "a" / "mmrm", 80)
    f.save(f.mmrm_figure(result, SYNTHETIC), tmp_path / "b" / "mmrm", 80)
    for p in paths:
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
    assert "SYNTHETIC DATA" not in [t.get_text() for t in f.mmrm_figure(result, "study exports").texts]
    assert Path(paths[0]).stat().st_size > 1000
