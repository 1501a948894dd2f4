"""Batched ordinary least squares (see ``kernels``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._batch import Batch, chol_inverse, cholesky, chunked, gram, matvec, prepare


@dataclass(frozen=True)
class OLSResult:
    """Batched OLS. Arrays are (B, p) or (B,), in the column order of X."""

    params: np.ndarray
    bse: np.ndarray  # sqrt(diag(s^2 (X'X)^-1)), s^2 = RSS / df_resid
    tvalues: np.ndarray
    pvalues: np.ndarray  # two-sided, t(df_resid)
    ci_low: np.ndarray
    ci_high: np.ndarray
    df_resid: np.ndarray  # (B,) n_obs - p
    n_obs: np.ndarray  # (B,)
    rank_deficient: np.ndarray  # (B,) design not of full column rank (estimates NaN)
    no_residual_df: np.ndarray  # (B,) n_obs <= p (estimates NaN)

    def warnings(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(len(self.n_obs))]
        for i in np.flatnonzero(self.rank_deficient):
            out[i].append("rank-deficient design (collinear or constant column in this population)")
        for i in np.flatnonzero(self.no_residual_df & ~self.rank_deficient):
            out[i].append("no residual degrees of freedom")
        return out


def _ols_chunk(b: Batch, *, alpha: float) -> OLSResult:
    B, n, p = b.X.shape
    n_obs = b.w.sum(axis=1)
    L, full_rank = cholesky(gram(b.X, b.w))
    df = n_obs - p
    ok = full_rank & (df > 0)
    XtX_inv = chol_inverse(L)
    beta = matvec(XtX_inv, np.einsum("bnp,bn->bp", b.X, b.w * b.y))
    resid = b.y - np.matmul(b.X, beta[:, :, None])[:, :, 0]
    s2 = np.sum(b.w * resid**2, axis=1) / np.where(df > 0, df, np.nan)
    var = s2[:, None] * np.diagonal(XtX_inv, axis1=1, axis2=2)
    beta = np.where(ok[:, None], beta, np.nan)
    bse = np.where(ok[:, None], np.sqrt(np.abs(var)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / bse
    dfc = np.where(ok, df, 1.0)[:, None]
    crit = stats.t.ppf(1.0 - alpha / 2.0, dfc)
    return OLSResult(
        params=beta,
        bse=bse,
        tvalues=t,
        pvalues=2.0 * stats.t.sf(np.abs(t), dfc),
        ci_low=beta - crit * bse,
        ci_high=beta + crit * bse,
        df_resid=df,
        n_obs=n_obs,
        rank_deficient=~full_rank,
        no_residual_df=df <= 0,
    )


def fit_ols(X: Any, y: Any, mask: Any = None, *, alpha: float = 0.05, chunk_size: int = 16384) -> OLSResult:
    """Batched OLS for a continuous outcome (e.g. relative MADRS change).

    X : (n, p) shared or (B, n, p) with the intercept column; y : (n,) or
    (B, n); mask : inclusion mask or non-negative frequency weights (rows
    with weight 0 may hold NaN). Solved through the normal equations with a
    scale-free Cholesky rank check; fine for the small, well-scaled designs
    of the multiverse (p <= ~10), not a substitute for QR on ill-conditioned X.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    return chunked(_ols_chunk, prepare(X, y, mask, binary_y=False), chunk_size, alpha=alpha)
