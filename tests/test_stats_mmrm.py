"""MMRM (unstructured covariance, REML) vs R nlme::gls + emmeans, SAS PROC MIXED, and exact theory.

References: tests/reference/mmrm.R -> out/mmrm.json (nlme 3.1-162, emmeans 1.8.4-1);
out/mmrm_sas_fev.json (SAS output stored in the R mmrm package's repository, data fev_data).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats import mmrm as M

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "mmrm.json").read_text())
SAS = json.loads((REF / "out" / "mmrm_sas_fev.json").read_text())
COLUMNS = ["madrs_day1", "madrs_day3", "madrs_day7"]
VISITS = ["day1", "day3", "day7"]
CASES = {
    "paper_shaped": ("bzd_plus", [True, False]),
    "missing_visits": ("bzd_plus", [True, False]),
    "mmrm_dropout": ("bzd_plus", [True, False]),
    "sphericity_violated": ("group", ["BZD+", "BZD-"]),
}
COMPLETE = ("paper_shaped", "sphericity_violated")


def data(name):
    return pd.read_csv(REF / "data" / f"{name}.csv")


def run(name, frame=None):
    group, levels = CASES[name]
    return M.mmrm(
        data(name) if frame is None else frame,
        subject="patient_id",
        group=group,
        baseline="madrs_day0",
        columns=COLUMNS,
        groups=levels,
        visits=VISITS,
    )


_CACHE: dict = {}


def fitted(name):
    if name not in _CACHE:
        _CACHE[name] = run(name)
    return _CACHE[name]


def r_ls_order(m, name):
    """Our LS-mean rows in emmeans' order (visit-major, reference group first)."""
    ref_level = str(CASES[name][1][1])
    ls = m.ls_means.assign(_o=(m.ls_means["group"] != ref_level).astype(int))
    return ls.sort_values(["visit", "_o"], kind="stable")


