"""Batched maximum-likelihood and Firth logistic regression (see ``kernels``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._batch import (
    Batch,
    GramPlan,
    chol_inverse,
    chol_logdet,
    cholesky,
    chunked,
    gram,
    logistic_terms,
    matvec,
    prepare,
)

# A fitted probability this close to 0 or 1 needs |eta| > 23: with n ~ 50 that
# only happens when the likelihood is being maximised at infinity (separation).
FITTED_EXTREME_EPS = 1e-10
EXTREME_ETA = float(-np.log(FITTED_EXTREME_EPS))
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
    separation: np.ndarray  # (B,) zero_cell | n_fitted_extreme > 0 (MLE does not exist)

    def warnings(self) -> list[list[str]]:
        """Human-readable warnings per specification (empty list = none)."""
        flags = _describe(self)
        flags["fitted probabilities numerically 0 or 1 (separation)"] = self.n_fitted_extreme > 0
        fitted = ~(self.rank_deficient | self.no_outcome_variation)
        flags["Newton-Raphson did not converge"] = fitted & ~self.converged
        flags["singular Fisher information (SE not available)"] = fitted & ~np.isfinite(self.bse).all(axis=1)
        return _warnings_list(flags)


@dataclass(frozen=True)
class FirthResult(_Common):
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
        flags = _describe(self)
        fitted = ~(self.rank_deficient | self.no_outcome_variation)
        flags["Firth Newton-Raphson did not converge"] = fitted & ~self.converged
        if self.test_index >= 0:
            flags["constrained Firth fit for the likelihood ratio test did not converge"] = (
                fitted & self.converged & ~self.lrt_converged
            )
            requested = ~np.isnan(self.pl_ci_low) | ~np.isnan(self.pl_ci_high) | self.pl_ci_converged
            flags["profile-likelihood confidence limit not found"] = (
                requested & fitted & self.converged & ~self.pl_ci_converged
            )
        return _warnings_list(flags)


def _descriptors(b: Batch, exposure_index: int | None) -> dict[str, np.ndarray]:
    B, n, p = b.X.shape
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
                  max_halving: int) -> LogitResult:
    B, n, p = b.X.shape
    desc = _descriptors(b, exposure_index)
    fit = ~(desc["rank_deficient"] | desc["no_outcome_variation"])
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
        # at 0/1 and the likelihood no longer moves.
        diverged = (extreme > 0) & (ll - ll_prev < 1e-8)
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
                live = live[keep]
        score = np.matmul((w * (y - mu))[:, None, :], X)[:, 0, :]
        delta = _chol_solve(L, score)
        delta[~live] = 0.0
        beta_prev = beta
        beta = beta + delta
        step = np.ones(live.size)
        ll_prev = ll

    with np.errstate(invalid="ignore", divide="ignore"):
        z = params / bse
    return LogitResult(
        params=params, bse=bse, zvalues=z, pvalues=2.0 * stats.norm.sf(np.abs(z)), llf=llf,
        converged=converged, n_iter=n_iter, n_fitted_extreme=n_extreme,
        separation=desc["zero_cell"] | (n_extreme > 0), **desc,
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
              chunk_size: int = 2048) -> LogitResult:
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
    """
    b = prepare(X, y, mask, binary_y=True)
    return chunked(_fit_ml_chunk, b, chunk_size, exposure_index=exposure_index,
                   max_iter=max_iter, tol=tol, max_halving=max_halving)


# ------------------------------------------------------------------------ Firth


@dataclass
class _FirthQ:
    llf: np.ndarray  # (m,) penalized log-likelihood
    score: np.ndarray  # (m, p) modified score U*
    info_aug: np.ndarray  # (m, p, p) X' diag((w + h) mu (1 - mu)) X
    info_inv: np.ndarray  # (m, p, p) I(beta)^-1 (unaugmented)
    ok: np.ndarray  # (m,) I(beta) positive definite


def _firth_q(X: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray,
             plan: GramPlan) -> _FirthQ:
    eta = _linpred(X, beta)
    mu, l1pe = logistic_terms(eta)
    v = mu * (1.0 - mu)
    wv = w * v
    L, ok = cholesky(plan(wv))
    Iinv = chol_inverse(L)
    # Diagonal of the weighted hat matrix W^1/2 X I^-1 X' W^1/2.
    h = wv * plan.quad(Iinv)
    ll = np.sum(w * (y * eta - l1pe), axis=1)
    llf = ll + 0.5 * np.where(ok, chol_logdet(L), -np.inf)
    score = np.matmul((w * (y - mu) + h * (0.5 - mu))[:, None, :], X)[:, 0, :]
    return _FirthQ(llf=llf, score=score, info_aug=plan(wv + h * v), info_inv=Iinv, ok=ok)


