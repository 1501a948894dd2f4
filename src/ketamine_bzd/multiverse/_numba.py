"""Compiled (numba) Newton loops for the batched logistic kernels.

Vectorizing over the batch in numpy made every Newton iteration of every specification pay
Python and temporary-array overhead on tiny matrices (n ~ 50 patients, p <= 4 parameters).
Here each batch element runs its whole Newton loop in compiled code, on its included rows only,
with p x p linear algebra written out by hand (called by ``_logistic._fit_ml_chunk`` and
``_firth._firth_newton``). The reference implementation of both methods is
``ketamine_bzd.stats.logistic``; tests/test_multiverse_reference.py checks these loops against
it. Also compiled:
the per-specification descriptors (n, events, rank, exposure x outcome table), exact
duplicate detection among batch elements, and the Youden cut-off of ``_auc.roc_auc``.

``cache=True`` stores the machine code beside this module (``__pycache__``, or
``NUMBA_CACHE_DIR``), so only the first run after installation pays the compilation (about
10 s, see benchmarks/bench_kernels.py); ``nogil=True`` lets threads overlap.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")
# Sums over patients may be reassociated (SIMD, several accumulators) and fused
# multiply-adds used: rounding-level changes only; NaN/inf semantics are kept.
_SUM = dict(_JIT, fastmath={"reassoc", "contract"})


# ----------------------------------------------------------------------------- small algebra


@njit(**_JIT)
def _compact(X, y, w, b, xt, ys, ws):
    """Included rows of element b: xt (p, m) transposed design, ys, ws; returns m."""
    n, p = X.shape[1], X.shape[2]
    m = 0
    for i in range(n):
        if w[b, i] > 0:
            for j in range(p):
                xt[j, m] = X[b, i, j]
            ys[m] = y[b, i]
            ws[m] = w[b, i]
            m += 1
    return m


@njit(**_JIT)
def _scratch(n, p):
    """Work arrays of one Newton loop: the included rows (xt, ys, ws), per-row terms (eta, mu,
    c), p x p matrices (G, L, Linv, inverse) and the column index 0..p-1."""
    return (
        np.empty((p, n)),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.empty((p, p)),
        np.empty((p, p)),
        np.empty((p, p)),
        np.empty((p, p)),
        np.arange(p),
    )


@njit(**_JIT)
def _included(X, y, w, b, xt, ys, ws):
    """``_compact`` of element b and the sum of its weights: (m, sum w)."""
    m = _compact(X, y, w, b, xt, ys, ws)
    sw = 0.0
    for i in range(m):
        sw += ws[i]
    return m, sw


@njit(**_SUM)
def _gram(xt, c, m, p, G):
    """G = X' diag(c) X over the m included rows."""
    for j in range(p):
        for k in range(j + 1):
            s = 0.0
            for i in range(m):
                s += xt[j, i] * xt[k, i] * c[i]
            G[j, k] = s
            G[k, j] = s


@njit(**_JIT)
def _chol(A, idx, q, rtol, L):
    """Lower Cholesky factor of A[idx][:, idx] (q x q) into L[:q, :q].

    ok as ``_batch.cholesky``: every diagonal entry positive and finite and every pivot,
    relative to its diagonal entry (scale free), above ``rtol``. A failed pivot is replaced
    so that L stays finite (its value is then never used for a result).
    """
    ok = True
    for j in range(q):
        ajj = A[idx[j], idx[j]]
        s = ajj
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (ajj > 0.0 and math.isfinite(ajj) and s > rtol * ajj):
            ok = False
        L[j, j] = math.sqrt(s) if s > 0.0 and math.isfinite(s) else 1.0
        for i in range(j + 1, q):
            t = A[idx[i], idx[j]]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            if math.isfinite(t):
                L[i, j] = t / L[j, j]
            else:  # as _batch.cholesky: a non-finite matrix is not positive definite
                L[i, j] = 0.0
                ok = False
        for i in range(j):
            L[i, j] = 0.0
    return ok