def long_design(name):
    """(y, X, subject, visit index) of the MMRM as the module builds it, for the formula checks."""
    group, levels = CASES[name]
    d = data(name)
    long = (
        d.melt(
            id_vars=["patient_id", group, "madrs_day0"], value_vars=COLUMNS, var_name="_col", value_name="_y"
        )
        .dropna(subset=["_y", "madrs_day0"])
        .reset_index(drop=True)
    )
    long["_group"] = long[group].astype(str)
    long["_visit"] = long["_col"].str.removeprefix("madrs_")
    long["_base"] = long["madrs_day0"]
    X, names = M.design_matrix(long, [str(g) for g in levels], VISITS)
    return (
        long["_y"].to_numpy() - long["_base"].to_numpy(),
        X,
        long["patient_id"].to_numpy(),
        long["_visit"].map({v: i for i, v in enumerate(VISITS)}).to_numpy(),
        names,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_matches_nlme_gls_at_the_optimum(name):
    ref, m = R[name], fitted(name)
    assert m.converged and m.n_observations == ref["n_obs"] and m.n_patients == ref["n_patients"]
    assert m.baseline_mean == pytest.approx(ref["baseline_mean"], abs=1e-12)
    # Same REML criterion (nlme's constants); our maximum is never below nlme's.
    assert m.loglik_reml == pytest.approx(ref["loglik"], abs=1e-8)
    assert m.loglik_reml >= ref["loglik"] - 1e-10
    # nlme's optimiser (nlminb, relative tolerance 1e-10 on -l_R) stops where -2 l_R is flat to
    # ~1e-10: its covariance is up to 3e-4 (2e-6 relative) from the Newton optimum, which moves
    # beta and SEs by up to 6e-6. The formulas themselves agree to 1e-9 (next test).
    np.testing.assert_allclose(np.array(m.covariance), ref["sigma"], rtol=5e-6)
    np.testing.assert_allclose(m.fixed_effects["estimate"], ref["beta"], atol=1e-5)
    np.testing.assert_allclose(m.fixed_effects["se"], ref["se"], atol=1e-5)
    s = ref["satterthwaite"]
    ls = r_ls_order(m, name)
    assert list(ls["visit"]) == s["ls_visit"]
    np.testing.assert_allclose(ls["estimate"], s["ls_estimate"], atol=1e-5)
    np.testing.assert_allclose(ls["se"], s["ls_se"], atol=1e-5)
    c = m.contrasts
    np.testing.assert_allclose(c["estimate"], s["estimate"], atol=1e-5)
    np.testing.assert_allclose(c["se"], s["se"], atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_gls_formulas_match_nlme_at_its_covariance(name):
    """At nlme's own Sigma: beta, SEs, REML log-likelihood, LS means and contrasts to 1e-8."""
    ref = R[name]
    y, X, subj, vis, names = long_design(name)
    assert names[: len(ref["names"])] and len(names) == len(ref["names"])
    beta, phi, ll = M.gls_at_sigma(y, X, subj, vis, 3, np.array(ref["sigma"]))
    assert ll == pytest.approx(ref["loglik"], abs=1e-8)
    np.testing.assert_allclose(beta, ref["beta"], atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(phi)), ref["se"], atol=1e-8)
    s, m = ref["satterthwaite"], fitted(name)
    g1 = str(CASES[name][1][0])
    for k, (v, grp) in enumerate(zip(s["ls_visit"], s["ls_group"])):
        group = g1 if grp.lower() == g1.lower() else str(CASES[name][1][1])
        row = M.ls_mean_row(names, group, g1, v, VISITS[0], ref["baseline_mean"])
        assert row @ beta == pytest.approx(s["ls_estimate"][k], abs=1e-8)
        assert math.sqrt(row @ phi @ row) == pytest.approx(s["ls_se"][k], abs=1e-8)
    for k, v in enumerate(VISITS):
        li = M.ls_mean_row(names, g1, g1, v, VISITS[0], 0.0) - M.ls_mean_row(
            names, "other", g1, v, VISITS[0], 0.0
        )
        assert li @ beta == pytest.approx(s["estimate"][k], abs=1e-8)
        assert math.sqrt(li @ phi @ li) == pytest.approx(s["se"][k], abs=1e-8)
    assert m.contrasts["group_1"].eq(g1).all()


@pytest.mark.parametrize("name", COMPLETE)
def test_satterthwaite_df_exact_for_complete_data(name):
    """Complete data, unstructured Sigma: the model is a multivariate linear regression and
    l'beta / SE has an exact t distribution with N - 3 df (N patients, 3 between-patient
    columns: intercept, group, baseline), e.g. Anderson (2003) ch. 8. Satterthwaite recovers it
    exactly, up to floating point (the observed information of the sphericity data has condition
    number ~1e5, which limits the df to ~1e-7 relative); emmeans' numerical approximation is ~1 %
    off."""
    m = fitted(name)
    exact = m.n_patients - 3
    np.testing.assert_allclose(m.contrasts["df"], exact, rtol=1e-6)
    np.testing.assert_allclose(m.ls_means["df"], exact, rtol=1e-6)
    np.testing.assert_allclose(R[name]["satterthwaite"]["df"], exact, rtol=1.5e-2)


@pytest.mark.parametrize("name", list(CASES))
def test_df_and_p_near_emmeans_numerical_satterthwaite(name):
    """emmeans on gls differentiates numerically ("appx-satterthwaite"); its df are within
    1.1 % of ours on these data sets, its p and CIs within 1e-4."""
    s, m = R[name]["satterthwaite"], fitted(name)
    np.testing.assert_allclose(m.contrasts["df"], s["df"], rtol=1.2e-2)
    np.testing.assert_allclose(r_ls_order(m, name)["df"], s["ls_df"], rtol=1.2e-2)
    np.testing.assert_allclose(m.contrasts["p_value"], s["p"], atol=1e-4)
    np.testing.assert_allclose(m.contrasts["ci_low"], s["lower"], atol=2e-3)
    np.testing.assert_allclose(m.contrasts["ci_high"], s["upper"], atol=2e-3)


def test_satterthwaite_df_exact_by_numerical_differentiation():
    """Missing visits: the analytic gradient of -2 l_R agrees with central differences of -2 l_R,
    its Hessian with central differences of that gradient, and the df with the df built from
    central differences of l'Phi l (step 1e-4 in Sigma's elements)."""
    y, X, subj, vis, names = long_design("mmrm_dropout")
    fit = M.fit_unstructured(y, X, subj, vis, 3)
    th, h = fit.theta, 1e-4

    def m2l(t):
        return -2 * M.gls_at_sigma(y, X, subj, vis, 3, M.sigma_from_theta(t, 3))[2]

    def grad_num(t):
        return np.array([(m2l(t + h * e) - m2l(t - h * e)) / (2 * h) for e in np.eye(len(t))])

    der = M.reml_derivatives(y, X, subj, vis, 3, fit.sigma)
    np.testing.assert_allclose(der[1], grad_num(th), atol=1e-6)  # zero at the optimum
    th2 = th * 1.3  # away from the optimum the gradient is not zero
    g2 = M.reml_derivatives(y, X, subj, vis, 3, M.sigma_from_theta(th2, 3))[1]
    assert np.abs(g2).max() > 0.1
    np.testing.assert_allclose(g2, grad_num(th2), rtol=1e-6, atol=1e-7)

    # Hessian: central differences of the (just verified) analytic gradient.
    def grad(t):
        return M.reml_derivatives(y, X, subj, vis, 3, M.sigma_from_theta(t, 3))[1]

    hess_num = np.array([(grad(th + h * e) - grad(th - h * e)) / (2 * h) for e in np.eye(len(th))])
    np.testing.assert_allclose(der[2], hess_num, rtol=1e-6, atol=1e-9)
    lv = M.ls_mean_row(names, "True", "True", "day7", "day1", 0)
    lv = lv - M.ls_mean_row(names, "False", "True", "day7", "day1", 0)

    def var_l(t):
        return float(lv @ M.gls_at_sigma(y, X, subj, vis, 3, M.sigma_from_theta(t, 3))[1] @ lv)

    g_num = np.array([(var_l(th + h * e) - var_l(th - h * e)) / (2 * h) for e in np.eye(len(th))])
    W_num = 2 * np.linalg.inv(hess_num)
    df_num = 2 * var_l(th) ** 2 / (g_num @ W_num @ g_num)
    assert M.satterthwaite_df(fit, lv) == pytest.approx(df_num, rel=1e-6)
    m = fitted("mmrm_dropout")
    assert m.contrasts.loc[m.contrasts["visit"] == "day7", "df"].iloc[0] == pytest.approx(df_num, rel=1e-6)


def fev(with_sex: bool):
    d = pd.read_csv(REF / "data" / "fev_data.csv").dropna(subset=["FEV1"])
    cols = [np.ones(len(d)), (d["ARMCD"] == "TRT").to_numpy(float)]
    if with_sex:
        cols.append((d["SEX"] == "Female").to_numpy(float))
    vis = d["AVISIT"].str.removeprefix("VIS").astype(int).to_numpy() - 1
    return d["FEV1"].to_numpy(), np.column_stack(cols), d["USUBJID"].to_numpy(), vis


def test_sas_proc_mixed_unstructured_satterthwaite():
    """SAS as printed (estimates 4 decimals, df integers). At SAS's printed UN estimates our GLS
    gives SAS's estimates, SEs and -2 l_R (3666.966982 vs 3666.96698281). SAS stops at its
    convergence criterion (1e-8): our optimum is 8e-6 lower in -2 l_R, and SAS's UN estimates are
    within 0.3 % of ours, which moves the intercept by 5e-4."""
    ref = SAS["un_reml_satterthwaite"]
    y, X, subj, vis = fev(True)
    beta, phi, ll = M.gls_at_sigma(y, X, subj, vis, 4, M.sigma_from_theta(np.array(ref["un"]), 4))
    np.testing.assert_allclose(beta, ref["estimate"], atol=5e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(phi)), ref["se"], atol=5e-5)
    assert -2 * ll == pytest.approx(ref["minus2_loglik_reml"], abs=1e-5)
    fit = M.fit_unstructured(y, X, subj, vis, 4)
    assert fit.converged
    assert fit.minus2_loglik_reml == pytest.approx(ref["minus2_loglik_reml"], abs=2e-5)
    assert fit.minus2_loglik_reml <= ref["minus2_loglik_reml"]
    np.testing.assert_allclose(fit.theta, ref["un"], rtol=3e-3, atol=3e-3)
    np.testing.assert_allclose(fit.beta, ref["estimate"], atol=1e-3)
    df = [M.satterthwaite_df(fit, e) for e in np.eye(3)]
    assert [round(x) for x in df] == ref["df"]


