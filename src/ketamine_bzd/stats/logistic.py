"""Logistic regression of a binary outcome: maximum likelihood and Firth's penalized likelihood.

Methods
- ML: statsmodels GLM (binomial, logit link), IRLS to 1e-12. Odds ratio exp(beta); Wald CI
  exp(beta +/- z SE) and Wald p (what Statistica and SPSS print); profile-likelihood CI from
  the likelihood-ratio statistic, found by exact root finding on the profile deviance
  (each point is a GLM fit with the coefficient fixed through an offset), and the LRT p.
  R's ``confint.glm`` (MASS ``profile``, R < 4.4; in R >= 4.4 the same code moved to stats)
  interpolates a spline through profile points, so it agrees only to about 1e-3.
- Firth (1993) / Heinze & Schemper (2002): ``firthmodels.FirthLogisticRegression``, the
  penalized log-likelihood l(beta) + 1/2 log|I(beta)| (fit by firthmodels); Wald SE, CI and p
  from the inverse Fisher information X'WX at the Firth estimate (logistf / brglm2 convention); profile penalized-likelihood CI (Venzon & Moolgavkar 1988) and penalized
  likelihood-ratio p, as R ``logistf`` reports them (its default ``p`` is the penalized LRT);
  computed here by exact root finding on the profile, each point a constrained Newton fit of
  the modified score with the full model's penalty (checked against firthmodels'
  Venzon-Moolgavkar CI and an independent R implementation).
- Separation: Konis (2007) linear program (``firthmodels.detect_separation``, the algorithm of
  R ``detectseparation``). With separation the ML estimate does not exist: the ML block is
  reported with ``estimable = False`` and no numbers, and a warning goes into the result.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from ._result import Result, require_columns

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


def _design(frame: pd.DataFrame, outcome: str, predictors: list[str], event) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    require_columns(frame, [outcome, *predictors])
    if not predictors:
        raise ValueError("need at least one predictor")
    sub = frame[[outcome, *predictors]]
    miss = sub.isna().any(axis=1)
    data = sub.loc[~miss]
    warns = []
    if miss.any():
        warns.append(f"{int(miss.sum())} patient(s) with missing outcome or predictor excluded (complete cases)")
    X = np.column_stack([pd.to_numeric(data[p].astype(float), errors="raise").to_numpy() for p in predictors])
    y = (data[outcome] == event).to_numpy().astype(float)
    if len(y) == 0:
        raise ValueError("no complete cases for the logistic model")
    k = int(y.sum())
    if k == 0 or k == len(y):
        raise ValueError(
            f"outcome {outcome!r} has no variation ({k} of {len(y)} patients with {outcome} == {event!r}): "
            "a logistic model cannot be fitted"
        )
    for j, p in enumerate(predictors):
        if np.ptp(X[:, j]) == 0:
            raise ValueError(f"predictor {p!r} is constant ({X[0, j]!r}) in the {len(y)} complete cases: drop it from the model")
    Xc = np.column_stack([np.ones(len(y)), X])
    if np.linalg.matrix_rank(Xc) < Xc.shape[1]:
        raise ValueError(f"design matrix of {predictors} (with intercept) is rank deficient (collinear predictors)")
    return Xc, y, int(miss.sum()), warns


def _fit_offset(X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> float:
    """Deviance of the ML fit with a fixed offset (one profile point)."""
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        if X.shape[1] == 0:
            p = 1 / (1 + np.exp(-offset))
            p = np.clip(p, 1e-300, 1 - 1e-16)
            return float(-2 * np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))
        res = sm.GLM(y, X, family=sm.families.Binomial(), offset=offset).fit(tol=1e-12, maxiter=200)
    return float(res.deviance)


def profile_ci_ml(X: np.ndarray, y: np.ndarray, j: int, beta_hat: float, se: float, deviance: float, alpha: float = 0.05):
    """Profile-likelihood CI for coefficient ``j``: {t : D(t) - D_hat <= chi2_1(1 - alpha)}."""
    crit = stats.chi2.ppf(1 - alpha, 1)
    others = np.delete(X, j, axis=1)

    def g(t):
        return _fit_offset(others, y, t * X[:, j]) - deviance - crit

    out = []
    for direction in (-1, 1):
        step = max(se, 1e-3)
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
            out.append(optimize.brentq(g, min(lo, hi), max(lo, hi), xtol=1e-12, rtol=1e-12))
    return tuple(out)


def _penalized_loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Firth's penalized log-likelihood, its gradient (modified score) and the information."""
    eta = X @ beta
    p = 1 / (1 + np.exp(-eta))
    w = p * (1 - p)
    info = X.T @ (X * w[:, None])
    sign, logdet = np.linalg.slogdet(info)
    ll = float(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * logdet) if sign > 0 else -math.inf
    # hat values of the weighted design: h_i = w_i x_i' I^-1 x_i
    h = w * np.einsum("ij,jk,ik->i", X, np.linalg.inv(info), X)
    grad = X.T @ (y - p + h * (0.5 - p))
    return ll, grad, info


