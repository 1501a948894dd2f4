"""Stability of the ROC-derived cut-off and optimism of the paper's procedure (issue 4).

- Stratified bootstrap (nonresponders and responders resampled separately, as
  ``stats.roc.bootstrap_cutoff``) of the Youden-optimal cut-off of the diazepam-equivalent dose
  for nonresponse, computed with the batched rank kernel (``roc_auc``) on all resamples at once.
- Harrell's bootstrap optimism correction (Harrell, Lee & Mark 1996, Stat Med 15:361-387;
  Harrell 2015, Regression Modeling Strategies, 2nd ed., sec. 5.3.2; Efron 1983) of the AUC
  (c statistic) of the paper's whole procedure: find the cut-off on the data, dichotomise,
  fit the logistic model of nonresponse on BZD+ and the covariates. In each resample the whole
  procedure is repeated; optimism = mean(AUC in the resample - AUC of the resample's model
  applied to the original data); corrected AUC = apparent AUC - optimism. The same correction
  is given for the dichotomised rule alone (AUC of a binary test = (sensitivity +
  specificity) / 2). The AUC of the continuous dose has no fitted parameter and no optimism.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .kernels import fit_logit, roc_auc


@dataclass(frozen=True)
class CutoffBootstrapResult:
    resamples: pd.DataFrame  # one row per resample: cutoff_mg, auc_dose, youden_j, rule/model AUCs
    observed_cutoff_mg: float
    cutoff_ci: tuple[float, float]  # percentile interval
    auc_dose: float  # AUC of the continuous dose (rank-based; no optimism)
    apparent_auc_rule: float
    optimism_rule: float
    corrected_auc_rule: float
    apparent_auc_model: float
    optimism_model: float
    corrected_auc_model: float
    n_boot: int
    seed: int
    n_undefined: int  # resamples without a cut-off (no positive Youden index)
    n_separated: int  # resamples whose model fit shows separation (coefficients diverge)
    warnings: list[str]  # why a quantity is not estimable (NaN here, null in the JSON)


def _stratified_indices(positive: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(positive == 1), np.flatnonzero(positive == 0)
    return np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)


def _design(dose: np.ndarray, cut: np.ndarray, Z: np.ndarray) -> np.ndarray:
    B, n = dose.shape
    X = np.empty((B, n, 2 + Z.shape[-1]))
    X[..., 0] = 1.0
    X[..., 1] = dose > cut[:, None]
    X[..., 2:] = Z
    return X


def _mean_or_nan(values: np.ndarray) -> float:
    """``np.nanmean``; NaN without a RuntimeWarning when every value is missing."""
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def cutoff_bootstrap(
    dose_mg: np.ndarray,
    nonresponse: np.ndarray,
    covariates: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 20200902,
    alpha: float = 0.05,
) -> CutoffBootstrapResult:
    """Bootstrap the Youden cut-off and optimism-correct the procedure's AUC.

    dose_mg (n,), nonresponse (n,) 0/1, covariates (n, k); patients with any missing value
    must be removed by the caller (and reported).
    """
    dose = np.asarray(dose_mg, float)
    y = np.asarray(nonresponse, float)
    Z = np.asarray(covariates, float).reshape(len(y), -1)
    if not (np.isfinite(dose).all() and np.isfinite(y).all() and np.isfinite(Z).all()):
        raise ValueError("cutoff_bootstrap: remove patients with missing values first")
    obs = roc_auc(dose, y)
    c0 = float(obs.cutoff[0])
    X0 = _design(dose[None], np.array([c0]), Z[None])
    m0 = fit_logit(X0, y, exposure_index=1)
    eta0 = X0[0] @ m0.params[0]
    warnings = []
    if np.isfinite(eta0).all():
        app_model = float(roc_auc(eta0, y).auc[0])
    else:  # e.g. one dose for everyone: no cut-off, no exposed patient, no model to score
        app_model = float("nan")
        warnings.append(
            f"the model on the observed data cannot be fitted (observed cut-off {c0}, "
            f"{int((dose > c0).sum())} patient(s) above it): its apparent and corrected AUC are "
            "not estimable"
        )
    app_rule = (float(obs.sensitivity[0]) + float(obs.specificity[0])) / 2

    idx = _stratified_indices(y, n_boot, seed)
    db, yb, Zb = dose[idx], y[idx], Z[idx]
    rb = roc_auc(db, yb)
    cut = rb.cutoff
    undefined = ~np.isfinite(cut) | ~(rb.youden_j > 0)
    cut_f = np.where(undefined, np.inf, cut)  # no cut-off: nobody exposed (rank-deficient fit)
    Xb = _design(db, cut_f, Zb)
    mb = fit_logit(Xb, yb, exposure_index=1)
    beta = np.nan_to_num(mb.params)
    eta_b = np.einsum("bnp,bp->bn", Xb, beta)
    X_orig = _design(np.broadcast_to(dose, db.shape), cut_f, np.broadcast_to(Z, Zb.shape))
    eta_o = np.einsum("bnp,bp->bn", X_orig, beta)
    auc_app = roc_auc(eta_b, yb).auc
    auc_test = roc_auc(eta_o, np.broadcast_to(y, yb.shape)).auc
    # Binary rule "dose > cut": AUC = (sens + spec) / 2, in the resample and on the data.
    rule_app = (rb.sensitivity + rb.specificity) / 2
    exposed = dose[None, :] > cut_f[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):  # one outcome class only: NaN, warned below
        sens_o = (exposed & (y == 1)).sum(1) / (y == 1).sum()
        spec_o = (~exposed & (y == 0)).sum(1) / (y == 0).sum()
    rule_test = (sens_o + spec_o) / 2
    ok = ~undefined
    frame = pd.DataFrame(
        {
            "resample": np.arange(n_boot),
            "cutoff_mg": np.where(undefined, np.nan, cut),
            "auc_dose": rb.auc,
            "sensitivity": rb.sensitivity,
            "specificity": rb.specificity,
            "youden_j": rb.youden_j,
            "n_youden_optima": rb.n_youden_optima,
            "auc_model_apparent": auc_app,
            "auc_model_test": auc_test,
            "auc_rule_apparent": rule_app,
            "auc_rule_test": rule_test,
            "separation": mb.separation,
        }
    )
    opt_model = _mean_or_nan(auc_app - auc_test)
    opt_rule = _mean_or_nan((rule_app - rule_test)[ok])
    if np.isnan(opt_model):
        warnings.append(
            "no bootstrap resample gives the model's AUC on both the resample and the data: the "
            "model's optimism and corrected AUC are not estimable"
        )
    if np.isnan(opt_rule):
        warnings.append(
            "no bootstrap resample has a Youden cut-off whose rule can be scored on the data: the "
            "rule's optimism and corrected AUC are not estimable"
        )
    lo, hi = np.nanquantile(frame["cutoff_mg"], [alpha / 2, 1 - alpha / 2]) if ok.any() else (np.nan, np.nan)
    return CutoffBootstrapResult(
        resamples=frame,
        observed_cutoff_mg=c0,
        cutoff_ci=(float(lo), float(hi)),
        auc_dose=float(obs.auc[0]),
        apparent_auc_rule=app_rule,
        optimism_rule=opt_rule,
        corrected_auc_rule=app_rule - opt_rule,
        apparent_auc_model=app_model,
        optimism_model=opt_model,
        corrected_auc_model=app_model - opt_model,
        n_boot=n_boot,
        seed=seed,
        n_undefined=int(undefined.sum()),
        n_separated=int(mb.separation.sum()),
        warnings=warnings,
    )
