"""Batched Firth penalized logistic regression (see ``kernels``).

The fast batched path of the method whose reference implementation is
``ketamine_bzd.stats.logistic`` (Firth fit, penalized LRT, profile CI); the compiled Newton
loop (``_numba.firth_newton``) is tested against that reference in
``tests/test_multiverse_reference.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._batch import Batch, chol_inverse, cholesky, chunked, prepare
from ._logistic import (
    LLF_NOISE,
    SpecDescriptors,
    descriptors,
    shared_flags,
    start_values,
    wald,
    warnings_by_spec,
)


@dataclass(frozen=True)
class FirthResult(SpecDescriptors):
    """Batched Firth-penalized logistic regression. Arrays are (B, p) or (B,)."""

    params: np.ndarray
    bse: np.ndarray  # from the covariance chosen by ``vcov``
    zvalues: np.ndarray
    pvalues: np.ndarray  # two-sided Wald
    ci_low: np.ndarray  # Wald confidence limits on the log-odds scale
    ci_high: np.ndarray
    llf: np.ndarray  # penalized log-likelihood l(beta) + 0.5 log|I(beta)|
    converged: np.ndarray
    n_iter: np.ndarray
    test_index: int  # coefficient tested by the penalized likelihood ratio (-1: none)
    llf_constrained: np.ndarray  # (B,) penalized llf with params[test_index] fixed at 0
    lrt_chi2: np.ndarray  # (B,) 2 * (llf - llf_constrained), floored at 0
    lrt_pvalue: np.ndarray  # (B,) chi-square(1) upper tail
    lrt_converged: np.ndarray  # (B,)
    vcov: str  # "fisher" (logistf) or "augmented" (firthmodels)
    pl_ci_low: np.ndarray  # (B,) profile penalized-likelihood limits for test_index
    pl_ci_high: np.ndarray  # (NaN unless profile_ci=True)
    pl_ci_converged: np.ndarray  # (B,)

    def warnings(self) -> list[list[str]]:
        """Human-readable warnings per specification (empty list = none).
        A zero cell is reported although Firth estimates stay finite."""
        flagged = shared_flags(self)
        fitted = ~(self.rank_deficient | self.no_outcome_variation)
        flagged["Firth Newton-Raphson did not converge"] = fitted & ~self.converged
        if self.test_index >= 0:
            flagged["constrained Firth fit for the likelihood ratio test did not converge"] = (
                fitted & self.converged & ~self.lrt_converged
            )
            requested = ~np.isnan(self.pl_ci_low) | ~np.isnan(self.pl_ci_high) | self.pl_ci_converged
            flagged["profile-likelihood confidence limit not found"] = (
                requested & fitted & self.converged & ~self.pl_ci_converged
            )
        return warnings_by_spec(flagged)


@dataclass
class _FirthQ:
    llf: np.ndarray  # (m,) penalized log-likelihood
    score: np.ndarray  # (m, p) modified score U*
    info_aug: np.ndarray  # (m, p, p) X' diag((w + h) mu (1 - mu)) X
    info_inv: np.ndarray  # (m, p, p) I(beta)^-1 (unaugmented)
    ok: np.ndarray  # (m,) I(beta) positive definite


def _take(q: _FirthQ, sel: np.ndarray) -> _FirthQ:
    return _FirthQ(q.llf[sel], q.score[sel], q.info_aug[sel], q.info_inv[sel], q.ok[sel])


def _put(q: _FirthQ, sel: np.ndarray, new: _FirthQ) -> None:
    q.llf[sel], q.score[sel], q.info_aug[sel] = new.llf, new.score, new.info_aug
    q.info_inv[sel], q.ok[sel] = new.info_inv, new.ok


def _firth_newton(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    beta: np.ndarray,
    free: np.ndarray,
    *,
    max_iter: int,
    max_step: float,
    max_halfstep: int,
    gtol: float,
    xtol: float,
) -> tuple[np.ndarray, _FirthQ, np.ndarray, np.ndarray]:
    """Modified-score Newton-Raphson with step halving on the penalized likelihood (the
    logistf / firthmodels algorithm), compiled and run per element (``_numba.firth_newton``);
    coefficients outside ``free`` stay at their starting value (none free: the penalized
    likelihood, score and informations at the start)."""
    from ._numba import firth_newton

    bb, llf, score, inv, aug, ok, conv, nit = firth_newton(
        np.ascontiguousarray(X),
        np.ascontiguousarray(y),
        np.ascontiguousarray(w),
        np.arange(beta.shape[0]),
        np.ascontiguousarray(beta, dtype=np.float64),
        np.asarray(free, dtype=np.intp),
        max_iter,
        max_step,
        max_halfstep,
        gtol,
        xtol,
        LLF_NOISE,
    )
    return bb, _FirthQ(llf=llf, score=score, info_aug=aug, info_inv=inv, ok=ok), conv, nit


def _profile_bound(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    beta_hat: np.ndarray,
    llf_hat: np.ndarray,
    se: np.ndarray,
    j: int,
    crit: float,
    sign: float,
    opts: dict,
    max_eval: int = 60,
    gtol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """One profile penalized-likelihood confidence limit per specification:
    the b on side ``sign`` of beta_hat_j with 2 (l*(beta_hat) - max l*(beta |
    beta_j = b)) = crit, bracketed by doubling steps and solved by the
    Illinois variant of regula falsi on batched constrained Firth refits
    (warm-started from the previous refit of the same specification)."""
    m, p = beta_hat.shape
    free = np.array([k for k in range(p) if k != j], dtype=np.intp)
    starts = beta_hat.copy()
    ok = np.ones(m, dtype=bool)

    def g(idx: np.ndarray, b: np.ndarray, strict: bool = True) -> np.ndarray:
        st = starts[idx].copy()
        st[:, j] = b
        bb, q, conv, _ = _firth_newton(X[idx], y[idx], w[idx], st, free, **opts)
        if free.size:
            # l* is not concave near separation: a warm start from a distant point can stall,
            # or stop at a lower local maximum, while the profile is the maximum over the free
            # coefficients. Refit from beta_hat too and keep the converged fit with the higher
            # l* (as the reference, stats.logistic._profile_fit; tests/test_multiverse_reference.py).
            st2 = beta_hat[idx].copy()
            st2[:, j] = b
            b2, q2, c2, _ = _firth_newton(X[idx], y[idx], w[idx], st2, free, **opts)
            better = np.flatnonzero(c2 & (~conv | (q2.llf > q.llf)))
            bb[better] = b2[better]
            _put(q, better, _take(q2, better))
            conv = conv | c2
            if not strict:
                # Bracketing only needs the sign of g: far out on a flat profile near
                # separation, step halving stalls with |U*| ~ 1e-6, where l* is within
                # ~1e-12 of the constrained maximum.
                conv = conv | (np.max(np.abs(q.score[:, free]), axis=1) < 1e-4)
        starts[idx] = bb
        ok[idx] &= conv
        return 2.0 * (llf_hat[idx] - q.llf) - crit

    step = sign * np.sqrt(crit) * np.where(np.isfinite(se) & (se > 0), se, 1.0)
    a, fa = beta_hat[:, j].copy(), np.full(m, -crit)
    c = a + step
    fc = g(np.arange(m), c, strict=False)
    for _ in range(30):  # expand until the bracket holds the root
        sub = np.flatnonzero(ok & (fc < 0))
        if sub.size == 0:
            break
        a[sub], fa[sub] = c[sub], fc[sub]
        step[sub] *= 2.0
        c[sub] = c[sub] + step[sub]
        fc[sub] = g(sub, c[sub], strict=False)
    ok &= fc >= 0
    for _ in range(max_eval):
        sub = np.flatnonzero(ok & (np.abs(fc) > gtol))
        if sub.size == 0:
            break
        x = c[sub] - fc[sub] * (c[sub] - a[sub]) / (fc[sub] - fa[sub])
        fx = g(sub, x)
        flip = fx * fc[sub] < 0
        a[sub] = np.where(flip, c[sub], a[sub])
        fa[sub] = np.where(flip, fc[sub], 0.5 * fa[sub])
        c[sub], fc[sub] = x, fx
    ok &= np.abs(fc) <= gtol
    return np.where(ok, c, np.nan), ok


def _fit_firth_chunk(
    b: Batch,
    *,
    test_index: int,
    exposure_index: int | None,
    vcov: str,
    alpha: float,
    profile_ci: bool,
    max_iter: int,
    max_step: float,
    max_halfstep: int,
    gtol: float,
    xtol: float,
) -> FirthResult:
    B, n, p = b.X.shape
    desc = descriptors(b, exposure_index)
    fit = np.flatnonzero(~(desc["rank_deficient"] | desc["no_outcome_variation"]))
    opts = dict(max_iter=max_iter, max_step=max_step, max_halfstep=max_halfstep, gtol=gtol, xtol=xtol)
    params = np.full((B, p), np.nan)
    bse = np.full((B, p), np.nan)
    z = np.full((B, p), np.nan)
    pv = np.full((B, p), np.nan)
    llf = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    n_iter = np.zeros(B, dtype=np.int64)
    llf_c = np.full(B, np.nan)
    lrt_conv = np.zeros(B, dtype=bool)
    pl = np.full((B, 2), np.nan)
    pl_ok = np.zeros(B, dtype=bool)
    if fit.size:
        X, y, w = b.X[fit], b.y[fit], b.w[fit]
        # Start at the intercept-only ML fit (saves about one Newton iteration).
        beta, q, conv, nit = _firth_newton(X, y, w, start_values(X, y, w), np.arange(p), **opts)
        if vcov == "fisher":
            cov, ok = q.info_inv, q.ok
        else:
            L, ok = cholesky(q.info_aug)
            cov = chol_inverse(L)
        params[fit], llf[fit], converged[fit], n_iter[fit] = beta, q.llf, conv, nit
        bse[fit], z[fit], pv[fit] = wald(beta, cov, ok)
        if test_index >= 0:
            sel = np.flatnonzero(conv)
            free = np.array([j for j in range(p) if j != test_index], dtype=np.intp)
            if sel.size:
                # Warm start at the conditional mean of the other coefficients
                # given beta_j = 0 (as firthmodels); only the speed depends on it.
                start = beta[sel].copy()
                c = cov[sel]
                cjj = c[:, test_index, test_index]
                shift = c[:, :, test_index] / np.where(cjj > 0, cjj, np.inf)[:, None]
                start -= start[:, [test_index]] * np.where(np.isfinite(shift), shift, 0.0)
                start[:, test_index] = 0.0
                _, qc, cconv, _ = _firth_newton(X[sel], y[sel], w[sel], start, free, **opts)
                llf_c[fit[sel]] = np.where(cconv, qc.llf, np.nan)
                lrt_conv[fit[sel]] = cconv
                if profile_ci:
                    crit2 = stats.chi2.ppf(1.0 - alpha, df=1)
                    se_j = np.sqrt(np.abs(cov[sel, test_index, test_index]))
                    both = np.ones(sel.size, dtype=bool)
                    for col, sign in ((0, -1.0), (1, 1.0)):
                        bound, okb = _profile_bound(
                            X[sel], y[sel], w[sel], beta[sel], q.llf[sel], se_j, test_index, crit2, sign, opts
                        )
                        pl[fit[sel], col] = bound
                        both &= okb
                    pl_ok[fit[sel]] = both
    chi2 = np.maximum(0.0, 2.0 * (llf - llf_c))
    crit = stats.norm.ppf(1.0 - alpha / 2.0)
    return FirthResult(
        params=params,
        bse=bse,
        zvalues=z,
        pvalues=pv,
        ci_low=params - crit * bse,
        ci_high=params + crit * bse,
        llf=llf,
        converged=converged,
        n_iter=n_iter,
        test_index=test_index,
        llf_constrained=llf_c,
        lrt_chi2=chi2,
        lrt_pvalue=stats.chi2.sf(chi2, df=1),
        lrt_converged=lrt_conv,
        vcov=vcov,
        pl_ci_low=pl[:, 0],
        pl_ci_high=pl[:, 1],
        pl_ci_converged=pl_ok,
        **desc,
    )


def fit_firth(
    X: Any,
    y: Any,
    mask: Any = None,
    *,
    test_index: int | None = None,
    exposure_index: int | None = None,
    vcov: Literal["fisher", "augmented"] = "fisher",
    alpha: float = 0.05,
    profile_ci: bool = False,
    max_iter: int = 100,
    max_step: float = 5.0,
    max_halfstep: int = 25,
    gtol: float = 1e-8,
    xtol: float = 1e-8,
    chunk_size: int = 2048,
) -> FirthResult:
    """Batched Firth (1993) penalized logistic regression.

    Maximises l(beta) + 0.5 log|I(beta)| by Newton-Raphson on the modified
    score U*(beta) = X'[w (y - mu) + h (1/2 - mu)], step direction from the
    augmented information X' diag((w + h) mu (1 - mu)) X, step capped at
    ``max_step`` and halved (up to ``max_halfstep`` times) until the penalized
    likelihood does not decrease, as logistf (Heinze & Schemper 2002) and
    firthmodels do. Converged when max|U*| < gtol and max|step| < xtol.

    test_index : coefficient for the penalized likelihood ratio test
        (Heinze & Schemper 2002): the model is refitted with that coefficient
        fixed at 0, the penalty still evaluated on the full design, and
        chi2 = 2 (l*_full - l*_constrained) referred to chi-square(1).
        Only specifications whose full fit converged are tested.
    vcov : "fisher" (default) uses I(beta_hat)^-1 as logistf and Heinze &
        Schemper 2002; "augmented" uses the inverse of the augmented
        information as firthmodels ``bse_`` does (slightly smaller SEs).
    profile_ci : also compute the profile penalized-likelihood confidence
        interval of ``test_index`` (logistf's default; consistent with the
        likelihood ratio p, unlike the Wald interval). Costs ~20-40 batched
        constrained refits, so meant for observed specifications, not for
        permutations.
    Other arguments as :func:`fit_logit`.
    """
    if vcov not in ("fisher", "augmented"):
        raise ValueError("vcov must be 'fisher' or 'augmented'")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    b = prepare(X, y, mask, binary_y=True)
    p = b.X.shape[2]
    if test_index is None:
        test_index = -1
    elif not 0 <= test_index < p:
        raise ValueError(f"test_index {test_index} out of range for p={p}")
    return chunked(
        _fit_firth_chunk,
        b,
        chunk_size,
        deduplicate=True,
        test_index=test_index,
        exposure_index=exposure_index,
        vcov=vcov,
        alpha=alpha,
        profile_ci=profile_ci and test_index >= 0,
        max_iter=max_iter,
        max_step=max_step,
        max_halfstep=max_halfstep,
        gtol=gtol,
        xtol=xtol,
    )
