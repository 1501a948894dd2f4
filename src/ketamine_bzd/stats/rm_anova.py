"""Mixed-design (split-plot) ANOVA: one between-subject factor (group) x one within factor (time).

Methods (Winer, Brown & Michels 1991, ch. 7; Maxwell & Delaney 2004, ch. 12-14), matching
R ``afex::aov_ez`` (car ``Anova`` type III on the multivariate lm; with one between and one
within factor and complete cases types II and III coincide only for balanced designs, so type
III sums of squares are used here, as afex and Statistica do):
- F and p with the uncorrected df (df1, df2), as Statistica prints and the paper reports.
- Mauchly's test of sphericity on the pooled within-group covariance of orthonormal time
  contrasts, chi-square approximation with the second-order term, written as car writes it
  (car's ``w2`` term uses the number of time levels k where Anderson's formula has k - 1; the
  difference is in the 4th decimal of p at most for n = 45).
- Greenhouse-Geisser epsilon (Greenhouse & Geisser 1959; Box 1954) and the Huynh-Feldt
  epsilon in Lecoutre's (1991) correction, ((N - g + 1)(k - 1) eps_GG - 2) / ((k - 1)(N - g -
  (k - 1) eps_GG)), which is what car / afex report (SPSS and the original Huynh & Feldt 1976
  use N in place of N - g + 1; given as ``hf_epsilon_huynh_feldt_1976``). The HF-corrected p
  caps epsilon at 1; the reported epsilon is not capped (as car).
- Partial eta squared SS_effect / (SS_effect + SS_error).
- Simple effects of group at each visit: the multivariate-model contrasts of emmeans
  (``emmeans(aov_ez(...), ~ group | time)`` with ``model = "multivariate"``, afex's default),
  i.e. a pooled-variance two-sample t test at each visit on the ANOVA's patients, df = N - 2,
  Bonferroni-adjusted over the k visits (family = the k group contrasts, one per visit:
  p_adj = min(1, k p)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .result import Result, require_columns

__all__ = ["EffectRow", "RmAnovaResult", "rm_anova", "simple_effects"]


@dataclass
class EffectRow(Result):
    effect: str
    f: float
    df1: float
    df2: float
    p_value: float
    ss: float
    ss_error: float
    partial_eta_sq: float
    mauchly_w: float | None
    mauchly_p: float | None
    gg_epsilon: float | None
    p_gg: float | None
    hf_epsilon: float | None
    p_hf: float | None
    hf_epsilon_huynh_feldt_1976: float | None


@dataclass
class RmAnovaResult(Result):
    dv: str
    group: str
    groups: list[str]
    times: list[str]
    n: int
    n_per_group: dict[str, int]
    n_dropped: int
    dropped_ids: list[str]
    group_x_time: EffectRow
    group_effect: EffectRow
    time: EffectRow
    sphericity_violated: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self):
        d = super().to_dict()
        d["effects"] = {
            "group": d.pop("group_effect"),
            "time": d.pop("time"),
            "group_x_time": d.pop("group_x_time"),
        }
        return d


def _complete(frame: pd.DataFrame, subject: str, group: str, columns: list[str], groups):
    require_columns(frame, [subject, group, *columns])
    if len(columns) < 2:
        raise ValueError("need at least 2 repeated measures columns")
    if frame[group].isna().any():
        raise ValueError(f"group column {group!r} has missing values")
    levels = list(groups) if groups is not None else sorted(frame[group].unique().tolist())
    if len(levels) < 2:
        raise ValueError(f"need at least 2 groups in {group!r}, got {levels}")
    miss = frame[columns].isna().any(axis=1)
    data = frame.loc[~miss & frame[group].isin(levels)]
    for g in levels:
        k = int((data[group] == g).sum())
        if k == 0:
            raise ValueError(f"group {g!r} has no patients with all {len(columns)} visits")
    dropped = frame.loc[miss, subject].astype(str).tolist()
    return data, levels, dropped


def rm_anova(
    frame: pd.DataFrame,
    *,
    subject: str,
    group: str,
    columns: list[str],
    groups: list | tuple | None = None,
    times: list[str] | None = None,
    dv: str = "madrs",
    alpha: float = 0.05,
) -> RmAnovaResult:
    """Group x time ANOVA on wide data (one row per patient, one column per visit).

    Patients missing any visit are dropped (complete cases, as Statistica and afex do); their
    number and ids are reported and a warning is added. Paper: ``rm_anova(cohort,
    subject="patient_id", group="bzd_plus", columns=["madrs_day0", "madrs_day1", "madrs_day3",
    "madrs_day7"])``.
    """
    data, levels, dropped = _complete(frame, subject, group, columns, groups)
    times = list(times) if times else list(columns)
    warns: list[str] = []
    if dropped:
        warns.append(f"{len(dropped)} patient(s) dropped for missing visits (complete cases): {dropped}")
    Y = data[columns].to_numpy(dtype=float)
    gi = np.array([levels.index(v) for v in data[group]])
    N, k = Y.shape
    G = len(levels)
    n_g = np.bincount(gi, minlength=G)

    # Cell means; type III sums of squares via unweighted marginal means (= afex / Statistica).
    cell = np.vstack([Y[gi == j].mean(axis=0) for j in range(G)])  # G x k
    subj_mean = Y.mean(axis=1)
    # Between-subject part: one-way ANOVA on subject means (times k), type III with
    # unweighted group means.
    grp_means = cell.mean(axis=1)
    ss_subj_within = k * float(sum(((subj_mean[gi == j] - grp_means[j]) ** 2).sum() for j in range(G)))
    df_subj = N - G
    # Type III SS for group: contrast of unweighted means, via the harmonic-type weights.
    ss_group = _type3_between(subj_mean, gi, G) * k
    # Within part: on orthonormal time contrasts.
    C = _orthonormal_contrasts(k)  # k x (k-1)
    Z = Y @ C  # N x (k-1)
    resid = Z - np.vstack([Z[gi == j].mean(axis=0) for j in range(G)])[gi]
    E = resid.T @ resid  # pooled within-group SSCP of the contrasts
    ss_error_within = float(np.trace(E))
    if not ss_error_within > 0:
        raise ValueError(
            f"no within-patient variation of {dv} left after the group x time means: F undefined"
        )
    df_err_w = df_subj * (k - 1)
    # Time main effect (type III): unweighted mean of group contrast means tested against 0.
    zbar = np.vstack([Z[gi == j].mean(axis=0) for j in range(G)])  # G x (k-1)
    w = 1.0 / np.sum(1.0 / n_g) * G * G  # effective n for the unweighted grand mean
    ss_time = float(w * np.sum(zbar.mean(axis=0) ** 2))
    # Interaction: between-group SSCP of contrast means (weighted: it is the full group x time
    # term given time, identical under type II and III for this design).
    zw = (n_g[:, None] * zbar).sum(axis=0) / N
    ss_int = float(sum(n_g[j] * np.sum((zbar[j] - zw) ** 2) for j in range(G)))

    S = E / df_subj
    lam = np.linalg.eigvalsh(S)
    p = k - 1
    gg = float(lam.sum() ** 2 / (p * np.sum(lam**2)))
    hf = ((df_subj + 1) * p * gg - 2) / (p * (df_subj - p * gg))
    hf76 = (N * p * gg - 2) / (p * (df_subj - p * gg))
    mw, mp = _mauchly_car(E, k, df_subj)

    def row(name, ss, df1, sse, df2, sph: bool) -> EffectRow:
        f = (ss / df1) / (sse / df2)
        pv = float(stats.f.sf(f, df1, df2))
        if sph and p > 1:
            p_gg = float(stats.f.sf(f, gg * df1, gg * df2))
            e = min(1.0, hf)
            p_hf = float(stats.f.sf(f, e * df1, e * df2))
            return EffectRow(
                name, f, df1, df2, pv, ss, sse, ss / (ss + sse), mw, mp, gg, p_gg, hf, p_hf, hf76
            )
        return EffectRow(
            name, f, df1, df2, pv, ss, sse, ss / (ss + sse), None, None, None, None, None, None, None
        )

    r_group = row("group", ss_group, G - 1, ss_subj_within, df_subj, False)
    r_time = row("time", ss_time, p, ss_error_within, df_err_w, True)
    r_int = row("group_x_time", ss_int, (G - 1) * p, ss_error_within, df_err_w, True)
    violated = mp is not None and mp < alpha
    if violated:
        warns.append(
            f"sphericity rejected (Mauchly W = {mw:.3f}, p = {mp:.3g}): use the Greenhouse-Geisser (eps = {gg:.3f}) "
            "or Huynh-Feldt corrected p; the uncorrected df are reported as the paper does"
        )
    if hf > 1:
        warns.append("Huynh-Feldt epsilon > 1, treated as 1 for p_hf")
    if min(n_g) < 5:
        warns.append(f"small group(s): n per group {dict(zip(map(str, levels), n_g.tolist()))}")
    return RmAnovaResult(
        dv=dv,
        group=group,
        groups=[str(v) for v in levels],
        times=times,
        n=N,
        n_per_group={str(v): int(c) for v, c in zip(levels, n_g)},
        n_dropped=len(dropped),
        dropped_ids=dropped,
        group_x_time=r_int,
        group_effect=r_group,
        time=r_time,
        sphericity_violated=bool(violated),
        warnings=warns,
    )


def _orthonormal_contrasts(k: int) -> np.ndarray:
    """k x (k-1) orthonormal contrasts (orthogonal to the unit vector)."""
    H = np.linalg.qr(np.c_[np.ones(k), np.eye(k)[:, : k - 1]])[0]
    return H[:, 1:]


def _type3_between(y: np.ndarray, gi: np.ndarray, G: int) -> float:
    """Type III SS of the group factor in a one-way layout (tests equality of group means;
    with one factor type III equals the usual between-groups SS)."""
    m = y.mean()
    return float(sum(((y[gi == j].mean() - m) ** 2) * (gi == j).sum() for j in range(G)))


def _mauchly_car(E: np.ndarray, k: int, df: int) -> tuple[float | None, float | None]:
    pp = E.shape[0]
    if pp < 2:
        return None, None
    n = df
    logW = float(np.linalg.slogdet(E)[1] - pp * math.log(np.trace(E) / pp))
    rho = 1 - (2 * pp**2 + pp + 2) / (6 * pp * n)
    w2 = (pp + 2) * (pp - 1) * (pp - 2) * (2 * pp**3 + 6 * pp**2 + 3 * k + 2) / (288 * (n * pp * rho) ** 2)
    z = -n * rho * logW
    f = pp * (pp + 1) / 2 - 1
    pr1 = stats.chi2.sf(z, f)
    pr2 = stats.chi2.sf(z, f + 4)
    return math.exp(logW), float(pr1 + w2 * (pr2 - pr1))


def simple_effects(
    frame: pd.DataFrame,
    *,
    subject: str,
    group: str,
    columns: list[str],
    groups: list | tuple | None = None,
    times: list[str] | None = None,
    complete_cases: bool = True,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Group difference (groups[0] - groups[1]) at each visit, Bonferroni over the visits.

    ``complete_cases=True`` uses the RM-ANOVA's patients (emmeans on the afex model);
    ``False`` uses every patient observed at that visit.
    """
    if complete_cases:
        data, levels, dropped = _complete(frame, subject, group, columns, groups)
    else:
        require_columns(frame, [subject, group, *columns])
        levels = list(groups) if groups is not None else sorted(frame[group].unique().tolist())
        data, dropped = frame, []
    if len(levels) != 2:
        raise ValueError(f"simple effects need exactly 2 groups, got {levels}")
    times = list(times) if times else list(columns)
    rows = []
    m = len(columns)
    for t, c in zip(times, columns):
        a = data.loc[data[group] == levels[0], c].dropna().to_numpy(float)
        b = data.loc[data[group] == levels[1], c].dropna().to_numpy(float)
        if len(a) < 2 or len(b) < 2:  # the visit stays in the table, its test undefined
            rows.append(
                {
                    "time": t,
                    "group_1": str(levels[0]),
                    "group_2": str(levels[1]),
                    "n_1": len(a),
                    "n_2": len(b),
                    "n_family": m,
                    "n_dropped": len(dropped),
                    "warnings": f"visit {t!r}: fewer than 2 patients in a group, not compared",
                }
            )
            continue
        df = len(a) + len(b) - 2
        sp2 = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / df
        se = math.sqrt(sp2 * (1 / len(a) + 1 / len(b)))
        diff = a.mean() - b.mean()
        tval = diff / se
        pval = float(2 * stats.t.sf(abs(tval), df))
        q = stats.t.ppf(1 - alpha / 2, df)
        qb = stats.t.ppf(1 - alpha / (2 * m), df)
        rows.append(
            {
                "time": t,
                "group_1": str(levels[0]),
                "group_2": str(levels[1]),
                "n_1": len(a),
                "n_2": len(b),
                "mean_1": a.mean(),
                "mean_2": b.mean(),
                "estimate": diff,
                "se": se,
                "df": df,
                "t": tval,
                "ci_low": diff - q * se,
                "ci_high": diff + q * se,
                "ci_low_bonferroni": diff - qb * se,
                "ci_high_bonferroni": diff + qb * se,
                "p_value": pval,
                "p_bonferroni": min(1.0, m * pval),
                "n_family": m,
                "n_dropped": len(dropped),
                "warnings": "",
            }
        )
    return pd.DataFrame(rows)


