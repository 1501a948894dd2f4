"""Patient-level Table 1 / 2 variables: one integer search per variable (build step 3).

Age, durations, hospitalizations, baseline ratings and PK: the first pass reaches the
variable's rows of Table 1, Table 2 and the text, leaning (weight ``LEAN``) towards the tables'
p values; a second pass moves only between states where every row holds and brings the p
values towards the printed ones (docs/synthetic.md, "Secondary targets").
"""

from __future__ import annotations

import math

import numpy as np

from . import paper
from ._fit import fit_integers
from ._targets import TemplateError, mann_whitney_penalty, p_terms, row_targets, t_tests_penalty

P_ITER = 6_000  # second-pass steps per variable (p values); most stop far earlier
P_ITER_RANKS = 15_000  # the same for the Mann-Whitney rows
LEAN_DRAWS = 3  # leaning first passes tried for a variable with rank tests
LEAN = 0.1  # weight of the p-value terms while rows are still open


def fit_variable(
    rng, name, groups, unit, lo, hi, centre, spread, n, max_step=8, tries=6, p_iter=P_ITER, skewed=False, **kw
):
    """Integer search for one patient-level variable; value = unit * x.

    First pass: the Table 1/2 rows. Second pass (rows kept): the tables' p values of the
    variable (``paper.P_TABLE1`` / ``P_TABLE2``), best effort. ``skewed``: start each patient
    from a lognormal with the Table 1 mean and SD of their response group (durations: the rank
    tests' p values need the groups' shapes, not just their moments).
    """
    targets = row_targets(name, groups)
    lo = np.broadcast_to(np.asarray(lo), (n,)).astype(int)
    hi = np.broadcast_to(np.asarray(hi), (n,)).astype(int)
    t_tests, mw_tests = p_terms(name, groups, targets)
    mw_pen = mann_whitney_penalty(mw_tests, unit) if mw_tests else None
    t_pen = t_tests_penalty(t_tests) if t_tests else None
    # the first pass already leans towards the p values (small weight: the rows lead) and
    # stops at the first state where every row holds; the second pass starts there
    lean = dict(
        extra=(lambda v: LEAN * mw_pen(v)) if mw_pen else None,
        extra_sums=(lambda n_, a_, b_: LEAN * t_pen(n_, a_, b_)) if t_pen else None,
        extra_tol=math.inf,
        max_iter=20_000,
    )

    def draw(shaped: bool):
        if shaped and skewed:
            # lognormal per response group, its mean scaled by the BZD group's share (Table 2)
            start = np.empty(n)
            overall = float(paper.OVERALL[name][0]) if name in paper.OVERALL else None
            for label, (mean, sd) in zip(("R", "NR"), paper.TABLE1[name]):
                m, s = float(mean), float(sd)
                s2 = math.log(1 + (s / m) ** 2)
                members = groups[label]
                scale = np.ones(len(members))
                if overall and name in paper.TABLE2:
                    for blabel, (bmean, _) in zip(("BZD+", "BZD-"), paper.TABLE2[name]):
                        scale[np.isin(members, groups[blabel])] = float(bmean) / overall
                start[members] = scale * np.exp(
                    math.log(m) - s2 / 2 + math.sqrt(s2) * rng.standard_normal(len(members))
                )
        else:
            start = centre + spread * rng.standard_normal(n)
        return np.clip(np.round(start / unit), lo, hi)

    def second_pass(res):
        if not (t_tests or mw_tests) or p_iter <= 0:
            return res
        second = fit_integers(
            rng,
            res.x,
            lo,
            hi,
            targets,
            c=unit,
            max_step=max_step,
            extra=mw_pen,
            extra_sums=t_pen,
            max_iter=p_iter,
            t0=0.05,
            keep_targets=True,
            triples=bool(mw_tests),
        )
        return second if second.violation == 0 else res

    # leaning draws first (a rank test's p is set by the shape the first pass leaves, so a few
    # draws are tried and the best kept); if none finishes, plain first passes from symmetric
    # starts
    best = None
    failed = None
    for _ in range(LEAN_DRAWS if mw_tests else 1):
        res = fit_integers(rng, draw(True), lo, hi, targets, c=unit, max_step=max_step, **{**kw, **lean})
        if res.violation > 0:
            if failed is not None and abs(res.violation - failed) < 1e-9:
                break  # stuck at the same violation twice: the rows are out of reach
            failed = res.violation
            continue
        res = second_pass(res)
        if best is None or res.extra < best.extra:
            best = res
        if best.extra == 0:
            break
    if best is not None:
        return best.x * unit
    for _ in range(tries):
        res = fit_integers(rng, draw(False), lo, hi, targets, c=unit, max_step=max_step, **kw)
        if best is not None and res.violation > 0 and abs(res.violation - best.violation) < 1e-9:
            break  # two starts stuck at the same violation: out of reach with these bounds
        if best is None or res.violation < best.violation:
            best = res
        if res.violation == 0:
            break
    if best.violation > 0:
        raise TemplateError(f"{name}: rows not reached (violation {best.violation:.3g})")
    return second_pass(best).x * unit
