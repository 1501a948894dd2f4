"""Standardised mean difference of two independent groups (Hedges' g) with confidence interval.

- Cohen's d with the pooled SD; Hedges' g = J d with the exact factor
  J = Gamma(df/2) / (sqrt(df/2) Gamma((df - 1)/2)), df = n1 + n2 - 2 (Hedges 1981), as
  R ``effectsize::hedges_g``.
- CI, default ``"noncentral_t"``: invert the noncentral t distribution of
  t = d / sqrt(1/n1 + 1/n2) (Steiger & Fouladi 1997; Cumming & Finch 2001), then multiply the
  d limits by J, as ``effectsize::hedges_g`` (exact under normality and equal variances).
- CI, ``"normal"``: g +/- z SE with SE^2 = (n1 + n2)/(n1 n2) + g^2 / (2 (n1 + n2))
  (Hedges & Olkin 1985, eq. 5.15), the large-sample approximation used in meta-analysis.
- t test: Student's pooled-variance t (as Statistica), Welch's p alongside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .descriptives import hedges_j
from .result import Result, require_columns

__all__ = ["HedgesG", "hedges_g", "group_difference_tests"]


@dataclass
class HedgesG(Result):
    n_1: int
    n_2: int
    mean_1: float
    mean_2: float
    sd_1: float
    sd_2: float
    mean_difference: float
    cohen_d: float
    hedges_g: float
    j: float
    ci: tuple[float, float]
    ci_method: str
    t: float
    df: int
    p_value: float
    p_welch: float
    warnings: list[str] = field(default_factory=list)


def _ncp_ci(t: float, df: int, alpha: float) -> tuple[float, float]:
    """Noncentrality parameters whose t distributions put t at the 1 - alpha/2 and alpha/2 quantiles."""

    def f(ncp, q):
        return stats.nct.cdf(t, df, ncp) - q

    def root(q):
        # cdf decreases in ncp; widen the bracket in steps, since scipy's nct.cdf returns NaN
        # far out in the tails.
        a, b = t - 1.0, t + 1.0
        while f(a, q) < 0:
            a -= 1.0
        while f(b, q) > 0:
            b += 1.0
        return optimize.brentq(f, a, b, args=(q,), xtol=1e-12, rtol=1e-14)

    return root(1 - alpha / 2), root(alpha / 2)


def hedges_g(
    x, y, *, alpha: float = 0.05, ci_method: Literal["noncentral_t", "normal"] = "noncentral_t"
) -> HedgesG:
    """Hedges' g of ``x`` minus ``y`` (positive = x larger). NaNs are not allowed here:
    drop and count them before (``group_difference_tests`` does)."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("hedges_g: missing values in the input; drop (and report) them first")
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"hedges_g needs at least 2 patients per group, got {n1} and {n2}")
    df = n1 + n2 - 2
    s1, s2 = a.std(ddof=1), b.std(ddof=1)
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df)
    if sp == 0:
        raise ValueError("hedges_g: pooled SD is 0 (constant values)")
    diff = a.mean() - b.mean()
    d = diff / sp
    j = hedges_j(df)
    g = d * j
    scale = math.sqrt(1 / n1 + 1 / n2)
    t = d / scale
    if ci_method == "noncentral_t":
        lo, hi = _ncp_ci(t, df, alpha)
        ci = (lo * scale * j, hi * scale * j)
    elif ci_method == "normal":
        se = math.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2)))
        z = stats.norm.ppf(1 - alpha / 2)
        ci = (g - z * se, g + z * se)
    else:
        raise ValueError(f"unknown ci_method {ci_method!r}")
    p = float(2 * stats.t.sf(abs(t), df))
    welch = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return HedgesG(
        n1,
        n2,
        float(a.mean()),
        float(b.mean()),
        float(s1),
        float(s2),
        float(diff),
        float(d),
        float(g),
        float(j),
        (float(ci[0]), float(ci[1])),
        ci_method,
        float(t),
        df,
        p,
        welch,
    )


def group_difference_tests(
    frame: pd.DataFrame,
    group: str,
    columns: list[str],
    *,
    groups: list | tuple,
    alpha: float = 0.05,
    ci_method: Literal["noncentral_t", "normal"] = "noncentral_t",
) -> pd.DataFrame:
    """Student t test and Hedges' g (``groups[0]`` minus ``groups[1]``) for each column, e.g.
    ``madrs_rel_change_day1/3/7`` (positive = improvement). Missing values are excluded per
    column and counted in ``n_missing_1/2``."""
    require_columns(frame, [group, *columns])
    if len(groups) != 2:
        raise ValueError("need exactly 2 groups")
    rows = []
    for c in columns:
        xa = frame.loc[frame[group] == groups[0], c]
        xb = frame.loc[frame[group] == groups[1], c]
        row = {
            "variable": c,
            "group_1": str(groups[0]),
            "group_2": str(groups[1]),
            "n_missing_1": int(xa.isna().sum()),
            "n_missing_2": int(xb.isna().sum()),
        }
        try:
            r = hedges_g(xa.dropna(), xb.dropna(), alpha=alpha, ci_method=ci_method)
        except ValueError as err:  # e.g. an empty group: the row stays, its statistics undefined
            rows.append(
                {
                    **row,
                    "n_1": int(xa.notna().sum()),
                    "n_2": int(xb.notna().sum()),
                    "warnings": f"not estimable: {err}",
                }
            )
            continue
        d = r.to_dict()
        warnings = d.pop("warnings")
        ci = d.pop("ci")
        rows.append({**row, **d, "ci_low": ci[0], "ci_high": ci[1], "warnings": "; ".join(warnings)})
    return pd.DataFrame(rows)
