"""Batched rank-based ROC AUC and Youden cut-off (see ``kernels``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# Youden indices closer than this are treated as tied (they are ratios of small counts).
YOUDEN_TIE_TOL = 1e-12


@dataclass(frozen=True)
class AUCResult:
    """Batched ROC analysis; all arrays are (B,)."""

    auc: np.ndarray  # P(marker_pos > marker_neg) + 0.5 P(tie) = U / (n_pos n_neg)
    u_statistic: np.ndarray  # Mann-Whitney U of the positives
    se_delong: np.ndarray  # DeLong et al. (1988) standard error
    z: np.ndarray  # (auc - 0.5) / se_delong
    p_value: np.ndarray  # two-sided normal p for AUC = 0.5
    n_pos: np.ndarray
    n_neg: np.ndarray
    has_ties: np.ndarray  # marker ties among included patients (midranks used)
    cutoff: np.ndarray  # Youden-optimal criterion: positive if marker > cutoff
    sensitivity: np.ndarray  # at the cut-off
    specificity: np.ndarray
    youden_j: np.ndarray
    n_youden_optima: np.ndarray  # distinct criteria attaining the max J (>1: cut-off ambiguous)

    def warnings(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(len(self.auc))]
        for i in np.flatnonzero((self.n_pos == 0) | (self.n_neg == 0)):
            out[i].append("ROC undefined: no positives or no negatives")
        for i in np.flatnonzero(self.n_youden_optima > 1):
            out[i].append(
                f"{self.n_youden_optima[i]} cut-offs share the maximal Youden index (lowest reported)"
            )
        for i in np.flatnonzero(self.has_ties):
            out[i].append("tied marker values (midranks)")
        return out


def _sorted_groups(values: np.ndarray, include: np.ndarray):
    """Sort each row with excluded entries last; return order, sorted values,
    and for each sorted position the first/last position of its tie group."""
    B, n = values.shape
    key = np.where(include, values, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    s = np.take_along_axis(key, order, axis=1)
    inc_s = np.take_along_axis(include, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (B, n))
    starts = np.ones((B, n), dtype=bool)
    # Excluded entries (all +inf) are made their own groups so they never merge with data.
    starts[:, 1:] = (s[:, 1:] != s[:, :-1]) | ~inc_s[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    ends = np.ones((B, n), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    last = np.minimum.accumulate(np.where(ends, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    return order, s, inc_s, starts, first, last


def midranks(values: Any, include: Any = None) -> np.ndarray:
    """Row-wise midranks (average ranks for ties, 1-based) among included
    entries; NaN where excluded. values (B, n) or (n,)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    include = (
        np.ones(values.shape, bool)
        if include is None
        else np.broadcast_to(np.asarray(include, bool), values.shape)
    )
    order, _, inc_s, _, first, last = _sorted_groups(values, include)
    r = np.where(inc_s, (first + last) / 2.0 + 1.0, np.nan)
    out = np.empty_like(r)
    np.put_along_axis(out, order, r, axis=1)
    return out