def _firth_constrained(X: np.ndarray, y: np.ndarray, j: int, value: float, start: np.ndarray) -> float:
    """Max of the penalized log-likelihood with beta_j fixed at ``value`` (Newton on the modified
    score of the free coefficients, step-halving on l*; the penalty uses the full model's
    information, as logistf's profile and LRT do)."""
    beta = start.astype(float).copy()
    beta[j] = value
    free = np.array([k for k in range(X.shape[1]) if k != j])
    ll, grad, info = _penalized_loglik(X, y, beta)
    for _ in range(200):
        g = grad[free]
        if np.max(np.abs(g)) < 1e-10:
            break
        step = np.linalg.solve(info[np.ix_(free, free)], g)
        step *= min(1.0, 5.0 / max(np.max(np.abs(step)), 1e-300))
        for _half in range(40):
            cand = beta.copy()
            cand[free] += step
            ll_c, grad_c, info_c = _penalized_loglik(X, y, cand)
            if ll_c >= ll - 1e-12:
                break
            step /= 2
        beta, ll, grad, info = cand, ll_c, grad_c, info_c
    return ll


def firth_profile(X: np.ndarray, y: np.ndarray, beta_hat: np.ndarray, se: np.ndarray, alpha: float = 0.05):
    """Penalized LRT p and profile penalized-likelihood CI for every coefficient (Heinze &
    Schemper 2002): 2 (l*(beta_hat) - max_{beta_j = t} l*) against chi2_1."""
    crit = stats.chi2.ppf(1 - alpha, 1)
    ll_hat = _penalized_loglik(X, y, beta_hat)[0]
    p_lrt, cis = [], []
    for j in range(X.shape[1]):
        stat0 = 2 * (ll_hat - _firth_constrained(X, y, j, 0.0, beta_hat))
        p_lrt.append(float(stats.chi2.sf(max(stat0, 0.0), 1)))

        def g(t, j=j):
            return 2 * (ll_hat - _firth_constrained(X, y, j, t, beta_hat)) - crit

        lims = []
        for direction in (-1, 1):
            step = max(float(se[j]), 1e-3)
            lo, hi = beta_hat[j], beta_hat[j] + direction * step
            for _ in range(60):
                if g(hi) >= 0:
                    lims.append(optimize.brentq(g, min(lo, hi), max(lo, hi), xtol=1e-10, rtol=1e-12))
                    break
                lo, hi = hi, hi + direction * step
                step *= 1.5
            else:
                lims.append(direction * math.inf)
        cis.append(tuple(lims))
    return p_lrt, cis


