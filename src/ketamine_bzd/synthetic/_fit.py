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


def violation(t: Target, n: int, s1: float, s2: float) -> float:
    """Distance of the group (count ``n``, sum ``s1``, sum of squares ``s2``) to the target's
    mean and SD intervals, in units of their widths, times the weight (0 = both hold)."""
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
    viol = [violation(t, n_t[ti], s1[ti], s2[ti]) for ti, t in enumerate(targets)]
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
            new_viol = {ti: violation(targets[ti], n_t[ti], *changed[ti]) for ti in changed}
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


def violation_of(t: Target, values: np.ndarray) -> float:
    """``violation`` of the target's members in a finished vector of values."""
    v = values[t.members]
    return violation(t, len(v), float(v.sum()), float((v * v).sum()))


def check_targets(values: np.ndarray, targets: Sequence[Target]) -> dict[str, float]:
    """Violation per named target for a finished vector (0 = rounds to the printed value)."""
    return {t.name: violation_of(t, values) for t in targets}
