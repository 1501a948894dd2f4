"""Batched maximum-likelihood logistic regression (see ``kernels``), and the
per-specification descriptors shared with the Firth kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._batch import (
    Batch,
    GramPlan,
    chol_inverse,
    cholesky,
    chunked,
    gram,
    logistic_terms,
    prepare,
)

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
class _Common:
    """Per-specification descriptors shared by the ML and Firth results."""

    n_obs: np.ndarray  # (B,) sum of weights (number of included patients)
    n_events: np.ndarray  # (B,) weighted count of y == 1
    n_exposed: np.ndarray  # (B,) weighted count of exposure == 1 (NaN if not binary / not given)
    exposure_table: np.ndarray  # (B, 2, 2) counts [exposure 0/1, y 0/1] (NaN if not binary)
    zero_cell: np.ndarray  # (B,) True if the binary exposure x outcome table has an empty cell
    rank_deficient: np.ndarray  # (B,) design not of full column rank among included rows
    no_outcome_variation: np.ndarray  # (B,) all included y identical (model not fitted)


def _describe(common: Any) -> dict[str, np.ndarray]:
    return {
        "rank-deficient design (collinear or constant column in this population)": common.rank_deficient,
        "outcome has no variation (no events or no non-events)": common.no_outcome_variation,
        "empty cell in exposure x outcome table (quasi-complete separation)": common.zero_cell,
    }


def _warnings_list(flags: dict[str, np.ndarray]) -> list[list[str]]:
    B = len(next(iter(flags.values())))
    out: list[list[str]] = [[] for _ in range(B)]
    for text, flag in flags.items():
        for i in np.flatnonzero(flag):
            out[i].append(text)
    return out


@dataclass(frozen=True)
class LogitResult(_Common):
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
        flags = _describe(self)
        flags["fitted probabilities numerically 0 or 1 (separation)"] = (self.n_fitted_extreme > 0) & ~self.converged
        flags["fitted probabilities numerically 0 or 1 at the converged estimate (finite MLE, no separation: "
              "an influential patient)"] = (self.n_fitted_extreme > 0) & self.converged
        fitted = ~(self.rank_deficient | self.no_outcome_variation)
        flags["Newton-Raphson did not converge"] = fitted & ~self.converged
        flags["singular Fisher information (SE not available)"] = fitted & ~np.isfinite(self.bse).all(axis=1)
        return _warnings_list(flags)


def _descriptors(b: Batch, exposure_index: int | None,
                 backend: str = "numpy") -> dict[str, np.ndarray]:
    B, n, p = b.X.shape
    if backend == "numba":
        return _descriptors_numba(b, exposure_index)
    n_obs = b.w.sum(axis=1)
    n_events = (b.w * b.y).sum(axis=1)
    _, full_rank = cholesky(gram(b.X, b.w))
    no_var = (n_events <= 0) | (n_events >= n_obs)
    table = np.full((B, 2, 2), np.nan)
    n_exposed = np.full(B, np.nan)
    zero_cell = np.zeros(B, dtype=bool)
    if exposure_index is not None:
        if not -p <= exposure_index < p:
            raise ValueError(f"exposure_index {exposure_index} out of range for p={p}")
        x = b.X[:, :, exposure_index]
        inc = b.w > 0
        binary = np.all((x == 0) | (x == 1) | ~inc, axis=1)
        for xv in (0, 1):
            for yv in (0, 1):
                cell = (b.w * ((x == xv) & (b.y == yv))).sum(axis=1)
                table[:, xv, yv] = np.where(binary, cell, np.nan)
        n_exposed = table[:, 1, :].sum(axis=1)
        zero_cell = binary & np.any(table == 0, axis=(1, 2))
    return dict(
        n_obs=n_obs,
        n_events=n_events,
        n_exposed=n_exposed,
        exposure_table=table,
        zero_cell=zero_cell,
        rank_deficient=~full_rank,
        no_outcome_variation=no_var,
    )


def _descriptors_numba(b: Batch, exposure_index: int | None) -> dict[str, np.ndarray]:
    """``_descriptors`` with the per-element work compiled (``_numba.describe``)."""
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


def _linpred(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return np.matmul(X, beta[:, :, None])[:, :, 0]


def _wald(params: np.ndarray, cov: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, ...]:
    var = np.diagonal(cov, axis1=1, axis2=2)
    bse = np.where(ok[:, None] & (var > 0), np.sqrt(np.abs(var)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return bse, z, 2.0 * stats.norm.sf(np.abs(z))


# --------------------------------------------------------------------------- ML


def _fit_ml_chunk(b: Batch, *, exposure_index: int | None, max_iter: int, tol: float,
                  max_halving: int, backend: str = "numba",
                  skip_zero_cell: bool = False) -> LogitResult:
    B, n, p = b.X.shape
    desc = _descriptors(b, exposure_index, backend)
    fit = ~(desc["rank_deficient"] | desc["no_outcome_variation"])
    if skip_zero_cell:
        fit &= ~desc["zero_cell"]
    if backend == "numba":
        return _fit_ml_numba(b, desc, fit, max_iter=max_iter, tol=tol, max_halving=max_halving)
    params = np.full((B, p), np.nan)
    bse = np.full((B, p), np.nan)
    llf = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    n_iter = np.zeros(B, dtype=np.int64)
    n_extreme = np.zeros(B, dtype=np.int64)

    # Working set: gathered once and compacted only when fewer than 60 % of
    # its members are still iterating (compaction copies X and its products;
    # finished members are carried along with a zero step until then).
    work = np.flatnonzero(fit)
    X, y, w = b.X[work], b.y[work], b.w[work]
    inc = w > 0
    plan = GramPlan(X)
    m = work.size
    live = np.ones(m, dtype=bool)
    beta = _start(X, y, w)
    beta_prev = np.zeros((m, p))
    delta = np.zeros((m, p))
    step = np.zeros(m)
    ll_prev = np.full(m, -np.inf)
    prev_step = np.full(m, np.inf)  # length of the Newton step before the last one
    noise = LLF_NOISE * w.sum(axis=1)
    for it in range(max_iter + 1):
        if not live.any():
            break
        eta = _linpred(X, beta)
        mu, l1pe = logistic_terms(eta)
        ll = np.sum(w * (y * eta - l1pe), axis=1)
        # Lazy line search: the likelihood at the new point is computed here
        # anyway; only specifications whose last Newton step lowered it are
        # pulled back (halving), which is rare for the logistic likelihood.
        bad = ll < ll_prev - noise * (1.0 + np.abs(ll_prev))
        for _ in range(max_halving):
            if not bad.any():
                break
            sub = np.flatnonzero(bad)
            step[sub] *= 0.5
            beta[sub] = beta_prev[sub] + step[sub, None] * delta[sub]
            eta_s = _linpred(X[sub], beta[sub])
            eta[sub] = eta_s
            mu[sub], l1pe_s = logistic_terms(eta_s)
            ll[sub] = np.sum(w[sub] * (y[sub] * eta_s - l1pe_s), axis=1)
            bad[sub] = ll[sub] < ll_prev[sub] - noise[sub] * (1.0 + np.abs(ll_prev[sub]))
        L, ok = cholesky(plan(w * mu * (1.0 - mu)))
        extreme = np.sum((np.abs(eta) > EXTREME_ETA) & inc, axis=1)
        last_step = np.max(np.abs(step[:, None] * delta), axis=1)
        conv = ok & ~bad & (it > 0) & (last_step < tol)
        # Under separation the likelihood creeps towards its supremum while
        # coefficients grow without bound: stop once fitted probabilities sit
        # at 0/1, the likelihood no longer moves and the steps do not shrink
        # (near a finite MLE they shrink quadratically: iterate on to convergence).
        diverged = (extreme > 0) & (ll - ll_prev < 1e-8) & (last_step >= STEP_SHRINK * prev_step)
        done = live & (conv | diverged | ~ok | bad | (it == max_iter))
        if done.any():
            fin = np.flatnonzero(done)
            gi = work[fin]
            params[gi], llf[gi], n_iter[gi] = beta[fin], ll[fin], it
            converged[gi], n_extreme[gi] = conv[fin], extreme[fin]
            var = np.diagonal(chol_inverse(L[fin]), axis1=1, axis2=2)
            bse[gi] = np.where(ok[fin, None] & (var > 0), np.sqrt(np.abs(var)), np.nan)
            live &= ~done
            if not live.any():
                break
            if live.sum() < 0.6 * live.size:
                keep = np.flatnonzero(live)
                work, X, y, w, inc = work[keep], X[keep], y[keep], w[keep], inc[keep]
                plan = plan.take(keep)
                beta, mu, ll, L, noise = beta[keep], mu[keep], ll[keep], L[keep], noise[keep]
                last_step = last_step[keep]
                live = live[keep]
        score = np.matmul((w * (y - mu))[:, None, :], X)[:, 0, :]
        delta = _chol_solve(L, score)
        delta[~live] = 0.0
        beta_prev = beta
        beta = beta + delta
        step = np.ones(live.size)
        ll_prev = ll
        prev_step = last_step

    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return LogitResult(
        params=params, bse=bse, zvalues=z, pvalues=2.0 * stats.norm.sf(np.abs(z)), llf=llf,
        converged=converged, n_iter=n_iter, n_fitted_extreme=n_extreme,
        separation=desc["zero_cell"] | ((n_extreme > 0) & ~converged), **desc,
    )


def _fit_ml_numba(b: Batch, desc: dict[str, np.ndarray], fit: np.ndarray, *, max_iter: int,
                  tol: float, max_halving: int) -> LogitResult:
    """The Newton loop of ``_fit_ml_chunk``, compiled (``_numba.logit_newton``)."""
    from ._numba import logit_newton

    B, n, p = b.X.shape
    work = np.flatnonzero(fit)
    params = np.full((B, p), np.nan)
    bse = np.full((B, p), np.nan)
    llf = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    n_iter = np.zeros(B, dtype=np.int64)
    n_extreme = np.zeros(B, dtype=np.int64)
    if work.size:
        start = _start(b.X[work], b.y[work], b.w[work])
        pw, var, lw, cw, iw, ew = logit_newton(np.ascontiguousarray(b.X), b.y, b.w, work, start,
                                               max_iter, tol,
                                               max_halving, LLF_NOISE, EXTREME_ETA, STEP_SHRINK)
        params[work], llf[work], converged[work], n_iter[work], n_extreme[work] = pw, lw, cw, iw, ew
        bse[work] = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return LogitResult(
        params=params, bse=bse, zvalues=z, pvalues=2.0 * stats.norm.sf(np.abs(z)), llf=llf,
        converged=converged, n_iter=n_iter, n_fitted_extreme=n_extreme,
        separation=desc["zero_cell"] | ((n_extreme > 0) & ~converged), **desc,
    )


def _start(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
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


def _chol_solve(L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve (L L') x = rhs for a batch by two triangular sweeps."""
    B, p, _ = L.shape
    z = np.empty_like(rhs)
    for i in range(p):
        z[:, i] = (rhs[:, i] - np.einsum("bk,bk->b", L[:, i, :i], z[:, :i])) / L[:, i, i]
    x = np.empty_like(rhs)
    for i in range(p - 1, -1, -1):
        x[:, i] = (z[:, i] - np.einsum("bk,bk->b", L[:, i + 1 :, i], x[:, i + 1 :])) / L[:, i, i]
    return x


