"""The compiled (numba) kernels against the vectorized numpy reference, fit for fit."""

import numpy as np
import pytest

from ketamine_bzd.multiverse._auc import roc_auc, roc_cutoff
from ketamine_bzd.multiverse.kernels import fit_firth, fit_logit

# heavy (compiles the numba kernels / fits the whole grid): `make test-fast` skips it
pytestmark = pytest.mark.slow


def _data(seed, B=64, n=47, p=4):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.ones((B, n, 1)), rng.normal(size=(B, n, p - 1))], axis=2)
    X[:, :, 1] = rng.random((B, n)) < 0.3  # a binary exposure, as in the multiverse
    eta = -0.5 + 1.2 * X[:, :, 1] + 0.3 * X[:, :, 2]
    y = (rng.random((B, n)) < 1 / (1 + np.exp(-eta))).astype(float)
    mask = rng.random((B, n)) < 0.9
    return X, y, mask


def _close(a, b, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    assert (np.isnan(a) == np.isnan(b)).all()
    scale = np.maximum(np.abs(b[ok]), 1e-6)  # values that are 0 up to rounding
    assert (np.abs(a[ok] - b[ok]) / scale).max(initial=0) < rtol


@pytest.mark.parametrize("seed", [1, 2])
def test_ml_logit_numba_equals_numpy(seed):
    X, y, mask = _data(seed)
    a = fit_logit(X, y, mask, exposure_index=1, backend="numba")
    b = fit_logit(X, y, mask, exposure_index=1, backend="numpy")
    clean = ~b.separation
    assert clean.sum() > 40
    for field in ("params", "bse", "pvalues"):
        _close(getattr(a, field)[clean], getattr(b, field)[clean], 1e-9)
    _close(a.llf[clean], b.llf[clean], 1e-9)
    assert (a.separation == b.separation).all()


@pytest.mark.parametrize("seed", [3, 4])
def test_firth_numba_equals_numpy_including_lrt_and_profile(seed):
    X, y, mask = _data(seed, B=32)
    kw = dict(test_index=1, exposure_index=1, profile_ci=True)
    a = fit_firth(X, y, mask, backend="numba", **kw)
    b = fit_firth(X, y, mask, backend="numpy", **kw)
    assert a.converged.all() and b.converged.all()
    for field in ("params", "bse", "lrt_pvalue", "pl_ci_low", "pl_ci_high"):
        _close(getattr(a, field), getattr(b, field), 1e-8)


def test_compiled_roc_cutoff_equals_the_youden_search():
    rng = np.random.default_rng(5)
    marker = np.round(rng.gamma(1.0, 10.0, size=(50, 47)), 1)  # ties, as doses have
    positive = rng.random((50, 47)) < 0.7
    mask = rng.random((50, 47)) < 0.9
    np.testing.assert_array_equal(roc_cutoff(marker, positive, mask),
                                  roc_auc(marker, positive, mask).cutoff)
