"""Response by group: 2 x 2 counts, rates and Fisher's exact test.

- p: Fisher's exact test, two-sided, summing the probabilities of all tables with the same
  margins that are no more likely than the observed one (relative tolerance 1e-7), which is
  R ``fisher.test`` (and ``scipy.stats.fisher_exact``).
- Odds ratio: the conditional maximum-likelihood estimate with the exact conditional CI
  (Cornfield 1956), as R ``fisher.test`` reports (``scipy.stats.contingency.odds_ratio``,
  ``kind="conditional"``); the sample (cross-product) odds ratio is given too. Above
  ``EXACT_CI_SCIPY_MAX_SUPPORT`` tables in the conditional support (registry-sized tables, where
  scipy's noncentral hypergeometric cdf takes minutes) the same interval is found by the same
  bracketing and root search on a cdf summed in log space over the support
  (``conditional_odds_ratio_ci``), which agrees with scipy to ~1e-10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import odds_ratio

from .result import Result, clopper_pearson, require_columns

__all__ = ["GroupRate", "ResponseByGroup", "conditional_odds_ratio_ci", "fisher_2x2", "response_by_group"]

# Largest conditional support (tables with the observed margins) for which scipy's interval is
# used; it costs O(support^2) per cdf evaluation there, the log-space sums O(support).
EXACT_CI_SCIPY_MAX_SUPPORT = 1000


def conditional_odds_ratio_ci(table, alpha: float = 0.05) -> tuple[float, float]:
    """Exact conditional (Cornfield 1956) CI of the odds ratio of ``[[a, b], [c, d]]``, as
    ``scipy.stats.contingency.odds_ratio(kind="conditional").confidence_interval`` and R
    ``fisher.test``: the noncentrality psi where P(X >= a; psi) = alpha / 2 (lower) and
    P(X <= a; psi) = alpha / 2 (upper), X Fisher's noncentral hypergeometric with the table's
    margins. The tail sums are taken in log space over the whole support (O(support) per psi),
    the root by scipy's bracketing (factor 2 from psi = 1) and brentq to xtol 1e-13."""
    from scipy.optimize import brentq
    from scipy.special import gammaln, logsumexp

    t = np.asarray(table, dtype=np.int64)
    a, b, c, d = (int(v) for v in t.ravel())
    M, n, N = a + b + c + d, a + b, a + c
    xs = np.arange(max(0, N - (M - n)), min(n, N) + 1)
    base = (
        gammaln(n + 1)
        - gammaln(xs + 1)
        - gammaln(n - xs + 1)
        + gammaln(M - n + 1)
        - gammaln(N - xs + 1)
        - gammaln(M - n - N + xs + 1)
    )
    upper_tail, lower_tail = xs >= a, xs <= a

    def tail(mask, psi):
        logw = base + xs * math.log(psi)
        return float(np.exp(logsumexp(logw[mask]) - logsumexp(logw)))

    def solve(func):  # scipy.stats._odds_ratio._solve: func increasing in psi
        psi, factor = 1.0, 2.0
        value = func(psi)
        if value == 0:
            return psi
        if value > 0:
            psi /= factor
            while func(psi) > 0:
                psi /= factor
            lo, hi = psi, factor * psi
        else:
            psi *= factor
            while func(psi) < 0:
                psi *= factor
            lo, hi = psi / factor, psi
        return brentq(func, lo, hi, xtol=1e-13)

    lower = 0.0 if a * d == 0 else solve(lambda psi: tail(upper_tail, psi) - alpha / 2)
    upper = math.inf if b * c == 0 else solve(lambda psi: alpha / 2 - tail(lower_tail, psi))
    return float(lower), float(upper)


@dataclass
class GroupRate(Result):
    group: str
    n: int
    events: int
    non_events: int
    rate: float
    rate_ci: tuple[float, float]


@dataclass
class ResponseByGroup(Result):
    outcome: str
    event: str
    groups: list[GroupRate]
    table: list[list[int]]
    p_value: float
    test: str
    odds_ratio_conditional: float
    odds_ratio_ci: tuple[float, float]
    odds_ratio_sample: float
    n_missing: int
    warnings: list[str] = field(default_factory=list)


