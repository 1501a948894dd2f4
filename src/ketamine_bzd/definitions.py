"""The analysis definitions of the paper, each written once.

Every rule, script and sensitivity variant takes these functions; none re-implements them.
Study days: day 0 is the infusion day; the baseline rating (visit ``day0``) is taken on day -1.
"""

from __future__ import annotations

import pandas as pd

FOLLOW_UP_VISITS = ("day1", "day3", "day7")
# Paper, Methods: "BZD users ... regularly during the study period (7 days before the infusion
# and for 7 days after)"; nonusers receive "BZDs not more than twice per week".
STUDY_WEEKS = ((-7, -1), (0, 7))


def relative_change(baseline: pd.Series, follow_up: pd.Series) -> pd.Series:
    """Relative MADRS change (baseline - follow-up) / baseline; positive = improvement.

    As in Table 2 of the paper ("MADRS change baseline vs. day 3 0.26 ± 0.28"). A zero
    baseline has no relative change and gives NaN.
    """
    base = baseline.astype(float).where(baseline != 0)
    return (base - follow_up.astype(float)) / base


def responder(
    patients: pd.DataFrame,
    visits: tuple[str, ...] = FOLLOW_UP_VISITS,
    min_reduction: float = 0.5,
    scale: str = "madrs",
) -> pd.Series:
    """Response: a reduction of at least ``min_reduction`` from baseline at any of ``visits``.

    Paper: ">= 50 % MADRS reduction from the baseline at any visit during the one-week
    follow-up". A patient who responds at an observed visit is a responder even if another visit
    is missing; one with no response at observed visits and a missing visit is ``NA`` (unknown),
    never silently a nonresponder. Returns a nullable boolean Series.
    """
    base = patients[f"{scale}_day0"]
    changes = pd.concat({v: relative_change(base, patients[f"{scale}_{v}"]) for v in visits}, axis=1)
    hit = (changes >= min_reduction - 1e-12).any(axis=1)
    unknown = ~hit & changes.isna().any(axis=1)
    out = pd.Series(hit, index=patients.index, dtype="boolean")
    out[unknown] = pd.NA
    return out


def remitter(
    patients: pd.DataFrame, visit: str = "day7", max_score: float = 10, scale: str = "madrs"
) -> pd.Series:
    """Remission: score at ``visit`` <= ``max_score`` (MADRS <= 10, Hawley et al. 2002)."""
    score = patients[f"{scale}_{visit}"]
    out = pd.Series(score <= max_score, index=patients.index, dtype="boolean")
    out[score.isna()] = pd.NA
    return out


def bzd_high_dose(diazepam_eq_mg: pd.Series, cutoff_mg: float) -> pd.Series:
    """BZD+ (high dose): mean diazepam-equivalent dose strictly above ``cutoff_mg``.

    Paper: BZD+ "> 8 mg of DZ equivalent", BZD- "0-8 mg" (MedCalc criterion ">8").
    """
    return diazepam_eq_mg > cutoff_mg


def daily_totals(medication: pd.DataFrame, value_col: str, days: tuple[int, int]) -> pd.DataFrame:
    """Patient x day totals of ``value_col`` over the inclusive day range (days without intake = 0)."""
    lo, hi = days
    rows = medication[medication["study_day"].between(lo, hi)]
    totals = rows.groupby(["patient_id", "study_day"], sort=True)[value_col].sum()
    wide = totals.unstack("study_day", fill_value=0.0)
    return wide.reindex(columns=range(lo, hi + 1), fill_value=0.0)


def dose_exposure(
    medication: pd.DataFrame,
    patient_ids: pd.Index,
    value_col: str = "diazepam_eq_mg",
    window: tuple[int, int] = (-1, 7),
    summary: str = "mean",
) -> pd.Series:
    """Daily dose over ``window`` summarised per patient (patients without intake get 0).

    ``summary``: ``mean`` (paper: "mean daily dose from one day before ketamine administration
    to the end of the follow-up (day -1 to day 7)"), ``max`` (highest daily dose) or ``first``
    (the dose on the first day of the window, e.g. window (-1, -1) = baseline dose).
    """
    return dose_summaries(medication, patient_ids, value_col, window, (summary,))[summary]


def dose_summaries(
    medication: pd.DataFrame,
    patient_ids: pd.Index,
    value_col: str,
    window: tuple[int, int],
    summaries: tuple[str, ...],
) -> dict[str, pd.Series]:
    """``dose_exposure`` for each of ``summaries`` from one table of daily totals (registry
    scale: the daily totals are the cost). ``first`` is the dose on the window's first day, the
    same as ``dose_exposure`` over the window (first, first)."""
    unknown = [s for s in summaries if s not in ("mean", "max", "first")]
    if unknown:
        raise ValueError(f"unknown dose summary {unknown[0]!r}: use 'mean', 'max' or 'first'")
    wide = daily_totals(medication.dropna(subset=[value_col]), value_col, window)
    wide = wide.reindex(patient_ids, fill_value=0.0)
    out = {}
    for summary in summaries:
        if summary == "mean":
            out[summary] = wide.mean(axis=1)
        elif summary == "max":
            out[summary] = wide.max(axis=1)
        else:
            out[summary] = wide.iloc[:, 0]
    return out


def bzd_user(
    medication: pd.DataFrame,
    patient_ids: pd.Index,
    max_days_per_week: int = 2,
    weeks: tuple[tuple[int, int], ...] = STUDY_WEEKS,
) -> pd.Series:
    """Regular BZD use: BZD taken on more than ``max_days_per_week`` days in any study week."""
    bzd = medication[medication["drug_class"] == "bzd"]
    user = pd.Series(False, index=patient_ids)
    for lo, hi in weeks:
        days = bzd[bzd["study_day"].between(lo, hi)].groupby("patient_id")["study_day"].nunique()
        user |= days.reindex(patient_ids, fill_value=0) > max_days_per_week
    return user
