"""Batched maximum-likelihood logistic regression (see ``kernels``), and the
per-specification descriptors shared with the Firth kernel (``SpecDescriptors``,
``descriptors``, ``shared_flags``, ``warnings_by_spec``, ``start_values``, ``wald``).

The fast batched path of the method whose reference implementation is
``ketamine_bzd.stats.logistic`` (one fit, every check); the compiled Newton loop
(``_numba.logit_newton``) is tested against that reference in
``tests/test_multiverse_reference.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._batch import Batch, chunked, prepare

# A fitted probability this close to 0 or 1 needs |eta| > 23. That alone is no proof of
# separation: at a finite MLE a patient far out on a continuous exposure (94 mg/day is 9.4
# units of per_10mg; a slope of 3 puts eta at 28) has such a fitted probability too. Divergence
# is declared only when, in addition, the likelihood has stopped moving while the Newton steps
# do not shrink (``STEP_SHRINK``); see ``fit_logit``.
FITTED_EXTREME_EPS = 1e-10
EXTREME_ETA = float(-np.log(FITTED_EXTREME_EPS))
# Newton steps toward a finite optimum shrink quadratically (each a tiny fraction of the one
# before); toward an MLE at infinity they tend to a constant length along the separating
# direction. A step at least this fraction of the previous one is "not shrinking".
STEP_SHRINK = 0.5
# Relative size of floating-point noise in a summed log-likelihood.
LLF_NOISE = 64 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class SpecDescriptors:
    """Per-specification descriptors shared by the ML and Firth results."""

    n_obs: np.ndarray  # (B,) sum of weights (number of included patients)
    n_events: np.ndarray  # (B,) weighted count of y == 1
    n_exposed: np.ndarray  # (B,) weighted count of exposure == 1 (NaN if not binary / not given)
    exposure_table: np.ndarray  # (B, 2, 2) counts [exposure 0/1, y 0/1] (NaN if not binary)
    zero_cell: np.ndarray  # (B,) True if the binary exposure x outcome table has an empty cell
    rank_deficient: np.ndarray  # (B,) design not of full column rank among included rows
    no_outcome_variation: np.ndarray  # (B,) all included y identical (model not fitted)


def shared_flags(common: Any) -> dict[str, np.ndarray]:
    """The warnings every fit shares, each with its per-specification flag."""
    return {
        "rank-deficient design (collinear or constant column in this population)": common.rank_deficient,
        "outcome has no variation (no events or no non-events)": common.no_outcome_variation,
        "empty cell in exposure x outcome table (quasi-complete separation)": common.zero_cell,
    }


def warnings_by_spec(flagged: dict[str, np.ndarray]) -> list[list[str]]:
    """The texts whose flag is set, per specification."""
    B = len(next(iter(flagged.values())))
    out: list[list[str]] = [[] for _ in range(B)]
    for text, flag in flagged.items():
        for i in np.flatnonzero(flag):
            out[i].append(text)
    return out


@dataclass(frozen=True)
class LogitResult(SpecDescriptors):
    """Batched ML logistic regression. Arrays are (B, p) or (B,); coefficients
    are on the log-odds scale, in the column order of X."""

    params: np.ndarray
    bse: np.ndarray  # sqrt(diag(inverse Fisher information at the MLE))
    zvalues: np.ndarray
    pvalues: np.ndarray  # two-sided Wald
    llf: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    n_fitted_extreme: np.ndarray  # (B,) included rows with fitted p within 1e-10 of 0 or 1
    # (B,) zero_cell | (n_fitted_extreme > 0 & not converged): the MLE does not exist. Extreme
    # fitted probabilities at a converged (finite) estimate are not separation.
    separation: np.ndarray

    def warnings(self) -> list[list[str]]:
        """Human-readable warnings per specification (empty list = none)."""
        flagged = shared_flags(self)
        flagged["fitted probabilities numerically 0 or 1 (separation)"] = (
            self.n_fitted_extreme > 0
        ) & ~self.converged
        flagged[
            "fitted probabilities numerically 0 or 1 at the converged estimate (finite MLE, no separation: "
            "an influential patient)"
        ] = (self.n_fitted_extreme > 0) & self.converged
        fitted = ~(self.rank_deficient | self.no_outcome_variation)
        flagged["Newton-Raphson did not converge"] = fitted & ~self.converged
        flagged["singular Fisher information (SE not available)"] = fitted & ~np.isfinite(self.bse).all(
            axis=1
        )
        return warnings_by_spec(flagged)


def descriptors(b: Batch, exposure_index: int | None) -> dict[str, np.ndarray]:
    """Per-specification counts and the checks made before fitting (rank, outcome variation,
    the exposure x outcome table and its empty cells), compiled (``_numba.describe``)."""
    from ._numba import describe

    B, n, p = b.X.shape
    if exposure_index is not None and not -p <= exposure_index < p:
        raise ValueError(f"exposure_index {exposure_index} out of range for p={p}")
    j = -1 if exposure_index is None else exposure_index % p
    # one compiled specialization: C-contiguous arrays (a shared design is copied)
    n_obs, n_events, full_rank, table = describe(np.ascontiguousarray(b.X), b.y, b.w, j)
    n_exposed = table[:, 1, :].sum(axis=1)
    zero_cell = np.any(table == 0, axis=(1, 2))
    return dict(
        n_obs=n_obs,
        n_events=n_events,
        n_exposed=n_exposed,
        exposure_table=table,
        zero_cell=zero_cell,
        rank_deficient=~full_rank,
        no_outcome_variation=(n_events <= 0) | (n_events >= n_obs),
    )


def wald(params: np.ndarray, cov: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, ...]:
    """Wald SE, z and two-sided p from the covariance matrices (NaN where not ``ok``)."""
    var = np.diagonal(cov, axis1=1, axis2=2)
    bse = np.where(ok[:, None] & (var > 0), np.sqrt(np.abs(var)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return bse, z, 2.0 * stats.norm.sf(np.abs(z))


# --------------------------------------------------------------------------- ML


def _fit_ml_chunk(
    b: Batch,
    *,
    exposure_index: int | None,
    max_iter: int,
    tol: float,
    max_halving: int,
    skip_zero_cell: bool = False,
) -> LogitResult:
    """Newton-Raphson (IRLS) with step halving per specification, compiled
    (``_numba.logit_newton``)."""
    from ._numba import logit_newton

    B, n, p = b.X.shape
    desc = descriptors(b, exposure_index)
    fit = ~(desc["rank_deficient"] | desc["no_outcome_variation"])
    if skip_zero_cell:
        fit &= ~desc["zero_cell"]
    work = np.flatnonzero(fit)
    params = np.full((B, p), np.nan)
    bse = np.full((B, p), np.nan)
    llf = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    n_iter = np.zeros(B, dtype=np.int64)
    n_extreme = np.zeros(B, dtype=np.int64)
    if work.size:
        start = start_values(b.X[work], b.y[work], b.w[work])
        pw, var, lw, cw, iw, ew = logit_newton(
            np.ascontiguousarray(b.X),
            b.y,
            b.w,
            work,
            start,
            max_iter,
            tol,
            max_halving,
            LLF_NOISE,
            EXTREME_ETA,
            STEP_SHRINK,
        )
        params[work], llf[work], converged[work], n_iter[work], n_extreme[work] = pw, lw, cw, iw, ew
        bse[work] = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return LogitResult(
        params=params,
        bse=bse,
        zvalues=z,
        pvalues=2.0 * stats.norm.sf(np.abs(z)),
        llf=llf,
        converged=converged,
        n_iter=n_iter,
        n_fitted_extreme=n_extreme,
        separation=desc["zero_cell"] | ((n_extreme > 0) & ~converged),
        **desc,
    )


def start_values(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Start at the intercept-only fit when X has a column of ones (saves
    about one Newton iteration); zeros otherwise."""
    beta = np.zeros((X.shape[0], X.shape[2]))
    inc = w > 0
    for j in range(X.shape[2]):
        ones = np.all((X[:, :, j] == 1.0) | ~inc, axis=1)
        if ones.all():
            ybar = (w * y).sum(axis=1) / w.sum(axis=1)
            with np.errstate(divide="ignore"):
                beta[:, j] = np.log(ybar / (1.0 - ybar))
            beta[~np.isfinite(beta)] = 0.0
            break
    return beta


