"""Per-patient computations of the cohort job on integer patient positions (issue 10).

At registry scale a cohort job groups millions of intakes by patient; pandas' ``groupby`` on
(patient, day) and ``unstack`` was the job's largest cost. These kernels compute the same
values as the definitions in ``definitions`` (``dose_summaries``, ``bzd_user``) and as
``cohort``'s per-patient drug sets, with numpy on each intake's patient position (0 .. n - 1,
-1 for an intake of no patient of the cohort, which no patient counts), bit for bit: the daily
totals are summed as pandas' ``groupby(...).sum()`` sums them (``group_sums``: Kahan 1965
compensation in row order, or ``np.add.reduceat`` for rows sorted by group), and the window's
mean as ``DataFrame.mean(axis=1)`` of the patient x day table (``numpy.sum`` along a row). ``tests/test_cohort_kernels.py`` checks
each against its definition, including the inputs the synthetic generator never makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def positions_in(ids: pd.Index, values: pd.Index) -> np.ndarray:
    """``ids.get_indexer(values)`` (position in ``ids`` of each value, -1 if absent) for unique
    ``ids``, by one ``pd.factorize`` of both (pandas' ``get_indexer`` of a quarter of a million
    Arrow-backed pseudonyms is twice as slow); repeated ``ids`` go to ``get_indexer`` (which
    raises)."""
    codes, _ = pd.factorize(ids.append(values) if len(values) else ids)
    if len(ids) and not (codes[: len(ids)] == np.arange(len(ids))).all():
        return ids.get_indexer(values)
    found = codes[len(ids) :]
    return np.where(found < len(ids), found, -1)


def codes_of(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values`` (-1 for missing) and the values they stand for: a
    categorical's codes and categories, else ``pd.factorize``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, uniques = pd.factorize(values)
    return codes, pd.Index(uniques)


def row_positions(ids: pd.Index, patient_id: pd.Series, known: dict | None = None) -> np.ndarray:
    """Position in ``ids`` of each row's patient (-1 if absent), each distinct pseudonym looked
    up once (a registry table has ~20 rows per patient; ``codes_of``). ``known``: the lookup of
    the last categories (kept there), reused for the same categories (the ratings' and intakes'
    pseudonyms after ``cohort.merge``)."""
    codes, uniques = codes_of(patient_id)
    if known is not None and "categories" in known and known["categories"].equals(uniques):
        return known["positions"][codes]
    positions = np.append(positions_in(ids, uniques), -1)
    if known is not None and isinstance(patient_id.dtype, pd.CategoricalDtype):
        known.update(categories=uniques, positions=positions)
    return positions[codes]


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values of ``key``."""
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    return starts, np.diff(np.r_[starts, len(key)])