def fit_logistic(
    frame: pd.DataFrame,
    outcome: str,
    predictors: list[str],
    *,
    event=True,
    focus: str | None = None,
    alpha: float = 0.05,
) -> LogisticResult:
    """Logistic regression of ``outcome == event`` on ``predictors`` (+ intercept).

    Paper: ``fit_logistic(cohort, "responder", ["bzd_plus", "madrs_day0", "bai_day0"],
    event=False, focus="bzd_plus")`` (nonresponse on BZD+ adjusted for baseline MADRS and BAI).
    ``focus`` (default: first predictor) is the term reported in the ``ml``/``firth`` blocks;
    every term is in ``coefficients``.
    """
    from firthmodels import FirthLogisticRegression, detect_separation

    focus = focus or predictors[0]
    if focus not in predictors:
        raise ValueError(f"focus {focus!r} is not among the predictors {predictors}")
    X, y, n_missing, warns = _design(frame, outcome, list(predictors), event)
    terms = ["intercept", *predictors]
    z = stats.norm.ppf(1 - alpha / 2)

    sep = detect_separation(X[:, 1:], y, fit_intercept=True)
    # firthmodels orders coefficients features first, intercept last.
    directions = list(sep.directions[:-1]) + [sep.directions[-1]]
    sep_terms = {
        t: ("+Inf" if d > 0 else "-Inf")
        for t, d in zip([*predictors, "intercept"], directions)
        if d != 0
    }
    separated = bool(sep.separation)
    if separated:
        warns.append(
            "separation detected (Konis 2007 LP): the ML estimates of "
            f"{sorted(sep_terms)} are infinite; ML results are not reported, use the Firth block"
        )

    rows = []
    ml_blocks = {}
    if not separated:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            res = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
        for j, t in enumerate(terms):
            b, se = float(res.params[j]), float(res.bse[j])
            lo, hi = profile_ci_ml(X, y, j, b, se, float(res.deviance), alpha)
            d0 = _fit_offset(np.delete(X, j, axis=1), y, np.zeros(len(y)))
            p_lrt = float(stats.chi2.sf(max(d0 - res.deviance, 0.0), 1))
            blk = CoefficientBlock(
                term=t, estimable=True, estimate=b, se=se, odds_ratio=math.exp(b),
                ci_wald=(math.exp(b - z * se), math.exp(b + z * se)),
                ci_profile=(math.exp(lo), math.exp(hi)),
                p_value=float(res.pvalues[j]), p_value_method="wald", p_wald=float(res.pvalues[j]), p_lrt=p_lrt,
            )
            ml_blocks[t] = blk
            rows.append({"method": "ml", **blk.to_dict()})
    else:
        for t in terms:
            ml_blocks[t] = CoefficientBlock(term=t, estimable=False)
            rows.append({"method": "ml", **ml_blocks[t].to_dict()})

    fm = FirthLogisticRegression(max_iter=200, gtol=1e-9, xtol=1e-9, backend="numpy")
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        fm.fit(X[:, 1:], y)
    if not fm.converged_:
        warns.append("Firth fit did not converge")
    # firthmodels: features then intercept; reorder to intercept first.
    order = [len(predictors)] + list(range(len(predictors)))
    coef = np.r_[fm.coef_, fm.intercept_][order]
    # Wald SE from the inverse Fisher information X'WX at the Firth estimate, as logistf and
    # brglm2 report it; firthmodels' bse_ inverts X' diag(w (1 + h)) X instead (about 5 % smaller).
    _, _, info = _penalized_loglik(X, y, coef)
    bse = np.sqrt(np.diag(np.linalg.inv(info)))
    p_w = 2 * stats.norm.sf(np.abs(coef / bse))
    p_l, ci_pl = firth_profile(X, y, coef, bse, alpha)
    ci_pl = np.asarray(ci_pl)
    firth_blocks = {}
    for j, t in enumerate(terms):
        b, se = float(coef[j]), float(bse[j])
        blk = CoefficientBlock(
            term=t, estimable=True, estimate=b, se=se, odds_ratio=math.exp(b),
            ci_wald=(math.exp(b - z * se), math.exp(b + z * se)),
            ci_profile=(math.exp(ci_pl[j, 0]), math.exp(ci_pl[j, 1])),
            p_value=float(p_l[j]), p_value_method="penalized_lrt", p_wald=float(p_w[j]), p_lrt=float(p_l[j]),
        )
        firth_blocks[t] = blk
        rows.append({"method": "firth", **blk.to_dict()})

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