def fisher_2x2(table, alpha: float = 0.05) -> dict:
    """Fisher exact two-sided p and conditional MLE odds ratio with exact CI for a 2 x 2 table
    ``[[a, b], [c, d]]`` (rows = groups, columns = event, non-event)."""
    t = np.asarray(table, dtype=int)
    if t.shape != (2, 2) or (t < 0).any():
        raise ValueError(f"need a 2 x 2 table of non-negative counts, got {t.tolist()}")
    p = float(stats.fisher_exact(t, alternative="two-sided").pvalue)
    warnings = []
    if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
        warnings.append("a row or column of the 2 x 2 table is empty: odds ratio undefined, p = 1")
        return {
            "p_value": p,
            "or_cond": math.nan,
            "or_ci": (math.nan, math.nan),
            "or_sample": math.nan,
            "warnings": warnings,
        }
    res = odds_ratio(t, kind="conditional")
    support = int(min(t[0].sum(), t[:, 0].sum()) - max(0, t[:, 0].sum() - t[1].sum())) + 1
    if support <= EXACT_CI_SCIPY_MAX_SUPPORT:
        ci = res.confidence_interval(confidence_level=1 - alpha)
        ci = (ci.low, ci.high)
    else:
        ci = conditional_odds_ratio_ci(t, alpha)
    a, b, c, d = t.ravel()
    or_sample = (a * d) / (b * c) if b * c > 0 else (math.inf if a * d > 0 else math.nan)
    if (t == 0).any():
        warnings.append("a zero cell: the odds ratio estimate or a CI limit is 0 or infinite")
    return {
        "p_value": p,
        "or_cond": float(res.statistic),
        "or_ci": (float(ci[0]), float(ci[1])),
        "or_sample": float(or_sample),
        "warnings": warnings,
    }


def response_by_group(
    frame: pd.DataFrame,
    group: str,
    outcome: str,
    *,
    groups: tuple | list | None = None,
    event=True,
    alpha: float = 0.05,
) -> ResponseByGroup:
    """Counts, rates (Clopper-Pearson CI) and Fisher's exact test of ``outcome == event``
    between the two levels of ``group`` (in the order ``groups``; default sorted levels).

    The odds ratio compares the odds of the event in ``groups[0]`` with ``groups[1]``.
    Rows with a missing group or outcome are excluded and counted in ``n_missing``.
    """
    require_columns(frame, [group, outcome])
    miss = frame[group].isna() | frame[outcome].isna()
    data = frame.loc[~miss]
    levels = list(groups) if groups is not None else sorted(data[group].unique().tolist())
    if len(levels) != 2:
        raise ValueError(f"need exactly 2 groups in {group!r}, got {levels}")
    extra = set(data[group].unique()) - set(levels)
    if extra:
        raise ValueError(f"{group!r} has level(s) {sorted(map(str, extra))} outside groups={levels}")
    rates, table, empty = [], [], []
    for g in levels:
        y = data.loc[data[group] == g, outcome]
        k = int((y == event).sum())
        if len(y) == 0:  # e.g. no BZD+ patient: kept with n = 0 and an undefined rate
            empty.append(str(g))
        rate = k / len(y) if len(y) else math.nan
        rates.append(GroupRate(str(g), len(y), k, len(y) - k, rate, clopper_pearson(k, len(y), alpha)))
        table.append([k, len(y) - k])
    f = fisher_2x2(table, alpha)
    warnings = list(f["warnings"])
    if empty:
        # nothing to compare with: no p value (Fisher's p of a table with an empty row is a
        # trivial 1), the rate of the empty group undefined
        warnings = [f"group(s) {empty} of {group!r} have no patients: rates not compared, no p value"]
        f["p_value"] = math.nan
    if miss.any():
        warnings.insert(0, f"{int(miss.sum())} patient(s) with missing {group!r} or {outcome!r} excluded")
    ev = np.asarray(table)[:, 0].sum()
    if ev == 0 or ev == len(data):
        warnings.append(
            f"no variation in the outcome: all patients have {outcome} {'!=' if ev == 0 else '=='} {event!r}"
        )
    return ResponseByGroup(
        outcome=outcome,
        event=str(event),
        groups=rates,
        table=table,
        p_value=f["p_value"],
        test="Fisher exact, two-sided (R fisher.test)",
        odds_ratio_conditional=f["or_cond"],
        odds_ratio_ci=f["or_ci"],
        odds_ratio_sample=f["or_sample"],
        n_missing=int(miss.sum()),
        warnings=warnings,
    )
