"""Baseline MADRS and BAI paired with patients towards the paper's logistic regression (step 3).

Nonresponse on BZD+ adjusted for baseline MADRS and BAI (ML, Wald): the paper prints
OR 9.7 with p = 0.03, which no data give together (docs/synthetic.md, Residuals). The search
exchanges values within a responder x BZD+ cell, which leaves every Table 1 / 2 row and p
value (functions of the group multisets) as it is, and refits the model after each exchange
with ``stats.logistic.ml_newton_wald`` (warm start at the last fit).
"""

from __future__ import annotations

import math

import numpy as np

from ..stats.logistic import ml_newton_wald
from . import paper
from ._targets import interval_distance, reading_interval, z_abs_interval

LOGISTIC_ITER = 4_000  # exchanges of baseline MADRS / BAI within cells


def arrange_for_logistic(rng, madrs0, bai0, responder, bzd_plus, n_iter=None):
    """Pair baseline MADRS and BAI values with patients so that the logistic regression of
    nonresponse on BZD+ adjusted for both (ML, Wald) has the paper's p = 0.03 and the smallest OR
    found above 9.7 (``paper.LOGISTIC_*``: both together are out of reach).

    Only values within a responder x BZD+ cell are exchanged, so every Table 1 / 2 row and
    p value (functions of the group multisets) stays as it is.
    """
    n_iter = LOGISTIC_ITER if n_iter is None else n_iter
    y = (~responder).astype(float)
    m, b = madrs0.astype(float).copy(), bai0.astype(float).copy()
    X = np.column_stack([np.ones(len(y)), bzd_plus.astype(float), m, b])
    z_int = z_abs_interval(reading_interval(paper.LOGISTIC_P, keep=0.8))
    log_or = math.log(paper.LOGISTIC_OR)

    def fit(start):  # the BZD+ coefficient (column 1) and its Wald SE
        beta, se = ml_newton_wald(X, y, start)
        return beta, se[1]

    def score(beta, se):
        if not math.isfinite(se):
            return math.inf
        return 10 * interval_distance(beta[1] / se, z_int) + max(0.0, beta[1] - log_or) / 0.05

    cells = [
        c
        for c in (
            np.flatnonzero(responder & bzd_plus),
            np.flatnonzero(responder & ~bzd_plus),
            np.flatnonzero(~responder & bzd_plus),
            np.flatnonzero(~responder & ~bzd_plus),
        )
        if len(c) > 1
    ]
    sizes = np.array([len(c) for c in cells], dtype=float)
    beta, se = fit(np.zeros(4))
    cur = score(beta, se)
    best = (cur, m.copy(), b.copy())
    picks = rng.choice(len(cells), size=n_iter, p=sizes / sizes.sum())
    u = rng.random((n_iter, 4))
    for it in range(n_iter):
        cell = cells[picks[it]]
        i, j = cell[int(u[it, 0] * len(cell))], cell[int(u[it, 1] * len(cell))]
        col = 2 if u[it, 2] < 0.5 else 3
        if i == j or X[i, col] == X[j, col]:
            continue
        X[[i, j], col] = X[[j, i], col]
        nb, nse = fit(beta)
        new = score(nb, nse)
        temp = 3.0 * (1 - it / n_iter) ** 2 + 1e-3
        if new <= cur or u[it, 3] < math.exp(-(new - cur) / temp):
            cur, beta, se = new, nb, nse
            if cur < best[0]:
                best = (cur, X[:, 2].copy(), X[:, 3].copy())
        else:
            X[[i, j], col] = X[[j, i], col]
    return best[1].astype(madrs0.dtype), best[2].astype(bai0.dtype)
