"""Seeded integer search that makes rounded group means and SDs equal printed values.

A printed ``41.6 ± 13.1`` says only that the group mean lies in ``[41.55, 41.65)`` and the SD
(``ddof=1``) in ``[13.05, 13.15)``. Every variable here is an integer ``x_k`` on a grid
(value ``a_k + c_k * x_k``) with per-variable bounds; the search changes one or two ``x_k`` at a
time and keeps running sums per target group, so one step costs O(groups of k). Acceptance is
simulated annealing (Kirkpatrick et al. 1983) on the summed distance to the intervals, measured
in units of the half rounding width, so that a violation of ``0.05`` years and one of ``0.5`` ng/ml
weigh the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def printed_interval(text: str) -> tuple[float, float]:
    """Interval of values that round to ``text`` (half-open, a hair inside the edges)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    half = 0.5 * 10.0**-decimals
    value = float(text)
    eps = 1e-9 * max(1.0, abs(value))
    return value - half + eps, value + half - eps


@dataclass
class Target:
    """Mean and/or SD interval for the variables ``members`` (indices into the search vector)."""

    members: np.ndarray
    mean: tuple[float, float] | None = None
    sd: tuple[float, float] | None = None
    weight: float = 1.0
    name: str = ""

    @classmethod
    def printed(cls, members, mean: str | None, sd: str | None, name: str = "", weight=1.0):
        return cls(
            np.asarray(members, dtype=int),
            printed_interval(mean) if mean is not None else None,
            printed_interval(sd) if sd is not None else None,
            weight,
            name,
        )


def _violation(t: Target, n: int, s1: float, s2: float) -> float:
    v = 0.0
    m = s1 / n
    if t.mean is not None:
        lo, hi = t.mean
        if m < lo or m > hi:
            v += (lo - m if m < lo else m - hi) / (hi - lo)
    if t.sd is not None:
        lo, hi = t.sd
        var = (s2 - s1 * s1 / n) / (n - 1) if n > 1 else 0.0
        sd = math.sqrt(var) if var > 0 else 0.0
        if sd < lo or sd > hi:
            v += (lo - sd if sd < lo else sd - hi) / (hi - lo)
    return t.weight * v


@dataclass
class FitResult:
    x: np.ndarray
    violation: float
    extra: float
    iterations: int