def _take(q: _FirthQ, sel: np.ndarray) -> _FirthQ:
    return _FirthQ(q.llf[sel], q.score[sel], q.info_aug[sel], q.info_inv[sel], q.ok[sel])


def _put(q: _FirthQ, sel: np.ndarray, new: _FirthQ) -> None:
    q.llf[sel], q.score[sel], q.info_aug[sel] = new.llf, new.score, new.info_aug
    q.info_inv[sel], q.ok[sel] = new.info_inv, new.ok


def _firth_newton(X: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray,
                  free: np.ndarray, *, max_iter: int, max_step: float, max_halfstep: int,
                  gtol: float, xtol: float) -> tuple[np.ndarray, _FirthQ, np.ndarray, np.ndarray]:
    """Modified-score Newton-Raphson with step halving on the penalized
    likelihood (the logistf / firthmodels algorithm), vectorized over the
    batch; coefficients outside ``free`` stay at their starting value."""
    m = beta.shape[0]
    beta = beta.copy()
    plan = GramPlan(X)
    q = _firth_q(X, y, w, beta, plan)
    converged = np.zeros(m, dtype=bool)
    n_iter = np.full(m, max_iter, dtype=np.int64)
    active = np.flatnonzero(q.ok & np.isfinite(q.llf))
    n_iter[~(q.ok & np.isfinite(q.llf))] = 0
    fi = np.ix_(free, free)
    for iteration in range(max_iter + 1):
        if active.size == 0:
            break
        U = q.score[active][:, free]
        L, ok = cholesky(q.info_aug[active][:, fi[0], fi[1]], rtol=1e-14)
        delta = matvec(chol_inverse(L), U)
        max_score = np.max(np.abs(U), axis=1)
        max_delta = np.max(np.abs(delta), axis=1)
        done = ok & (max_score < gtol) & (max_delta < xtol)
        converged[active[done]] = True
        n_iter[active[done | ~ok]] = iteration
        keep = ok & ~done
        active, U, delta, max_delta = active[keep], U[keep], delta[keep], max_delta[keep]
        if iteration == max_iter or active.size == 0:
            break
        # A step is accepted unless it lowers the penalized likelihood by more
        # than rounding noise; otherwise halving stalls once |U*| ~ 1e-8
        # (firthmodels' failure mode with tight tolerances).
        llf_old = q.llf[active]
        llf_floor = llf_old - LLF_NOISE * (np.abs(llf_old) + w[active].sum(axis=1))
        gain = 0.5 * np.sum(U * delta, axis=1)
        skip = (max_delta < xtol) & (gain > 0) & (llf_old + gain == llf_old)
        delta *= np.minimum(1.0, max_step / np.maximum(max_delta, 1e-300))[:, None]
        full = np.zeros((active.size, beta.shape[1]))
        full[:, free] = delta
        Xa, ya, wa, ba = X[active], y[active], w[active], beta[active]
        plan_a = plan.take(active)
        qn = _firth_q(Xa, ya, wa, ba + full, plan_a)
        accept = skip | (qn.llf >= llf_floor) | (max_halfstep == 0)
        factor = np.ones(active.size)
        pending = np.flatnonzero(~accept)
        for _ in range(max_halfstep):
            if pending.size == 0:
                break
            factor[pending] *= 0.5
            qp = _firth_q(Xa[pending], ya[pending], wa[pending],
                          ba[pending] + factor[pending, None] * full[pending], plan_a.take(pending))
            _put(qn, pending, qp)
            good = qp.llf >= llf_floor[pending]
            accept[pending[good]] = True
            pending = pending[~good]
        # Step halving exhausted: stop this element at its last accepted beta.
        failed = ~accept
        n_iter[active[failed]] = iteration
        acc = np.flatnonzero(accept)
        beta[active[acc]] = ba[acc] + factor[acc, None] * full[acc]
        _put(q, active[acc], _take(qn, acc))
        active = active[acc]
    return beta, q, converged, n_iter


