"""MADRS follow-ups at days 1, 3 and 7 (build step 4), and the self-ratings that follow them.

Responder status bounds the scores (a responder is at or below half the baseline at one
visit, a nonresponder above half at all), Table 2's relative-change rows are the targets.
A second pass keeps every row and bound and anneals towards the RM-ANOVA group x time F,
Table 2's p / Hedges' g of the relative change and the Bonferroni post hoc p of the scores;
the F and t statistics come from running sums (``FollowupSums``) through the ``stats``
package's minimal forms, O(1) per changed score.
"""

from __future__ import annotations

import math

import numpy as np

from ..stats.descriptives import hedges_j, student_t_from_sums
from ..stats.rm_anova import group_time_f_from_sums
from . import paper
from ._fit import Target, fit_integers, violation
from ._targets import TemplateError, reading_interval, t_abs_interval

RHO = 0.8  # correlation of a patient's relative changes across visits (start values)
EXCHANGE_ITER = 50_000  # second-pass steps


def follow(rng, base: np.ndarray, madrs: np.ndarray) -> np.ndarray:
    """Self-ratings follow the MADRS relative change, damped and with noise (no paper rows)."""
    rel = 1 - madrs[:, 1:] / madrs[:, :1]
    damp = rng.uniform(0.5, 1.0, size=(len(base), 1))
    later = base[:, None] * (1 - rel * damp) + rng.normal(0, 2.0, size=rel.shape)
    return np.column_stack([base, np.clip(np.round(later), 0, 63)]).astype(int)


def fit_madrs_followup(rng, b, responder, bzd_plus) -> np.ndarray:
    """Day 1/3/7 MADRS: responder status as bounds, Table 2 rows as targets, then the F."""
    n = len(b)
    half = b // 2  # responder: score <= b/2 at the response visit; nonresponder: > b/2 always
    lo = np.zeros((n, 3), dtype=int)
    hi = np.minimum(60, 2 * b)[:, None].repeat(3, axis=1)
    resp_visit = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])
    resp_visit[responder & bzd_plus] = 0
    for i in range(n):
        if responder[i]:
            hi[i, resp_visit[i]] = half[i]
        else:
            lo[i, :] = half[i] + 1
    a = np.ones(3 * n)
    c = np.repeat(-1.0 / b, 3)
    targets = []
    for t, day in enumerate(("day1", "day3", "day7")):
        rows = paper.TABLE2[f"madrs_rel_change_{day}"]
        for label, mask, (mean, sd) in zip(("BZD+", "BZD-"), (bzd_plus, ~bzd_plus), rows):
            members = np.flatnonzero(mask) * 3 + t
            targets.append(Target.printed(members, mean, sd, f"TABLE2:madrs_rel_change_{day}:{label}"))
    means = np.where(bzd_plus[:, None], [0.2, 0.04, 0.03], [0.3, 0.26, 0.30])
    sds = np.where(bzd_plus[:, None], [0.3, 0.43, 0.47], [0.3, 0.28, 0.27])

    def to_scores(x):
        return np.column_stack([b, x.reshape(n, 3)]).astype(float)

    best = None
    for _ in range(6):
        # a patient's improvement persists across visits (correlated draws), which sets the
        # within-subject error and hence the size of the group x time F
        rho = RHO
        z = rng.standard_normal((n, 1))
        rel0 = means + sds * (rho * z + math.sqrt(1 - rho**2) * rng.standard_normal((n, 3)))
        x0 = np.clip(np.round(b[:, None] * (1 - rel0)), lo, hi).ravel()
        res = fit_integers(rng, x0, lo.ravel(), hi.ravel(), targets, a=a, c=c, max_step=4, max_iter=80_000)
        if res.violation == 0:
            # second pass: keep the rows, move the interaction F, Table 2's p / g of the
            # relative change and the post hoc p of the scores towards the paper's (secondary
            # targets, best effort)
            res.x = exchange_changes(rng, res.x, b, bzd_plus, lo, hi, targets, EXCHANGE_ITER)
        if best is None or res.violation < best.violation:
            best = res
        if res.violation == 0:
            break
    if best.violation > 0:
        raise TemplateError("MADRS relative-change rows not reached")
    return to_scores(best.x).astype(int)


