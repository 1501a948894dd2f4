"""Logistic regression (ML + Firth) vs R glm / MASS / brglm2 and a penalized profile in R."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.logistic import fit_logistic

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "logistic.json").read_text())
COVS = ["madrs_day0", "bai_day0"]
CASES = {
    "paper_bzdplus": ("paper_shaped", ["bzd_plus", *COVS]),
    "paper_dose": ("paper_shaped", ["diazepam_eq_mg", *COVS]),
    "ties_bzdplus": ("ties_zeros", ["bzd_plus", *COVS]),
    "separation_bzdplus": ("separation", ["bzd_plus", *COVS]),
}


def load(name):
    return pd.read_csv(REF / "data" / f"{name}.csv")


def fit(case):
    data, preds = CASES[case]
    return fit_logistic(load(data), "responder", preds, event=False)


def coefs(res, method):
    c = res.coefficients
    return c[c["method"] == method].reset_index(drop=True)


@pytest.mark.parametrize("case", ["paper_bzdplus", "paper_dose", "ties_bzdplus"])
def test_ml_matches_glm(case):
    ref = R[case]["ml"]
    c = coefs(fit(case), "ml")
    np.testing.assert_allclose(c["estimate"], ref["estimate"], atol=1e-7)
    np.testing.assert_allclose(c["se"], ref["se"], atol=1e-7)
    np.testing.assert_allclose(c["p_wald"], ref["p_wald"], atol=1e-7)
    np.testing.assert_allclose(c["p_lrt"], ref["p_lrt"], atol=1e-7)
    prof = np.log(np.array(c["ci_profile"].tolist()))
    # exact profile (uniroot in R on offset-fit deviances): same method -> 1e-6
    np.testing.assert_allclose(prof, np.array(ref["ci_profile"]), atol=1e-6)
    # MASS confint (spline through profile points): same target, interpolated -> ~1e-3
    np.testing.assert_allclose(prof, np.array(ref["ci_mass"]), atol=5e-3)
    wald = np.log(np.array(c["ci_wald"].tolist()))
    est, se = np.array(ref["estimate"]), np.array(ref["se"])
    np.testing.assert_allclose(wald, np.c_[est - 1.959963984540054 * se, est + 1.959963984540054 * se], atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_firth_matches_brglm2_and_penalized_profile(case):
    ref = R[case]["firth"]
    c = coefs(fit(case), "firth")
    np.testing.assert_allclose(c["estimate"], ref["estimate"], atol=1e-6)
    np.testing.assert_allclose(c["se"], ref["se"], atol=1e-6)
    np.testing.assert_allclose(c["p_wald"], ref["p_wald"], atol=1e-6)
    np.testing.assert_allclose(c["p_lrt"], ref["p_lrt"], atol=1e-6)
    np.testing.assert_allclose(np.log(np.array(c["ci_profile"].tolist())), np.array(ref["ci_profile"]), atol=1e-6)


def test_firth_profile_agrees_with_firthmodels():
    """Our penalized profile vs firthmodels' Venzon-Moolgavkar CI (different algorithm)."""
    from firthmodels import FirthLogisticRegression

    d = load("paper_shaped")
    X = d[["bzd_plus", *COVS]].astype(float).to_numpy()
    y = (~d["responder"]).astype(float).to_numpy()
    fm = FirthLogisticRegression(gtol=1e-9, xtol=1e-9, max_iter=200, backend="numpy").fit(X, y)
    ci = fm.conf_int(method="pl", tol=1e-8, max_iter=200)[0]
    res = fit("paper_bzdplus")
    assert np.log(res.firth.ci_profile) == pytest.approx(ci, abs=1e-5)


def test_complete_separation_firth():
    ref = R["complete_separation"]["firth"]
    res = fit_logistic(load("complete_separation"), "y", ["x", "z"], event=1)
    assert res.separation and res.separation_terms["x"] == "+Inf"
    assert not res.ml.estimable and res.ml.odds_ratio is None
    c = coefs(res, "firth")
    np.testing.assert_allclose(c["estimate"], ref["estimate"], atol=1e-6)
    np.testing.assert_allclose(c["p_lrt"], ref["p_lrt"], atol=1e-6)
    np.testing.assert_allclose(np.log(np.array(c["ci_profile"].tolist())), np.array(ref["ci_profile"]), atol=1e-5)


def test_separation_warning_and_contract():
    res = fit("separation_bzdplus")
    assert res.separation and res.separation_terms == {"bzd_plus": "+Inf"}
    assert any("separation" in w for w in res.warnings)
    d = res.to_dict()
    json.dumps(d)
    for block in ("ml", "firth"):
        assert {"odds_ratio", "ci_wald", "ci_profile", "p_value"} <= set(d[block])
    assert {"n", "events", "separation", "warnings"} <= set(d)
    assert d["ml"]["estimable"] is False and d["firth"]["odds_ratio"] > 1


def test_no_events_all_events_constant_covariate():
    d = load("paper_shaped")
    with pytest.raises(ValueError, match="no variation"):
        fit_logistic(d.assign(responder=True), "responder", ["bzd_plus"], event=False)
    with pytest.raises(ValueError, match="no variation"):
        fit_logistic(d.assign(responder=False), "responder", ["bzd_plus"], event=False)
    with pytest.raises(ValueError, match="constant"):
        fit_logistic(d.assign(k=1.0), "responder", ["bzd_plus", "k"], event=False)
    with pytest.raises(ValueError, match="rank deficient"):
        fit_logistic(d.assign(k=2 * d["madrs_day0"]), "responder", ["madrs_day0", "k"], event=False)


def test_missing_rows_counted():
    d = load("paper_shaped")
    d.loc[[0, 3], "bai_day0"] = np.nan
    res = fit_logistic(d, "responder", ["bzd_plus", *COVS], event=False)
    assert res.n == len(d) - 2 and res.n_missing == 2
    assert any("excluded" in w for w in res.warnings)
    assert math.isfinite(res.ml.odds_ratio)