def fit_logit(
    X: Any,
    y: Any,
    mask: Any = None,
    *,
    exposure_index: int | None = None,
    max_iter: int = 50,
    tol: float = 1e-8,
    max_halving: int = 20,
    chunk_size: int = 2048,
    skip_zero_cell: bool = False,
) -> LogitResult:
    """Batched maximum-likelihood logistic regression by Newton-Raphson (IRLS).

    Parameters
    ----------
    X : (n, p) shared or (B, n, p) design matrices (include the intercept column).
    y : (n,) or (B, n) 0/1 outcome.
    mask : None, (n,) or (B, n) inclusion mask (bool) or non-negative frequency
        weights. Excluded rows may hold NaN.
    exposure_index : column of X holding a binary exposure; enables the exact
        zero-cell separation check and ``n_exposed``.
    max_iter, tol : Newton iterations per specification; converged when the
        largest coefficient step is below ``tol`` (the following quadratic step
        would be ~tol**2, so estimates are accurate far beyond 1e-6).
    max_halving : step halvings allowed when the log-likelihood would drop.
    chunk_size : specifications processed together (memory ~ chunk*n*p*8 B).
    Each specification's Newton loop runs compiled; elements with identical
    included rows are fitted once. Tested against the reference implementation,
    ``ketamine_bzd.stats.logistic`` (tests/test_multiverse_reference.py).
    skip_zero_cell : do not iterate specifications with an empty exposure x
        outcome cell (the MLE provably does not exist): their params, bse and
        llf are NaN, converged False, n_iter and n_fitted_extreme 0 (separation
        stays True). For callers that discard separated fits anyway, such as
        the multiverse under permutation, where these are the slowest fits.
    """
    b = prepare(X, y, mask, binary_y=True)
    return chunked(
        _fit_ml_chunk,
        b,
        chunk_size,
        deduplicate=True,
        exposure_index=exposure_index,
        max_iter=max_iter,
        tol=tol,
        max_halving=max_halving,
        skip_zero_cell=skip_zero_cell,
    )
