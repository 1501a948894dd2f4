"""ROC analysis vs pROC (stored in tests/reference/out) and published worked examples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.roc import hanley_mcneil_se, roc_analysis, roc_from_frame

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "roc_contingency_descriptives.json").read_text())["roc"]
DATASETS = ["paper_shaped", "ties_zeros", "separation"]


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / f"{name}.csv")


def cases():
    for name in DATASETS:
        yield name, "all", None
        yield name, "users", "bzd_user"


@pytest.mark.parametrize("name,pop,subset", list(cases()))
def test_auc_se_ci_match_proc(name, pop, subset):
    ref = R[f"{name}_{pop}"]
    res = roc_from_frame(load(name), "diazepam_eq_mg", "responder", positive=False, subset=subset, n_boot=0)
    assert res.n_positive == ref["n_pos"] and res.n_negative == ref["n_neg"]
    assert res.auc == pytest.approx(ref["auc"], abs=1e-9)
    assert res.auc_se == pytest.approx(ref["se"], abs=1e-9)
    assert res.auc_ci_delong == pytest.approx(tuple(ref["ci_delong"]), abs=1e-9)
    assert res.p_value_mann_whitney == pytest.approx(ref["wilcox_p"], abs=1e-9)


@pytest.mark.parametrize("name,pop,subset", list(cases()))
def test_coordinates_map_to_proc_thresholds(name, pop, subset):
    """MedCalc criterion '>c' == pROC threshold (c + next observed value) / 2; the first row
    ('>=min') is pROC's -Inf and '>max' is +Inf (jsonlite drops infinite values)."""
    ref = pd.DataFrame(R[f"{name}_{pop}"]["coords"])
    res = roc_from_frame(load(name), "diazepam_eq_mg", "responder", positive=False, subset=subset, n_boot=0)
    co = res.coordinates
    assert len(co) == len(ref)
    thr = ref["threshold"].to_numpy(dtype=float, copy=True)
    thr[0], thr[-1] = -math.inf, math.inf
    np.testing.assert_allclose(co["threshold_proc"], thr, atol=1e-9)
    np.testing.assert_allclose(co["sensitivity"], ref["sensitivity"], atol=1e-9)
    np.testing.assert_allclose(co["specificity"], ref["specificity"], atol=1e-9)
    # Youden optimum: same operating point as pROC "best" (pROC lists every tie).
    best = R[f"{name}_{pop}"]
    bt = np.atleast_1d(best["best_threshold"]).astype(float)
    assert np.isclose(bt, res.threshold_proc, atol=1e-9).any()
    assert [c for c in co["criterion"] if c in res.youden_ties] == res.youden_ties
    assert len(res.youden_ties) == len(bt)
    assert res.sensitivity + res.specificity == pytest.approx(
        float(np.atleast_1d(best["best_sens"])[0] + np.atleast_1d(best["best_spec"])[0]), abs=1e-12
    )


def test_hanley_mcneil_1982_worked_example():
    """Hanley & McNeil (1982) Table I: 109 CT images, AUC 0.893, SE 0.032 (their eq. 2)."""
    neg = np.repeat(np.arange(1, 6), [33, 6, 6, 11, 2])
    pos = np.repeat(np.arange(1, 6), [3, 2, 2, 11, 33])
    marker = np.r_[neg, pos]
    status = np.r_[np.zeros(58, bool), np.ones(51, bool)]
    res = roc_analysis(marker, status, positive=True, n_boot=0)
    assert round(res.auc, 3) == 0.893
    assert round(res.auc_se_hanley_mcneil, 3) == 0.032
    assert round(hanley_mcneil_se(res.auc, 51, 58), 3) == 0.032
    ref = R["hanley_mcneil"]
    assert res.auc == pytest.approx(ref["auc"], abs=1e-12)
    assert res.auc_se == pytest.approx(ref["se"], abs=1e-12)
    assert res.warnings and "ties" in res.warnings[0]