def _profile_bound(X: np.ndarray, y: np.ndarray, w: np.ndarray, beta_hat: np.ndarray,
                   llf_hat: np.ndarray, se: np.ndarray, j: int, crit: float, sign: float,
                   opts: dict, max_eval: int = 60, gtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """One profile penalized-likelihood confidence limit per specification:
    the b on side ``sign`` of beta_hat_j with 2 (l*(beta_hat) - max l*(beta |
    beta_j = b)) = crit, bracketed by doubling steps and solved by the
    Illinois variant of regula falsi on batched constrained Firth refits
    (warm-started from the previous refit of the same specification)."""
    m, p = beta_hat.shape
    free = np.array([k for k in range(p) if k != j], dtype=np.intp)
    starts = beta_hat.copy()
    ok = np.ones(m, dtype=bool)

    def g(idx: np.ndarray, b: np.ndarray) -> np.ndarray:
        st = starts[idx].copy()
        st[:, j] = b
        if free.size:
            bb, q, conv, _ = _firth_newton(X[idx], y[idx], w[idx], st, free, **opts)
        else:
            bb, q, conv = st, _firth_q(X[idx], y[idx], w[idx], st, GramPlan(X[idx])), True
        starts[idx] = bb
        ok[idx] &= conv
        return 2.0 * (llf_hat[idx] - q.llf) - crit

    step = sign * np.sqrt(crit) * np.where(np.isfinite(se) & (se > 0), se, 1.0)
    a, fa = beta_hat[:, j].copy(), np.full(m, -crit)
    c = a + step
    fc = g(np.arange(m), c)
    for _ in range(30):  # expand until the bracket holds the root
        sub = np.flatnonzero(ok & (fc < 0))
        if sub.size == 0:
            break
        a[sub], fa[sub] = c[sub], fc[sub]
        step[sub] *= 2.0
        c[sub] = c[sub] + step[sub]
        fc[sub] = g(sub, c[sub])
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


def _fit_firth_chunk(b: Batch, *, test_index: int, exposure_index: int | None, vcov: str,
                     alpha: float, profile_ci: bool, max_iter: int, max_step: float,
                     max_halfstep: int, gtol: float, xtol: float) -> FirthResult:
    B, n, p = b.X.shape
    desc = _descriptors(b, exposure_index)
    fit = np.flatnonzero(~(desc["rank_deficient"] | desc["no_outcome_variation"]))
    opts = dict(max_iter=max_iter, max_step=max_step, max_halfstep=max_halfstep, gtol=gtol,
                xtol=xtol)
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
        beta, q, conv, nit = _firth_newton(X, y, w, np.zeros((fit.size, p)), np.arange(p), **opts)
        if vcov == "fisher":
            cov, ok = q.info_inv, q.ok
        else:
            L, ok = cholesky(q.info_aug)
            cov = chol_inverse(L)
        params[fit], llf[fit], converged[fit], n_iter[fit] = beta, q.llf, conv, nit
        bse[fit], z[fit], pv[fit] = _wald(beta, cov, ok)
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
                if free.size:
                    _, qc, cconv, _ = _firth_newton(X[sel], y[sel], w[sel], start, free, **opts)
                else:
                    qc = _firth_q(X[sel], y[sel], w[sel], start, GramPlan(X[sel]))
                    cconv = np.ones(sel.size, bool)
                llf_c[fit[sel]] = np.where(cconv, qc.llf, np.nan)
                lrt_conv[fit[sel]] = cconv
                if profile_ci:
                    crit2 = stats.chi2.ppf(1.0 - alpha, df=1)
                    se_j = np.sqrt(np.abs(cov[sel, test_index, test_index]))
                    both = np.ones(sel.size, dtype=bool)
                    for col, sign in ((0, -1.0), (1, 1.0)):
                        bound, okb = _profile_bound(X[sel], y[sel], w[sel], beta[sel], q.llf[sel],
                                                    se_j, test_index, crit2, sign, opts)
                        pl[fit[sel], col] = bound
                        both &= okb
                    pl_ok[fit[sel]] = both
    chi2 = np.maximum(0.0, 2.0 * (llf - llf_c))
    crit = stats.norm.ppf(1.0 - alpha / 2.0)
    return FirthResult(
        params=params, bse=bse, zvalues=z, pvalues=pv,
        ci_low=params - crit * bse, ci_high=params + crit * bse, llf=llf,
        converged=converged, n_iter=n_iter, test_index=test_index, llf_constrained=llf_c,
        lrt_chi2=chi2, lrt_pvalue=stats.chi2.sf(chi2, df=1), lrt_converged=lrt_conv,
        vcov=vcov, pl_ci_low=pl[:, 0], pl_ci_high=pl[:, 1], pl_ci_converged=pl_ok, **desc,
    )


def fit_firth(X: Any, y: Any, mask: Any = None, *, test_index: int | None = None,
              exposure_index: int | None = None,
              vcov: Literal["fisher", "augmented"] = "fisher", alpha: float = 0.05,
              profile_ci: bool = False, max_iter: int = 100, max_step: float = 5.0,
              max_halfstep: int = 25,
              gtol: float = 1e-8, xtol: float = 1e-8, chunk_size: int = 2048) -> FirthResult:
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
    return chunked(_fit_firth_chunk, b, chunk_size, test_index=test_index,
                   exposure_index=exposure_index, vcov=vcov, alpha=alpha,
                   profile_ci=profile_ci and test_index >= 0, max_iter=max_iter,
                   max_step=max_step, max_halfstep=max_halfstep, gtol=gtol, xtol=xtol)
