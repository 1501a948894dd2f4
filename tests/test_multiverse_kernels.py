"""Batched multiverse kernels against per-specification reference fits
(statsmodels, firthmodels, scipy) to 1e-6."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from firthmodels import FirthLogisticRegression, detect_separation
from scipy import stats
from scipy.special import expit

from ketamine_bzd.multiverse import (
    fit_firth,
    fit_logit,
    fit_ols,
    midranks,
    permutation_indices,
    permute_within_strata,
    roc_auc,
)

TOL = 1e-6


def _specs(seed: int, B: int, n: int, p: int, *, p_include: float = 0.85):
    """B specifications over n patients: intercept, binary exposure (column 1),
    continuous covariates; masks differ by specification, excluded rows NaN."""
    rng = np.random.default_rng(seed)
    X = np.empty((B, n, p))
    X[:, :, 0] = 1.0
    X[:, :, 1] = rng.random((B, n)) < 0.35
    if p > 2:
        X[:, :, 2:] = rng.normal(size=(B, n, p - 2)) * rng.uniform(1, 10, size=(B, 1, p - 2))
        X[:, :, 2:] = np.round(X[:, :, 2:])  # ties, like integer rating scales
    beta = np.r_[-0.4, -1.2, np.full(p - 2, 0.05)]
    y = (rng.random((B, n)) < expit(X @ beta)).astype(float)
    mask = rng.random((B, n)) < p_include
    mask[:, :8] = True
    X = np.where(mask[..., None], X, np.nan)
    y = np.where(mask, y, np.nan)
    return X, y, mask


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("n,p", [(47, 2), (47, 4), (300, 4)])
def test_logit_matches_statsmodels(n, p):
    X, y, mask = _specs(1, 8, n, p)
    res = fit_logit(X, y, mask, exposure_index=1)
    checked = 0
    for b in range(8):
        m = mask[b]
        if res.separation[b]:
            continue
        ref = _quiet(sm.Logit(y[b, m], X[b, m]).fit, method="newton", tol=1e-12, maxiter=200, disp=0)
        np.testing.assert_allclose(res.params[b], ref.params, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.bse[b], ref.bse, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.pvalues[b], ref.pvalues, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.zvalues[b], ref.tvalues, atol=TOL, rtol=0)
        assert res.llf[b] == pytest.approx(ref.llf, abs=TOL)
        assert res.converged[b] and res.warnings()[b] == []
        assert res.n_obs[b] == m.sum() and res.n_events[b] == y[b, m].sum()
        assert res.n_exposed[b] == X[b, m, 1].sum()
        checked += 1
    assert checked >= 6


@pytest.mark.slow  # many statsmodels fits; `make test-fast` skips it
def test_logit_shared_design_with_masks_matches_glm():
    X, y, mask = _specs(2, 1, 47, 3)
    Xs, ys = np.nan_to_num(X[0]), np.nan_to_num(y[0])
    masks = np.random.default_rng(3).random((6, 47)) < 0.8
    res = fit_logit(Xs, ys, masks, exposure_index=1)
    for b in range(6):
        m = masks[b]
        ref = sm.GLM(ys[m], Xs[m], family=sm.families.Binomial()).fit(tol=1e-12)
        if res.separation[b]:
            continue
        np.testing.assert_allclose(res.params[b], ref.params, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.bse[b], ref.bse, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.pvalues[b], ref.pvalues, atol=TOL, rtol=0)


def test_frequency_weights_equal_duplicated_rows():
    X, y, _ = _specs(4, 1, 47, 3, p_include=1.0)
    counts = np.random.default_rng(5).integers(0, 3, size=47)
    counts[:10] = 1
    res = fit_logit(X[0], y[0], counts[None, :])
    rep = np.repeat(np.arange(47), counts)
    ref = fit_logit(X[0, rep], y[0, rep])
    np.testing.assert_allclose(res.params, ref.params, atol=1e-9)
    np.testing.assert_allclose(res.bse, ref.bse, atol=1e-9)


def test_zero_cell_and_divergence_flag_separation():
    X, y, mask = _specs(6, 3, 47, 3, p_include=1.0)
    y = y.copy()
    y[0, X[0, :, 1] == 1] = 0.0  # no events among exposed: quasi-complete separation
    X = X.copy()
    X[1, :, 2] = np.where(y[1] == 1, 5.0, -5.0) + np.arange(47) * 1e-3  # complete separation
    res = _quiet(fit_logit, X, y, exposure_index=1)
    assert res.zero_cell[0] and res.separation[0]
    assert res.exposure_table[0, 1, 1] == 0
    assert res.separation[1] and res.n_fitted_extreme[1] > 0
    assert not res.separation[2]
    assert any("separation" in w for w in res.warnings()[0])
    assert any("separation" in w for w in res.warnings()[1])


def test_separation_flag_agrees_with_linear_programme():
    """Small samples with strong effects: our flag vs firthmodels' exact LP check."""
    rng = np.random.default_rng(7)
    B, n = 60, 14
    X = np.column_stack([np.ones(n), np.zeros(n), np.zeros(n)])[None].repeat(B, 0)
    X[:, :, 1] = rng.random((B, n)) < 0.4
    X[:, :, 2] = np.round(rng.normal(size=(B, n)) * 3)
    y = (rng.random((B, n)) < expit(-0.3 + 2.5 * X[:, :, 1] - 0.4 * X[:, :, 2])).astype(float)
    res = _quiet(fit_logit, X, y, exposure_index=1, max_iter=60)
    agree = n_sep = 0
    for b in range(B):
        if res.rank_deficient[b] or res.no_outcome_variation[b]:
            continue
        lp = detect_separation(X[b, :, 1:], y[b]).separation
        n_sep += lp
        agree += lp == res.separation[b]
        if lp:  # whenever the MLE does not exist we must say so
            assert res.separation[b], b
        if res.zero_cell[b]:
            assert lp, b
    assert n_sep >= 5 and agree >= 0.95 * (B - res.rank_deficient.sum() - res.no_outcome_variation.sum())