def test_sas_proc_mixed_kenward_roger():
    """SAS DDFM=KR: adjusted SE to 1e-4 and df to 3e-4 (relative; the R mmrm package's own test
    allows 1e-3). For one contrast the KR df equal the Satterthwaite df (same W)."""
    ref, fit = SAS["un_reml_kenward_roger"], M.fit_unstructured(*fev(False), 4)
    se, df = M.kenward_roger(fit, np.array([0.0, 1.0]))
    assert se == pytest.approx(ref["se"], rel=1e-4)
    assert df == pytest.approx(ref["df"], rel=3e-4)
    assert df == pytest.approx(M.satterthwaite_df(fit, np.array([0.0, 1.0])), rel=1e-10)
    assert se > math.sqrt(fit.beta_cov[1, 1])  # KR inflates the model-based SE


def test_missing_visits_counted_and_patients_without_follow_up_excluded():
    m = fitted("mmrm_dropout")
    assert m.n_excluded_no_follow_up == 1 and m.n_patients == 46
    assert m.n_missing_visits == 10 and m.missing_by_visit == {"day1": 2, "day3": 3, "day7": 5}
    assert m.n_observations == 46 * 3 - 10
    assert any("missing at random" in w for w in m.warnings)
    assert any("without any post-baseline visit" in w for w in m.warnings)
    assert sum(m.n_per_group.values()) == m.n_patients
    n_obs = m.ls_means.groupby("visit")["n_observed"].sum()
    assert (n_obs + pd.Series(m.missing_by_visit)).eq(46).all()