@njit(**_JIT)
def _chol_inverse(L, q, Linv, out):
    """out[:q, :q] = (L L')^-1 from the factor (as ``_batch.chol_inverse``)."""
    for i in range(q):
        Linv[i, i] = 1.0 / L[i, i]
        for j in range(i):
            s = 0.0
            for k in range(j, i):
                s += L[i, k] * Linv[k, j]
            Linv[i, j] = -s / L[i, i]
        for j in range(i + 1, q):
            Linv[i, j] = 0.0
    for a in range(q):
        for c in range(a + 1):
            s = 0.0
            for k in range(a, q):
                s += Linv[k, a] * Linv[k, c]
            out[a, c] = s
            out[c, a] = s


@njit(**_JIT)
def _loglik(xt, ys, ws, m, p, beta, eta, mu):
    """Log-likelihood at beta; fills eta and mu = expit(eta) (overflow-free, one exp).

    sum_i w_i log(1 + exp(-|eta_i|)) is taken, for unit weights, as the log of the product
    of the factors (each in (1, 2]; flushed long before overflow): one logarithm per
    specification instead of one per patient, absolute error ~ n * 1e-16."""
    ll = 0.0
    logs = 0.0
    prod = 1.0
    for i in range(m):
        e = 0.0
        for j in range(p):
            e += xt[j, i] * beta[j]
        eta[i] = e
        a = math.exp(-abs(e))
        d = 1.0 + a
        r = 1.0 / d
        mu[i] = r if e >= 0.0 else a * r
        wi = ws[i]
        ll += wi * (ys[i] * e - max(e, 0.0))
        if wi == 1.0:
            prod *= d
            if prod > 1e300:
                logs += math.log(prod)
                prod = 1.0
        else:
            logs += wi * math.log1p(a)
    return ll - (logs + math.log(prod))


# ----------------------------------------------------------------------------- ML logit


@njit(**_JIT)
def logit_newton(X, y, w, work, start, max_iter, tol, max_halving, llf_noise, extreme_eta, step_shrink):
    """ML Newton-Raphson for the elements ``work`` of the batch (see ``_fit_ml_chunk``).

    Returns params, variances (diag of the inverse information; NaN where unavailable),
    llf, converged, n_iter, n_extreme, each indexed like ``work``.
    """
    n, p = X.shape[1], X.shape[2]
    nw = work.shape[0]
    params = np.full((nw, p), np.nan)
    var = np.full((nw, p), np.nan)
    llf = np.full(nw, np.nan)
    converged = np.zeros(nw, dtype=np.bool_)
    n_iter = np.zeros(nw, dtype=np.int64)
    n_extreme = np.zeros(nw, dtype=np.int64)
    xt, ys, ws, eta, mu, c, G, L, Linv, Ginv, allp = _scratch(n, p)
    beta = np.empty(p)
    beta_prev = np.empty(p)
    delta = np.empty(p)
    score = np.empty(p)
    z = np.empty(p)
    for t in range(nw):
        m, sw = _included(X, y, w, work[t], xt, ys, ws)
        noise = llf_noise * sw
        for j in range(p):
            beta[j] = start[t, j]
            beta_prev[j] = 0.0
            delta[j] = 0.0
        step = 0.0
        ll_prev = -np.inf
        prev_step = np.inf
        for it in range(max_iter + 1):
            ll = _loglik(xt, ys, ws, m, p, beta, eta, mu)
            # Lazy line search: halve only when the last step lowered the likelihood.
            bad = ll < ll_prev - noise * (1.0 + abs(ll_prev))
            for _ in range(max_halving):
                if not bad:
                    break
                step *= 0.5
                for j in range(p):
                    beta[j] = beta_prev[j] + step * delta[j]
                ll = _loglik(xt, ys, ws, m, p, beta, eta, mu)
                bad = ll < ll_prev - noise * (1.0 + abs(ll_prev))
            for i in range(m):
                c[i] = ws[i] * mu[i] * (1.0 - mu[i])
            _gram(xt, c, m, p, G)
            ok = _chol(G, allp, p, 1e-10, L)
            extreme = 0
            for i in range(m):
                if abs(eta[i]) > extreme_eta:
                    extreme += 1
            last_step = 0.0
            for j in range(p):
                last_step = max(last_step, abs(step * delta[j]))
            conv = ok and not bad and it > 0 and last_step < tol
            # divergence (separation): extreme fits, a still likelihood and steps that do not
            # shrink; at a finite MLE with extreme fits the steps shrink and Newton goes on
            diverged = extreme > 0 and (ll - ll_prev < 1e-8) and last_step >= step_shrink * prev_step
            if conv or diverged or not ok or bad or it == max_iter:
                _chol_inverse(L, p, Linv, Ginv)
                for j in range(p):
                    params[t, j] = beta[j]
                    v = Ginv[j, j]
                    if ok and v > 0:
                        var[t, j] = v
                llf[t] = ll
                n_iter[t] = it
                converged[t] = conv
                n_extreme[t] = extreme
                break
            for j in range(p):
                s = 0.0
                for i in range(m):
                    s += ws[i] * (ys[i] - mu[i]) * xt[j, i]
                score[j] = s
            # (L L') delta = score by two triangular sweeps
            for i in range(p):
                s = score[i]
                for k in range(i):
                    s -= L[i, k] * z[k]
                z[i] = s / L[i, i]
            for i in range(p - 1, -1, -1):
                s = z[i]
                for k in range(i + 1, p):
                    s -= L[k, i] * delta[k]
                delta[i] = s / L[i, i]
            for j in range(p):
                beta_prev[j] = beta[j]
                beta[j] = beta[j] + delta[j]
            step = 1.0
            ll_prev = ll
            prev_step = last_step
    return params, var, llf, converged, n_iter, n_extreme


