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
    np.testing.assert_allclose(
        wald, np.c_[est - 1.959963984540054 * se, est + 1.959963984540054 * se], atol=1e-6
    )


@pytest.mark.parametrize("case", list(CASES))
def test_firth_matches_brglm2_and_penalized_profile(case):
    ref = R[case]["firth"]
    c = coefs(fit(case), "firth")
    np.testing.assert_allclose(c["estimate"], ref["estimate"], atol=1e-6)
    np.testing.assert_allclose(c["se"], ref["se"], atol=1e-6)
    np.testing.assert_allclose(c["p_wald"], ref["p_wald"], atol=1e-6)
    np.testing.assert_allclose(c["p_lrt"], ref["p_lrt"], atol=1e-6)
    np.testing.assert_allclose(
        np.log(np.array(c["ci_profile"].tolist())), np.array(ref["ci_profile"]), atol=1e-6
    )


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
    np.testing.assert_allclose(
        np.log(np.array(c["ci_profile"].tolist())), np.array(ref["ci_profile"]), atol=1e-5
    )


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


# --- regressions: the project's synthetic cohorts (issue 3) ---------------------------------
# synthetic_seed7_n30: the dose model raised numpy.linalg.LinAlgError (singular X'WX) in the
# intercept's profile search. synthetic_default_n47: the dose model's Firth fit was reported
# as "did not converge" (firthmodels' absolute gtol on the score, dose in mg). R: brglm2 and an
# independent penalized profile (tests/reference/logistic.R); the data: export_synthetic.py.
SYNTHETIC = {
    f"{name}_{model}": (name, [pred, *COVS])
    for name in ("synthetic_seed7_n30", "synthetic_default_n47")
    for model, pred in (("dose", "diazepam_eq_mg"), ("bzdplus", "bzd_plus"))
}


@pytest.mark.parametrize("case", list(SYNTHETIC))
def test_synthetic_cohorts_match_r(case):
    name, preds = SYNTHETIC[case]
    res = fit_logistic(load(name), "responder", preds, event=False)
    ref = R[case]
    assert res.n == ref["n"] and res.n_missing == (1 if "seed7" in name else 0)
    assert ref["firth"]["brglm2_converged"]
    assert not [w for w in res.warnings if "converge" in w or "not found" in w or "inf" in w]
    for method in ("ml", "firth"):
        c, r = coefs(res, method), ref[method]
        np.testing.assert_allclose(c["estimate"], r["estimate"], atol=1e-7)
        np.testing.assert_allclose(c["se"], r["se"], atol=1e-7)
        np.testing.assert_allclose(c["p_wald"], r["p_wald"], atol=1e-7)
        np.testing.assert_allclose(c["p_lrt"], r["p_lrt"], atol=1e-7)
        np.testing.assert_allclose(
            np.log(np.array(c["ci_profile"].tolist())), np.array(r["ci_profile"]), atol=1e-6
        )


def test_firth_fit_is_unit_free():
    """The dose in g or in micrograms gives the same fit (scaled), converged: the stopping rule
    and the step cap must not depend on the unit (root cause of the default cohort's warning)."""
    d = load("synthetic_default_n47")
    base = fit_logistic(d, "responder", ["diazepam_eq_mg", *COVS], event=False)
    for factor in (1e-3, 1e3):
        res = fit_logistic(
            d.assign(diazepam_eq_mg=d["diazepam_eq_mg"] * factor),
            "responder",
            ["diazepam_eq_mg", *COVS],
            event=False,
        )
        assert not [w for w in res.warnings if "converge" in w]
        assert res.firth.estimate * factor == pytest.approx(base.firth.estimate, rel=1e-7)
        assert res.firth.p_value == pytest.approx(base.firth.p_value, abs=1e-8)
        assert res.firth.p_wald == pytest.approx(base.firth.p_wald, abs=1e-8)
        lo, hi = np.log(res.firth.ci_profile) * factor
        assert (lo, hi) == pytest.approx(tuple(np.log(base.firth.ci_profile)), rel=1e-6)


def _design_of(name, preds):
    d = load(name).dropna(subset=["responder"])
    X = np.column_stack([np.ones(len(d)), d[preds].astype(float).to_numpy()])
    return X, (~d["responder"].astype(bool)).to_numpy(float)


def test_singular_information_is_minus_inf_not_an_error():
    from ketamine_bzd.stats import logistic as lg

    X, y = _design_of("synthetic_seed7_n30", ["diazepam_eq_mg", *COVS])
    # 2000 per mg: every BZD user's weight underflows, X'WX is singular, l* = -inf
    ll, grad, _ = lg.penalized_loglik(X, y, np.array([-11.0, 2000.0, 0.1, 0.05]))
    assert ll == -math.inf and np.isnan(grad).all()
    # the profile point that raised LinAlgError (intercept's lower limit search): a step of 5 per
    # mg was tried, weights were computed as p (1 - p) with p rounded to 1
    beta_hat = np.array([-3.99214873369, 0.0175824998126, 0.144594613006, 0.0579930799668])
    fit = lg.firth_newton(X, y, beta_hat, fixed=0, value=-11.149542655438822)
    assert fit.converged and math.isfinite(fit.loglik)
    assert math.isfinite(lg.firth_constrained_loglik(X, y, 0, -11.149542655438822, beta_hat))


