"""Logistic regression of a binary outcome: maximum likelihood and Firth's penalized likelihood.

Methods
- ML: statsmodels GLM (binomial, logit link), IRLS to 1e-12. Odds ratio exp(beta); Wald CI
  exp(beta +/- z SE) and Wald p (what Statistica and SPSS print); profile-likelihood CI from
  the likelihood-ratio statistic, found by exact root finding on the profile deviance
  (each point is a GLM fit with the coefficient fixed through an offset), and the LRT p.
  R's ``confint.glm`` (MASS ``profile``, R < 4.4; in R >= 4.4 the same code moved to stats)
  interpolates a spline through profile points, so it agrees only to about 1e-3.
- Firth (1993) / Heinze & Schemper (2002): maximum of the penalized log-likelihood
  l*(beta) = l(beta) + 1/2 log|I(beta)|, fitted here by Fisher scoring on the modified score
  (the iteration of logistf and brglm2) with step-halving on l*, a step cap on the linear
  predictor and a unit-free stopping rule (Newton decrement U*' I^-1 U* < 1e-18), so the fit
  does not depend on whether a dose is in mg or g. Wald SE, CI and p from the inverse Fisher
  information X'WX at the Firth estimate (logistf / brglm2 convention); profile
  penalized-likelihood CI and penalized likelihood-ratio p, as R ``logistf`` reports them (its
  default ``p`` is the penalized LRT), computed by exact root finding on the profile, each point
  a constrained fit of the modified score with the full model's penalty (checked against
  brglm2, firthmodels' Venzon-Moolgavkar CI and an independent R implementation).
- Separation: Konis (2007) linear program (``firthmodels.detect_separation``, the algorithm of
  R ``detectseparation``). With separation the ML estimate does not exist: the ML block is
  reported with ``estimable = False`` and no numbers, and a warning goes into the result.
- Failures: bad input raises ``ValueError`` with a message; every numerical failure (a fit that
  does not converge, a profile limit that is not finite or not found) is reported in
  ``warnings`` and the affected numbers are ``None`` (``inf`` for a limit known to be infinite).
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from .result import Result, require_columns

__all__ = ["CoefficientBlock", "LogisticResult", "fit_logistic", "profile_ci_ml"]


@dataclass
class CoefficientBlock(Result):
    term: str
    estimable: bool
    estimate: float | None = None
    se: float | None = None
    odds_ratio: float | None = None
    ci_wald: tuple[float, float] | None = None
    ci_profile: tuple[float, float] | None = None
    p_value: float | None = None
    p_value_method: str | None = None
    p_wald: float | None = None
    p_lrt: float | None = None


@dataclass
class LogisticResult(Result):
    outcome: str
    event: str
    predictors: list[str]
    focus: str
    n: int
    events: int
    n_missing: int
    separation: bool
    separation_terms: dict[str, str]
    ml: CoefficientBlock
    firth: CoefficientBlock
    coefficients: pd.DataFrame = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self):
        d = super().to_dict()
        return d


# Numerical failures that become warnings in the result; input errors are raised before any
# numerical work starts, so a ValueError from here on is numerical (e.g. scipy's brentq).
_NUMERICAL_ERRORS = (np.linalg.LinAlgError, ArithmeticError, ValueError, RuntimeError, PerfectSeparationError)


def _exp(x: float) -> float:
    """exp that gives inf instead of raising OverflowError (inf becomes null in JSON)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.exp(x))