# ----------------------------------------------------------------------------- Firth


@njit(**_JIT)
def _firth_llf(xt, ys, ws, m, p, beta, eta, mu, wv, G, L, allp):
    """Penalized log-likelihood l(beta) + 1/2 log|I(beta)| (-inf if I is not positive
    definite); leaves mu, w mu (1 - mu) and the factor of I(beta) for ``_firth_rest``."""
    ll = _loglik(xt, ys, ws, m, p, beta, eta, mu)
    for i in range(m):
        wv[i] = ws[i] * mu[i] * (1.0 - mu[i])
    _gram(xt, wv, m, p, G)
    ok = _chol(G, allp, p, 1e-10, L)
    if not ok:
        return -np.inf, False
    logdet = 0.0
    for j in range(p):
        logdet += math.log(L[j, j])
    return ll + logdet, True


@njit(**_SUM)
def _firth_rest(xt, ys, ws, m, p, mu, wv, L, Linv, Iinv, Z, c, h, score, aug):
    """I(beta)^-1, modified score and augmented information at the point of the last
    ``_firth_llf`` (only needed once a step is accepted)."""
    _chol_inverse(L, p, Linv, Iinv)
    # Diagonal of the hat matrix W^1/2 X I^-1 X' W^1/2: h_i = w v_i |L^-1 x_i|^2.
    for j in range(p):
        for i in range(m):
            Z[j, i] = 0.0
        for k in range(j + 1):
            a = Linv[j, k]
            for i in range(m):
                Z[j, i] += a * xt[k, i]
    for i in range(m):
        h[i] = 0.0
    for j in range(p):
        for i in range(m):
            h[i] += Z[j, i] * Z[j, i]
    for i in range(m):
        h[i] *= wv[i]
        c[i] = ws[i] * (ys[i] - mu[i]) + h[i] * (0.5 - mu[i])
    for j in range(p):
        s = 0.0
        for i in range(m):
            s += c[i] * xt[j, i]
        score[j] = s
    for i in range(m):
        c[i] = wv[i] + h[i] * (mu[i] * (1.0 - mu[i]))
    _gram(xt, c, m, p, aug)


