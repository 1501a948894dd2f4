"""Linear mixed model on all available visits, with the group contrast at each visit.

Model (Laird & Ware 1982): y_it = fixed(group * time) + b_i + e_it, b_i ~ N(0, tau^2),
e_it ~ N(0, sigma^2), time categorical, fitted by REML — the same model as R
``nlme::lme(y ~ group * time, random = ~ 1 | patient, method = "REML")``. ``statsmodels``
``MixedLM`` gives the starting values; the REML likelihood (Patterson & Thompson 1971) is then
maximised to tight tolerance here (statsmodels' default optimiser stops ~1e-6 from the optimum
and fails with a singular matrix on some data; both are reported, never silent) and the fixed
effects and their covariance are the GLS values (X' V^-1 X)^-1 at the REML variance components,
as nlme's ``fixef``/``vcov``. Unlike the RM-ANOVA it keeps patients with missing
visits (valid under missing at random).

Contrasts: group difference (groups[0] - groups[1]) at each visit, L beta with SE
sqrt(L V L'), V the REML covariance of the fixed effects. Inference differs from R by the
degrees of freedom only: statsmodels has no small-sample df, so p and CI here use the normal
distribution (``p_value``, "asymptotic" in emmeans' terms); ``emmeans`` on an ``lme`` fit uses
the containment df of nlme (for a between-patient contrast at one visit, df = N - g, the
between-patient df) with a t distribution. ``p_value_t`` gives the t-based p with a df the caller
supplies (default N patients - number of groups, the containment df for these contrasts) and
``p_bonferroni`` adjusts it over the visits.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .result import Result, require_columns

__all__ = ["MixedModelResult", "mixed_model"]


@dataclass
class MixedModelResult(Result):
    dv: str
    group: str
    groups: list[str]
    times: list[str]
    n_patients: int
    n_observations: int
    n_missing_visits: int
    method: str
    converged: bool
    loglik_reml: float
    loglik_reml_statsmodels: float
    random_intercept_var: float
    residual_var: float
    fixed_effects: pd.DataFrame
    contrasts: pd.DataFrame
    df_method: str
    warnings: list[str] = field(default_factory=list)


def _reml_stats(X, y, subj):
    """Sufficient statistics of the random-intercept model, O(N k) once: the totals X'X, X'y,
    y'y, and per distinct pattern g of (n_i, s_i = X_i'1) (with a categorical design: group x
    which visits a patient has, a few dozen patterns however many patients) the number of
    patients, the sum of t_i = y_i'1 and of t_i^2. Every likelihood evaluation then costs
    O(patterns k^2), with no per-patient matrices and no dense N x N covariance."""
    _, codes = np.unique(subj, return_inverse=True)
    n_pat = int(codes.max()) + 1
    n = np.bincount(codes, minlength=n_pat).astype(float)
    sx = np.column_stack([np.bincount(codes, weights=X[:, j], minlength=n_pat) for j in range(X.shape[1])])
    sy = np.bincount(codes, weights=y, minlength=n_pat)
    patterns, pattern_of, count = np.unique(
        np.column_stack([n, sx]), axis=0, return_inverse=True, return_counts=True
    )
    pattern_of = pattern_of.ravel()
    sum_sy = np.bincount(pattern_of, weights=sy, minlength=len(patterns))
    sum_sy2 = np.bincount(pattern_of, weights=sy * sy, minlength=len(patterns))
    return (
        patterns[:, 0],
        patterns[:, 1:],
        count.astype(float),
        sum_sy,
        sum_sy2,
        X.T @ X,
        X.T @ y,
        float(y @ y),
    )


def _gls_normal_equations(tau2, sigma2, suff):
    """X'V^-1X, X'V^-1y and y'V^-1y for the compound-symmetric V_i = sigma2 I + tau2 J, in
    closed form: V_i^-1 = (I - c_i J) / sigma2 with c_i = tau2 / (sigma2 + n_i tau2)
    (Searle, Casella & McCulloch 1992, sec. 3.3), so each is a total minus rank-one corrections
    c_i s_i s_i', c_i t_i s_i, c_i t_i^2, summed per pattern of (n_i, s_i)."""
    n, sx, count, sum_sy, sum_sy2, XX, Xy, yy = suff
    c = tau2 / (sigma2 + n * tau2)
    XtVX = (XX - (sx * (count * c)[:, None]).T @ sx) / sigma2
    XtVy = (Xy - (c * sum_sy) @ sx) / sigma2
    ytVy = (yy - np.sum(c * sum_sy2)) / sigma2
    return XtVX, XtVy, ytVy


def _gls(X: np.ndarray, y: np.ndarray, subj: np.ndarray, tau2: float, sigma2: float, suff=None):
    """GLS estimate and covariance for the compound-symmetric V_i = sigma2 I + tau2 J."""
    XtVX, XtVy, _ = _gls_normal_equations(tau2, sigma2, suff if suff is not None else _reml_stats(X, y, subj))
    cov = np.linalg.inv(XtVX)
    return cov @ XtVy, cov