def _design(
    frame: pd.DataFrame, outcome: str, predictors: list[str], event
) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(predictors, str) or not all(isinstance(p, str) for p in predictors):
        raise ValueError(f"predictors must be a list of column names, got {predictors!r}")
    if not predictors:
        raise ValueError("need at least one predictor")
    dup = sorted({p for p in predictors if list(predictors).count(p) > 1})
    if dup:
        raise ValueError(f"predictor(s) {dup} listed more than once")
    if outcome in predictors:
        raise ValueError(f"the outcome {outcome!r} is also listed as a predictor")
    require_columns(frame, [outcome, *predictors])
    sub = frame[[outcome, *predictors]]
    miss = sub.isna().any(axis=1)
    data = sub.loc[~miss]
    warns = []
    if miss.any():
        warns.append(
            f"{int(miss.sum())} patient(s) with missing outcome or predictor excluded (complete cases)"
        )
    if len(data) == 0:
        raise ValueError("no complete cases for the logistic model")
    cols = []
    for p in predictors:
        try:
            col = pd.to_numeric(data[p].astype(float), errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"predictor {p!r} is not numeric or boolean ({data[p].dtype}): {err}") from None
        if not np.all(np.isfinite(col)):
            raise ValueError(f"predictor {p!r} has {int((~np.isfinite(col)).sum())} infinite value(s)")
        cols.append(col)
    X = np.column_stack(cols)
    levels = pd.unique(data[outcome])
    if len(levels) > 2:
        raise ValueError(
            f"outcome {outcome!r} has {len(levels)} distinct values ({list(levels)[:5]}...): "
            "a logistic model needs a binary outcome"
        )
    y = (data[outcome] == event).to_numpy().astype(float)
    k = int(y.sum())
    if k == 0 or k == len(y):
        raise ValueError(
            f"outcome {outcome!r} has no variation ({k} of {len(y)} patients with {outcome} == {event!r}): "
            "a logistic model cannot be fitted"
        )
    for j, p in enumerate(predictors):
        if np.ptp(X[:, j]) == 0:
            raise ValueError(
                f"predictor {p!r} is constant ({X[0, j]!r}) in the {len(y)} complete cases: drop it from the model"
            )
    Xc = np.column_stack([np.ones(len(y)), X])
    if np.linalg.matrix_rank(Xc) < Xc.shape[1]:
        raise ValueError(
            f"design matrix of {predictors} (with intercept) is rank deficient (collinear predictors)"
        )
    return Xc, y, int(miss.sum()), warns


class CountedOutcome(np.ndarray):
    """Outcome vector of an aggregated design: ``counts[i]`` patients share row i (and y_i).

    The counts travel with y, so every function of (X, y) weights its sums by them."""

    counts: np.ndarray

    def __new__(cls, y: np.ndarray, counts: np.ndarray):
        obj = np.asarray(y, dtype=float).view(cls)
        obj.counts = np.asarray(counts, dtype=float)
        return obj

    def __array_finalize__(self, obj):
        self.counts = getattr(obj, "counts", None)


def _weights(y: np.ndarray) -> np.ndarray:
    """Row counts of ``y`` (``CountedOutcome``), ones for one row per patient."""
    counts = getattr(y, "counts", None)
    return np.ones(len(y)) if counts is None or len(counts) != len(y) else counts


def aggregate_design(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, CountedOutcome]:
    """Distinct (x, y) rows and how many patients each stands for (binomial sufficient statistics).

    The log-likelihood, score, information, Firth penalty and its derivatives are sums over
    patients in which identical rows contribute identically, so they are exactly the count-
    weighted sums over the distinct rows; the hat value of each patient is that of its row.
    With integer scores (MADRS, BAI) and a few dose levels a registry of 10^6 patients has a
    few thousand distinct rows, so every fit and profile point costs that instead of n.
    Rows come out in lexicographic order (deterministic)."""
    rows, counts = np.unique(np.column_stack([X, y]), axis=0, return_counts=True)
    return rows[:, :-1], CountedOutcome(rows[:, -1], counts)


