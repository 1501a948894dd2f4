"""What the template's searches aim at: the paper's rows and p values as targets and penalties.

Rows (a group's printed mean and SD) become ``Target`` intervals of the integer search
(``_fit``). Secondary criteria (a table's p value, the ROC's U and Youden cut-off) become
penalties >= 0: the distance of a statistic to the interval of values that give the printed
reading. The statistics themselves are the ``stats`` package's minimal forms (Student t from
running sums, Mann-Whitney |z| from counts, U from pairs, Youden's J at given cuts), each
tested there against its reference implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from ..stats.descriptives import mann_whitney_abs_z, student_t_from_sums
from ..stats.roc import u_statistic_pairs, youden_at_cuts
from . import paper
from ._fit import Target, printed_interval

# U = 63.5 of 5 x 14 users (AUC 0.907, printed 0.91): with it the exact 95 % CI of the AUC is
# the printed 0.68-0.99 (U = 64 would give p = 0.0073 without continuity correction but a lower
# limit of 0.69; docs/synthetic.md, Residuals)
U_DIAZEPAM_USERS = 63.5


class TemplateError(RuntimeError):
    """A search did not reach its rows: the builder retries on a fresh sub-stream."""


def groups(responder: np.ndarray, bzd_plus: np.ndarray) -> dict[str, np.ndarray]:
    """Patient indices of the paper's groups: R / NR (Table 1), BZD+ / BZD- (Table 2), ALL."""
    idx = np.arange(len(responder))
    return {
        "R": idx[responder],
        "NR": idx[~responder],
        "BZD+": idx[bzd_plus],
        "BZD-": idx[~bzd_plus],
        "ALL": idx,
    }


def row_targets(name: str, groups, members_of=None) -> list[Target]:
    """Targets for one variable from Table 1, Table 2 and the text (minus the dropped means)."""
    pick = members_of or (lambda g: groups[g])
    out = []
    for table, key, labels in (
        ("TABLE1", paper.TABLE1, ("R", "NR")),
        ("TABLE2", paper.TABLE2, ("BZD+", "BZD-")),
    ):
        if name not in key:
            continue
        for label, (mean, sd) in zip(labels, key[name]):
            if (table, name, label, "mean") in paper.DROPPED:
                mean = None
            if (table, name, label, "sd") in paper.DROPPED:
                sd = None
            mean = paper.P_IMPLIED_MEANS.get((table, name, label), mean)
            out.append(Target.printed(pick(label), mean, sd, f"{table}:{name}:{label}"))
    if name in paper.OVERALL:
        mean, sd = paper.OVERALL[name]
        if ("OVERALL", name, "ALL", "mean") in paper.DROPPED:
            mean = None
        if ("OVERALL", name, "ALL", "sd") in paper.DROPPED:
            sd = None
        out.append(Target.printed(pick("ALL"), mean, sd, f"OVERALL:{name}"))
    return out


# --- intervals of statistics that give a printed p ------------------------------------------


def reading_interval(reading: str, keep: float = 0.6) -> tuple[float, float]:
    """Central ``keep`` share of the values that round to ``reading``: a margin so that a value
    reached by the search still rounds to the printed one after any re-computation."""
    lo, hi = printed_interval(reading)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * keep
    return mid - half, mid + half


def t_abs_interval(p: tuple[float, float], df: int) -> tuple[float, float]:
    """|t| values whose two-sided Student p lies in ``p`` (p falls as |t| grows)."""
    return float(student_t.isf(p[1] / 2, df)), float(student_t.isf(p[0] / 2, df))


def z_abs_interval(p: tuple[float, float]) -> tuple[float, float]:
    """|z| values whose two-sided normal p lies in ``p``."""
    return float(norm.isf(p[1] / 2)), float(norm.isf(p[0] / 2))


def interval_distance(x: float, interval: tuple[float, float]) -> float:
    """Distance of ``x`` to ``interval`` in units of its width (0 inside)."""
    lo, hi = interval
    if x < lo:
        return (lo - x) / (hi - lo)
    if x > hi:
        return (x - hi) / (hi - lo)
    return 0.0


# --- penalties --------------------------------------------------------------------------------


@dataclass
class TTestTarget:
    """Two-sided Student t test (pooled variance) between target groups ``a`` and ``b``
    (indices into the ``targets`` list) whose |t| should lie in ``t_abs``."""

    a: int
    b: int
    t_abs: tuple[float, float]
    weight: float = 1.0
    name: str = ""


def t_tests_penalty(tests: Sequence[TTestTarget]) -> Callable[[list[int], list[float], list[float]], float]:
    """``extra_sums`` criterion: summed distance of each |t| to its interval."""

    def penalty(n, s1, s2) -> float:
        out = 0.0
        for t in tests:
            tv = abs(student_t_from_sums(n[t.a], s1[t.a], s2[t.a], n[t.b], s1[t.b], s2[t.b]))
            out += t.weight * interval_distance(tv, t.t_abs)
        return out

    return penalty


def p_terms(name, groups, targets):
    """Secondary terms for the p values of ``name``: Student t on the row targets' running
    sums, Mann-Whitney on the values (ranks)."""
    by_name = {t.name: i for i, t in enumerate(targets)}
    n = len(groups["ALL"])
    t_tests, mw_tests = [], []
    for table, p_key, labels in (
        ("TABLE1", paper.P_TABLE1, ("R", "NR")),
        ("TABLE2", paper.P_TABLE2, ("BZD+", "BZD-")),
    ):
        if name not in p_key:
            continue
        test, reading = p_key[name]
        p_int = reading_interval(reading)
        if test == "t":
            a, b = (by_name[f"{table}:{name}:{lab}"] for lab in labels)
            t_tests.append(TTestTarget(a, b, t_abs_interval(p_int, n - 2), name=f"{table}:{name}:p"))
        else:
            first = np.zeros(n, dtype=bool)
            first[groups[labels[0]]] = True
            mw_tests.append((first, z_abs_interval(p_int)))
    return t_tests, mw_tests


def mann_whitney_penalty(tests, unit):
    """``extra`` criterion: summed distance of each Mann-Whitney |z| to its interval."""

    def penalty(values):
        # the grid value is unit * x: back to the integers so equal values tie
        v = np.rint(values / unit).astype(np.int64)
        return sum(interval_distance(mann_whitney_abs_z(v, first), z_int) for first, z_int in tests)

    return penalty


def auc_youden_penalty(values, is_nr, low_mask):
    """0 when U = 63.5 (AUC 0.907, rounds to 0.91) and the Youden optimum is the 8 mg cut."""
    r, nr = values[~is_nr], values[is_nr]
    pen = abs(u_statistic_pairs(nr, r) - U_DIAZEPAM_USERS)
    # Youden at every empirical cut ">c": positive (nonresponder) if dose > c
    cuts = np.unique(values)
    j = youden_at_cuts(nr, r, cuts)
    c8 = values[low_mask].max()
    j8 = j[cuts == c8][0]
    others = j[cuts != c8]
    if others.size and others.max() >= j8 - 1e-9:
        pen += 10 * (others.max() - j8 + 0.01)
    return pen
