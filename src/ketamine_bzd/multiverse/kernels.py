"""Vectorized numerical kernels for the multiverse (issue 4).

Every kernel fits B specifications (or permutations, or bootstrap resamples)
at once with numpy array operations instead of a Python loop over model
objects. A *specification* is a design matrix over the same n patients plus
a 0/1 inclusion mask, because populations differ between specifications;
excluded rows may hold NaN and are ignored, included rows must be finite
(``ValueError`` otherwise). Masks may also be non-negative frequency weights
(bootstrap counts) for the regression kernels.

Shapes: ``X`` is (n, p) shared by all specifications or (B, n, p); ``y`` and
``mask`` are (n,) or (B, n). Include the intercept column in ``X`` yourself.
Large batches are processed in chunks (``chunk_size``) to bound memory.
No kernel raises on a degenerate specification: it returns NaN estimates
together with a flag explaining why (rank deficiency, no outcome variation,
separation, non-convergence); each result has ``.warnings()`` giving the
human-readable list per specification, for the ``warnings`` column.

Kernels
-------
fit_logit(X, y, mask=None, *, exposure_index=None, max_iter=50, tol=1e-8,
          max_halving=20, chunk_size=2048, skip_zero_cell=False) -> LogitResult
    Maximum-likelihood logistic regression by Newton-Raphson (IRLS) with
    per-specification convergence and step halving. Fields: params, bse
    (inverse Fisher information), zvalues, pvalues (Wald), llf, converged,
    n_iter, n_obs, n_events, n_exposed, exposure_table (B, 2, 2), zero_cell,
    n_fitted_extreme, separation, rank_deficient, no_outcome_variation.
    ``separation`` is True when the binary exposure (``exposure_index``) has an
    empty cell in its 2x2 table with the outcome -- an exact, LP-free proof
    that the MLE does not exist whatever the covariates -- or when the fit
    diverges: fitted probabilities within 1e-10 of 0/1 (|linear predictor| > 23,
    as R's glm warns), the likelihood no longer moving and the Newton steps no
    longer shrinking; iteration then stops. Extreme fitted probabilities at a
    converged estimate (a patient far out on a continuous dose) are a finite
    MLE, not separation (warned about; docs/multiverse.md, issue 12).
    Matches statsmodels ``Logit`` to ~1e-10 when not separated.
    Each specification's Newton loop runs compiled (``_numba.py``); the reference
    implementation of the method is ``ketamine_bzd.stats.logistic``, which the
    kernels are tested against (tests/test_multiverse_reference.py, separation
    included). ``skip_zero_cell=True`` returns
    NaN estimates without iterating when the exposure has an empty cell (used
    under permutation, where such fits are reported without an estimate).

fit_firth(X, y, mask=None, *, test_index=None, exposure_index=None,
          vcov="fisher", alpha=0.05, profile_ci=False, max_iter=100, max_step=5.0,
          max_halfstep=25, gtol=1e-8, xtol=1e-8, chunk_size=2048) -> FirthResult
    Firth (1993) bias-reduced logistic regression, maximising the penalized
    likelihood l(b) + 1/2 log|I(b)| with the modified-score Newton-Raphson
    and step halving of logistf (Heinze & Schemper 2002) / firthmodels.
    Finite under complete and quasi-complete separation. Fields: params, bse,
    zvalues, pvalues (Wald), ci_low/ci_high (Wald), llf (penalized),
    converged, n_iter, and for ``test_index`` the penalized likelihood ratio
    test (Heinze & Schemper 2002): llf_constrained (refit with that
    coefficient fixed at 0, batched), lrt_chi2, lrt_pvalue, lrt_converged;
    with ``profile_ci=True`` also pl_ci_low/pl_ci_high/pl_ci_converged, the
    profile penalized-likelihood interval of that coefficient (logistf's
    default interval; root-finding on batched constrained refits);
    plus the descriptors of fit_logit. ``vcov="fisher"`` gives logistf's
    I(b)^-1 standard errors; ``vcov="augmented"`` reproduces firthmodels'
    ``bse_``. Matches ``firthmodels.FirthLogisticRegression`` (params, bse,
    Wald CI, penalized llf, ``lrt()`` p, ``conf_int(method="pl")``) to 1e-6, and
    the reference ``stats.logistic.fit_logistic`` (Firth block) likewise.

fit_ols(X, y, mask=None, *, alpha=0.05, chunk_size=16384) -> OLSResult
    Ordinary least squares for a continuous outcome (relative MADRS change).
    Fields: params, bse, tvalues, pvalues, ci_low, ci_high (t with
    df_resid), df_resid, n_obs, rank_deficient, no_residual_df.

roc_auc(marker, positive, mask=None) -> AUCResult
    Rank-based AUC = Mann-Whitney U / (n_pos n_neg) with midranks for ties
    (Hanley & McNeil 1982), DeLong, DeLong & Clarke-Pearson (1988) standard
    error from rank placements, z test of AUC = 0.5, and the Youden-optimal
    cut-off in MedCalc notation (criterion = an observed value, positive if
    marker > criterion). Fields: auc, u_statistic, se_delong, z, p_value,
    n_pos, n_neg, has_ties, cutoff, sensitivity, specificity, youden_j,
    n_youden_optima. ``midranks(values, include)`` is exposed too;
    ``roc_cutoff(marker, positive, mask)`` is the compiled Youden search alone.

permutation_indices(strata, n_permutations, seed) -> (P, n) int array
permute_within_strata(values, strata, n_permutations, seed) -> (P, n[, k])
    Exposure relabelling within study for the permutation-based joint
    inference of specification curves (Simonsohn, Simmons & Nelson 2020,
    Nature Human Behaviour 4:1208-1214): the same relabelling is applied to
    every specification, so whole curves are compared under the null.

References
----------
Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika 80:27-38.
Heinze G, Schemper M (2002). A solution to the problem of separation in
    logistic regression. Statistics in Medicine 21:2409-2419.
Albert A, Anderson JA (1984). On the existence of maximum likelihood
    estimates in logistic regression models. Biometrika 71:1-10.
Mann HB, Whitney DR (1947). Ann Math Stat 18:50-60; Hanley JA, McNeil BJ
    (1982). Radiology 143:29-36.
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two
    or more correlated ROC curves. Biometrics 44:837-845.
Youden WJ (1950). Index for rating diagnostic tests. Cancer 3:32-35.
Simonsohn U, Simmons JP, Nelson LD (2020). Specification curve analysis.
    Nature Human Behaviour 4:1208-1214.
"""