@njit(**_JIT)
def firth_newton(X, y, w, work, start, free, max_iter, max_step, max_halfstep, gtol, xtol, llf_noise):
    """Modified-score Newton-Raphson with step halving for the elements ``work``, the
    coefficients ``free`` varying, the others fixed at ``start`` (see ``_firth._firth_newton``).

    Returns beta, llf, score, info_inv, info_aug, ok, converged, n_iter (indexed like work).
    """
    n, p = X.shape[1], X.shape[2]
    nw = work.shape[0]
    nf = free.shape[0]
    out_beta = np.empty((nw, p))
    out_llf = np.empty(nw)
    out_score = np.empty((nw, p))
    out_inv = np.empty((nw, p, p))
    out_aug = np.empty((nw, p, p))
    out_ok = np.zeros(nw, dtype=np.bool_)
    converged = np.zeros(nw, dtype=np.bool_)
    n_iter = np.zeros(nw, dtype=np.int64)
    xt, ys, ws, eta, mu, c, G, L, Linv, Iinv, allp = _scratch(n, p)
    wv = np.empty(n)
    hb = np.empty(n)
    Z = np.empty((p, n))
    aug = np.empty((p, p))
    score = np.empty(p)
    Lf = np.empty((p, p))
    Lfinv = np.empty((p, p))
    Af = np.empty((p, p))
    U = np.empty(p)
    d = np.empty(p)
    beta = np.empty(p)
    cand = np.empty(p)
    for t in range(nw):
        m, sw = _included(X, y, w, work[t], xt, ys, ws)
        for j in range(p):
            beta[j] = start[t, j]
        llf, ok = _firth_llf(xt, ys, ws, m, p, beta, eta, mu, wv, G, L, allp)
        _firth_rest(xt, ys, ws, m, p, mu, wv, L, Linv, Iinv, Z, c, hb, score, aug)
        conv = False
        nit = max_iter
        if not (ok and math.isfinite(llf)):
            nit = 0
        else:
            for iteration in range(max_iter + 1):
                for a in range(nf):
                    U[a] = score[free[a]]
                okf = _chol(aug, free, nf, 1e-14, Lf)
                _chol_inverse(Lf, nf, Lfinv, Af)
                max_score = 0.0
                max_delta = 0.0
                gain = 0.0
                for a in range(nf):
                    s = 0.0
                    for k in range(nf):
                        s += Af[a, k] * U[k]
                    d[a] = s
                    max_score = max(max_score, abs(U[a]))
                    max_delta = max(max_delta, abs(s))
                    gain += U[a] * s
                gain *= 0.5
                if okf and max_score < gtol and max_delta < xtol:
                    conv = True
                    nit = iteration
                    break
                if not okf:
                    nit = iteration
                    break
                if iteration == max_iter:
                    break
                # Accept a step unless it lowers the penalized likelihood by more than
                # rounding noise (otherwise halving stalls once |U*| ~ 1e-8).
                llf_floor = llf - llf_noise * (abs(llf) + sw)
                skip = max_delta < xtol and gain > 0 and llf + gain == llf
                scale = min(1.0, max_step / max(max_delta, 1e-300))
                for a in range(nf):
                    d[a] *= scale
                factor = 1.0
                for j in range(p):
                    cand[j] = beta[j]
                for a in range(nf):
                    cand[free[a]] = beta[free[a]] + d[a]
                llf_new, ok_new = _firth_llf(xt, ys, ws, m, p, cand, eta, mu, wv, G, L, allp)
                accept = skip or llf_new >= llf_floor or max_halfstep == 0
                for _ in range(max_halfstep):
                    if accept:
                        break
                    factor *= 0.5
                    for a in range(nf):
                        cand[free[a]] = beta[free[a]] + factor * d[a]
                    llf_new, ok_new = _firth_llf(xt, ys, ws, m, p, cand, eta, mu, wv, G, L, allp)
                    accept = llf_new >= llf_floor
                if not accept:
                    # Step halving exhausted: stop at the last accepted beta.
                    # (llf, score and informations of that point are still held)
                    nit = iteration
                    break
                for j in range(p):
                    beta[j] = cand[j]
                llf, ok = llf_new, ok_new
                _firth_rest(xt, ys, ws, m, p, mu, wv, L, Linv, Iinv, Z, c, hb, score, aug)
        for j in range(p):
            out_beta[t, j] = beta[j]
            out_score[t, j] = score[j]
            for k in range(p):
                out_inv[t, j, k] = Iinv[j, k]
                out_aug[t, j, k] = aug[j, k]
        out_llf[t] = llf
        out_ok[t] = ok
        converged[t] = conv
        n_iter[t] = nit
    return out_beta, out_llf, out_score, out_inv, out_aug, out_ok, converged, n_iter