def fit_integers(
    rng: np.random.Generator,
    x0: Sequence[int],
    lo: Sequence[int],
    hi: Sequence[int],
    targets: Sequence[Target],
    a: Sequence[float] | float = 0.0,
    c: Sequence[float] | float = 1.0,
    extra: Callable[[np.ndarray], float] | None = None,
    extra_tol: float = 0.0,
    max_iter: int = 60_000,
    max_step: int | Sequence[int] = 5,
    t0: float = 0.3,
    keep_targets: bool = False,
    lookup: Sequence[Sequence[float]] | None = None,
    extra_sums: Callable[[list[int], list[float], list[float]], float] | None = None,
    triples: bool = False,
) -> FitResult:
    """Anneal integers ``x`` within ``[lo, hi]`` until every target interval holds.

    ``extra(values) -> penalty >= 0`` adds a whole-vector criterion (e.g. an AUC); it is
    evaluated on every step, so keep it cheap. ``extra_sums(n, s1, s2) -> penalty >= 0`` is a
    criterion on the running count, sum and sum of squares of every target group (e.g. a t
    statistic between two of them); it costs no pass over the values. Both add to ``extra``.
    The search stops when the target violation is 0 and ``extra <= extra_tol``; it returns the
    best state seen otherwise (lexicographic: target violation first). With ``keep_targets``
    a step that breaks a target interval, once all hold, is never taken, so a second pass with
    ``extra`` (secondary criteria) cannot undo the first pass's rows. ``triples`` adds steps
    ``(+d, +d, -2d)`` on three values: they keep a sum and change a sum of squares by little
    (two values move apart from a third), so with every row held a rank test can still move.
    """
    x = [int(v) for v in x0]
    k_n = len(x)
    lo_l = [int(v) for v in np.broadcast_to(lo, (k_n,))]
    hi_l = [int(v) for v in np.broadcast_to(hi, (k_n,))]
    a_l = [float(v) for v in np.broadcast_to(a, (k_n,))]
    c_l = [float(v) for v in np.broadcast_to(c, (k_n,))]
    step_l = [max(1, int(v)) for v in np.broadcast_to(max_step, (k_n,))]
    x = [min(max(v, lo_l[k]), hi_l[k]) for k, v in enumerate(x)]
    table = [list(map(float, t)) for t in lookup] if lookup is not None else None

    def val(k: int, xk: int) -> float:
        if table is not None:
            return a_l[k] + table[k][xk]
        return a_l[k] + c_l[k] * xk

    member: list[list[int]] = [[] for _ in range(k_n)]
    n_t, s1, s2 = [], [], []
    for ti, t in enumerate(targets):
        idx = [int(i) for i in t.members]
        for i in idx:
            member[i].append(ti)
        vals = [val(i, x[i]) for i in idx]
        n_t.append(len(idx))
        s1.append(sum(vals))
        s2.append(sum(v * v for v in vals))
    viol = [_violation(t, n_t[ti], s1[ti], s2[ti]) for ti, t in enumerate(targets)]
    free = [k for k in range(k_n) if lo_l[k] < hi_l[k]]

    def values() -> np.ndarray:
        if table is not None:
            return np.asarray([val(k, x[k]) for k in range(k_n)])
        return np.asarray(a_l) + np.asarray(c_l) * np.asarray(x, dtype=float)

    total = sum(viol)
    if total < 1e-12:
        total = 0.0

    def extra_of(sums1, sums2) -> float:
        e = extra(values()) if extra is not None else 0.0
        if extra_sums is not None:
            e += extra_sums(n_t, sums1, sums2)
        return e

    ext = extra_of(s1, s2)
    best = (total, ext, list(x))
    it = 0
    batch = 4096
    if not free:
        return FitResult(np.asarray(x), total, ext, 0)
    while it < max_iter:
        if total <= 0.0 and ext <= extra_tol:
            break
        picks = rng.integers(0, len(free), size=(batch, 3))
        signs = rng.integers(0, 2, size=batch) * 2 - 1
        mags = rng.random(batch)
        kinds = rng.random(batch)
        accept_u = rng.random(batch)
        for b in range(batch):
            it += 1
            temp = t0 * (1.0 - it / max_iter) ** 2 + 1e-6
            k1 = free[picks[b, 0]]
            d1 = int(signs[b] * (1 + int(mags[b] ** 2 * step_l[k1])))
            moves = [(k1, d1)]
            if triples and kinds[b] < 0.3:
                k2, k3 = free[picks[b, 1]], free[picks[b, 2]]
                if len({k1, k2, k3}) < 3:
                    continue
                moves = [(k1, d1), (k2, d1), (k3, -2 * d1)]
            elif kinds[b] < 0.4:
                k2 = free[picks[b, 1]]
                if k2 != k1:
                    moves.append((k2, -d1))
            ok = all(lo_l[k] <= x[k] + d <= hi_l[k] for k, d in moves)
            if not ok:
                continue
            changed: dict[int, tuple[float, float]] = {}
            for k, d in moves:
                old = val(k, x[k])
                new = val(k, x[k] + d)
                for ti in member[k]:
                    p1, p2 = changed.get(ti, (s1[ti], s2[ti]))
                    changed[ti] = (p1 + new - old, p2 + new * new - old * old)
            new_viol = {ti: _violation(targets[ti], n_t[ti], *changed[ti]) for ti in changed}
            new_total = total + sum(new_viol[ti] - viol[ti] for ti in changed)
            if new_total < 1e-12:  # running sums drift by ~1e-16; 0 means every interval holds
                new_total = 0.0
            elif keep_targets and total == 0.0:
                continue
            for k, d in moves:
                x[k] += d
            if extra_sums is not None:
                p1s, p2s = list(s1), list(s2)
                for ti, (p1, p2) in changed.items():
                    p1s[ti], p2s[ti] = p1, p2
                new_ext = extra_of(p1s, p2s)
            else:
                new_ext = extra_of(s1, s2)
            delta = (new_total - total) + (new_ext - ext)
            if delta <= 0 or accept_u[b] < math.exp(-delta / temp):
                total, ext = new_total, new_ext
                for ti, (p1, p2) in changed.items():
                    s1[ti], s2[ti] = p1, p2
                    viol[ti] = new_viol[ti]
                if (total, ext) < best[:2]:
                    best = (total, ext, list(x))
                if total == 0.0 and ext <= extra_tol:
                    break
            else:
                for k, d in moves:
                    x[k] -= d
            if it >= max_iter:
                break
    if (total, ext) <= best[:2]:
        best = (total, ext, list(x))
    return FitResult(np.asarray(best[2]), best[0], best[1], it)