def test_not_converged_reports_null_not_numbers():
    """Day-3 change = day-1 change for everyone: Sigma is singular, REML is on the boundary."""
    d = data("paper_shaped")
    d["madrs_day3"] = d["madrs_day1"] + 0.0
    m = run("paper_shaped", d)
    assert not m.converged
    out = m.to_dict()
    json.dumps(out, allow_nan=False)
    assert all(r["estimate"] is None and r["p_value"] is None for r in out["contrasts"])
    assert all(r["estimate"] is None for r in out["ls_means"]) and out["loglik_reml"] is None
    assert any("no estimates reported" in w for w in m.warnings)


def test_bad_input_raises():
    d = data("paper_shaped")
    with pytest.raises(ValueError, match="no patients"):
        run("paper_shaped", d.assign(bzd_plus=False))
    with pytest.raises(ValueError, match="outside groups"):
        run("paper_shaped", d.assign(bzd_plus="x"))
    e = d.copy()
    e.loc[e["bzd_plus"], "madrs_day7"] = np.nan
    with pytest.raises(ValueError, match="no observation at visit 'day7'"):
        run("paper_shaped", e)


def test_no_variation_is_reported_not_raised():
    """Every patient's MADRS unchanged from baseline (the degenerate cohort "no_responders" of
    issue 8 comes close): no covariance to estimate, no numbers, a reason."""
    d = data("paper_shaped")
    for c in COLUMNS:
        d[c] = d["madrs_day0"]
    m = run("paper_shaped", d)
    assert not m.converged and any("singular" in w for w in m.warnings)
    json.dumps(m.to_dict(), allow_nan=False)
