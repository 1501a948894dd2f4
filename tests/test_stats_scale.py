"""Issue 10: the statistics that scale (no n x n matrices) equal their textbook definitions.

Each fast form is checked against the direct n x n / per-patient / pairwise computation written
out here, on small random data (the R references in test_stats_*.py check the results)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats.contingency import odds_ratio

from ketamine_bzd.stats import logistic as lg
from ketamine_bzd.stats import mixed, roc
from ketamine_bzd.stats.contingency import conditional_odds_ratio_ci

RNG = np.random.default_rng(20260101)


def designs(count=40):
    for _ in range(count):
        n, k = int(RNG.integers(10, 120)), int(RNG.integers(2, 5))
        X = np.column_stack([np.ones(n), RNG.normal(size=(n, k - 1)) * RNG.uniform(0.1, 30, k - 1)])
        beta = RNG.normal(size=k) / np.abs(X).max(axis=0) * RNG.uniform(0.1, 4)
        yield X, beta


def hessian_nxn(X, beta, wt=None):
    """Firth Hessian with the n x n matrix Q = X I^-1 X' (the definition)."""
    wt = np.ones(len(X)) if wt is None else wt
    eta = X @ beta
    p = 1 / (1 + np.exp(-eta))
    w = p * (1 - p)
    info = X.T @ (X * (wt * w)[:, None])
    Q = X @ np.linalg.solve(info, X.T)
    B = X * (wt * w * (1 - 2 * p))[:, None]
    return -info + 0.5 * X.T @ (X * (wt * w * (1 - 6 * w) * np.diag(Q))[:, None]) - 0.5 * B.T @ (Q * Q) @ B


def test_firth_hessian_equals_nxn_form(monkeypatch):
    for X, beta in designs():
        ref = hessian_nxn(X, beta)
        np.testing.assert_allclose(
            lg._penalized_hessian(X, beta), ref, rtol=0, atol=1e-11 * np.abs(ref).max()
        )
    # the fallback without a Cholesky factor gives the same matrix
    X, beta = next(designs(1))

    def no_cholesky(a):
        raise np.linalg.LinAlgError("forced")

    monkeypatch.setattr(lg.np.linalg, "cholesky", no_cholesky)
    ref = hessian_nxn(X, beta)
    np.testing.assert_allclose(lg._penalized_hessian(X, beta), ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_aggregated_design_equals_one_row_per_patient():
    """Count-weighted distinct rows give the same l*, modified score, information and Hessian."""
    for X, beta in designs(15):
        X = np.round(X[RNG.integers(0, len(X), 3 * len(X))])  # duplicate rows, as integer scores give
        X[:, 0] = 1.0
        y = (RNG.random(len(X)) < 0.4).astype(float)
        Xa, ya = lg.aggregate_design(X, y)
        assert len(ya) < len(y) and ya.counts.sum() == len(y)
        for a, b in zip(lg.penalized_loglik(X, y, beta), lg.penalized_loglik(Xa, ya, beta)):
            np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(
            lg._penalized_hessian(Xa, beta, ya.counts), hessian_nxn(X, beta), rtol=1e-10, atol=1e-10
        )


def test_delong_and_auc_equal_pairwise_definitions():
    for i in range(30):
        m, n = int(RNG.integers(2, 80)), int(RNG.integers(2, 80))
        pos = RNG.integers(0, 12, m).astype(float) if i % 2 else RNG.normal(0.5, 1, m)
        neg = RNG.integers(0, 9, n).astype(float) if i % 2 else RNG.normal(0, 1, n)
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        assert roc.auc_mann_whitney(pos, neg) == psi.mean()
        se = np.sqrt(psi.mean(axis=1).var(ddof=1) / m + psi.mean(axis=0).var(ddof=1) / n)
        assert roc.delong_se(pos, neg) == pytest.approx(se, rel=1e-14, abs=1e-15)
        coords = roc.roc_coordinates(pos, neg)
        c = coords["criterion_value"].to_numpy()[1:]
        np.testing.assert_array_equal(
            coords["true_positive"].to_numpy()[1:], (pos[None, :] > c[:, None]).sum(axis=1)
        )
        np.testing.assert_array_equal(
            coords["true_negative"].to_numpy()[1:], (neg[None, :] <= c[:, None]).sum(axis=1)
        )


def test_cutoff_bootstrap_equals_resampling_values():
    """Counting resampled codes gives the cut-offs of resampling the values (same generator draws)."""
    pos, neg = RNG.choice([0, 2.5, 5, 10, 20, 30], 25), RNG.choice([0, 0, 2.5, 5, 10], 30)
    rng = np.random.default_rng(5)
    cuts = []
    for _ in range(40):
        p = rng.choice(pos, size=len(pos), replace=True)
        q = rng.choice(neg, size=len(neg), replace=True)
        vals = np.unique(np.concatenate([p, q]))
        j = (p[None, :] > vals[:, None]).mean(axis=1) + (q[None, :] <= vals[:, None]).mean(axis=1) - 1
        cuts.append(vals[int(np.argmax(j))] if j.max() > 0 else np.nan)
    ok = np.array(cuts)[np.isfinite(cuts)]
    res = roc.bootstrap_cutoff(pos, neg, n_boot=40, seed=5)
    assert res.median == np.median(ok) and res.ci == tuple(np.quantile(ok, [0.025, 0.975]))


def test_reml_sufficient_statistics_equal_per_patient_matrices():
    subj = np.repeat(np.arange(30), RNG.integers(1, 5, 30))
    X = np.column_stack([np.ones(len(subj)), RNG.normal(size=(len(subj), 2))])
    y = RNG.normal(size=len(subj)) + subj % 3
    tau2, sigma2 = 1.7, 0.8
    XtVX, XtVy = np.zeros((3, 3)), np.zeros(3)
    for s in np.unique(subj):  # V_i^-1 written out per patient
        i = subj == s
        Vi = sigma2 * np.eye(i.sum()) + tau2
        XtVX += X[i].T @ np.linalg.solve(Vi, X[i])
        XtVy += X[i].T @ np.linalg.solve(Vi, y[i])
    beta, cov = mixed._gls(X, y, subj.astype(str), tau2, sigma2)
    np.testing.assert_allclose(cov, np.linalg.inv(XtVX), rtol=1e-12)
    np.testing.assert_allclose(beta, np.linalg.solve(XtVX, XtVy), rtol=1e-12)


def test_conditional_odds_ratio_ci_equals_scipy():
    for t in ([[7, 3], [4, 9]], [[0, 5], [3, 4]], [[5, 0], [2, 6]], [[1, 1], [1, 1]], [[13, 21], [0, 13]]):
        ref = odds_ratio(np.array(t), kind="conditional").confidence_interval(0.95)
        assert conditional_odds_ratio_ci(t) == pytest.approx((ref.low, ref.high), rel=1e-11)
    for _ in range(6):
        t = RNG.integers(1, 300, (2, 2))
        ref = odds_ratio(t, kind="conditional").confidence_interval(0.95)
        assert conditional_odds_ratio_ci(t) == pytest.approx((ref.low, ref.high), rel=1e-10)
