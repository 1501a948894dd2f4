"""Mixed model for repeated measures (MMRM) with an unstructured covariance, fitted by REML.

The analysis depression trials use for MADRS (Mallinckrodt et al. 2008): the change from
baseline at each post-baseline visit ~ group x visit + baseline x visit, one unstructured T x T
covariance matrix Sigma shared by all patients (no random effects), every patient with at least
one post-baseline visit (valid under missing at random). The same model as SAS
``PROC MIXED ... / REPEATED visit / SUBJECT=id TYPE=UN`` and R
``mmrm(chg ~ group * visit + base * visit + us(visit | id))`` or
``nlme::gls(..., correlation = corSymm(), weights = varIdent(), method = "REML")``.

Estimation (Patterson & Thompson 1971; Harville 1977). The variance parameters theta are the
T(T+1)/2 elements of Sigma in SAS's UN(i,j) order (1,1), (2,1), (2,2), (3,1), ... . In this
parametrisation V = Var(y) is linear in theta, so the REML gradient and observed Hessian have the
closed forms (P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1, V_i = dV/dtheta_i, -2 l_R the REML
criterion with SAS's and nlme's constant (N - p) log 2 pi):

    d(-2 l_R)/dtheta_i            = tr(P V_i) - y'P V_i P y
    d2(-2 l_R)/dtheta_i dtheta_j  = -tr(P V_i P V_j) + 2 y'P V_i P V_j P y

(e.g. McCulloch, Searle & Neuhaus 2008, ch. 6). The criterion is minimised by L-BFGS over the
log-Cholesky factor of Sigma (positive definite by construction) and then polished by
Newton-Raphson in theta with the exact Hessian, as PROC MIXED does; the fit counts as converged
only when the Newton decrement g'H^-1 g of -2 l_R is below 1e-10, the observed information is
positive definite and Sigma is positive definite. Otherwise every estimate is NaN (``null`` in
JSON) and a warning says why: no non-converged number is reported.

Fixed effects: GLS beta = (X'V^-1 X)^-1 X'V^-1 y with Phi = (X'V^-1 X)^-1 at the REML Sigma
(model-based covariance). Contrasts l'beta (LS means, group differences) have SE sqrt(l'Phi l).

Degrees of freedom, computed exactly (no numerical differentiation):

- Satterthwaite (1946), as SAS ``DDFM=SATTERTHWAITE`` and R ``mmrm``:
  df = 2 (l'Phi l)^2 / (g'W g), g_i = l' dPhi/dtheta_i l = l'Phi X'V^-1 V_i V^-1 X Phi l,
  W = inverse of the observed information of theta (Hessian of -l_R at the estimate).
- Kenward & Roger (1997), as SAS ``DDFM=KR`` (for UN its "linear" form: V is linear in theta,
  so the second-derivative term R_ij vanishes): the bias-adjusted covariance
  Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi with P_i = -X'V^-1 V_i V^-1 X,
  Q_ij = X'V^-1 V_i V^-1 V_j V^-1 X, and the df m of their section 3 (for one contrast) from the
  unadjusted Phi, P_i and W, as R ``mmrm``'s ``h_kr_df``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .result import Result, require_columns

__all__ = [
    "MMRMResult",
    "UnstructuredFit",
    "design_matrix",
    "fit_unstructured",
    "gls_at_sigma",
    "kenward_roger",
    "kenward_roger_cov",
    "ls_mean_row",
    "mmrm",
    "reml_derivatives",
    "satterthwaite_df",
    "sigma_from_theta",
]

LOG_2PI = math.log(2 * math.pi)
NEWTON_DECREMENT_TOL = 1e-10


@dataclass
class UnstructuredFit:
    """REML fit of y = X beta + e, e_i ~ N(0, Sigma restricted to patient i's visits).

    Arrays are NaN when ``converged`` is False. ``theta`` holds Sigma's lower triangle in SAS
    UN(i,j) order, ``theta_cov`` its covariance W (inverse observed information of -l_R),
    ``beta_cov`` the model-based Phi = (X'V^-1 X)^-1."""

    beta: np.ndarray
    beta_cov: np.ndarray
    sigma: np.ndarray
    theta: np.ndarray
    theta_cov: np.ndarray
    minus2_loglik_reml: float
    converged: bool
    n_iterations: int
    newton_decrement: float
    message: str
    # Derivative pieces for the df (n_theta x p x p): B_i = X'V^-1 V_i V^-1 X, Q_ij.
    b_mats: np.ndarray = field(repr=False)
    q_mats: np.ndarray = field(repr=False)

    @property
    def loglik_reml(self) -> float:
        return -0.5 * self.minus2_loglik_reml


class _Design:
    """Rows sorted by patient and visit, grouped by missing-data pattern."""

    def __init__(self, y, X, subject, visit, n_visits):
        order = np.lexsort((visit, subject))
        self.y = np.asarray(y, float)[order]
        self.X = np.asarray(X, float)[order]
        self.subject = np.asarray(subject)[order]
        self.visit = np.asarray(visit, int)[order]
        self.T = int(n_visits)
        self.N, self.p = self.X.shape
        starts = np.flatnonzero(np.r_[True, self.subject[1:] != self.subject[:-1]])
        self.blocks = [np.arange(a, b) for a, b in zip(starts, np.r_[starts[1:], self.N])]
        self.pairs = [(a, b) for a in range(self.T) for b in range(a + 1)]  # UN(a+1, b+1)
        # Patients grouped by their pattern of observed visits (Sigma's sub-block is shared).
        patterns: dict[tuple, list] = {}
        for rows in self.blocks:
            patterns.setdefault(tuple(self.visit[rows]), []).append(rows)
        self.patterns = [(np.array(k), np.array(v)) for k, v in patterns.items()]
        # per pattern: X (n, m, p) and y (n, m), gathered once
        self.data = {k: (self.X[np.array(v)], self.y[np.array(v)]) for k, v in patterns.items()}


def _sigma(theta: np.ndarray, T: int) -> np.ndarray:
    S = np.zeros((T, T))
    idx = np.tril_indices(T)
    # np.tril_indices runs row by row: (0,0), (1,0), (1,1), (2,0), ... = SAS UN order.
    S[idx] = theta
    return S + np.tril(S, -1).T


def _theta(S: np.ndarray) -> np.ndarray:
    return S[np.tril_indices(S.shape[0])]


def _criterion(d: _Design, S: np.ndarray, gradient: bool = False):
    """-2 l_R, beta, Phi and the V^-1 blocks at Sigma (and, with ``gradient``, the symmetric
    matrix G with d(-2 l_R) = tr(G dSigma)); None if Sigma is not positive definite."""
    XtVX = np.zeros((d.p, d.p))
    XtVy = np.zeros(d.p)
    yVy = 0.0
    logdet = 0.0
    vinv = {}
    for vis, rows in d.patterns:
        sub = S[np.ix_(vis, vis)]
        try:
            c = np.linalg.cholesky(sub)
        except np.linalg.LinAlgError:
            return None
        Vi = np.linalg.inv(sub)
        vinv[tuple(vis)] = Vi
        Xs, ys = d.data[tuple(vis)]  # (n, m, p), (n, m)
        VX = np.einsum("mk,nkq->nmq", Vi, Xs).reshape(-1, d.p)  # stacked V_k^-1 X_k
        Xf = Xs.reshape(-1, d.p)
        XtVX += Xf.T @ VX
        XtVy += VX.T @ ys.reshape(-1)
        yVy += float(np.sum((ys @ Vi) * ys))
        logdet += len(rows) * 2 * float(np.log(np.diag(c)).sum())
    try:
        cx = np.linalg.cholesky(XtVX)
    except np.linalg.LinAlgError:
        return None
    phi = np.linalg.inv(XtVX)
    beta = phi @ XtVy
    quad = yVy - XtVy @ beta
    m2l = (d.N - d.p) * LOG_2PI + logdet + 2 * float(np.log(np.diag(cx)).sum()) + quad
    if not gradient:
        return m2l, beta, phi, vinv
    # G = sum_i S_i' [V_i^-1 - B_i Phi B_i' - r_i r_i'] S_i, B_i = V_i^-1 X_i, r_i = V_i^-1 e_i
    # (the block form of d(-2 l_R) = tr(P dV) - y'P dV P y).
    G = np.zeros_like(S)
    for vis, rows in d.patterns:
        Vi = vinv[tuple(vis)]
        Xs, ys = d.data[tuple(vis)]
        Bs = np.einsum("mk,nkp->nmp", Vi, Xs)
        rs = (ys - Xs @ beta) @ Vi
        BP = Bs @ phi  # (n, m, p)
        G[np.ix_(vis, vis)] += len(rows) * Vi - np.einsum("nmp,nkp->mk", BP, Bs) - rs.T @ rs
    return m2l, G


def _derivatives(d: _Design, S: np.ndarray):
    """-2 l_R with its exact gradient and Hessian in theta, and the df pieces B_i, Q_ij.

    V is block diagonal with blocks V_k = Sigma[o_k, o_k] (o_k = patient k's visits) and
    V_i = dV/dtheta_i has blocks E_ik = E_i[o_k, o_k], E_i the symmetric 0/1 unit matrix of
    Sigma's element i. With P = V^-1 - B Phi B' (B = V^-1 X), r = P y = V^-1 (y - X beta):
      tr(P V_i)         = sum_k tr(V_k^-1 E_ik) - tr(Phi B_i)
      tr(P V_i P V_j)   = sum_k tr(V_k^-1 E_ik V_k^-1 E_jk) - 2 tr(Phi Q_ji) + tr(Phi B_i Phi B_j)
      r'V_i P V_j r     = sum_k r_k'E_ik V_k^-1 E_jk r_k - u_i'Phi u_j
    with B_i = X'V^-1 V_i V^-1 X, Q_ij = X'V^-1 V_i V^-1 V_j V^-1 X, u_i = X'V^-1 V_i r, each a
    sum over patients, computed once per missing-data pattern: memory and time grow with the
    number of patients, not its square."""
    out = _criterion(d, S)
    if out is None:
        return None
    m2l, beta, phi, vinv = out
    k, p = len(d.pairs), d.p
    units = []
    for a, b in d.pairs:
        E = np.zeros((d.T, d.T))
        E[a, b] = E[b, a] = 1.0
        units.append(E)
    b_mats = np.zeros((k, p, p))
    q_mats = np.zeros((k, k, p, p))
    u = np.zeros((k, p))
    tr_vi = np.zeros(k)
    r_e_r = np.zeros(k)
    tr_dd = np.zeros((k, k))
    r_vpv_r = np.zeros((k, k))
    for vis, rows in d.patterns:
        Vi = vinv[tuple(vis)]
        n = len(rows)
        Xs, ys = d.data[tuple(vis)]
        Bs = np.einsum("mk,nkp->nmp", Vi, Xs)  # V_k^-1 X_k
        rs = (ys - Xs @ beta) @ Vi  # r_k (V_k^-1 symmetric)
        Es = [E[np.ix_(vis, vis)] for E in units]
        ViE = [Vi @ E for E in Es]
        # patient sums once per pattern; every term below is a contraction of these with an
        # m x m matrix M: sum_k B_k'M B_k = <M, CB>, sum_k B_k'M r_k = <M, CU>, sum_k r_k'M r_k = <M, CR>
        CB = np.einsum("nmp,nkq->mkpq", Bs, Bs)
        CU = np.einsum("nmp,nk->mkp", Bs, rs)
        CR = rs.T @ rs
        for i, E in enumerate(Es):
            b_mats[i] += np.tensordot(E, CB, axes=([0, 1], [0, 1]))
            u[i] += np.tensordot(E, CU, axes=([0, 1], [0, 1]))
            tr_vi[i] += n * np.trace(ViE[i])
            r_e_r[i] += np.sum(E * CR)
            for j, F in enumerate(Es):
                EVF = E @ Vi @ F
                q_mats[i, j] += np.tensordot(EVF, CB, axes=([0, 1], [0, 1]))
                tr_dd[i, j] += n * np.sum(ViE[i] * ViE[j].T)
                r_vpv_r[i, j] += np.sum(EVF * CR)
    grad = tr_vi - np.einsum("pq,iqp->i", phi, b_mats) - r_e_r
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            tr_pp = (
                tr_dd[i, j] - 2 * np.trace(phi @ q_mats[j, i]) + np.trace(phi @ b_mats[i] @ phi @ b_mats[j])
            )
            hess[i, j] = -tr_pp + 2 * (r_vpv_r[i, j] - u[i] @ phi @ u[j])
    hess = (hess + hess.T) / 2  # symmetric up to rounding
    return m2l, grad, hess, beta, phi, b_mats, q_mats


def _start(d: _Design) -> np.ndarray:
    """Sigma from OLS residuals: pairwise-complete covariances, shrunk towards the diagonal
    until positive definite."""
    beta = np.linalg.lstsq(d.X, d.y, rcond=None)[0]
    e = d.y - d.X @ beta
    E = np.full((len(d.blocks), d.T), np.nan)
    for k, rows in enumerate(d.blocks):
        E[k, d.visit[rows]] = e[rows]
    S = pd.DataFrame(E).cov(min_periods=2).to_numpy()
    diag = np.where(np.isfinite(np.diag(S)) & (np.diag(S) > 0), np.diag(S), np.nanvar(e))
    S = np.where(np.isfinite(S), S, 0.0)
    np.fill_diagonal(S, diag)
    for shrink in (1.0, 0.8, 0.5, 0.2, 0.0):
        cand = shrink * S + (1 - shrink) * np.diag(diag)
        if np.linalg.eigvalsh(cand).min() > 1e-8 * diag.max():
            return cand
    return np.diag(diag)


def _chol_to_sigma(par: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    L = np.zeros((T, T))
    L[np.tril_indices(T)] = par
    L[np.diag_indices(T)] = np.exp(np.diag(L))
    return L @ L.T, L


def _nan_fit(d: _Design, message: str, n_iter: int = 0, dec: float = math.nan) -> UnstructuredFit:
    k = len(d.pairs)
    return UnstructuredFit(
        beta=np.full(d.p, np.nan),
        beta_cov=np.full((d.p, d.p), np.nan),
        sigma=np.full((d.T, d.T), np.nan),
        theta=np.full(k, np.nan),
        theta_cov=np.full((k, k), np.nan),
        minus2_loglik_reml=math.nan,
        converged=False,
        n_iterations=n_iter,
        newton_decrement=dec,
        message=message,
        b_mats=np.full((k, d.p, d.p), np.nan),
        q_mats=np.full((k, k, d.p, d.p), np.nan),
    )


def fit_unstructured(y, X, subject, visit, n_visits: int, *, max_newton: int = 50) -> UnstructuredFit:
    """REML fit with an unstructured covariance over ``n_visits`` visits (``visit`` = 0-based
    index of each row's visit; a patient contributes the visits it has)."""
    d = _Design(y, X, subject, visit, n_visits)
    if d.N <= d.p or np.linalg.matrix_rank(d.X) < d.p:
        raise ValueError("fixed-effects design is rank deficient or has no residual df")
    T = d.T
    # 1) L-BFGS on the log-Cholesky factor (Sigma stays positive definite).
    S0 = _start(d)
    try:
        L0 = np.linalg.cholesky(S0)
    except np.linalg.LinAlgError:
        return _nan_fit(
            d,
            "REML not fitted: the residual covariance is singular (no variation left in the "
            "outcome at some visit, e.g. no change from baseline in any patient)",
        )
    p0 = L0[np.tril_indices(T)].copy()
    diag_pos = [i for i, (a, b) in enumerate(zip(*np.tril_indices(T))) if a == b]
    p0[diag_pos] = np.log(p0[diag_pos])
    scale = abs(_criterion(d, S0)[0]) or 1.0

    def objective(par):
        S, L = _chol_to_sigma(par, T)
        out = _criterion(d, S, gradient=True)
        if out is None:
            return np.inf, np.zeros_like(par)
        m2l, G = out
        dL = 2 * G @ L  # d tr(G L L') / dL for symmetric G
        g = dL[np.tril_indices(T)]
        g[diag_pos] *= np.diag(L)  # log-parametrised diagonal
        return m2l / scale, g / scale

    res = optimize.minimize(
        objective, p0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-10, "gtol": 1e-6}
    )
    S = _chol_to_sigma(res.x, T)[0]
    # 2) Newton-Raphson in theta with the exact Hessian, step halving (as PROC MIXED).
    theta = _theta(S)
    der = _derivatives(d, S)
    if der is None:
        return _nan_fit(d, "REML optimisation left the positive-definite region")
    n_iter = res.nit
    for _ in range(max_newton):
        m2l, grad, hess = der[0], der[1], der[2]
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        dec = float(grad @ step)
        if not dec > 1e-20:  # at the optimum to rounding (or Hessian not PD: stop, judged below)
            break
        t, accepted = 1.0, False
        for _ in range(30):
            new = _derivatives(d, _sigma(theta - t * step, T))
            # accept if -2 l_R does not rise beyond rounding noise
            if new is not None and new[0] <= m2l + 1e-12 * max(1.0, abs(m2l)):
                theta, der, accepted = theta - t * step, new, True
                break
            t /= 2
        n_iter += 1
        if not accepted:
            break
    m2l, grad, hess, beta, phi, b_mats, q_mats = der
    S = _sigma(theta, T)
    try:
        step = np.linalg.solve(hess, grad)
        dec = float(grad @ step)
    except np.linalg.LinAlgError:
        dec = math.nan
    eig_h = np.linalg.eigvalsh(hess)
    eig_s = np.linalg.eigvalsh(S)
    if not (np.isfinite(dec) and 0 <= dec < NEWTON_DECREMENT_TOL):
        return _nan_fit(
            d,
            f"REML did not converge (Newton decrement {dec:.3g} after {n_iter} iterations)",
            n_iter=n_iter,
            dec=dec,
        )
    if eig_h.min() <= 0 or eig_s.min() <= 1e-10 * eig_s.max():
        return _nan_fit(
            d,
            "REML estimate on the boundary: covariance matrix or its information not positive definite",
            n_iter=n_iter,
            dec=dec,
        )
    # W = inverse observed information of theta = (Hessian of -l_R)^-1 = 2 (Hessian of -2 l_R)^-1.
    W = 2 * np.linalg.inv(hess)
    return UnstructuredFit(
        beta=beta,
        beta_cov=phi,
        sigma=S,
        theta=theta,
        theta_cov=W,
        minus2_loglik_reml=float(m2l),
        converged=True,
        n_iterations=n_iter,
        newton_decrement=dec,
        message="converged",
        b_mats=b_mats,
        q_mats=q_mats,
    )


def gls_at_sigma(
    y, X, subject, visit, n_visits: int, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """GLS (beta, Phi) and the REML log-likelihood at a given Sigma (no optimisation): to compare
    the formulas with another program at that program's covariance estimate."""
    d = _Design(y, X, subject, visit, n_visits)
    out = _criterion(d, np.asarray(sigma, float))
    if out is None:
        raise ValueError("sigma is not positive definite")
    return out[1], out[2], -0.5 * out[0]


def reml_derivatives(
    y, X, subject, visit, n_visits: int, sigma: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """-2 l_R with its exact gradient and Hessian in theta (SAS UN order) at a given Sigma."""
    out = _derivatives(_Design(y, X, subject, visit, n_visits), np.asarray(sigma, float))
    if out is None:
        raise ValueError("sigma is not positive definite")
    return out[0], out[1], out[2]


def sigma_from_theta(theta: np.ndarray, n_visits: int) -> np.ndarray:
    """Sigma from its lower-triangle elements in SAS UN(i,j) order."""
    return _sigma(np.asarray(theta, float), n_visits)


def satterthwaite_df(fit: UnstructuredFit, contrast: np.ndarray) -> float:
    """Satterthwaite (1946) df of l'beta: 2 (l'Phi l)^2 / (g'W g), g_i = l'Phi B_i Phi l."""
    if not fit.converged:
        return math.nan
    lv = np.asarray(contrast, float)
    v = float(lv @ fit.beta_cov @ lv)
    pl = fit.beta_cov @ lv
    g = np.array([pl @ b @ pl for b in fit.b_mats])
    return float(2 * v * v / (g @ fit.theta_cov @ g))


def kenward_roger_cov(fit: UnstructuredFit) -> np.ndarray:
    """Kenward-Roger (1997) adjusted covariance Phi_A of beta (R_ij = 0: V linear in theta)."""
    if not fit.converged:
        return np.full_like(fit.beta_cov, np.nan)
    phi, W = fit.beta_cov, fit.theta_cov
    P = -fit.b_mats
    k = len(P)
    inner = np.zeros_like(phi)
    for i in range(k):
        for j in range(k):
            inner += W[i, j] * (fit.q_mats[i, j] - P[i] @ phi @ P[j])
    return phi + 2 * phi @ inner @ phi


def kenward_roger(fit: UnstructuredFit, contrast: np.ndarray) -> tuple[float, float]:
    """(SE from Phi_A, df m) of one contrast l'beta, Kenward & Roger (1997) sec. 3 with q = 1."""
    if not fit.converged:
        return math.nan, math.nan
    lv = np.asarray(contrast, float)[None, :]
    phi, W = fit.beta_cov, fit.theta_cov
    P = -fit.b_mats
    q = 1
    theta_mat = lv.T @ np.linalg.inv(lv @ phi @ lv.T) @ lv
    mv = [theta_mat @ phi @ Pi @ phi for Pi in P]
    tr = np.array([np.trace(m) for m in mv])
    a1 = float(tr @ W @ tr)
    a2 = float(sum(W[i, j] * np.trace(mv[i] @ mv[j]) for i in range(len(P)) for j in range(len(P))))
    b = (a1 + 6 * a2) / (2 * q)
    e_star = 1 / (1 - a2 / q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denom = 3 * q + 2 - 2 * g
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v_star = 2 / q * (1 + c1 * b) / (1 - c2 * b) ** 2 / (1 - c3 * b)
    rho = v_star / (2 * e_star**2)
    m = 4 + (q + 2) / (q * rho - 1)
    se = math.sqrt(float(lv[0] @ kenward_roger_cov(fit) @ lv[0]))
    return se, float(m)


# --- the MADRS analysis ---------------------------------------------------------------------


@dataclass
class MMRMResult(Result):
    """MMRM of the change from baseline; estimates ``null`` in JSON if REML did not converge."""

    dv: str
    group: str
    groups: list[str]
    visits: list[str]
    baseline: str
    n_patients: int
    n_per_group: dict[str, int]
    n_observations: int
    n_missing_visits: int
    missing_by_visit: dict[str, int]
    n_excluded_no_follow_up: int
    n_excluded_missing_baseline: int
    baseline_mean: float
    converged: bool
    n_iterations: int
    loglik_reml: float
    covariance: list[list[float]]
    correlation: list[list[float]]
    fixed_effects: pd.DataFrame
    ls_means: pd.DataFrame
    contrasts: pd.DataFrame
    method: str
    df_method: str
    alpha: float
    warnings: list[str] = field(default_factory=list)


def design_matrix(long: pd.DataFrame, groups: list[str], visits: list[str]) -> tuple[np.ndarray, list[str]]:
    """Treatment coding as R ``chg ~ group * visit + base * visit`` with reference
    ``groups[1]`` and the first visit, columns in R's order."""
    g1 = (long["_group"] == groups[0]).to_numpy(float)
    base = long["_base"].to_numpy(float)
    vis = {t: (long["_visit"] == t).to_numpy(float) for t in visits[1:]}
    cols = {"intercept": np.ones(len(long)), f"group[{groups[0]}]": g1}
    cols |= {f"visit[{t}]": vis[t] for t in visits[1:]}
    cols["baseline"] = base
    cols |= {f"group[{groups[0]}]:visit[{t}]": g1 * vis[t] for t in visits[1:]}
    cols |= {f"visit[{t}]:baseline": vis[t] * base for t in visits[1:]}
    return np.column_stack(list(cols.values())), list(cols)


def ls_mean_row(names: list[str], group: str, g1: str, visit: str, first: str, base: float) -> np.ndarray:
    """Row l with l'beta = the LS mean of ``group`` at ``visit``, baseline at ``base``."""
    lv = np.zeros(len(names))
    lv[names.index("intercept")] = 1.0
    lv[names.index("baseline")] = base
    if group == g1:
        lv[names.index(f"group[{g1}]")] = 1.0
    if visit != first:
        lv[names.index(f"visit[{visit}]")] = 1.0
        lv[names.index(f"visit[{visit}]:baseline")] = base
        if group == g1:
            lv[names.index(f"group[{g1}]:visit[{visit}]")] = 1.0
    return lv


def _t_inference(est: float, se: float, df: float, alpha: float) -> dict:
    if not (np.isfinite(est) and np.isfinite(se) and np.isfinite(df) and se > 0 and df > 0):
        return {"t": math.nan, "p_value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    q = float(stats.t.ppf(1 - alpha / 2, df))
    t = est / se
    return {
        "t": t,
        "p_value": float(2 * stats.t.sf(abs(t), df)),
        "ci_low": est - q * se,
        "ci_high": est + q * se,
    }


def mmrm(
    frame: pd.DataFrame,
    *,
    subject: str,
    group: str,
    baseline: str,
    columns: list[str],
    groups: list | tuple,
    visits: list[str] | None = None,
    dv: str = "madrs",
    alpha: float = 0.05,
) -> MMRMResult:
    """MMRM of the change from ``baseline`` in ``columns`` (wide, one per post-baseline visit)
    on group x visit + baseline x visit, unstructured covariance, REML (module docstring).

    Group differences are ``groups[0]`` minus ``groups[1]`` at each visit; LS means are at the
    mean baseline of the analysed patients (one value per patient). Patients with a missing
    baseline or without any post-baseline value are excluded and counted; missing visits of
    the others are counted (``n_missing_visits``, ``missing_by_visit``)."""
    require_columns(frame, [subject, group, baseline, *columns])
    if len(groups) != 2:
        raise ValueError("need exactly 2 groups")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    visits = list(visits) if visits else list(columns)
    if len(visits) != len(columns) or len(columns) < 1:
        raise ValueError("need one visit name per column")
    groups = [str(g) for g in groups]
    wide = frame[[subject, group, baseline, *columns]].copy()
    if wide[group].isna().any():
        raise ValueError(f"group column {group!r} has missing values")
    wide["_group"] = wide[group].astype(str)
    outside = set(wide["_group"]) - set(groups)
    if outside:
        raise ValueError(f"{group!r} has level(s) {sorted(outside)} outside groups={groups}")
    if wide[subject].duplicated().any():
        raise ValueError(f"{subject!r} has duplicate patients")
    warns: list[str] = []
    no_base = wide[baseline].isna()
    no_follow = wide[list(columns)].isna().all(axis=1) & ~no_base
    if no_base.any():
        warns.append(f"{int(no_base.sum())} patient(s) without {baseline} excluded (no change from baseline)")
    if no_follow.any():
        warns.append(f"{int(no_follow.sum())} patient(s) without any post-baseline visit excluded")
    wide = wide[~no_base & ~no_follow]
    missing_by_visit = {t: int(wide[c].isna().sum()) for c, t in zip(columns, visits)}
    n_missing = sum(missing_by_visit.values())
    long = wide.melt(
        id_vars=[subject, "_group", baseline], value_vars=list(columns), var_name="_col", value_name="_y"
    ).dropna(subset=["_y"])
    long["_visit"] = long["_col"].map(dict(zip(columns, visits)))
    long["_base"] = long[baseline].astype(float)
    long["_chg"] = long["_y"].astype(float) - long["_base"]
    long = long.reset_index(drop=True)
    if n_missing:
        warns.append(
            f"{n_missing} missing post-baseline visit(s) ("
            + ", ".join(f"{t}: {k}" for t, k in missing_by_visit.items())
            + "); all "
            f"{len(wide)} patients with at least one post-baseline visit are used (missing at random)"
        )
    n_per_group = {g: int((wide["_group"] == g).sum()) for g in groups}
    for g in groups:
        if n_per_group[g] == 0:
            raise ValueError(f"group {g!r} of {group!r} has no patients with a post-baseline visit")
        for t in visits:
            if not ((long["_group"] == g) & (long["_visit"] == t)).any():
                raise ValueError(
                    f"group {g!r} has no observation at visit {t!r}: the group x visit "
                    "design is not estimable"
                )
    X, names = design_matrix(long, groups, visits)
    visit_index = long["_visit"].map({t: i for i, t in enumerate(visits)}).to_numpy()
    base_mean = float(wide[baseline].astype(float).mean())
    fit = fit_unstructured(
        long["_chg"].to_numpy(), X, long[subject].astype(str).to_numpy(), visit_index, len(visits)
    )
    if not fit.converged:
        warns.append(f"{fit.message}: no estimates reported")
    fixed = pd.DataFrame({"term": names, "estimate": fit.beta, "se": np.sqrt(np.diag(fit.beta_cov))})
    unit = np.eye(len(names))
    fixed["df"] = [satterthwaite_df(fit, unit[i]) for i in range(len(names))]
    inf = [_t_inference(r.estimate, r.se, r.df, alpha) for r in fixed.itertuples()]
    fixed = pd.concat([fixed, pd.DataFrame(inf)[["t", "p_value"]]], axis=1)
    cov_kr = kenward_roger_cov(fit)
    ls_rows, ctr_rows = [], []
    for t in visits:
        rows = {g: ls_mean_row(names, g, groups[0], t, visits[0], base_mean) for g in groups}
        for g in groups:
            lv = rows[g]
            est, se = float(lv @ fit.beta), math.sqrt(float(lv @ fit.beta_cov @ lv))
            df = satterthwaite_df(fit, lv)
            i = _t_inference(est, se, df, alpha)
            n_obs = int(((long["_group"] == g) & (long["_visit"] == t)).sum())
            ls_rows.append(
                {
                    "visit": t,
                    "group": g,
                    "n_observed": n_obs,
                    "estimate": est,
                    "se": se,
                    "df": df,
                    "ci_low": i["ci_low"],
                    "ci_high": i["ci_high"],
                }
            )
        lv = rows[groups[0]] - rows[groups[1]]
        est, se = float(lv @ fit.beta), math.sqrt(float(lv @ fit.beta_cov @ lv))
        df = satterthwaite_df(fit, lv)
        se_kr = math.sqrt(float(lv @ cov_kr @ lv)) if fit.converged else math.nan
        i, ik = _t_inference(est, se, df, alpha), _t_inference(est, se_kr, df, alpha)
        ctr_rows.append(
            {
                "visit": t,
                "group_1": groups[0],
                "group_2": groups[1],
                "estimate": est,
                "se": se,
                "df": df,
                "t": i["t"],
                "p_value": i["p_value"],
                "ci_low": i["ci_low"],
                "ci_high": i["ci_high"],
                "se_kr": se_kr,
                "df_kr": df,
                "t_kr": ik["t"],
                "p_value_kr": ik["p_value"],
                "ci_low_kr": ik["ci_low"],
                "ci_high_kr": ik["ci_high"],
            }
        )
    sd = np.sqrt(np.diag(fit.sigma))
    return MMRMResult(
        dv=dv,
        group=group,
        groups=groups,
        visits=visits,
        baseline=baseline,
        n_patients=len(wide),
        n_per_group=n_per_group,
        n_observations=len(long),
        n_missing_visits=n_missing,
        missing_by_visit=missing_by_visit,
        n_excluded_no_follow_up=int(no_follow.sum()),
        n_excluded_missing_baseline=int(no_base.sum()),
        baseline_mean=base_mean,
        converged=fit.converged,
        n_iterations=fit.n_iterations,
        loglik_reml=fit.loglik_reml,
        covariance=fit.sigma.tolist(),
        correlation=(fit.sigma / np.outer(sd, sd)).tolist(),
        fixed_effects=fixed,
        ls_means=pd.DataFrame(ls_rows),
        contrasts=pd.DataFrame(ctr_rows),
        method="MMRM: change from baseline ~ group x visit + baseline x visit, unstructured covariance, REML",
        df_method=(
            "Satterthwaite (exact derivatives, observed information); Kenward-Roger: adjusted SE "
            "(se_kr), its df equal Satterthwaite's for a single contrast"
        ),
        alpha=alpha,
        warnings=warns,
    )
