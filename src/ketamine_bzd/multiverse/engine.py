"""Batched execution of multiverse specifications, observed and under permutation.

All specifications of a grid (or of one slice of it) are evaluated together: per patient the
data are a handful of arrays (doses per equivalence table and window, BZD use, study,
outcomes, covariates), every specification is a choice of rows of those arrays plus an
exposure coding, and the fits are the batched kernels of :mod:`.kernels` (ML logit, Firth
with penalized likelihood-ratio test, OLS, rank-based ROC). Nothing loops over
specifications in Python.

Conventions (the paper's): the binary outcome modelled is *nonresponse* (not responder / not
remitter), so an odds ratio above 1 means higher BZD exposure goes with nonresponse (paper:
OR = 9.7 for BZD+). The continuous outcome is the relative MADRS change at a visit
(positive = improvement), so the expected sign of its mean difference is negative.
Exposures: BZD+ = dose > cut-off (MedCalc ">c"); the ROC cut-off is the Youden-optimal
criterion for nonresponse re-estimated inside each specification (and inside each
permutation); ``median_users`` is the median dose of BZD users in the specification's
patients; ``log1p`` is log(1 + mg/day), ``per_10mg`` is mg/day / 10.

Permutation (Simonsohn, Simmons & Nelson 2020): patient i receives the whole BZD medication
record (doses in every table and window, user and as-needed status) of patient perm[i] of
the same study, while outcomes and covariates stay; so populations defined by BZD use move
with the exposure, and the ROC and median cut-offs are re-estimated on each relabelled cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .. import definitions as d
from ..equivalents import EquivalenceTable, MissingEquivalentError, load_table
from .grid import Grid
from .kernels import fit_firth, fit_logit, fit_ols, roc_cutoff

# Events per variable below this is reported as "too few events" (Vittinghoff & McCulloch
# 2007 relax the classic 10 to 5-9 without serious bias).
MIN_EVENTS_PER_VARIABLE = 5
# Memory of one batch of fits: evaluate_each holds (P, S, n) doses, exposures and masks and the
# (P * S, n, k) designs of a model family, about 64 bytes per (relabelling, specification,
# patient); specifications are fitted in blocks that stay within this budget (issue 10: at
# 10^4 patients one batch of every specification took 2-3 GB).
BATCH_MEMORY_BYTES = 256 * 2**20
BYTES_PER_FIT_AND_PATIENT = 64
MIN_GROUP_SIZE = 5


@dataclass
class PatientData:
    """Per-patient arrays shared by all specifications (n patients, fixed order)."""

    patient_id: np.ndarray
    study: np.ndarray
    outcome: dict[str, np.ndarray]  # event (1 = nonresponse / nonremission) or relative change; NaN unknown
    covariate: dict[str, np.ndarray]  # NaN unknown
    dose: dict[tuple[str, str], np.ndarray]  # (table, window) -> mg/day diazepam equivalent
    bzd_user: np.ndarray
    as_needed_only: np.ndarray
    failed_tables: dict[str, str] = field(default_factory=dict)  # table -> reason

    @property
    def n(self) -> int:
        return len(self.patient_id)

    def permuted(self, perm: np.ndarray) -> PatientData:
        """The cohort with the medication record of patient perm[i] given to patient i."""
        return PatientData(
            self.patient_id,
            self.study,
            self.outcome,
            self.covariate,
            {k: v[perm] for k, v in self.dose.items()},
            self.bzd_user[perm],
            self.as_needed_only[perm],
            self.failed_tables,
        )


def prepare_data(
    patients: pd.DataFrame, medication: pd.DataFrame, grid: Grid, table_paths: dict[str, str]
) -> PatientData:
    """Arrays for ``grid`` from the cohort tables, every variable through ``definitions``.

    Doses are re-converted from ``dose_mg`` with each equivalence table; a table that cannot
    be read or lacks a drug of the cohort is recorded in ``failed_tables`` with the reason (its
    specifications are reported as failed, the others still run).
    """
    patients = patients.sort_values(["study", "patient_id"], ignore_index=True)
    ids = pd.Index(patients["patient_id"])
    outcome = {}
    for name, o in grid.outcomes.items():
        if o.kind == "response":
            r = d.responder(patients, visits=o.visits, min_reduction=o.min_reduction)
            outcome[name] = np.where(r.isna(), np.nan, (~r.fillna(False)).astype(float))
        elif o.kind == "remission":
            r = d.remitter(patients, visit=o.visits[0], max_score=o.max_score)
            outcome[name] = np.where(r.isna(), np.nan, (~r.fillna(False)).astype(float))
        else:
            outcome[name] = d.relative_change(
                patients["madrs_day0"], patients[f"madrs_{o.visits[0]}"]
            ).to_numpy(float)
    covs = {c for cols in grid.adjustments.values() for c in cols}
    missing = covs - set(patients.columns)
    if missing:
        raise ValueError(f"multiverse adjustment covariates {sorted(missing)} not in patients")
    covariate = {c: patients[c].to_numpy(float) for c in sorted(covs)}

    bzd = medication[medication["drug_class"] == "bzd"]
    dose, failed = {}, {}
    for t in grid.tables:
        try:
            table = (
                table_paths[t]
                if isinstance(table_paths[t], EquivalenceTable)
                else load_table(table_paths[t], t)
            )
            conv = bzd.assign(dz=table.convert(bzd["drug"], bzd["dose_mg"]))
        except (MissingEquivalentError, ValueError, OSError) as exc:
            failed[t] = f"equivalence table {t!r} failed: {exc}"
            continue
        for w in grid.windows.values():
            dose[(t, w.name)] = d.dose_exposure(conv, ids, "dz", w.days, w.summary).to_numpy(float)
    return PatientData(
        patient_id=ids.to_numpy(),
        study=patients["study"].to_numpy(),
        outcome=outcome,
        covariate=covariate,
        dose=dose,
        bzd_user=patients["bzd_user"].to_numpy(bool),
        as_needed_only=patients["bzd_as_needed_only"].to_numpy(bool),
        failed_tables=failed,
    )


@dataclass
class _Plan:
    """Index arrays mapping each specification to rows of the per-patient arrays."""

    specs: pd.DataFrame
    dose_keys: list[tuple[str, str]]
    dose_idx: np.ndarray
    pop_names: list[str]
    pop_idx: np.ndarray
    out_names: list[str]
    out_idx: np.ndarray
    adj_names: list[str]
    adj_idx: np.ndarray
    exposure_kind: np.ndarray
    cutoff_mg: np.ndarray


def _plan(specs: pd.DataFrame, grid: Grid, data: PatientData) -> _Plan:
    dose_keys = sorted(data.dose)
    dk = {k: i for i, k in enumerate(dose_keys)}
    pops, outs, adjs = list(grid.populations), list(grid.outcomes), list(grid.adjustments)
    return _Plan(
        specs=specs,
        dose_keys=dose_keys,
        dose_idx=np.array([dk[(t, w)] for t, w in zip(specs["table"], specs["window"])], dtype=np.intp),
        pop_names=pops,
        pop_idx=specs["population"].map({p: i for i, p in enumerate(pops)}).to_numpy(np.intp),
        out_names=outs,
        out_idx=specs["outcome"].map({o: i for i, o in enumerate(outs)}).to_numpy(np.intp),
        adj_names=adjs,
        adj_idx=specs["adjustment"].map({a: i for i, a in enumerate(adjs)}).to_numpy(np.intp),
        exposure_kind=specs["exposure_kind"].to_numpy(),
        cutoff_mg=np.array(
            [grid.exposures[e].mg if grid.exposures[e].mg is not None else np.nan for e in specs["exposure"]]
        ),
    )


def population_masks(
    grid: Grid, names: list[str], user: np.ndarray, asn: np.ndarray, study: np.ndarray
) -> np.ndarray:
    """(P, n_populations, n) inclusion masks; user/asn are (P, n)."""
    P, n = user.shape
    out = np.ones((P, len(names), n), dtype=bool)
    for i, name in enumerate(names):
        pop = grid.populations[name]
        if pop.kind == "exclude_as_needed_only":
            out[:, i] = ~asn
        elif pop.kind == "bzd_users":
            out[:, i] = user
        elif pop.kind == "study":
            out[:, i] = study == pop.study
    return out


@dataclass
class BatchResult:
    """Per specification (columns) and relabelling (rows; row 0 of an observed run = data)."""

    estimate: np.ndarray  # (P, S) log OR or mean difference (NaN when not estimable)
    se: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray  # on the estimate's scale (log OR / difference)
    ci_high: np.ndarray
    n: np.ndarray
    n_exposed: np.ndarray
    n_events: np.ndarray
    cutoff_mg: np.ndarray  # exposure cut-off used (ROC / median / fixed), NaN if continuous
    warnings: list[list[str]] | None  # observed runs only
    method: np.ndarray  # (S,) text


# the (P, S) arrays of a BatchResult, in field order (then warnings and method)
PER_FIT_FIELDS = ("estimate", "se", "p_value", "ci_low", "ci_high", "n", "n_exposed", "n_events", "cutoff_mg")


def specification_block(n_relabellings: int, n_patients: int) -> int:
    """How many specifications one batch of fits takes within ``BATCH_MEMORY_BYTES`` (at least
    1). Each fit is computed on its own, so the blocks give the results of one batch."""
    per_spec = max(1, n_relabellings) * max(1, n_patients) * BYTES_PER_FIT_AND_PATIENT
    return max(1, BATCH_MEMORY_BYTES // per_spec)


def concat_results(parts: list[BatchResult]) -> BatchResult:
    """Blocks of specifications (columns) side by side, in order."""
    if len(parts) == 1:
        return parts[0]
    warns = None if parts[0].warnings is None else [w for r in parts for w in r.warnings]
    return BatchResult(
        *(np.concatenate([getattr(r, name) for r in parts], axis=1) for name in PER_FIT_FIELDS),
        warns,
        np.concatenate([r.method for r in parts]),
    )


def design_keys(grid: Grid, data: PatientData, specs: pd.DataFrame) -> np.ndarray:
    """Index of the first specification with the same model fit, for every specification.

    Two specifications are the same fit when their exposure vectors over all patients are
    equal (e.g. cut-offs 15 and 20 mg when no patient takes 15-20 mg/day) and outcome,
    population, covariates and estimator agree. A relabelling moves every exposure vector the
    same way, so such specifications stay identical under every permutation. ROC and median
    cut-offs depend on the data and are keyed by their dose vector.
    """
    first, out = {}, np.empty(len(specs), dtype=np.intp)
    for i, r in enumerate(specs.itertuples(index=False)):
        dd = data.dose.get((r.table, r.window))
        e = grid.exposures[r.exposure]
        if dd is None:
            v = ("failed", r.table)
        elif e.kind == "cutoff":
            v = ("bin", (dd > e.mg).tobytes())
        else:  # continuous doses and data-driven cut-offs: the dose vector itself
            v = (e.kind, dd.tobytes())
        est = "ols" if r.outcome_kind == "relative_change" else r.estimator
        k = (v, r.outcome, r.population, r.adjustment, est)
        out[i] = first.setdefault(k, i)
    return out


def evaluate(
    grid: Grid,
    data: PatientData,
    specs: pd.DataFrame | None = None,
    perms: np.ndarray | None = None,
    *,
    alpha: float = 0.05,
    detail: bool | None = None,
    firth_test: str = "lrt",
    keys: np.ndarray | None = None,
) -> BatchResult:
    """As :func:`evaluate_each`, fitting each distinct model once (:func:`design_keys`;
    pass ``keys`` = its result to reuse it across calls on the same data and specs)."""
    specs = (grid.specifications if specs is None else specs).reset_index(drop=True)
    rep = design_keys(grid, data, specs) if keys is None else keys
    uniq, inverse = np.unique(rep, return_inverse=True)
    n_relabel = 1 if perms is None else perms.shape[0]
    block = specification_block(n_relabel, data.n)
    r = concat_results(
        [
            evaluate_each(
                grid,
                data,
                specs.iloc[uniq[i : i + block]],
                perms,
                alpha=alpha,
                detail=detail,
                firth_test=firth_test,
            )
            for i in range(0, max(len(uniq), 1), block)
        ]
    )
    arrays = {name: getattr(r, name)[:, inverse] for name in PER_FIT_FIELDS}
    fixed = (specs["exposure_kind"] == "cutoff").to_numpy()
    mg = np.array([grid.exposures[e].mg or np.nan for e in specs["exposure"]])
    arrays["cutoff_mg"][:, fixed] = mg[fixed]
    return BatchResult(
        **arrays,
        warnings=None if r.warnings is None else [list(r.warnings[j]) for j in inverse],
        method=r.method[inverse],
    )


def evaluate_each(
    grid: Grid,
    data: PatientData,
    specs: pd.DataFrame | None = None,
    perms: np.ndarray | None = None,
    *,
    alpha: float = 0.05,
    detail: bool | None = None,
    firth_test: str = "lrt",
) -> BatchResult:
    """Fit every specification of ``specs`` (default: the whole grid) on the data (``perms``
    None) or on each relabelling ``perms`` (P, n) of the medication records.

    ``detail`` (default: only when observed) adds Firth profile penalized-likelihood CIs and
    the per-specification warnings; under permutation only estimates and p values are needed.
    Specifications of a failed equivalence table get NaN and the failure reason.
    """
    specs = grid.specifications if specs is None else specs
    specs = specs.reset_index(drop=True)
    observed = perms is None
    detail = observed if detail is None else detail
    if perms is None:
        perms = np.arange(data.n)[None, :]
    P, S, n = perms.shape[0], len(specs), data.n
    failed = specs["table"].isin(list(data.failed_tables)).to_numpy()
    est = np.full((P, S), np.nan)
    res = {k: np.full((P, S), np.nan) for k in ("se", "p", "lo", "hi", "n", "nx", "ne", "cut")}
    warns: list[list[str]] = [[] for _ in range(S)]
    method = np.array([""] * S, dtype=object)

    def result() -> BatchResult:
        fields = (res[k] for k in ("se", "p", "lo", "hi", "n", "nx", "ne", "cut"))
        return BatchResult(est, *fields, warns if detail else None, method)

    for i in np.flatnonzero(failed):
        warns[i].append(data.failed_tables[specs.at[i, "table"]])
        method[i] = "not run"
    ok_idx = np.flatnonzero(~failed)
    if len(ok_idx) == 0:
        return result()
    sp = specs.iloc[ok_idx].reset_index(drop=True)
    plan = _plan(sp, grid, data)
    So = len(sp)

    # Per-patient arrays under each relabelling: (P, K, n) doses, (P, n) user status.
    doses = np.stack([data.dose[k] for k in plan.dose_keys])[:, perms].transpose(1, 0, 2)
    pops = population_masks(
        grid, plan.pop_names, data.bzd_user[perms], data.as_needed_only[perms], data.study
    )
    Y = np.stack([data.outcome[o] for o in plan.out_names])  # (O, n)
    known = ~np.isnan(Y)
    cov_known = np.stack(
        [
            np.all([~np.isnan(data.covariate[c]) for c in grid.adjustments[a]] or [np.ones(n, bool)], axis=0)
            for a in plan.adj_names
        ]
    )
    dose = doses[:, plan.dose_idx]  # (P, So, n)
    mask = pops[:, plan.pop_idx] & (known[plan.out_idx] & cov_known[plan.adj_idx])[None]
    y = np.where(known, Y, 0.0)[plan.out_idx]  # (So, n)

    # Exposure coding per specification.
    x = np.zeros((P, So, n))
    cut = np.full((P, So), np.nan)
    kinds = plan.exposure_kind
    k = kinds == "cutoff"
    cut[:, k] = plan.cutoff_mg[k]
    k = kinds == "median_users"
    if k.any():
        users = data.bzd_user[perms][:, None, :] & mask[:, k]
        with np.errstate(all="ignore"):
            import warnings as _w

            with _w.catch_warnings():
                _w.simplefilter("ignore", RuntimeWarning)
                cut[:, k] = np.nanmedian(np.where(users, dose[:, k], np.nan), axis=2)
    k = kinds == "roc"
    if k.any():
        cut[:, k] = roc_cutoff(
            dose[:, k].reshape(-1, n),
            np.broadcast_to(y[k], (P, k.sum(), n)).reshape(-1, n),
            mask[:, k].reshape(-1, n),
        ).reshape(P, -1)
    binary = np.isin(kinds, ["cutoff", "median_users", "roc"])
    bi = np.flatnonzero(binary)
    # An undefined cut-off (no users, or no ROC) compares False: exposure constant 0 ->
    # rank-deficient fit.
    with np.errstate(invalid="ignore"):
        exposed = dose[:, bi] > cut[:, bi][..., None]
    x[:, bi] = exposed
    n_exp = np.full((P, So), np.nan)
    n_exp[:, bi] = np.count_nonzero(exposed & mask[:, bi], axis=2)
    res["nx"][:, ok_idx] = n_exp
    for kind, f in (("log1p", np.log1p), ("per_10mg", lambda v: v / 10.0)):
        ci = np.flatnonzero(kinds == kind)
        if ci.size:
            x[:, ci] = np.nan_to_num(f(dose[:, ci]), nan=0.0)

    cols = {a: [data.covariate[c] for c in grid.adjustments[a]] for a in plan.adj_names}
    out_binary = np.array([grid.outcomes[o].binary for o in sp["outcome"]])
    estimator = sp["estimator"].to_numpy()
    z = stats.norm.ppf(1 - alpha / 2)
    for ai, a in enumerate(plan.adj_names):
        Z = np.stack(cols[a], axis=1) if cols[a] else np.empty((n, 0))
        Z = np.nan_to_num(Z)
        for fam in ("ml", "firth", "ols"):
            sel = (plan.adj_idx == ai) & (
                (~out_binary) if fam == "ols" else (out_binary & (estimator == fam))
            )
            if not sel.any():
                continue
            s_idx = np.flatnonzero(sel)
            B = P * len(s_idx)
            X = np.empty((P, len(s_idx), n, 2 + Z.shape[1]))
            X[..., 0] = 1.0
            X[..., 1] = x[:, s_idx]
            X[..., 2:] = Z
            X = X.reshape(B, n, -1)
            yy = np.broadcast_to(y[s_idx], (P, len(s_idx), n)).reshape(B, n)
            mm = mask[:, s_idx].reshape(B, n)
            g = ok_idx[s_idx]
            if fam == "ols":
                f = fit_ols(X, yy, mm, alpha=alpha)
                e, se, pv = f.params[:, 1], f.bse[:, 1], f.pvalues[:, 1]
                lo, hi = f.ci_low[:, 1], f.ci_high[:, 1]
                nobs, ne = f.n_obs, np.full(B, np.nan)
                fw = f.warnings() if detail else None
                method[g] = "OLS; t-based CI and p"
            elif fam == "ml":
                # Separated fits are reported without an estimate, so under permutation
                # (no warnings needed) an empty exposure x outcome cell is not iterated.
                f = fit_logit(X, yy, mm, exposure_index=1, skip_zero_cell=not detail)
                good = ~f.separation & f.converged
                e = np.where(good, f.params[:, 1], np.nan)
                se = np.where(good, f.bse[:, 1], np.nan)
                pv = np.where(good, f.pvalues[:, 1], np.nan)
                lo, hi = e - z * se, e + z * se
                nobs, ne = f.n_obs, f.n_events
                fw = f.warnings() if detail else None
                method[g] = "logistic ML (IRLS); Wald CI and p"
            else:
                lrt = firth_test == "lrt"
                f = fit_firth(
                    X,
                    yy,
                    mm,
                    test_index=1 if lrt else None,
                    exposure_index=1,
                    alpha=alpha,
                    profile_ci=detail and lrt,
                )
                good = f.converged
                e = np.where(good, f.params[:, 1], np.nan)
                se = np.where(good, f.bse[:, 1], np.nan)
                pv = (
                    np.where(good & f.lrt_converged, f.lrt_pvalue, np.nan)
                    if lrt
                    else np.where(good, f.pvalues[:, 1], np.nan)
                )
                lo = f.pl_ci_low if detail and lrt else f.ci_low[:, 1]
                hi = f.pl_ci_high if detail and lrt else f.ci_high[:, 1]
                if detail and lrt:
                    lo, hi = _profile_fallback(X, yy, mm, f, lo, hi, alpha)
                nobs, ne = f.n_obs, f.n_events
                fw = f.warnings() if detail else None
                method[g] = (
                    "logistic Firth; profile penalized-likelihood CI, penalized LRT p"
                    if detail and lrt
                    else f"logistic Firth; Wald CI, {'penalized LRT' if lrt else 'Wald'} p"
                )
            shape = (P, len(s_idx))
            est[:, g] = e.reshape(shape)
            for key, v in (("se", se), ("p", pv), ("lo", lo), ("hi", hi), ("n", nobs), ("ne", ne)):
                res[key][:, g] = np.asarray(v, float).reshape(shape)
            if detail:
                npar = X.shape[2] - 1
                for j, gi in enumerate(g):
                    w = list(fw[j]) if P == 1 else []
                    if fam == "firth" and np.isfinite(lo[j]) and np.isfinite(hi[j]):
                        # found by the per-specification fallback (_profile_fallback)
                        w = [t for t in w if not t.startswith("profile-likelihood confidence limit")]
                    if fam != "ols":
                        events = min(ne[j], nobs[j] - ne[j])
                        if events / npar < MIN_EVENTS_PER_VARIABLE:
                            w.append(
                                f"too few events: {events:g} in the smaller outcome class for "
                                f"{npar} predictor(s) (< {MIN_EVENTS_PER_VARIABLE} per variable)"
                            )
                    if binary[s_idx[j]]:
                        nexp = float(np.sum(x[0, s_idx[j]] * mask[0, s_idx[j]]))
                        if min(nexp, nobs[j] - nexp) < MIN_GROUP_SIZE:
                            w.append(f"small exposure group: {nexp:g} exposed of {nobs[j]:g}")
                    if np.isnan(cut[0, s_idx[j]]) and binary[s_idx[j]]:
                        w.append("cut-off undefined (no BZD users or no ROC in this population)")
                    if fam == "ml" and not np.isfinite(e[j]) and "separation" not in " ".join(w):
                        w.append("ML estimate not available")
                    warns[gi] = w
    for key in ("cut",):
        res[key][:, ok_idx] = cut
    return result()


def _profile_fallback(X, y, mask, f, lo, hi, alpha):
    """Profile limits the batched root search missed (it gives up when a warm-started
    constrained refit fails near separation), taken per specification from firthmodels'
    profile penalized-likelihood interval (Venzon & Moolgavkar 1988), the package the kernel is
    tested against. Only observed specifications, only the missed ones."""
    import warnings as _w

    from firthmodels import FirthLogisticRegression

    lo, hi = lo.copy(), hi.copy()
    fitted = f.converged & ~f.rank_deficient & ~f.no_outcome_variation
    for b in np.flatnonzero(fitted & (np.isnan(lo) | np.isnan(hi))):
        m = mask[b] > 0
        try:
            with _w.catch_warnings():
                _w.simplefilter("ignore")
                ref = FirthLogisticRegression(backend="numpy", gtol=1e-8, xtol=1e-8, max_iter=200)
                ref.fit(X[b, m, 1:], y[b, m])
                ci = ref.conf_int(alpha=alpha, method="pl", features=0, tol=1e-9, max_iter=200)[0]
        except Exception:  # noqa: BLE001 - a failed reference leaves the limit missing and warned
            continue
        if np.isnan(lo[b]) and np.isfinite(ci[0]):
            lo[b] = ci[0]
        if np.isnan(hi[b]) and np.isfinite(ci[1]):
            hi[b] = ci[1]
    return lo, hi


def expected_sign(grid: Grid, specs: pd.DataFrame) -> np.ndarray:
    """+1 where the paper's hypothesis predicts a positive estimate (log OR of nonresponse),
    -1 where it predicts a negative one (less relative MADRS improvement)."""
    return np.where([grid.outcomes[o].binary for o in specs["outcome"]], 1.0, -1.0)


def specification_table(
    grid: Grid, data: PatientData, specs: pd.DataFrame | None = None, *, alpha: float = 0.05
) -> pd.DataFrame:
    """``specifications.parquet``: one row per specification of the observed data.

    ``estimate``/``ci_low``/``ci_high``: odds ratio of nonresponse (binary outcomes) or mean
    difference in relative MADRS change (continuous outcome), per exposed vs unexposed or per
    unit of the continuous dose; ``p_value``: Wald (ML), penalized LRT (Firth) or t (OLS).
    """
    specs = (grid.specifications if specs is None else specs).reset_index(drop=True)
    r = evaluate(grid, data, specs, alpha=alpha)
    binary = np.array([grid.outcomes[o].binary for o in specs["outcome"]])
    tr = lambda v: np.where(binary, np.exp(v), v)
    out = specs.copy()
    out["n"] = r.n[0]
    out["n_exposed"] = r.n_exposed[0]
    out["n_events"] = r.n_events[0]
    out["cutoff_mg"] = r.cutoff_mg[0]
    out["estimate"] = tr(r.estimate[0])
    out["ci_low"] = tr(r.ci_low[0])
    out["ci_high"] = tr(r.ci_high[0])
    out["p_value"] = r.p_value[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["statistic"] = r.estimate[0] / r.se[0]  # Wald z (t for OLS) on the log-odds scale
    out["effect_scale"] = np.where(
        binary, "odds ratio (nonresponse)", "mean difference (relative MADRS change)"
    )
    out["method"] = r.method
    failed = specs["table"].isin(list(data.failed_tables)).to_numpy()
    # an estimate that is not a finite number (separation, an empty group, a constant dose) is
    # "not_estimable", never "ok"; the fit's warnings say why
    finite = np.isfinite(out["estimate"].to_numpy(float))
    out["status"] = np.where(failed, "failed", np.where(finite, "ok", "not_estimable"))
    warnings = ["; ".join(w) for w in r.warnings]
    out["warnings"] = [
        w if (ok or failed_i or w) else "estimate not finite (no reason given by the fit)"
        for w, ok, failed_i in zip(warnings, finite, failed)
    ]
    out["is_paper"] = out["spec_id"] == "|".join(
        grid.paper[k]
        for k in ("exposure", "outcome", "window", "table", "population", "adjustment", "estimator")
    )
    return out