def test_exact_binomial_ci_reproduces_paper():
    """AUC 0.91 with N = 18 (5 responders + 13 nonresponders) gives MedCalc's 0.68-0.99."""
    from ketamine_bzd.stats.result import clopper_pearson

    lo, hi = clopper_pearson(0.91 * 18, 18)
    assert (round(lo, 2), round(hi, 2)) == (0.68, 0.99)


def test_paper_shaped_operating_point_in_medcalc_notation():
    """A toy set shaped like the paper: dose > 8 mg flags 4/5 nonresponders, 11/13 responders."""
    nonresp = [3.8, 12.0, 15.0, 30.0, 94.0]  # positives
    resp = [4.0, 5.0, 5.0, 6.0, 6.5, 7.0, 7.5, 7.5, 8.0, 8.0, 8.0, 20.0, 25.0]
    res = roc_analysis(
        np.r_[nonresp, resp], np.r_[[False] * 5, [True] * 13], positive=False, n_boot=200, seed=1
    )
    assert res.criterion == ">8"
    assert res.cutoff_mg == 8.0
    assert res.threshold_proc == pytest.approx(10.0)  # midpoint of 8 and the next value, 12
    assert (res.sensitivity, res.specificity) == (pytest.approx(0.8), pytest.approx(11 / 13))
    assert res.sensitivity_ci[0] < 0.8 < res.sensitivity_ci[1]
    d = res.to_dict()
    for key in [
        "population",
        "n_positive",
        "n_negative",
        "auc",
        "auc_se",
        "auc_ci_delong",
        "auc_ci_exact",
        "p_value",
        "cutoff_mg",
        "criterion",
        "sensitivity",
        "sensitivity_ci",
        "specificity",
        "specificity_ci",
        "youden_j",
    ]:
        assert key in d
    json.dumps(d)  # JSON-able
    assert d["cutoff_bootstrap"]["n_boot"] == 200


def test_bootstrap_is_seeded_and_stratified():
    df = load("paper_shaped")
    a = roc_from_frame(
        df, "diazepam_eq_mg", "responder", positive=False, subset="bzd_user", n_boot=300, seed=5
    )
    b = roc_from_frame(
        df, "diazepam_eq_mg", "responder", positive=False, subset="bzd_user", n_boot=300, seed=5
    )
    c = roc_from_frame(
        df, "diazepam_eq_mg", "responder", positive=False, subset="bzd_user", n_boot=300, seed=6
    )
    assert a.cutoff_bootstrap == b.cutoff_bootstrap
    assert (
        a.cutoff_bootstrap.ci[0] <= a.cutoff_mg <= a.cutoff_bootstrap.ci[1] or c.cutoff_bootstrap is not None
    )


def test_lower_is_positive_mirrors():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    s = rng.random(30) < 0.5
    hi = roc_analysis(x, s, positive=True, n_boot=0)
    lo = roc_analysis(-x, s, positive=True, higher_is_positive=False, n_boot=0)
    assert lo.auc == pytest.approx(hi.auc)
    assert lo.criterion.startswith("<") and lo.cutoff_mg == pytest.approx(-hi.cutoff_mg)


def test_bad_input_one_class_raises():
    with pytest.raises(ValueError, match="both classes"):
        roc_analysis([1.0, 2.0, 3.0], [True, True, True], positive=False)


def test_missing_values_are_counted_not_silent():
    res = roc_analysis([1.0, np.nan, 3.0, 4.0, 0.5], [True, False, False, True, False], n_boot=0)
    assert res.n_missing == 1 and any("excluded" in w for w in res.warnings)


def test_perfect_separation_warns():
    res = roc_analysis([1, 2, 3, 10, 11, 12], [0, 0, 0, 1, 1, 1], positive=1, n_boot=50)
    assert res.auc == 1.0 and math.isnan(res.p_value)
    assert any("SE is 0" in w for w in res.warnings)
    assert res.to_dict()["p_value"] is None