class FollowupSums:
    """Running sums of the MADRS scores (n x 4: baseline, day 1, 3, 7) from which the
    group x time F of the mixed ANOVA and the per-visit t statistics (relative change and
    score, BZD+ vs BZD-) follow in O(1) after a one-score change."""

    def __init__(self, y: np.ndarray, bzd_plus: np.ndarray):
        self.y = y.astype(float).copy()
        self.b = self.y[:, 0].copy()
        self.g = np.where(bzd_plus, 0, 1)
        self.n_g = [int(bzd_plus.sum()), int((~bzd_plus).sum())]
        rel = 1 - self.y[:, 1:] / self.b[:, None]
        self.cell = [[float(self.y[self.g == g, t].sum()) for t in range(4)] for g in (0, 1)]
        self.raw2 = [[float((self.y[self.g == g, t] ** 2).sum()) for t in range(4)] for g in (0, 1)]
        self.rel1 = [[float(rel[self.g == g, t].sum()) for t in range(3)] for g in (0, 1)]
        self.rel2 = [[float((rel[self.g == g, t] ** 2).sum()) for t in range(3)] for g in (0, 1)]
        self.row = self.y.sum(axis=1)
        self.q = float((self.row**2).sum())
        self.s = float((self.y**2).sum())

    def change(self, i: int, t: int, new: float) -> None:
        """Score of patient ``i`` at follow-up visit ``t`` (0..2) becomes ``new``."""
        old = self.y[i, t + 1]
        d = new - old
        g, b = self.g[i], self.b[i]
        self.cell[g][t + 1] += d
        self.raw2[g][t + 1] += new * new - old * old
        r_old, r_new = 1 - old / b, 1 - new / b
        self.rel1[g][t] += r_new - r_old
        self.rel2[g][t] += r_new * r_new - r_old * r_old
        self.q += (self.row[i] + d) ** 2 - self.row[i] ** 2
        self.row[i] += d
        self.s += new * new - old * old
        self.y[i, t + 1] = new

    def f(self) -> float:
        return group_time_f_from_sums(self.cell, self.n_g, self.q, self.s)

    def t_rel(self, t: int) -> float:
        n1, n2 = self.n_g
        return student_t_from_sums(n1, self.rel1[0][t], self.rel2[0][t], n2, self.rel1[1][t], self.rel2[1][t])

    def t_raw(self, t: int) -> float:
        n1, n2 = self.n_g
        return student_t_from_sums(
            n1, self.cell[0][t + 1], self.raw2[0][t + 1], n2, self.cell[1][t + 1], self.raw2[1][t + 1]
        )