def check_targets(values: np.ndarray, targets: Sequence[Target]) -> dict[str, float]:
    """Violation per named target for a finished vector (0 = rounds to the printed value)."""
    out = {}
    for t in targets:
        v = values[t.members]
        out[t.name] = _violation(t, len(v), float(v.sum()), float((v * v).sum()))
    return out


# --- secondary criteria: test statistics between two target groups -----------------------


def reading_interval(reading: str, keep: float = 0.6) -> tuple[float, float]:
    """Central ``keep`` share of the values that round to ``reading``: a margin so that a value
    reached by the search still rounds to the printed one after any re-computation."""
    lo, hi = printed_interval(reading)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * keep
    return mid - half, mid + half


def t_abs_interval(p: tuple[float, float], df: int) -> tuple[float, float]:
    """|t| values whose two-sided Student p lies in ``p`` (p falls as |t| grows)."""
    from scipy.stats import t as student_t

    return float(student_t.isf(p[1] / 2, df)), float(student_t.isf(p[0] / 2, df))


@dataclass
class TTestTarget:
    """Two-sided Student t test (pooled variance) between target groups ``a`` and ``b``
    (indices into the ``targets`` list) whose |t| should lie in ``t_abs``."""

    a: int
    b: int
    t_abs: tuple[float, float]
    weight: float = 1.0
    name: str = ""


def pooled_t(n1: int, s1: float, q1: float, n2: int, s2: float, q2: float) -> float:
    """Student t from counts, sums and sums of squares of two groups (Student 1908)."""
    ss = (q1 - s1 * s1 / n1) + (q2 - s2 * s2 / n2)
    sp2 = ss / (n1 + n2 - 2)
    if sp2 <= 0:
        return math.inf
    return (s1 / n1 - s2 / n2) / math.sqrt(sp2 * (1 / n1 + 1 / n2))


def interval_distance(x: float, interval: tuple[float, float]) -> float:
    """Distance of ``x`` to ``interval`` in units of its width (0 inside)."""
    lo, hi = interval
    if x < lo:
        return (lo - x) / (hi - lo)
    if x > hi:
        return (x - hi) / (hi - lo)
    return 0.0


def t_tests_penalty(tests: Sequence[TTestTarget]) -> Callable[[list[int], list[float], list[float]], float]:
    """``extra_sums`` criterion: summed distance of each |t| to its interval."""

    def penalty(n, s1, s2) -> float:
        out = 0.0
        for t in tests:
            tv = abs(pooled_t(n[t.a], s1[t.a], s2[t.a], n[t.b], s1[t.b], s2[t.b]))
            out += t.weight * interval_distance(tv, t.t_abs)
        return out

    return penalty


def mann_whitney_z(x: np.ndarray, in_first: np.ndarray) -> float:
    """|z| of the two-sided Mann-Whitney test as R ``wilcox.test(exact=FALSE, correct=TRUE)``
    computes it (normal approximation, tie-corrected variance, continuity correction 0.5).
    ``x`` holds non-negative integers (values on their grid), so ranks come from counts."""
    counts = np.bincount(x)
    first = np.bincount(x[in_first], minlength=len(counts))
    upper = np.cumsum(counts)
    avg_rank = upper - 0.5 * (counts - 1)
    n1 = int(first.sum())
    big_n = len(x)
    n2 = big_n - n1
    u = float(first @ avg_rank) - n1 * (n1 + 1) / 2
    ties = float((counts**3 - counts).sum())
    var = n1 * n2 / 12 * ((big_n + 1) - ties / (big_n * (big_n - 1)))
    if var <= 0:
        return 0.0
    return max(0.0, abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