def _fit_offset(X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> float:
    """Deviance of the ML fit with a fixed offset (one profile point)."""
    wt = _weights(y)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        if X.shape[1] == 0:
            return float(-2 * np.sum(wt * (y * offset - np.logaddexp(0, offset))))
        res = sm.GLM(y, X, family=sm.families.Binomial(), offset=offset, freq_weights=wt).fit(
            tol=1e-12, maxiter=200
        )
        return float(res.deviance)  # computed lazily: inside the filter


def profile_ci_ml(
    X: np.ndarray, y: np.ndarray, j: int, beta_hat: float, se: float, deviance: float, alpha: float = 0.05
):
    """Profile-likelihood CI for coefficient ``j``: {t : D(t) - D_hat <= chi2_1(1 - alpha)}.

    A limit the profile does not reach within 2^40 SE is returned as +/-inf."""
    crit = stats.chi2.ppf(1 - alpha, 1)
    others = np.delete(X, j, axis=1)

    def g(t):
        return _fit_offset(others, y, t * X[:, j]) - deviance - crit

    out = []
    for direction in (-1, 1):
        unit = step = se if math.isfinite(se) and se > 0 else 1.0
        lo, hi = beta_hat, beta_hat + direction * step
        tries = 0
        while g(hi) < 0:
            lo, hi = hi, hi + direction * step
            step *= 2
            tries += 1
            if tries > 40:
                out.append(direction * math.inf)
                break
        else:
            # xtol in SE units: the limit is as precise whatever the predictor's unit
            out.append(optimize.brentq(g, min(lo, hi), max(lo, hi), xtol=1e-12 * unit, rtol=1e-12))
    return tuple(out)


# --- Firth -------------------------------------------------------------------------------

# Largest change of the linear predictor per Newton step. Capping the step on the linear
# predictor instead of on each coefficient (logistf's maxstep = 5) keeps the cap unit-free:
# 5 per mg of diazepam would move a 94 mg patient's logit by 470 and underflow the weights.
_MAX_ETA_STEP = 5.0
# Newton decrement U*' (-H)^-1 U* (twice the predicted gain in l*, the squared step in SE
# units) below which the fit has converged: the step is < 1e-9 SE in every direction. Unit-free,
# unlike firthmodels' max|U*| < gtol, and far above float noise for these designs.
# _MAX_ITER: Newton needs < 100 iterations even near separation (at most 89 in 120 random
# designs, 74 of them separated); a start that has not converged by then is abandoned.
_DECREMENT_TOL = 1e-18
_MAX_ITER = 200
_MAX_HALVINGS = 30


@dataclass
class FirthFit:
    """One (possibly constrained) maximisation of Firth's penalized log-likelihood."""

    beta: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    decrement: float
    message: str = ""


def penalized_loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Firth's penalized log-likelihood, its gradient (modified score) and the information.
    Sums over rows are weighted by the row counts of an aggregated design (``aggregate_design``).

    Where X'WX is numerically singular (weights underflow far out in a profile search) the
    penalty 1/2 log|X'WX| is -inf, and so is l*: returned as (-inf, NaN gradient, info), which
    step-halving rejects like any other decrease."""
    eta = X @ beta
    # p and w = p (1 - p) from exp(-|eta|): no overflow, and w keeps its relative precision.
    e = np.exp(-np.abs(eta))
    p = np.where(eta >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    w = e / (1.0 + e) ** 2
    wt = _weights(y)
    info = X.T @ (X * (wt * w)[:, None])
    try:
        chol = np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        return -math.inf, np.full(X.shape[1], np.nan), info
    diag = np.diag(chol)
    if not np.all(diag > 0) or not np.all(np.isfinite(diag)):
        return -math.inf, np.full(X.shape[1], np.nan), info
    ll = float(np.sum(wt * (y * eta - np.logaddexp(0, eta))) + np.sum(np.log(diag)))
    # hat values of the weighted design: h_i = w_i x_i' I^-1 x_i = |L^-1 sqrt(w_i) x_i|^2
    # (numpy on these k x k matrices: scipy's per-call overhead dominated the profile search)
    a = np.linalg.solve(chol, (X * np.sqrt(w)[:, None]).T)
    h = np.sum(a * a, axis=0)
    grad = X.T @ (wt * (y - p + h * (0.5 - p)))
    if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
        return -math.inf, np.full(X.shape[1], np.nan), info
    return ll, grad, info


def _penalized_hessian(X: np.ndarray, beta: np.ndarray, wt: np.ndarray | None = None) -> np.ndarray:
    """Hessian of l* = l + 1/2 log|X'WX| (logistic model). With w' = w (1 - 2p),
    w'' = w (1 - 6w), q_i = x_i' I^-1 x_i and Q = X I^-1 X':
    H = -X'WX + 1/2 X' diag(w'' q) X - 1/2 X' diag(w') (Q o Q) diag(w') X
    (differentiate tr(I^-1 dI/db_r) once more). Fisher scoring ignores the last two terms and
    converges only linearly, very slowly near separation; Newton with H converges quadratically.

    Computed in O(n k^3) time and O(n k^2) memory, never forming the n x n matrix Q: with
    I = L L' and a_i = L^-1 x_i, Q_ij = a_i'a_j, q_i = |a_i|^2 and (Q o Q)_ij = z_i'z_j for the
    Kronecker squares z_i = a_i (x) a_i, so X' diag(w') (Q o Q) diag(w') X = C'C with
    C = sum_i z_i (w'_i x_i)' (a k^2 x k matrix). ``wt``: row counts (each sum over patients is a
    weighted sum over the distinct rows). Agrees with the n x n form to ~1e-13
    (relative); where the Cholesky factor does not exist the same sums are taken with
    M = I^-1 from a linear solve, (Q o Q)_ij = (x_i (x) x_i)' (M (x) M) (x_j (x) x_j)."""
    eta = X @ beta
    e = np.exp(-np.abs(eta))
    w = e / (1.0 + e) ** 2
    one_minus_2p = np.where(eta >= 0, (e - 1.0) / (1.0 + e), (1.0 - e) / (1.0 + e))
    w1 = w * one_minus_2p
    w2 = w * (1.0 - 6.0 * w)
    if wt is not None:
        w, w1, w2 = wt * w, wt * w1, wt * w2
    info = X.T @ (X * w[:, None])
    k = X.shape[1]
    try:
        a = np.linalg.solve(np.linalg.cholesky(info), X.T).T  # row i: L^-1 x_i
        kron_m = None
    except np.linalg.LinAlgError:
        m = np.linalg.solve(info, np.eye(k))
        a, kron_m = X, np.kron(m, m)
    q = np.sum(a * a, axis=1) if kron_m is None else np.sum((X @ m) * X, axis=1)
    z = (a[:, :, None] * a[:, None, :]).reshape(len(a), k * k)
    c = z.T @ (X * w1[:, None])
    quartic = c.T @ c if kron_m is None else c.T @ kron_m @ c
    return -info + 0.5 * X.T @ (X * (w2 * q)[:, None]) - 0.5 * quartic


def firth_newton(
    X: np.ndarray, y: np.ndarray, start: np.ndarray, fixed: int | None = None, value: float = 0.0
) -> FirthFit:
    """Maximise l* (Firth 1993). ``fixed``/``value``: beta[fixed] held at ``value`` (a profile
    point); the penalty is still the full model's 1/2 log|I| (Heinze & Schemper 2002, as
    logistf's profile and LRT).

    Newton steps with the exact Hessian of l* where it is negative definite, else a Fisher
    scoring step I^-1 U* (the iteration of logistf and brglm2, always an ascent direction);
    each step capped at ``_MAX_ETA_STEP`` on the linear predictor and halved until l* does not
    decrease. Converged when a Newton step has decrement U*' (-H)^-1 U* < ``_DECREMENT_TOL``
    (unit-free: the step is < 1e-9 SE in every direction). Near the optimum the gain per step is
    below the float resolution of l*, so a step is accepted when l* drops by no more than
    rounding noise; step-halving that fails otherwise, or the iteration limit, is reported as
    non-convergence (never silently accepted)."""
    beta = np.asarray(start, dtype=float).copy()
    free = np.arange(X.shape[1])
    if fixed is not None:
        beta[fixed] = value
        free = np.delete(free, fixed)
    ll, grad, info = penalized_loglik(X, y, beta)
    if not math.isfinite(ll):
        return FirthFit(
            beta,
            ll,
            False,
            0,
            math.nan,
            "penalized log-likelihood is -inf at the start (information matrix singular)",
        )
    decrement = math.nan
    ff = np.ix_(free, free)
    for it in range(_MAX_ITER):
        g = grad[free]
        newton = True
        try:
            with np.errstate(all="ignore"):
                neg_h = -_penalized_hessian(X, beta, _weights(y))[ff]
            # Cholesky succeeds only if -H is positive definite (an ascent Newton step)
            c = np.linalg.cholesky(neg_h)
            step = np.linalg.solve(c.T, np.linalg.solve(c, g))
            if not np.all(np.isfinite(step)):
                raise np.linalg.LinAlgError("non-finite Newton step")
        except np.linalg.LinAlgError:
            newton = False
            try:
                step = np.linalg.solve(info[ff], g)
            except np.linalg.LinAlgError:
                return FirthFit(
                    beta, ll, False, it, math.nan, "information matrix of the free coefficients is singular"
                )
        decrement = float(g @ step)
        if newton and decrement < _DECREMENT_TOL:
            return FirthFit(beta, ll, True, it, decrement)
        deta = float(np.max(np.abs(X[:, free] @ step)))
        if deta > _MAX_ETA_STEP:
            step *= _MAX_ETA_STEP / deta
        noise = 1e-12 * (1.0 + abs(ll))
        for _half in range(_MAX_HALVINGS):
            cand = beta.copy()
            cand[free] += step
            ll_c, grad_c, info_c = penalized_loglik(X, y, cand)
            if ll_c >= ll - noise:
                break
            step /= 2
        else:
            return FirthFit(
                beta,
                ll,
                False,
                it,
                decrement,
                f"step-halving failed (decrement {decrement:.3g}, l* {ll:.10g})",
            )
        if np.array_equal(cand, beta):
            # the step no longer changes beta in floating point: as close as float64 gets
            ok = newton and decrement < 1e-12
            return FirthFit(
                beta, ll, ok, it, decrement, "" if ok else f"stalled at decrement {decrement:.3g}"
            )
        beta, ll, grad, info = cand, ll_c, grad_c, info_c
    return FirthFit(
        beta,
        ll,
        False,
        _MAX_ITER,
        decrement,
        f"no convergence in {_MAX_ITER} iterations (decrement {decrement:.3g})",
    )


def firth_start(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Intercept-only Firth estimate logit((k + 1/2) / (n + 1)), slopes 0."""
    wt = _weights(y)
    beta = np.zeros(X.shape[1])
    k, n = float(np.sum(wt * y)), float(np.sum(wt))
    beta[0] = math.log((k + 0.5) / (n - k + 0.5))
    return beta


def _profile_fit(X: np.ndarray, y: np.ndarray, j: int, value: float, starts: list[np.ndarray]) -> FirthFit:
    """Constrained fit from each start; the converged fit with the highest l* (else the best
    non-converged one). l* is not concave: near separation a constrained fit can stop at a
    lower local maximum, and the profile is the maximum over the free coefficients."""
    best = None
    tried = []
    for s in starts:
        s = np.asarray(s, dtype=float).copy()
        s[j] = value
        if any(np.array_equal(s, t) for t in tried):
            continue
        tried.append(s)
        fit = firth_newton(X, y, s, fixed=j, value=value)
        if best is None or (fit.converged, fit.loglik) > (best.converged, best.loglik):
            best = fit
    return best


def firth_constrained_loglik(X: np.ndarray, y: np.ndarray, j: int, value: float, start: np.ndarray) -> float:
    """Max of l* with beta_j fixed at ``value`` (see ``firth_newton``). Returns l*; a fit that
    does not converge raises a ``RuntimeWarning`` (``fit_logistic`` reports it in its result)."""
    fit = _profile_fit(X, y, j, value, [start, firth_start(X, y)])
    if not fit.converged:
        _warnings.warn(
            f"constrained Firth fit (coefficient {j} = {value:g}) did not converge: {fit.message}",
            RuntimeWarning,
            stacklevel=2,
        )
    return fit.loglik


def firth_profile(
    X: np.ndarray,
    y: np.ndarray,
    beta_hat: np.ndarray,
    se: np.ndarray,
    alpha: float = 0.05,
    terms: list[str] | None = None,
):
    """Penalized LRT p and profile penalized-likelihood CI for every coefficient (Heinze &
    Schemper 2002): 2 (l*(beta_hat) - max_{beta_j = t} l*) against chi2_1.

    Returns ``(p_lrt, cis, warnings)``. Each profile point is warm-started from the nearest
    converged one. A limit is accepted only if the constrained fit at the limit converged and
    sits on the chi2 level; otherwise it is NaN with a warning. A profile that stays below the
    chi2 level as far as the search goes (about 10^10 SE) gives an infinite limit with a warning
    (logistf reports such limits as non-finite too). The p is NaN if the fit at 0 did not converge."""
    terms = terms or [f"coefficient {j}" for j in range(X.shape[1])]
    crit = stats.chi2.ppf(1 - alpha, 1)
    ll_hat = penalized_loglik(X, y, beta_hat)[0]
    fallback = firth_start(X, y)
    p_lrt, cis, warns = [], [], []
    for j in range(X.shape[1]):
        cache = {float(beta_hat[j]): beta_hat}

        def profile(t, j=j, cache=cache):
            near = cache[min(cache, key=lambda s: abs(s - t))]
            fit = _profile_fit(X, y, j, t, [near, beta_hat, fallback])
            if fit.converged:
                cache[float(t)] = fit.beta
            return 2 * (ll_hat - fit.loglik), fit

        stat0, fit0 = profile(0.0)
        if fit0.converged:
            p_lrt.append(float(stats.chi2.sf(max(stat0, 0.0), 1)))
        else:
            p_lrt.append(math.nan)
            warns.append(
                f"Firth LRT p for {terms[j]} not reported: the fit with {terms[j]} = 0 did not converge ({fit0.message})"
            )

        def g(t, profile=profile):
            # -inf l* (singular information) is far beyond the limit: a large finite value keeps brentq bracketing
            return min(profile(t)[0] - crit, 1e10)

        lims = []
        for direction, side in ((-1, "lower"), (1, "upper")):
            step = float(se[j]) if math.isfinite(se[j]) and se[j] > 0 else 1.0
            xtol = 1e-10 * step  # in SE units: as precise whatever the predictor's unit
            lo, hi = float(beta_hat[j]), float(beta_hat[j]) + direction * step
            for _ in range(60):
                if g(hi) >= 0:
                    break
                lo, hi = hi, hi + direction * step
                step *= 1.5
            else:
                lims.append(direction * math.inf)
                warns.append(
                    f"Firth profile CI for {terms[j]}: the penalized profile stays within the chi2 level up to "
                    f"{lo:.3g}; the {side} limit is reported as {'+' if direction > 0 else '-'}inf (not finite)"
                )
                continue
            try:
                root = optimize.brentq(g, min(lo, hi), max(lo, hi), xtol=xtol, rtol=1e-12)
                stat, fit = profile(root)
                ok = fit.converged and abs(stat - crit) < 1e-6
            except _NUMERICAL_ERRORS as err:
                ok, fit = False, FirthFit(beta_hat, math.nan, False, 0, math.nan, str(err))
            if ok:
                lims.append(root)
            else:
                lims.append(math.nan)
                why = (
                    f"constrained fit did not converge: {fit.message}"
                    if not fit.converged
                    else "the profile jumps across the chi2 level there instead of crossing it"
                )
                warns.append(f"Firth profile CI for {terms[j]}: {side} limit not found ({why})")
        cis.append(tuple(lims))
    return p_lrt, cis, warns


def _ml_polish(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, float]:
    """Newton steps on the log-likelihood from statsmodels' IRLS estimate until the decrement
    U' I^-1 U is < 1e-18 (unit-free, as for Firth); returns the estimate and its deviance."""
    wt = _weights(y)
    for _ in range(50):
        eta = X @ beta
        p = 0.5 * (1.0 + np.tanh(0.5 * eta))  # logistic without overflow
        w = wt * p * (1.0 - p)
        score = X.T @ (wt * (y - p))
        step = np.linalg.solve(X.T @ (X * w[:, None]), score)
        if float(score @ step) < _DECREMENT_TOL:
            break
        beta = beta + step
    else:
        raise RuntimeError("Newton refinement of the ML estimate did not converge")
    eta = X @ beta
    return beta, float(-2 * np.sum(wt * (y * eta - np.logaddexp(0, eta))))


def _ml_blocks(X, y, terms, alpha, z, warns, profile=True):
    """ML blocks for every term; a numerical failure gives ``estimable = False`` and a warning.
    ``profile=False``: no profile CI and no LRT p (None), only the Wald results."""
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            res = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=_weights(y)).fit(
                tol=1e-12, maxiter=200
            )
        if not res.converged:
            raise RuntimeError("IRLS did not converge in 200 iterations")
        params, deviance = _ml_polish(X, y, np.asarray(res.params, dtype=float))
        # SE from X'WX at the estimate: statsmodels' bse uses the weights of the previous IRLS
        # iteration (1e-6 relative off R glm on the default synthetic cohort's dose model)
        _, _, info = penalized_loglik(X, y, params)
        bse = np.sqrt(np.diag(np.linalg.inv(info)))
        pvalues = 2 * stats.norm.sf(np.abs(params / bse))
        if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
            raise RuntimeError("non-finite estimates or standard errors")
    except _NUMERICAL_ERRORS as err:
        warns.append(f"ML fit failed ({type(err).__name__}: {err}); ML results are not reported")
        return {t: CoefficientBlock(term=t, estimable=False) for t in terms}
    blocks = {}
    for j, t in enumerate(terms):
        b, se = float(params[j]), float(bse[j])
        if not profile:
            blocks[t] = CoefficientBlock(
                term=t,
                estimable=True,
                estimate=b,
                se=se,
                odds_ratio=_exp(b),
                ci_wald=(_exp(b - z * se), _exp(b + z * se)),
                p_value=float(pvalues[j]),
                p_value_method="wald",
                p_wald=float(pvalues[j]),
            )
            continue
        try:
            lo, hi = profile_ci_ml(X, y, j, b, se, deviance, alpha)
            for lim, side in ((lo, "lower"), (hi, "upper")):
                if not math.isfinite(lim):
                    warns.append(f"ML profile CI for {t}: the {side} limit is not finite")
        except _NUMERICAL_ERRORS as err:
            lo = hi = math.nan
            warns.append(f"ML profile CI for {t} not computed ({type(err).__name__}: {err})")
        try:
            d0 = _fit_offset(np.delete(X, j, axis=1), y, np.zeros(len(y)))
            p_lrt = float(stats.chi2.sf(max(d0 - deviance, 0.0), 1))
        except _NUMERICAL_ERRORS as err:
            p_lrt = math.nan
            warns.append(f"ML LRT p for {t} not computed ({type(err).__name__}: {err})")
        blocks[t] = CoefficientBlock(
            term=t,
            estimable=True,
            estimate=b,
            se=se,
            odds_ratio=_exp(b),
            ci_wald=(_exp(b - z * se), _exp(b + z * se)),
            ci_profile=(_exp(lo), _exp(hi)),
            p_value=float(pvalues[j]),
            p_value_method="wald",
            p_wald=float(pvalues[j]),
            p_lrt=p_lrt,
        )
    return blocks


def _firth_blocks(X, y, terms, alpha, z, warns, profile=True):
    """Firth blocks for every term; see ``firth_newton`` and ``firth_profile``.
    ``profile=False``: no profile CI and no penalized LRT p, the p is the Wald p."""
    try:
        fit = firth_newton(X, y, firth_start(X, y))
    except _NUMERICAL_ERRORS as err:
        fit = FirthFit(
            np.full(X.shape[1], np.nan), math.nan, False, 0, math.nan, f"{type(err).__name__}: {err}"
        )
    if not np.all(np.isfinite(fit.beta)) or not math.isfinite(fit.loglik):
        warns.append(f"Firth fit failed ({fit.message}); Firth results are not reported")
        return {t: CoefficientBlock(term=t, estimable=False) for t in terms}
    coef = fit.beta
    # Wald SE from the inverse Fisher information X'WX at the Firth estimate, as logistf and
    # brglm2 report it (firthmodels' bse_ inverts X' diag(w (1 + h)) X instead, ~5 % smaller).
    _, _, info = penalized_loglik(X, y, coef)
    try:
        bse = np.sqrt(np.diag(np.linalg.inv(info)))
    except (np.linalg.LinAlgError, ValueError):
        bse = np.full(len(coef), np.nan)
        warns.append("Firth standard errors not computed: the information matrix at the estimate is singular")
    p_w = 2 * stats.norm.sf(np.abs(coef / bse))
    if not profile:
        if not fit.converged:
            warns.append(f"Firth fit did not converge ({fit.message}); Firth results are not reported")
            return {t: CoefficientBlock(term=t, estimable=False) for t in terms}
        return {
            t: CoefficientBlock(
                term=t,
                estimable=True,
                estimate=float(coef[j]),
                se=float(bse[j]),
                odds_ratio=_exp(coef[j]),
                ci_wald=(_exp(coef[j] - z * bse[j]), _exp(coef[j] + z * bse[j])),
                p_value=float(p_w[j]),
                p_value_method="wald",
                p_wald=float(p_w[j]),
            )
            for j, t in enumerate(terms)
        }
    if fit.converged:
        p_l, ci_pl, prof_warns = firth_profile(X, y, coef, bse, alpha, terms)
        warns.extend(prof_warns)
    else:
        warns.append(
            f"Firth fit did not converge ({fit.message}); estimates are the last iterate and the "
            "profile CI and penalized LRT p are not reported"
        )
        p_l, ci_pl = [math.nan] * len(terms), [(math.nan, math.nan)] * len(terms)
    blocks = {}
    for j, t in enumerate(terms):
        b, se = float(coef[j]), float(bse[j])
        blocks[t] = CoefficientBlock(
            term=t,
            estimable=True,
            estimate=b,
            se=se,
            odds_ratio=_exp(b),
            ci_wald=(_exp(b - z * se), _exp(b + z * se)),
            ci_profile=(_exp(ci_pl[j][0]), _exp(ci_pl[j][1])),
            p_value=float(p_l[j]),
            p_value_method="penalized_lrt",
            p_wald=float(p_w[j]),
            p_lrt=float(p_l[j]),
        )
    return blocks


def fit_logistic(
    frame: pd.DataFrame,
    outcome: str,
    predictors: list[str],
    *,
    event=True,
    focus: str | None = None,
    alpha: float = 0.05,
    profile: bool = True,
) -> LogisticResult:
    """Logistic regression of ``outcome == event`` on ``predictors`` (+ intercept).

    Paper: ``fit_logistic(cohort, "responder", ["bzd_plus", "madrs_day0", "bai_day0"],
    event=False, focus="bzd_plus")`` (nonresponse on BZD+ adjusted for baseline MADRS and BAI).
    ``focus`` (default: first predictor) is the term reported in the ``ml``/``firth`` blocks;
    every term is in ``coefficients``.

    Raises ``ValueError`` (only) for bad input: missing column, non-numeric or infinite
    predictor, outcome that is not binary or has no variation, constant or collinear
    predictors, ``alpha`` outside (0, 1). Numerical failures are reported in ``warnings``.
    ``profile=False`` skips the profile CIs and likelihood-ratio p values (the slow part) and
    reports Wald results only (the study estimates of ``stats.meta`` need no more).
    """
    from firthmodels import detect_separation

    if isinstance(predictors, str):
        raise ValueError(f"predictors must be a list of column names, got the string {predictors!r}")
    predictors = list(predictors)
    focus = focus or (predictors[0] if predictors else None)
    if focus not in predictors:
        raise ValueError(f"focus {focus!r} is not among the predictors {predictors}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    X_patients, y_patients, n_missing, warns = _design(frame, outcome, predictors, event)
    X, y = aggregate_design(X_patients, y_patients)
    terms = ["intercept", *predictors]
    z = stats.norm.ppf(1 - alpha / 2)

    try:
        sep = detect_separation(X[:, 1:], y, fit_intercept=True)
        # firthmodels orders coefficients features first, intercept last.
        sep_terms = {
            t: ("+Inf" if d > 0 else "-Inf")
            for t, d in zip([*predictors, "intercept"], sep.directions)
            if d != 0
        }
        separated = bool(sep.separation)
    except _NUMERICAL_ERRORS as err:
        sep_terms, separated = {}, False
        warns.append(
            f"separation check (Konis 2007 LP) failed ({type(err).__name__}: {err}); ML results may be unreliable"
        )
    if separated:
        warns.append(
            "separation detected (Konis 2007 LP): the ML estimates of "
            f"{sorted(sep_terms)} are infinite; ML results are not reported, use the Firth block"
        )
        ml_blocks = {t: CoefficientBlock(term=t, estimable=False) for t in terms}
    else:
        ml_blocks = _ml_blocks(X, y, terms, alpha, z, warns, profile)
    firth_blocks = _firth_blocks(X, y, terms, alpha, z, warns, profile)
    rows = [{"method": "ml", **ml_blocks[t].to_dict()} for t in terms]
    rows += [{"method": "firth", **firth_blocks[t].to_dict()} for t in terms]

    y = y_patients
    n_ev = int(y.sum())
    if min(n_ev, len(y) - n_ev) < 10 * len(predictors):
        warns.append(
            f"{min(n_ev, len(y) - n_ev)} patients in the smaller outcome class for {len(predictors)} predictor(s) "
            "(< 10 per predictor): ML estimates are biased away from 0; prefer the Firth estimates"
        )
    return LogisticResult(
        outcome=outcome,
        event=str(event),
        predictors=list(predictors),
        focus=focus,
        n=len(y),
        events=n_ev,
        n_missing=n_missing,
        separation=separated,
        separation_terms=sep_terms,
        ml=ml_blocks[focus],
        firth=firth_blocks[focus],
        coefficients=pd.DataFrame(rows),
        warnings=warns,
    )


# --- minimal form for search loops -------------------------------------------------------


def ml_newton_wald(
    X: np.ndarray,
    y: np.ndarray,
    start: np.ndarray,
    max_iter: int = 30,
    step_tol: float = 1e-9,
    max_abs_estimate: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """ML logistic fit by plain Newton-Raphson from ``start``: the estimate and its Wald SEs.

    The minimal form of the ML fit in ``fit_logistic`` for loops that refit thousands of
    nearly equal designs (the synthetic generator pairs baseline scores towards a printed Wald
    p, warm-starting each fit at the last): no input checks, no separation test, no profile.
    ``X`` includes the intercept column. Newton steps on the log-likelihood (score
    X'(y - p), information I = X'WX, W = p (1 - p)) stop when every coefficient moves by less
    than ``step_tol`` or after ``max_iter`` steps. SE = sqrt(diag(I^-1)) with I at the iterate
    before the last step (the IRLS convention; ``fit_logistic`` evaluates I at the estimate,
    which differs by the last step, < ``step_tol``). Undefined fits give infinite SEs: a
    singular information, a non-finite estimate, or a coefficient beyond
    ``max_abs_estimate`` (the fit drifting off under separation; the bound is in the units of
    ``X``). ``tests/test_stats_search_forms.py`` checks it against ``fit_logistic``.
    """
    beta = np.array(start, dtype=float)
    inf = np.full(len(beta), math.inf)
    for _ in range(max_iter):
        pr = 1 / (1 + np.exp(-(X @ beta)))
        w = pr * (1 - pr)
        info = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - pr))
        except np.linalg.LinAlgError:
            return beta, inf
        beta += step
        if np.abs(step).max() < step_tol:
            break
    if not np.isfinite(beta).all() or np.abs(beta).max() > max_abs_estimate:
        return beta, inf
    try:
        var = np.diag(np.linalg.inv(info))
    except np.linalg.LinAlgError:
        return beta, inf
    se = inf.copy()
    se[var > 0] = np.sqrt(var[var > 0])
    return beta, se