def exchange_changes(rng, x, b, bzd_plus, lo, hi, targets, n_iter):
    """Anneal the follow-up scores towards the secondary terms (``followup_penalty``) while
    every row (``targets``, all holding on entry) and the response bounds ``lo``/``hi`` hold.

    Steps: two patients of the same BZD group exchange their relative change at one visit
    (scores re-rounded on each baseline), two scores of a group at one visit move by +1 / -1,
    or one score by 1. The group difference of the MADRS *scores* at a visit depends on which
    baseline goes with which change, which the single-score steps can hardly move.
    """
    n = len(b)
    xs = np.asarray(x, dtype=int).reshape(n, 3).copy()
    lo2, hi2 = lo.reshape(n, 3), hi.reshape(n, 3)
    sums = FollowupSums(np.column_stack([b, xs]), bzd_plus)
    penalty = followup_penalty(int(bzd_plus.sum()), int((~bzd_plus).sum()))
    members = [np.flatnonzero(bzd_plus), np.flatnonzero(~bzd_plus)]
    # target 2 t + g: visit t, group BZD+ (g = 0) or BZD- (g = 1), see fit_madrs_followup
    cur = penalty(sums)
    best = (cur, xs.copy())
    u = rng.random((n_iter, 7))
    for it in range(n_iter):
        if cur <= 0:
            break
        gi = 0 if u[it, 0] < 0.4 else 1
        grp = members[gi]
        t = int(u[it, 1] * 3)
        i = int(grp[int(u[it, 2] * len(grp))])
        j = int(grp[int(u[it, 3] * len(grp))])
        kind = u[it, 5]
        if kind < 0.6:
            if i == j:
                continue
            new = {i: round(b[i] * xs[j, t] / b[j]), j: round(b[j] * xs[i, t] / b[i])}
        elif kind < 0.85:
            if i == j:
                continue
            step = 1 if u[it, 6] < 0.5 else -1
            new = {i: xs[i, t] + step, j: xs[j, t] - step}
        else:
            new = {i: xs[i, t] + (1 if u[it, 6] < 0.5 else -1)}
        if any(not lo2[k, t] <= v <= hi2[k, t] for k, v in new.items()):
            continue
        k_t = 2 * t + gi
        s1, s2 = sums.rel1[gi][t], sums.rel2[gi][t]
        for k, v in new.items():
            r_old, r_new = 1 - xs[k, t] / b[k], 1 - v / b[k]
            s1 += r_new - r_old
            s2 += r_new * r_new - r_old * r_old
        if violation(targets[k_t], sums.n_g[gi], s1, s2) > 1e-12:
            continue
        old = {k: xs[k, t] for k in new}
        for k, v in new.items():
            sums.change(k, t, float(v))
            xs[k, t] = v
        pen = penalty(sums)
        temp = 0.3 * (1 - it / n_iter) ** 2 + 1e-4
        if pen <= cur or u[it, 4] < math.exp(-(pen - cur) / temp):
            cur = pen
            if cur < best[0]:
                best = (cur, xs.copy())
        else:
            for k, v in old.items():
                sums.change(k, t, float(v))
                xs[k, t] = v
    return best[1].ravel()


def followup_penalty(n_plus: int, n_minus: int):
    """Secondary terms of the follow-ups, distances to their intervals: the group x time
    F (2.98 +- 0.005), |t| of the relative change per visit (Table 2's p at day 1, Hedges' g at
    days 3 and 7) and |t| of the MADRS score per visit (the Bonferroni post hoc p)."""
    t_rel, t_raw = followup_t_intervals(n_plus, n_minus)
    f_int = (paper.RM_ANOVA_F - 0.005, paper.RM_ANOVA_F + 0.005)

    def outside(x, interval):  # in units of 0.02 of t (or F): equal pull per unit of t
        return max(interval[0] - x, 0.0, x - interval[1]) / 0.02

    def penalty(sums: FollowupSums) -> float:
        pen = outside(sums.f(), f_int)
        for t in range(3):
            pen += outside(abs(sums.t_rel(t)), t_rel[t])
            pen += outside(abs(sums.t_raw(t)), t_raw[t])
        return pen

    return penalty


def followup_t_intervals(n_plus: int, n_minus: int) -> tuple[np.ndarray, np.ndarray]:
    """|t| intervals (rows day 1, 3, 7) for the relative MADRS change (Table 2's p at day 1;
    Hedges' g at days 3 and 7, g = J d, |t| = d sqrt(n1 n2 / N)) and for the MADRS score (the
    post hoc p times 4 visits, Bonferroni)."""
    df = n_plus + n_minus - 2
    scale = math.sqrt(n_plus * n_minus / (n_plus + n_minus))
    j = hedges_j(df)
    rel = [t_abs_interval(reading_interval(paper.P_REL_CHANGE_DAY1), df)]
    for day in ("day3", "day7"):
        g_lo, g_hi = reading_interval(paper.HEDGES_G[day])
        rel.append((g_lo / j * scale, g_hi / j * scale))
    raw = []
    for day in ("day1", "day3", "day7"):
        p_lo, p_hi = reading_interval(paper.P_POSTHOC_BONFERRONI[day])
        raw.append(t_abs_interval((p_lo / 4, p_hi / 4), df))
    return np.asarray(rel), np.asarray(raw)
