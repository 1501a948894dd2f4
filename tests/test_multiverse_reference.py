"""The compiled multiverse kernels against the package's reference implementation.

``ketamine_bzd.stats.logistic.fit_logistic`` is the one reference implementation of logistic
regression (ML and Firth; itself checked against R glm / logistf / brglm2 in
tests/test_stats_logistic.py). The batched kernels (``multiverse.fit_logit``, ``fit_firth``,
compiled in ``multiverse/_numba.py``) are the fast path of the same methods; here they are fitted
to the same data sets, one specification per data set, and must give the same estimates,
standard errors, Wald p, penalized likelihood-ratio p and profile penalized-likelihood limits,
and the same verdict on separation. Data sets: random designs like the multiverse's (binary
exposure, integer scores), a patient subset (mask), bootstrap counts (frequency weights),
quasi-complete separation (an empty exposure x outcome cell), complete separation by a
continuous dose, and a real finite MLE with fitted probabilities at 0/1 (issue 12).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from ketamine_bzd.multiverse import fit_firth, fit_logit
from ketamine_bzd.stats.logistic import fit_logistic

# heavy (compiles the numba kernels; profile CIs by the reference): `make test-fast` skips it
pytestmark = pytest.mark.slow

PREDICTORS = ["exposure", "x2", "x3"]
RTOL = 1e-6  # both iterate to far below this; the kernel stops at |score| < 1e-8


def _random(seed: int, n: int = 47) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    exposure = (rng.random(n) < 0.3).astype(float)
    x2 = np.round(rng.normal(24, 6, n))  # like baseline MADRS
    x3 = np.round(rng.normal(20, 10, n))  # like baseline BAI
    y = (rng.random(n) < expit(-0.8 + 1.2 * exposure + 0.04 * (x2 - 24) + 0.03 * (x3 - 20))).astype(float)
    return np.column_stack([np.ones(n), exposure, x2, x3]), y


def _quasi_separated() -> tuple[np.ndarray, np.ndarray]:
    X, y = _random(11)
    y[X[:, 1] == 1] = 1.0  # every exposed patient has the event: empty cell
    return X, y


def _completely_separated() -> tuple[np.ndarray, np.ndarray]:
    X, y = _random(12, n=30)
    X[:, 3] = np.linspace(0, 94, 30)  # a dose that alone splits the outcome
    y = (X[:, 3] > 40).astype(float)
    return X, y


def _finite_mle() -> tuple[np.ndarray, np.ndarray]:
    name = "finite_mle_per10mg_response_any_bzd_users.csv"
    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / name)
    X = np.column_stack([np.ones(len(data)), data[["per_10mg", "madrs_day0", "bai_day0"]].to_numpy(float)])
    return X, data["nonresponse"].to_numpy(float)


def _reference(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
    """``fit_logistic`` on the patients (each counted ``weights`` times)."""
    reps = np.ones(len(y), dtype=int) if weights is None else weights.astype(int)
    frame = pd.DataFrame(np.repeat(X[:, 1:], reps, axis=0), columns=PREDICTORS)
    frame["y"] = np.repeat(y, reps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_logistic(frame, "y", PREDICTORS, event=1.0, focus="exposure")
    coef = res.coefficients.set_index(["method", "term"])
    return res, coef


def _kernels(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None):
    ml = fit_logit(X, y, mask, exposure_index=1)
    firth = fit_firth(X, y, mask, test_index=1, exposure_index=1, profile_ci=True)
    return ml, firth


def _log(ci) -> np.ndarray:
    return np.log(np.asarray(list(ci), float))


def _compare(ml, firth, res, coef) -> None:
    terms = ["intercept", *PREDICTORS]
    # Firth: every coefficient and SE (logistf's I(beta)^-1), the penalized LRT p and the
    # profile penalized-likelihood CI of the exposure
    f = coef.loc["firth"].loc[terms]
    assert firth.converged[0] and firth.lrt_converged[0] and firth.pl_ci_converged[0]
    np.testing.assert_allclose(firth.params[0], f["estimate"], rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(firth.bse[0], f["se"], rtol=RTOL)
    np.testing.assert_allclose(firth.lrt_pvalue[0], f.loc["exposure", "p_lrt"], rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(
        [firth.pl_ci_low[0], firth.pl_ci_high[0]], _log(f.loc["exposure", "ci_profile"]), rtol=RTOL, atol=RTOL
    )
    # ML: the same verdict on separation; without it the same estimates, SEs and Wald p
    assert bool(ml.separation[0]) == res.separation
    if res.separation:
        assert not res.ml.estimable and not ml.converged[0]
        return
    m = coef.loc["ml"].loc[terms]
    assert ml.converged[0]
    np.testing.assert_allclose(ml.params[0], m["estimate"], rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(ml.bse[0], m["se"], rtol=RTOL)
    np.testing.assert_allclose(ml.pvalues[0], m["p_wald"], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_designs(seed):
    X, y = _random(seed)
    _compare(*_kernels(X, y), *_reference(X, y))


def test_a_patient_subset_is_the_reference_fit_on_those_patients():
    X, y = _random(4, n=60)
    mask = np.random.default_rng(4).random(60) < 0.75
    X_nan = X.copy()
    X_nan[~mask, 2] = np.nan  # excluded rows may hold NaN
    _compare(*_kernels(X_nan, y, mask), *_reference(X[mask], y[mask]))


def test_bootstrap_counts_are_frequency_weights():
    X, y = _random(5)
    counts = np.random.default_rng(50).multinomial(len(y), np.full(len(y), 1 / len(y))).astype(float)
    _compare(*_kernels(X, y, counts), *_reference(X, y, counts))


def test_quasi_complete_separation():
    X, y = _quasi_separated()
    ml, firth = _kernels(X, y)
    res, coef = _reference(X, y)
    assert res.separation and ml.zero_cell[0]  # the empty cell proves it, whatever the covariates
    _compare(ml, firth, res, coef)


def test_complete_separation_by_a_continuous_dose():
    X, y = _completely_separated()
    ml, firth = _kernels(X, y)
    res, coef = _reference(X, y)
    assert res.separation and not ml.zero_cell[0]  # found by divergence, not by the 2 x 2 table
    _compare(ml, firth, res, coef)


def test_a_finite_mle_with_fitted_probabilities_at_0_or_1():
    X, y = _finite_mle()
    ml, firth = _kernels(X, y)
    assert ml.n_fitted_extreme[0] >= 1
    _compare(ml, firth, *_reference(X, y))


# --- ROC: the batched AUC / DeLong / Youden kernel against stats.roc ------------------------


@pytest.mark.parametrize("seed", [3, 4])
def test_auc_kernel_matches_the_stats_roc_reference(seed):
    """multiverse.roc_auc (batched, rank-based) against the reference of the paper's ROC
    analysis (stats.roc: Mann-Whitney AUC, DeLong SE, empirical coordinates): same AUC and SE,
    and the kernel's Youden cut-off is an operating point of the reference with its maximal J."""
    from ketamine_bzd.multiverse import roc_auc
    from ketamine_bzd.stats.roc import auc_mann_whitney, delong_se, roc_coordinates

    rng = np.random.default_rng(seed)
    B, n = 12, 60
    pos = (rng.random((B, n)) < 0.35).astype(float)
    marker = np.round(rng.gamma(2, 4, size=(B, n)) + 3 * pos)  # integer mg: ties
    marker[:, :6] = 0.0  # non-users
    mask = rng.random((B, n)) < 0.9
    res = roc_auc(np.where(mask, marker, np.nan), pos, mask)
    for b in range(B):
        x, s = marker[b, mask[b]], pos[b, mask[b]]
        p, q = x[s == 1], x[s == 0]
        assert res.auc[b] == pytest.approx(auc_mann_whitney(p, q), abs=1e-12)
        assert res.se_delong[b] == pytest.approx(delong_se(p, q), abs=1e-12)
        coords = roc_coordinates(p, q)
        best = coords["youden_j"].max()
        assert res.youden_j[b] == pytest.approx(best, abs=1e-12)
        at_cut = coords[coords["criterion_value"] == res.cutoff[b]]
        assert len(at_cut) >= 1 and at_cut["youden_j"].max() == pytest.approx(best, abs=1e-12)