FINITE_MLE = [
    "finite_mle_per10mg_remission_day7_study_ket2009.csv",
    "finite_mle_per10mg_response_any_bzd_users.csv",
]


@pytest.mark.parametrize("name", FINITE_MLE)
def test_extreme_fitted_probability_at_a_finite_mle_is_not_separation(name):
    """Two multiverse specifications of the default synthetic cohort (issue 12):
    per_10mg|remission_day7|mean_dm1_d7|paper|study_ket2009|adjusted|ml (20 patients, 3 remitters)
    and per_10mg|response_any|mean_dm1_d7|paper|bzd_users|adjusted|ml (19 patients, 5
    responders). A patient at 94 mg/day (9.4 units) has a fitted probability within 1e-10 of 1
    at the MLE, which once made the engine report separation and no estimate. The Konis LP finds
    no separating direction and statsmodels converges to the same finite estimate."""
    import pandas as pd

    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / name)
    X = np.column_stack([np.ones(len(data)), data[["per_10mg", "madrs_day0", "bai_day0"]].to_numpy(float)])
    y = data["nonresponse"].to_numpy(float)
    assert 3 <= min(y.sum(), len(y) - y.sum()) <= 5
    assert not detect_separation(X[:, 1:], y).separation
    ref = sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100, tol=1e-12)
    assert ref.mle_retvals["converged"]
    res = fit_logit(X, y)
    assert res.n_fitted_extreme[0] >= 1  # the situation the old divergence test misread
    assert res.converged[0] and not res.separation[0]
    np.testing.assert_allclose(res.params[0], ref.params, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(res.bse[0], ref.bse, rtol=TOL, atol=TOL)
    (warns,) = res.warnings()
    assert not any("(separation)" in w for w in warns) and any("finite MLE" in w for w in warns)


def test_separation_flag_equals_the_lp_with_a_skewed_continuous_dose():
    """A right-skewed dose (like mg/day: most near 0, a few far out) with a strong effect puts
    fitted probabilities at 0/1 at many finite MLEs; the flag must still be exactly the LP's
    (the divergence test alone misreports all 11 finite MLEs with extreme fits here, issue 12)."""
    rng = np.random.default_rng(1)
    B, n = 150, 47
    X = np.ones((B, n, 4))
    X[:, :, 1] = rng.random((B, n)) < 0.3
    X[:, :, 2] = rng.normal(25, 5, (B, n)).round()
    X[:, :, 3] = rng.gamma(1, 3, (B, n))
    y = (rng.random((B, n)) < expit(-1 + 2.5 * X[:, :, 1] + 0.8 * X[:, :, 3] - 0.02 * X[:, :, 2])).astype(
        float
    )
    mask = rng.random((B, n)) < 0.6
    res = _quiet(fit_logit, X, y, mask)
    fitted = np.flatnonzero(~(res.rank_deficient | res.no_outcome_variation))
    lp = np.array([detect_separation(X[b][mask[b]][:, 1:], y[b][mask[b]]).separation for b in fitted])
    assert lp.sum() >= 50 and (res.n_fitted_extreme[fitted][~lp] > 0).sum() >= 10
    np.testing.assert_array_equal(res.separation[fitted], lp)
    assert res.converged[fitted][~lp].all()


def test_degenerate_specifications_are_flagged_not_fitted():
    X, y, mask = _specs(8, 3, 47, 3, p_include=1.0)
    X = X.copy()
    y = y.copy()
    X[0, :, 1] = 1.0  # exposure constant in this population (e.g. BZD users only)
    y[1] = 0.0  # no responders
    for fit in (fit_logit, fit_firth):
        res = fit(X, y, exposure_index=1)
        assert res.rank_deficient[0] and np.isnan(res.params[0]).all()
        assert res.no_outcome_variation[1] and np.isnan(res.params[1]).all()
        assert np.isfinite(res.params[2]).all()
        w = res.warnings()
        assert any("rank-deficient" in s for s in w[0]) and any("no variation" in s for s in w[1])
    ols = fit_ols(X[:, :, [0, 1]], y)
    assert ols.rank_deficient[0] and np.isnan(ols.params[0]).all() and ols.warnings()[0]


def test_bad_input_raises():
    X, y, mask = _specs(9, 2, 20, 3)
    with pytest.raises(ValueError, match="non-finite"):
        fit_logit(X, y, np.ones((2, 20), bool))
    y2 = np.nan_to_num(y) * 2
    with pytest.raises(ValueError, match="0/1"):
        fit_logit(np.nan_to_num(X), y2)
    with pytest.raises(ValueError, match="batch"):
        fit_logit(np.nan_to_num(X), np.zeros((3, 20)))


def test_chunking_is_invisible():
    X, y, mask = _specs(10, 7, 47, 3)
    a = fit_firth(X, y, mask, test_index=1)
    b = fit_firth(X, y, mask, test_index=1, chunk_size=3)
    # Equal up to rounding: LAPACK or the fallback Cholesky may serve a chunk.
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.lrt_pvalue, b.lrt_pvalue, rtol=0, atol=1e-12)
    c = fit_logit(X, y, mask, exposure_index=1)
    d = fit_logit(X, y, mask, exposure_index=1, chunk_size=2)
    np.testing.assert_allclose(c.params, d.params, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(c.separation, d.separation)


def _firth_reference(Xb, yb):
    """firthmodels puts the intercept last; reorder to our column order."""
    ref = _quiet(
        FirthLogisticRegression(backend="numpy", gtol=1e-7, xtol=1e-7, max_iter=200).fit, Xb[:, 1:], yb
    )
    _quiet(ref.lrt, 0)
    params = np.r_[ref.intercept_, ref.coef_]
    bse = np.r_[ref.bse_[-1], ref.bse_[:-1]]
    ci = ref.conf_int(method="wald")
    ci = np.vstack([ci[-1], ci[:-1]])
    return ref, params, bse, ci


@pytest.mark.parametrize("n,p", [(47, 2), (47, 4), (300, 3)])
def test_firth_matches_firthmodels(n, p):
    X, y, mask = _specs(11, 6, n, p)
    res = fit_firth(X, y, mask, test_index=1, exposure_index=1, vcov="augmented", profile_ci=(n == 47))
    fis = fit_firth(X, y, mask, test_index=1, vcov="fisher")
    for b in range(6):
        m = mask[b]
        ref, params, bse, ci = _firth_reference(X[b, m], y[b, m])
        assert ref.converged_ and res.converged[b] and res.lrt_converged[b]
        np.testing.assert_allclose(res.params[b], params, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.bse[b], bse, atol=TOL, rtol=0)
        np.testing.assert_allclose(np.c_[res.ci_low[b], res.ci_high[b]], ci, atol=TOL, rtol=0)
        assert res.llf[b] == pytest.approx(ref.loglik_, abs=TOL)
        assert res.lrt_pvalue[b] == pytest.approx(ref.lrt_pvalues_[0], abs=TOL)
        if n == 47:
            pl = _quiet(ref.conf_int, method="pl", features=0, tol=1e-9, max_iter=200)[0]
            assert res.pl_ci_converged[b]
            np.testing.assert_allclose([res.pl_ci_low[b], res.pl_ci_high[b]], pl, atol=TOL, rtol=0)
        # logistf / Heinze-Schemper covariance: I(beta_hat)^-1 at the same estimate
        Xm = X[b, m]
        mu = expit(Xm @ params)
        cov = np.linalg.inv(Xm.T @ (Xm * (mu * (1 - mu))[:, None]))
        np.testing.assert_allclose(fis.bse[b], np.sqrt(np.diag(cov)), atol=TOL, rtol=0)
        np.testing.assert_allclose(fis.params[b], params, atol=TOL, rtol=0)
        assert fis.lrt_pvalue[b] == pytest.approx(ref.lrt_pvalues_[0], abs=TOL)


def test_firth_converges_under_separation_and_matches():
    X, y, mask = _specs(12, 2, 47, 3, p_include=1.0)
    X, y = X.copy(), y.copy()
    y[0, X[0, :, 1] == 1] = 0.0  # quasi-complete
    X[1, :, 2] = np.where(y[1] == 1, 1.0, -1.0) * (1 + np.arange(47) % 5)  # complete
    res = fit_firth(X, y, test_index=1, exposure_index=1, vcov="augmented", profile_ci=True)
    assert res.converged.all() and res.lrt_converged.all() and res.pl_ci_converged.all()
    assert res.zero_cell[0]
    for b in range(2):
        ref, params, bse, _ = _firth_reference(X[b], y[b])
        np.testing.assert_allclose(res.params[b], params, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.bse[b], bse, atol=TOL, rtol=0)
        assert res.lrt_pvalue[b] == pytest.approx(ref.lrt_pvalues_[0], abs=TOL)
        pl = _quiet(ref.conf_int, method="pl", features=0, tol=1e-9, max_iter=200)[0]
        np.testing.assert_allclose([res.pl_ci_low[b], res.pl_ci_high[b]], pl, atol=TOL, rtol=0)
    assert res.warnings()[0] == ["empty cell in exposure x outcome table (quasi-complete separation)"]


@pytest.mark.parametrize("n,p", [(47, 2), (300, 4)])
def test_ols_matches_statsmodels(n, p):
    X, _, mask = _specs(13, 6, n, p)
    rng = np.random.default_rng(14)
    y = np.where(mask, np.nan_to_num(X) @ rng.normal(size=p) + rng.normal(size=(6, n)), np.nan)
    res = fit_ols(X, y, mask)
    for b in range(6):
        m = mask[b]
        ref = sm.OLS(y[b, m], X[b, m]).fit()
        np.testing.assert_allclose(res.params[b], ref.params, atol=TOL, rtol=1e-9)
        np.testing.assert_allclose(res.bse[b], ref.bse, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.tvalues[b], ref.tvalues, atol=TOL, rtol=1e-9)
        np.testing.assert_allclose(res.pvalues[b], ref.pvalues, atol=TOL, rtol=0)
        np.testing.assert_allclose(np.c_[res.ci_low[b], res.ci_high[b]], ref.conf_int(), atol=TOL)
        assert res.df_resid[b] == ref.df_resid


def _plain_roc(x, pos):
    """Per-specification reference: pairwise AUC, DeLong, Youden by brute force."""
    xp, xn = x[pos == 1], x[pos == 0]
    psi = (xp[:, None] > xn[None, :]) + 0.5 * (xp[:, None] == xn[None, :])
    se = np.sqrt(psi.mean(1).var(ddof=1) / len(xp) + psi.mean(0).var(ddof=1) / len(xn))
    best = (-np.inf, None, None, None)
    for c in np.unique(x):
        sens, spec = (xp > c).mean(), (xn <= c).mean()
        if sens + spec - 1 > best[0] + 1e-12:
            best = (sens + spec - 1, c, sens, spec)
    return psi.mean(), se, best


@pytest.mark.parametrize("n", [47, 300])
def test_auc_matches_mann_whitney_and_plain_loop(n):
    rng = np.random.default_rng(15)
    B = 10
    pos = (rng.random((B, n)) < 0.3).astype(float)
    marker = np.round(rng.gamma(2, 5, size=(B, n)) + 4 * pos)  # integer mg: many ties
    marker[:, :5] = 0.0  # the zero-dose block of non-users
    mask = rng.random((B, n)) < 0.85
    marker = np.where(mask, marker, np.nan)
    res = roc_auc(marker, pos, mask)
    for b in range(B):
        m = mask[b]
        x, s = marker[b, m], pos[b, m]
        u = stats.mannwhitneyu(x[s == 1], x[s == 0]).statistic
        assert res.auc[b] == pytest.approx(u / (s.sum() * (1 - s).sum()), abs=1e-12)
        assert res.u_statistic[b] == pytest.approx(u, abs=1e-9)
        auc, se, (j, c, sens, spec) = _plain_roc(x, s)
        assert res.auc[b] == pytest.approx(auc, abs=1e-12)
        assert res.se_delong[b] == pytest.approx(se, abs=1e-12)
        assert res.cutoff[b] == c and res.youden_j[b] == pytest.approx(j, abs=1e-12)
        assert res.sensitivity[b] == pytest.approx(sens) and res.specificity[b] == pytest.approx(spec)
        assert res.has_ties[b]


def test_auc_permuted_labels_shared_marker_and_edge_cases():
    rng = np.random.default_rng(16)
    marker = rng.normal(size=47)
    labels = permute_within_strata((rng.random(47) < 0.3).astype(float), np.zeros(47), 5, 0)
    res = roc_auc(marker, labels)
    for b in range(5):
        assert res.auc[b] == pytest.approx(_plain_roc(marker, labels[b])[0], abs=1e-12)
    one = roc_auc(marker, np.zeros(47))
    assert np.isnan(one.auc[0]) and np.isnan(one.cutoff[0]) and one.warnings()[0]
    # Criteria 1 (sens 1, spec 2/3) and 3 (sens 2/3, spec 1) tie at J = 2/3: lowest reported.
    tie = roc_auc(np.array([0.0, 1, 2, 3, 4, 5]), np.array([0, 0, 1, 0, 1, 1]))
    assert tie.n_youden_optima[0] == 2 and tie.cutoff[0] == 1.0


def test_midranks_match_scipy():
    rng = np.random.default_rng(17)
    v = rng.integers(0, 6, size=(4, 30)).astype(float)
    inc = rng.random((4, 30)) < 0.7
    r = midranks(v, inc)
    for b in range(4):
        np.testing.assert_allclose(r[b, inc[b]], stats.rankdata(v[b, inc[b]]))
        assert np.isnan(r[b, ~inc[b]]).all()


def test_permutation_within_strata():
    strata = np.array(["A"] * 20 + ["B"] * 27)
    dose = np.arange(47.0)
    perm = permute_within_strata(dose, strata, 200, seed=42)
    assert perm.shape == (200, 47)
    for s in ("A", "B"):
        cols = strata == s
        assert (np.sort(perm[:, cols], axis=1) == np.sort(dose[cols])).all()
    np.testing.assert_array_equal(perm, permute_within_strata(dose, strata, 200, seed=42))
    assert len({row.tobytes() for row in perm}) == 200
    idx = permutation_indices(strata, 3, np.random.default_rng(1))
    both = permute_within_strata(np.c_[dose, dose * 2], strata, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(both[:, :, 0], dose[idx])
    np.testing.assert_array_equal(both[:, :, 1], 2 * dose[idx])
    with pytest.raises(ValueError):
        permutation_indices(np.array([1.0, np.nan]), 2, 0)


def test_permutation_fits_match_individual_fits():
    """The multiverse use: one design per (specification, permutation)."""
    X, y, mask = _specs(18, 1, 47, 3, p_include=1.0)
    strata = np.repeat([0, 1], [22, 25])
    Xp = np.repeat(X, 4, axis=0)
    Xp[:, :, 1] = permute_within_strata(X[0, :, 1], strata, 4, seed=3)
    res = fit_logit(Xp, y[0], exposure_index=1)
    for b in range(4):
        if res.separation[b]:
            continue
        ref = sm.Logit(y[0], Xp[b]).fit(method="newton", tol=1e-12, disp=0)
        np.testing.assert_allclose(res.params[b], ref.params, atol=TOL, rtol=0)


def test_compiled_roc_cutoff_equals_the_youden_search_of_roc_auc():
    from ketamine_bzd.multiverse.kernels import roc_cutoff

    rng = np.random.default_rng(5)
    marker = np.round(rng.gamma(1.0, 10.0, size=(50, 47)), 1)  # ties, as doses have
    positive = rng.random((50, 47)) < 0.7
    mask = rng.random((50, 47)) < 0.9
    np.testing.assert_array_equal(roc_cutoff(marker, positive, mask), roc_auc(marker, positive, mask).cutoff)