# ----------------------------------------------------------------------------- descriptors


@njit(**_JIT)
def describe(X, y, w, exposure_index):
    """Per element: n_obs, n_events, full column rank of X' diag(w) X (the scale-free pivot
    test of ``_batch.cholesky``), and, for a binary exposure column (``exposure_index``
    >= 0, all included values 0/1), the weighted exposure x outcome table (NaN otherwise)."""
    B, n, p = X.shape
    n_obs = np.zeros(B)
    n_events = np.zeros(B)
    full_rank = np.zeros(B, dtype=np.bool_)
    table = np.full((B, 2, 2), np.nan)
    xt = np.empty((p, n))
    ys = np.empty(n)
    ws = np.empty(n)
    G = np.empty((p, p))
    L = np.empty((p, p))
    allp = np.arange(p)
    cells = np.empty((2, 2))
    for b in range(B):
        m = _compact(X, y, w, b, xt, ys, ws)
        so = 0.0
        se = 0.0
        for i in range(m):
            so += ws[i]
            se += ws[i] * ys[i]
        n_obs[b] = so
        n_events[b] = se
        _gram(xt, ws, m, p, G)
        full_rank[b] = _chol(G, allp, p, 1e-10, L)
        if exposure_index >= 0:
            binary = True
            cells[:] = 0.0
            for i in range(m):
                x = xt[exposure_index, i]
                if x == 0.0 or x == 1.0:
                    cells[int(x), int(ys[i])] += ws[i]
                else:
                    binary = False
                    break
            if binary:
                table[b] = cells
    return n_obs, n_events, full_rank, table


# ----------------------------------------------------------------------------- duplicates


@njit(**_JIT)
def _same(X, y, w, a, b):
    n, p = X.shape[1], X.shape[2]
    for i in range(n):
        if w[a, i] != w[b, i]:
            return False
        if w[a, i] > 0:
            if y[a, i] != y[b, i]:
                return False
            for j in range(p):
                if X[a, i, j] != X[b, i, j]:
                    return False
    return True


@njit(**_JIT)
def _mix(h, v):
    """splitmix64 finaliser of h ^ v (every input bit reaches every output bit)."""
    z = h ^ v
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(**_JIT)
def duplicate_of(X, y, w):
    """rep[b] = first element with the same included rows (weights, outcome and design
    exactly equal), b itself if none: such elements give identical fits, because every
    element is computed on its own included rows only. A hash table (open addressing)
    finds candidates; equality is always checked, so a collision only costs a fit."""
    B, n, p = X.shape
    rep = np.empty(B, dtype=np.intp)
    hashes = np.empty(B, dtype=np.uint64)
    size = 1
    while size < 2 * B:
        size *= 2
    slots = np.full(size, -1, dtype=np.intp)
    buf = np.empty(1)
    bits = buf.view(np.uint64)
    k = np.uint64(0x100000001B3)
    for b in range(B):
        # polynomial hash of the included rows, finished by the splitmix64 mixer
        h = np.uint64(0x9E3779B97F4A7C15)
        for i in range(n):
            if w[b, i] > 0:
                h = h * k + np.uint64(i)
                # + 0.0 maps -0.0 to 0.0, so equal values hash equally
                buf[0] = w[b, i] + 0.0
                h = h * k + bits[0]
                buf[0] = y[b, i] + 0.0
                h = h * k + bits[0]
                for j in range(p):
                    buf[0] = X[b, i, j] + 0.0
                    h = h * k + bits[0]
        h = _mix(h, np.uint64(0))
        hashes[b] = h
        rep[b] = b
        slot = np.intp(h & np.uint64(size - 1))
        while slots[slot] >= 0:
            a = slots[slot]
            if hashes[a] == h and _same(X, y, w, a, b):
                rep[b] = a
                break
            slot = (slot + 1) & (size - 1)
        if rep[b] == b:
            slots[slot] = b
    return rep