def roc_auc(marker: Any, positive: Any, mask: Any = None) -> AUCResult:
    """Batched rank-based AUC (Mann-Whitney U / (n_pos n_neg), midranks for
    ties), DeLong SE, and the Youden-optimal cut-off, per batch row.

    marker : (n,) or (B, n); positive : (n,) or (B, n) 0/1 class, 1 = the
        class expected to have the higher marker (for the paper: nonresponse,
        marker = diazepam_eq_mg); mask : (n,) or (B, n) bool inclusion.
    Cut-off in MedCalc notation: criterion c is an observed marker value,
    a patient is test-positive if marker > c; sensitivity = share of positives
    with marker > c, specificity = share of negatives with marker <= c;
    J = sens + spec - 1. Ties in J are resolved to the lowest criterion and
    counted in ``n_youden_optima``. The direction is not flipped when
    AUC < 0.5.
    """
    marker = np.asarray(marker, dtype=np.float64)
    positive = np.asarray(positive, dtype=np.float64)
    if marker.ndim not in (1, 2) or positive.ndim not in (1, 2):
        raise ValueError("marker and positive must be (n,) or (B, n)")
    n = marker.shape[-1]
    mask_a = np.ones(n, bool) if mask is None else np.asarray(mask)
    if mask_a.dtype != bool:
        if not np.all((mask_a == 0) | (mask_a == 1)):
            raise ValueError("mask must be boolean (0/1)")
        mask_a = mask_a.astype(bool)
    try:
        shape = np.broadcast_shapes(marker.shape, positive.shape, mask_a.shape)
    except ValueError as exc:
        raise ValueError(f"incompatible shapes {marker.shape}, {positive.shape}, {mask_a.shape}") from exc
    shape = (1, n) if len(shape) == 1 else shape
    inc = np.broadcast_to(mask_a, shape)
    marker = np.broadcast_to(marker, shape)
    positive = np.broadcast_to(positive, shape)
    if not np.all(np.isfinite(marker[inc])):
        raise ValueError("marker has non-finite values in included rows")
    if not np.all((positive[inc] == 0) | (positive[inc] == 1)):
        raise ValueError("positive must be 0/1 in included rows")
    pos = inc & (positive == 1)
    neg = inc & (positive == 0)
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    defined = (n_pos > 0) & (n_neg > 0)
    denom = np.where(defined, n_pos * n_neg, np.nan)

    order, s, inc_s, starts, first, last = _sorted_groups(marker, inc)
    r_sorted = (first + last) / 2.0 + 1.0
    pos_s = np.take_along_axis(pos, order, axis=1)
    neg_s = np.take_along_axis(neg, order, axis=1)
    u = np.sum(np.where(pos_s, r_sorted, 0.0), axis=1) - n_pos * (n_pos + 1) / 2.0
    auc = u / denom
    has_ties = np.any(inc_s & (last > first), axis=1)

    # DeLong placements from ranks: for a positive, (overall midrank - midrank
    # among positives) = #negatives below + half the tied negatives.
    r_all = midranks(marker, inc)
    r_pos = midranks(marker, pos)
    r_neg = midranks(marker, neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        v10 = np.where(pos, (r_all - r_pos) / n_neg[:, None], np.nan)
        v01 = np.where(neg, 1.0 - (r_all - r_neg) / n_pos[:, None], np.nan)
        s10 = np.nansum((v10 - auc[:, None]) ** 2, axis=1) / (n_pos - 1)
        s01 = np.nansum((v01 - auc[:, None]) ** 2, axis=1) / (n_neg - 1)
        se = np.sqrt(s10 / n_pos + s01 / n_neg)
        se = np.where(defined & (n_pos > 1) & (n_neg > 1), se, np.nan)
        z = (auc - 0.5) / se
    p_value = 2.0 * stats.norm.sf(np.abs(z))

    # Youden: counts at or below each criterion are the cumulative counts up
    # to the end of its tie group.
    cum_pos = np.cumsum(pos_s, axis=1)
    cum_neg = np.cumsum(neg_s, axis=1)
    pos_le = np.take_along_axis(cum_pos, last, axis=1)
    neg_le = np.take_along_axis(cum_neg, last, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = (n_pos[:, None] - pos_le) / n_pos[:, None]
        spec = neg_le / n_neg[:, None]
    j = np.where(inc_s & starts, sens + spec - 1.0, -np.inf)
    k = np.argmax(j, axis=1)
    rows = np.arange(shape[0])
    j_max = j[rows, k]
    n_opt = np.sum(j >= j_max[:, None] - YOUDEN_TIE_TOL, axis=1)
    nan = np.nan
    return AUCResult(
        auc=auc,
        u_statistic=np.where(defined, u, nan),
        se_delong=se,
        z=z,
        p_value=p_value,
        n_pos=n_pos,
        n_neg=n_neg,
        has_ties=has_ties,
        cutoff=np.where(defined, s[rows, k], nan),
        sensitivity=np.where(defined, sens[rows, k], nan),
        specificity=np.where(defined, spec[rows, k], nan),
        youden_j=np.where(defined, j_max, nan),
        n_youden_optima=np.where(defined, n_opt, 0),
    )


def roc_cutoff(marker: Any, positive: Any, mask: Any) -> np.ndarray:
    """Only the Youden-optimal cut-off of :func:`roc_auc` (its ``cutoff`` field, same
    criterion, NaN where the ROC is undefined), compiled: the multiverse re-estimates it
    on every relabelled cohort. marker, positive, mask : (B, n); mask boolean."""
    from ._numba import youden_cutoff

    marker = np.asarray(marker, dtype=np.float64)
    positive = np.asarray(positive, dtype=np.float64)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask must be boolean (0/1)")
        mask = mask.astype(bool)
    if marker.ndim != 2 or marker.shape != positive.shape or marker.shape != mask.shape:
        raise ValueError("marker, positive and mask must share a (B, n) shape")
    cut, error = youden_cutoff(marker, positive, mask)
    if error == 1:
        raise ValueError("marker has non-finite values in included rows")
    if error == 2:
        raise ValueError("positive must be 0/1 in included rows")
    return cut