def test_constrained_fit_reports_nonconvergence(monkeypatch):
    from ketamine_bzd.stats import logistic as lg

    X, y = _design_of("synthetic_default_n47", ["diazepam_eq_mg", *COVS])
    monkeypatch.setattr(lg, "_MAX_ITER", 1)
    fit = lg.firth_newton(X, y, lg.firth_start(X, y), fixed=1, value=0.5)
    assert not fit.converged and "no convergence" in fit.message
    with pytest.warns(RuntimeWarning, match="did not converge"):
        lg.firth_constrained_loglik(X, y, 1, 0.5, lg.firth_start(X, y))
    # a start where l* is -inf is reported, not accepted
    fit = lg.firth_newton(X, y, np.array([-11.0, 2000.0, 0.1, 0.05]))
    assert not fit.converged and "-inf" in fit.message


def test_profile_failures_become_warnings(monkeypatch):
    """Constrained fits that do not converge: LRT p and profile limits are None with warnings;
    a profile that never reaches the chi2 level: limit +/-inf (null in JSON) with a warning."""
    from ketamine_bzd.stats import logistic as lg

    d = load("paper_shaped")
    real = lg.firth_newton

    def no_constrained(X, y, start, fixed=None, value=0.0):
        fit = real(X, y, start, fixed, value)
        if fixed is not None:
            fit.converged, fit.message = False, "forced"
        return fit

    monkeypatch.setattr(lg, "firth_newton", no_constrained)
    res = fit_logistic(d, "responder", ["bzd_plus", *COVS], event=False)
    firth = res.to_dict()["firth"]
    assert firth["estimable"] and firth["p_value"] is None and firth["p_lrt"] is None
    assert firth["ci_profile"] == [None, None] and firth["p_wald"] is not None
    assert any("LRT p for bzd_plus not reported" in w for w in res.warnings)
    assert any("lower limit not found" in w for w in res.warnings)

    monkeypatch.setattr(lg, "firth_newton", real)

    def flat(X, y, j, value, starts):
        fit = real(X, y, starts[1], None)  # the full maximum: the profile never rises
        return lg.FirthFit(fit.beta, fit.loglik, True, 0, 0.0)

    monkeypatch.setattr(lg, "_profile_fit", flat)
    res = fit_logistic(d, "responder", ["bzd_plus", *COVS], event=False)
    assert res.firth.ci_profile == (0.0, math.inf)
    assert res.to_dict()["firth"]["ci_profile"] == [0.0, None]
    assert any("upper limit is reported as +inf" in w for w in res.warnings)


def test_firth_nonconvergence_is_a_warning(monkeypatch):
    from ketamine_bzd.stats import logistic as lg

    monkeypatch.setattr(lg, "_MAX_ITER", 1)
    res = fit_logistic(load("paper_shaped"), "responder", ["bzd_plus", *COVS], event=False)
    assert any(w.startswith("Firth fit did not converge") for w in res.warnings)
    assert res.firth.ci_profile is None or res.to_dict()["firth"]["ci_profile"] == [None, None]
    json.dumps(res.to_dict())


def test_numerical_failures_in_ml_and_separation_check_are_warnings(monkeypatch):
    import firthmodels

    from ketamine_bzd.stats import logistic as lg

    class Broken:
        def __init__(self, *a, **k):
            pass

        def fit(self, *a, **k):
            raise np.linalg.LinAlgError("Singular matrix")

    def no_lp(*a, **k):
        raise RuntimeError("LP failed")

    monkeypatch.setattr(lg.sm, "GLM", Broken)
    monkeypatch.setattr(firthmodels, "detect_separation", no_lp)
    res = fit_logistic(load("paper_shaped"), "responder", ["bzd_plus", *COVS], event=False)
    assert not res.ml.estimable and res.firth.estimable
    assert any("ML fit failed (LinAlgError" in w for w in res.warnings)
    assert any("separation check" in w and "LP failed" in w for w in res.warnings)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(predictors="bzd_plus"), "list of column names"),
        (dict(predictors=[]), "focus|at least one"),
        (dict(predictors=["bzd_plus", "bzd_plus"]), "more than once"),
        (dict(predictors=["responder"]), "also listed as a predictor"),
        (dict(predictors=["sex"]), "not numeric"),
        (dict(predictors=["inf_col"]), "infinite"),
        (dict(outcome="study3"), "distinct values"),
        (dict(alpha=1.5), "alpha"),
        (dict(alpha=0), "alpha"),
        (dict(predictors=["nope"]), "missing column"),
        (dict(focus="madrs_day0"), "focus"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs, match):
    d = load("paper_shaped")
    d["inf_col"] = d["madrs_day0"].where(d.index != 3, np.inf)
    d["study3"] = np.resize(["A", "B", "C"], len(d))
    args = dict(outcome="responder", predictors=["bzd_plus", *COVS]) | kwargs
    if "focus" in kwargs:
        args["predictors"] = ["bzd_plus"]
    with pytest.raises(ValueError, match=match):
        fit_logistic(d, args.pop("outcome"), args.pop("predictors"), event=False, **args)


def test_not_a_frame_and_no_complete_cases():
    with pytest.raises(ValueError, match="DataFrame"):
        fit_logistic([[1, 2]], "responder", ["bzd_plus"])
    d = load("paper_shaped").assign(bai_day0=np.nan)
    with pytest.raises(ValueError, match="no complete cases"):
        fit_logistic(d, "responder", ["bzd_plus", "bai_day0"], event=False)