import numpy as np

from ._auc import AUCResult, midranks, roc_auc, roc_cutoff
from ._firth import FirthResult, fit_firth
from ._logistic import LogitResult, fit_logit
from ._ols import OLSResult, fit_ols
from ._permutation import permutation_indices, permute_within_strata

__all__ = [
    "AUCResult",
    "FirthResult",
    "LogitResult",
    "OLSResult",
    "fit_firth",
    "fit_logit",
    "fit_ols",
    "midranks",
    "permutation_indices",
    "permute_within_strata",
    "roc_auc",
    "roc_cutoff",
]


def compile_kernels() -> None:
    """Compile every compiled kernel for the argument types the multiverse passes, or load it
    from numba's cache (``__pycache__`` beside ``_numba.py``, or ``NUMBA_CACHE_DIR``).

    ``make`` runs it once after installing, as it writes the bytecode: otherwise the first workflow run's parallel multiverse jobs each
    compile the same machine code (10-20 CPU-s apiece). A tiny batch of three specifications
    (two of them identical, for the duplicate detection) reaches every entry point.
    """
    rng = np.random.default_rng(0)
    n = 16
    X = np.ones((3, n, 3))
    X[:, :, 1] = np.arange(n) % 2
    X[:, :, 2] = rng.normal(size=n)
    y = np.tile((np.arange(n) % 3 == 0).astype(float), (3, 1))
    fit_logit(X, y, exposure_index=1)
    fit_firth(X, y, test_index=1, exposure_index=1, profile_ci=True)
    roc_cutoff(X[:, :, 2], y, np.ones((3, n), dtype=bool))