def group_sums(key: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group 0 .. ``n_groups`` - 1, the sum of its ``values`` (no NaN among them) as pandas'
    ``groupby(key, sort=True).sum()`` computes it; 0.0 for a group without rows.

    pandas (3.x, ``BaseGrouper._cython_operation``) sums with ``np.add.reduceat`` over each
    group's rows when the rows come sorted by group (``is_monotonic``), else with its Cython
    ``group_sum``: rows in input order, Kahan-compensated (y = value - c, t = sum + y,
    c = (t - sum) - y, c reset to 0 when it is NaN, i.e. after an infinite value). Both are
    reproduced: the compensated sums vectorized over groups (the rows grouped, by a stable sort
    unless each group's rows are already contiguous, as in the sorted intakes; then the r-th
    rows of all groups added in step r)."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in pandas
        return _group_sums(key, values, n_groups)


def _group_sums(key: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(n_groups)
    if len(key) == 0:
        return out
    starts, lengths = _runs(key)
    if (key[1:] >= key[:-1]).all():
        out[key[starts]] = np.add.reduceat(values, starts)
        return out
    if len(starts) != np.count_nonzero(np.bincount(key, minlength=n_groups)):  # not contiguous
        order = np.argsort(key, kind="stable")
        key, values = key[order], values[order]
        starts, lengths = _runs(key)
    total = np.zeros(len(starts))
    compensation = np.zeros(len(starts))
    for r in range(int(lengths.max())):
        groups = np.flatnonzero(lengths > r) if r else np.arange(len(starts))
        y = values[starts[groups] + r] - compensation[groups]
        t = total[groups] + y
        c = (t - total[groups]) - y
        c[np.isnan(c)] = 0.0
        compensation[groups] = c
        total[groups] = t
    out[key[starts]] = total
    return out


def dose_summaries(
    patient: np.ndarray,
    study_day: np.ndarray,
    dose: np.ndarray,
    n_patients: int,
    window: tuple[int, int],
    summaries: tuple[str, ...],
) -> dict[str, np.ndarray] | None:
    """``definitions.dose_summaries`` of the intakes (``patient`` positions, ``study_day``,
    ``dose``) for patients ``RangeIndex(n_patients)``, as arrays. None (the caller uses the
    definition) for an empty window or a daily total that is not finite (pandas then skips the
    NaN in the mean; not worth a second code path)."""
    lo, hi = window
    if lo > hi or any(s not in ("mean", "max", "first") for s in summaries):
        return None
    n_days = hi - lo + 1
    rows = (study_day >= lo) & (study_day <= hi) & ~np.isnan(dose)
    # intakes of no patient (-1) are a group of their own, as in the definition's groupby (the
    # order of the groups decides how pandas sums), and then dropped
    key = (patient[rows].astype(np.int64) + 1) * n_days + (study_day[rows] - lo)
    totals = group_sums(key, dose[rows], (n_patients + 1) * n_days)[n_days:]
    if not np.isfinite(totals).all():
        return None
    wide = totals.reshape(n_patients, n_days)
    out = {}
    for summary in summaries:
        if summary == "mean":
            out[summary] = _row_sums(wide, n_days, np.unique(key % n_days)) / float(n_days)
        elif summary == "max":
            out[summary] = wide.max(axis=1) if n_patients else np.zeros(0)
        else:
            out[summary] = wide[:, 0].copy()
    return out


def _row_sums(wide: np.ndarray, n_days: int, days_seen: np.ndarray) -> np.ndarray:
    """Each patient's sum over the days of ``wide`` as ``DataFrame.mean(axis=1)`` adds the
    definition's patient x day table (pandas 3.x reduces block by block): the days ``unstack``
    made (``days_seen``, the days with any intake) are one block stored patient by patient, which
    numpy sums pairwise along each patient's row; the days ``reindex`` adds (no intake at all)
    are a second block of zeros, whose sum is added after."""
    total = np.ascontiguousarray(wide[:, days_seen]).sum(axis=1)
    return total + 0.0 if len(days_seen) < n_days else total


def days_with_intake(
    patient: np.ndarray, study_day: np.ndarray, n_patients: int, days: tuple[int, int]
) -> np.ndarray:
    """Per patient, the number of distinct days in the inclusive range ``days`` with an intake
    (``groupby("patient_id")["study_day"].nunique()`` of those rows, 0 without one)."""
    lo, hi = days
    n_days = max(hi - lo + 1, 0)
    rows = (study_day >= lo) & (study_day <= hi) & (patient >= 0)
    seen = np.zeros(n_patients * n_days, bool)
    seen[patient[rows].astype(np.int64) * n_days + (study_day[rows] - lo)] = True
    return seen.reshape(n_patients, n_days).sum(axis=1)


def drug_sets(patient: np.ndarray, drug: np.ndarray, n_drugs: int, n_patients: int) -> np.ndarray:
    """Per patient and drug (codes 0 .. ``n_drugs`` - 1; -1 for none, not counted), whether
    the patient has an intake of it: a boolean patient x drug table."""
    rows = (patient >= 0) & (drug >= 0)
    seen = np.zeros(n_patients * n_drugs, bool)
    seen[patient[rows].astype(np.int64) * n_drugs + drug[rows]] = True
    return seen.reshape(n_patients, n_drugs)