def _reml_loglik(X, y, subj, tau2, sigma2, suff=None):
    """Restricted log-likelihood (Patterson & Thompson 1971; Harville 1977) of the
    random-intercept model, with the constants nlme and statsmodels include."""
    suff = suff if suff is not None else _reml_stats(X, y, subj)
    n, count = suff[0], suff[2]
    XtVX, XtVy, ytVy = _gls_normal_equations(tau2, sigma2, suff)
    logdet = float(np.sum(count * ((n - 1) * math.log(sigma2) + np.log(sigma2 + n * tau2))))
    _, ld = np.linalg.slogdet(XtVX)
    beta = np.linalg.solve(XtVX, XtVy)
    quad = ytVy - XtVy @ beta
    N, p = len(y), X.shape[1]
    return -0.5 * ((N - p) * math.log(2 * math.pi) + logdet + ld + quad)


def _reml_polish(X, y, subj, start):
    """Maximise the REML log-likelihood over (log tau2, log sigma2) to tight tolerance,
    starting from statsmodels' estimate (or ANOVA moments), so that variance components agree
    with nlme to ~1e-8 rather than statsmodels' default optimiser tolerance (~1e-6)."""
    from scipy import optimize

    suff = _reml_stats(X, y, subj)
    if start is None or not all(np.isfinite(start)) or min(start) <= 0:
        v = float(np.var(y - X @ np.linalg.lstsq(X, y, rcond=None)[0]))
        start = (v / 2, v / 2)
    x0 = np.log(np.maximum(start, 1e-6))

    def nll(th):
        return -_reml_loglik(X, y, subj, math.exp(th[0]), math.exp(th[1]), suff)

    r = optimize.minimize(
        nll, x0, method="Nelder-Mead", options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 4000}
    )
    r2 = optimize.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-9})
    best = r2 if r2.fun <= r.fun else r
    # Converged if the gradient in (log tau2, log sigma2) vanishes (optimisers' own flags report
    # precision loss at this tolerance even at the optimum).
    h = 1e-5
    grad = [(nll(best.x + h * e) - nll(best.x - h * e)) / (2 * h) for e in np.eye(2)]
    return math.exp(best.x[0]), math.exp(best.x[1]), -float(best.fun), bool(max(map(abs, grad)) < 1e-4)


# Above this many patients statsmodels' MixedLM (a Python loop over patients in every
# likelihood evaluation) gives no start values and no cross-check log-likelihood: the REML fit
# here is closed-form per patient and needs neither.
STATSMODELS_MAX_PATIENTS = 5000


def _statsmodels_start(y, exog, subj, warns):
    """statsmodels MixedLM REML estimate (start values), its log-likelihood (cross-check) and
    what the REML maximisation starts from."""
    start = None
    try:
        model = sm.MixedLM(y, exog, groups=subj, exog_re=np.ones((len(y), 1)))
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            res = model.fit(reml=True, method=["lbfgs", "bfgs"], maxiter=1000)
        for w in caught:
            if "converge" in str(w.message).lower() or "boundary" in str(w.message).lower():
                warns.append(f"statsmodels: {w.message}")
        start = (float(res.cov_re.iloc[0, 0]), float(res.scale))
        sm_llf = float(res.llf)
        start_from = "statsmodels MixedLM estimates"
        if not (all(np.isfinite(start)) and min(start) > 0):  # _reml_polish then uses moments
            start_from = "moment start values (statsmodels MixedLM estimate at the boundary)"
    except (np.linalg.LinAlgError, ValueError) as err:
        warns.append(f"statsmodels MixedLM failed ({err}); REML maximised directly from moment start values")
        sm_llf = math.nan
        start_from = "moment start values (statsmodels MixedLM failed)"
    return start, sm_llf, start_from