def group_time_f_from_sums(
    cell_sums: list[list[float]], n_per_group: list[int], sum_sq_subject_totals: float, sum_sq: float
) -> float:
    """Group x time F of ``rm_anova`` (uncorrected df) from running sums, in O(groups x visits).

    The minimal form for search loops that change one score at a time (the synthetic
    generator's MADRS follow-ups): ``cell_sums[g][t]`` = sum of the scores of group g at visit
    t, ``sum_sq_subject_totals`` = sum over patients of (their row total)^2, ``sum_sq`` = sum
    of all squared scores. With complete cases the interaction SS is the between-cells SS
    minus the time SS (group-weighted, as ``rm_anova``'s, identical under type II and III for
    this design) and the error SS the within-subject SS minus the between-cells SS; df
    (k - 1)(G - 1) and (k - 1)(N - G). No within-subject variation left: ``inf``.
    ``tests/test_stats_search_forms.py`` checks it against ``rm_anova``.
    """
    k, n, n_groups = len(cell_sums[0]), sum(n_per_group), len(n_per_group)
    within = sum_sq - sum_sq_subject_totals / k
    between_cells = sum(
        sum(c * c for c in cells) / n_g - sum(cells) ** 2 / (k * n_g)
        for cells, n_g in zip(cell_sums, n_per_group)
    )
    totals = [sum(visit) for visit in zip(*cell_sums)]
    ss_time = sum(c * c for c in totals) / n - sum(totals) ** 2 / (k * n)
    ss_int, ss_err = between_cells - ss_time, within - between_cells
    df_int, df_err = (k - 1) * (n_groups - 1), (k - 1) * (n - n_groups)
    return (ss_int / df_int) / (ss_err / df_err) if ss_err > 0 else math.inf