def fit_logit(X: Any, y: Any, mask: Any = None, *, exposure_index: int | None = None,
              max_iter: int = 50, tol: float = 1e-8, max_halving: int = 20,
              chunk_size: int = 2048, backend: str = "numba",
              skip_zero_cell: bool = False) -> LogitResult:
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
    backend : "numba" (default) runs each specification's Newton loop compiled;
        "numpy" vectorizes the same algorithm over the batch (the reference the
        compiled loop is checked against; equal to rounding). With "numba",
        elements with identical included rows are fitted once.
    skip_zero_cell : do not iterate specifications with an empty exposure x
        outcome cell (the MLE provably does not exist): their params, bse and
        llf are NaN, converged False, n_iter and n_fitted_extreme 0 (separation
        stays True). For callers that discard separated fits anyway, such as
        the multiverse under permutation, where these are the slowest fits.
    """
    if backend not in ("numba", "numpy"):
        raise ValueError("backend must be 'numba' or 'numpy'")
    b = prepare(X, y, mask, binary_y=True)
    return chunked(_fit_ml_chunk, b, chunk_size, deduplicate=backend == "numba",
                   exposure_index=exposure_index, max_iter=max_iter, tol=tol,
                   max_halving=max_halving, backend=backend, skip_zero_cell=skip_zero_cell)