def mixed_model(
    frame: pd.DataFrame,
    *,
    subject: str,
    group: str,
    columns: list[str],
    groups: list | tuple,
    times: list[str] | None = None,
    dv: str = "madrs",
    alpha: float = 0.05,
    df: float | None = None,
) -> MixedModelResult:
    """REML random-intercept model of ``columns`` (wide, one per visit) on group * time."""
    require_columns(frame, [subject, group, *columns])
    if len(groups) != 2:
        raise ValueError("need exactly 2 groups")
    times = list(times) if times else list(columns)
    wide = frame[[subject, group, *columns]]
    if wide[group].isna().any():
        raise ValueError(f"group column {group!r} has missing values")
    outside = set(wide[group].unique()) - set(groups)
    if outside:
        raise ValueError(f"{group!r} has level(s) {sorted(map(str, outside))} outside groups={list(groups)}")
    long = wide.melt(id_vars=[subject, group], value_vars=list(columns), var_name="_col", value_name="_y")
    long["_time"] = pd.Categorical(long["_col"].map(dict(zip(columns, times))), categories=times)
    long["_group"] = pd.Categorical(long[group].astype(str), categories=[str(g) for g in groups])
    n_missing = int(long["_y"].isna().sum())
    long = long.dropna(subset=["_y"]).reset_index(drop=True)
    warns: list[str] = []
    if n_missing:
        warns.append(
            f"{n_missing} missing visit(s); all {long[subject].nunique()} patients with any visit are used"
        )
    for g in groups:
        if (long["_group"] == str(g)).sum() == 0:
            raise ValueError(f"group {g!r} of {group!r} has no patients")
    # Treatment coding, reference = groups[1] and the first visit, so the group coefficient is
    # groups[0] - groups[1] at the first visit (as R's default contr.treatment with that order).
    g1 = (long["_group"] == str(groups[0])).to_numpy(float)
    cols = {"intercept": np.ones(len(long)), f"group[{groups[0]}]": g1}
    for t in times[1:]:
        cols[f"time[{t}]"] = (long["_time"] == t).to_numpy(float)
    for t in times[1:]:
        cols[f"group[{groups[0]}]:time[{t}]"] = g1 * (long["_time"] == t).to_numpy(float)
    exog = pd.DataFrame(cols)
    if np.linalg.matrix_rank(exog.to_numpy()) < exog.shape[1]:
        raise ValueError("fixed-effects design is rank deficient (a group has no observation at some visit)")
    X = exog.to_numpy(float)
    y = long["_y"].to_numpy(float)
    subj = long[subject].astype(str).to_numpy()
    n_pat = long[subject].nunique()
    if n_pat > STATSMODELS_MAX_PATIENTS:
        start, sm_llf = None, math.nan
        start_from = (
            f"moment start values (statsmodels MixedLM not run above {STATSMODELS_MAX_PATIENTS} patients)"
        )
        warns.append(
            f"statsmodels MixedLM cross-check not run for {n_pat} patients (more than "
            f"{STATSMODELS_MAX_PATIENTS}: it loops over patients in Python); REML maximised "
            "directly from moment start values"
        )
    else:
        start, sm_llf, start_from = _statsmodels_start(y, exog, subj, warns)
    tau2, sigma2, llf, ok = _reml_polish(X, y, subj, start)
    if not ok:
        warns.append("REML optimisation did not converge")
    fe_names = list(exog.columns)
    # GLS covariance (X' V^-1 X)^-1 at the REML variance components, as nlme's vcov; the
    # fixed-effects block of statsmodels' inverse Hessian differs from it in the 5th digit.
    beta, V = _gls(X, y, subj, tau2, sigma2)
    z = stats.norm.ppf(1 - alpha / 2)
    fixed = pd.DataFrame({"term": fe_names, "estimate": beta, "se": np.sqrt(np.diag(V))})
    fixed["z"] = fixed["estimate"] / fixed["se"]
    fixed["p_value"] = 2 * stats.norm.sf(np.abs(fixed["z"]))

    df_t = float(df) if df is not None else float(n_pat - len(groups))
    rows = []
    for i, t in enumerate(times):
        L = np.zeros(len(fe_names))
        L[1] = 1.0
        if i > 0:
            L[fe_names.index(f"group[{groups[0]}]:time[{t}]")] = 1.0
        est = float(L @ beta)
        se = float(math.sqrt(L @ V @ L))
        zval = est / se
        p = float(2 * stats.norm.sf(abs(zval)))
        pt = float(2 * stats.t.sf(abs(zval), df_t))
        rows.append(
            {
                "time": t,
                "group_1": str(groups[0]),
                "group_2": str(groups[1]),
                "estimate": est,
                "se": se,
                "z": zval,
                "ci_low": est - z * se,
                "ci_high": est + z * se,
                "p_value": p,
                "df_t": df_t,
                "p_value_t": pt,
                "p_bonferroni": min(1.0, len(times) * pt),
            }
        )
    if tau2 < 1e-8 * sigma2:
        warns.append("random-intercept variance estimated at 0 (boundary)")
    return MixedModelResult(
        dv=dv,
        group=group,
        groups=[str(g) for g in groups],
        times=times,
        n_patients=int(n_pat),
        n_observations=len(long),
        n_missing_visits=n_missing,
        # says what ran: the REML likelihood is always maximised directly (_reml_polish)
        method=f"REML, random intercept per patient; likelihood maximised directly from {start_from}",
        converged=bool(ok),
        loglik_reml=llf,
        loglik_reml_statsmodels=sm_llf,
        random_intercept_var=tau2,
        residual_var=sigma2,
        fixed_effects=fixed,
        contrasts=pd.DataFrame(rows),
        df_method="normal (asymptotic) for p_value; t with df_t (containment, N - groups) for p_value_t",
        warnings=warns,
    )