# ----------------------------------------------------------------------------- ROC


@njit(**_JIT)
def _heapsort(v, lab, m):
    """Sort v[:m] ascending, carrying lab along (order among equal values is irrelevant
    here: tied values form one criterion)."""
    for start in range(m // 2 - 1, -1, -1):
        _sift(v, lab, start, m)
    for end in range(m - 1, 0, -1):
        v[0], v[end] = v[end], v[0]
        lab[0], lab[end] = lab[end], lab[0]
        _sift(v, lab, 0, end)


@njit(**_JIT)
def _sift(v, lab, root, end):
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and v[child + 1] > v[child]:
            child += 1
        if v[root] >= v[child]:
            return
        v[root], v[child] = v[child], v[root]
        lab[root], lab[child] = lab[child], lab[root]
        root = child


@njit(**_JIT)
def youden_cutoff(marker, positive, include):
    """Per row, the Youden-optimal criterion of ``_auc.roc_auc`` (lowest one on ties of the
    maximal J; NaN without positives or negatives), with the same arithmetic so the chosen
    criterion is the same. Returns (cutoff, error): error 1 = non-finite marker, 2 = positive
    not 0/1, among included entries."""
    B, n = marker.shape
    cut = np.full(B, np.nan)
    vals = np.empty(n)
    lab = np.empty(n, dtype=np.bool_)
    for b in range(B):
        m = 0
        n_pos = 0
        n_neg = 0
        for i in range(n):
            if include[b, i]:
                v = marker[b, i]
                if not math.isfinite(v):
                    return cut, 1
                c = positive[b, i]
                if c == 1.0:
                    n_pos += 1
                    lab[m] = True
                elif c == 0.0:
                    n_neg += 1
                    lab[m] = False
                else:
                    return cut, 2
                vals[m] = v + 0.0  # -0.0 and 0.0 are one criterion
                m += 1
        if n_pos == 0 or n_neg == 0:
            continue
        _heapsort(vals, lab, m)
        best = -np.inf
        pos_le = 0
        neg_le = 0
        g = 0
        while g < m:
            v = vals[g]
            e = g
            while e < m and vals[e] == v:
                if lab[e]:
                    pos_le += 1
                else:
                    neg_le += 1
                e += 1
            sens = (n_pos - pos_le) / n_pos
            spec = neg_le / n_neg
            j = sens + spec - 1.0
            if j > best:
                best = j
                cut[b] = v
            g = e
    return cut, 0


# ----------------------------------------------------------------------------- entry points


def _one_specialization(kernel):
    """Call ``kernel`` with its array arguments C-contiguous, aligned and writeable (copied
    only when they are not). Numba compiles one machine-code specialization per argument
    layout and read-only flag; read-only views (pandas' copy-on-write, broadcasts) used to
    double the entry points' specializations and so the first run's compile time."""

    @functools.wraps(kernel.py_func)
    def call(*args):
        return kernel(*(np.require(a, requirements="CAW") if isinstance(a, np.ndarray) else a for a in args))

    call.kernel = kernel
    return call


logit_newton = _one_specialization(logit_newton)
firth_newton = _one_specialization(firth_newton)
describe = _one_specialization(describe)
duplicate_of = _one_specialization(duplicate_of)
youden_cutoff = _one_specialization(youden_cutoff)
