"""Study heterogeneity of a pooled analysis: the paper's odds ratio within each study, pooled.

Methods
- Within each study: the paper's logistic model (nonresponse on BZD+, adjusted for the
  covariates; ``stats.logistic.fit_logistic``). The log odds ratio and its Wald variance come
  from the ML fit, or from Firth's penalized likelihood (Firth 1993; SE from the inverse Fisher
  information, as logistf / brglm2) where the Konis (2007) LP finds separation and the ML
  estimate does not exist; which one is used, and why, is recorded per study.
- Two-stage random-effects pooling of (y_i, v_i) (Borenstein et al. 2009, ch. 12-16;
  Viechtbauer 2005): tau^2 by DerSimonian & Laird (1986) and by REML (the root of the
  restricted-likelihood score, truncated at 0, as ``metafor::rma(method = "REML")``); the
  pooled log OR mu with weights 1 / (v_i + tau^2); Cochran's Q against chi^2_{k-1};
  I^2 = tau^2 / (tau^2 + s^2) and H^2 = (tau^2 + s^2) / s^2 with the typical within-study
  variance s^2 = (k-1) sum w / ((sum w)^2 - sum w^2) (Higgins & Thompson 2002; metafor's
  definition for every tau^2 estimator, equal to (Q - df) / Q for DerSimonian-Laird).
  CIs: normal (Wald) and Hartung-Knapp / Sidik-Jonkman (Hartung & Knapp 2001, IntHout et al.
  2014): SE^2 = sum w_i (y_i - mu)^2 / ((k - 1) sum w_i), t_{k-1} quantile, as
  ``metafor::rma(test = "knha")``; it is narrower than the normal CI when Q < k - 1, so the
  ad hoc variant that never lets the SE fall below the normal one (Knapp & Hartung 2003,
  ``test = "adhoc"``) is reported beside it, with a warning when the two differ.
- One-stage: the same logistic model on all patients with study as a fixed effect (k - 1
  study indicators; Debray et al. 2013), ML or Firth as above.

Checked against ``metafor`` 3.8 and ``glm`` / ``brglm2`` (``tests/reference/meta.R``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..jsonable import to_jsonable
from .logistic import fit_logistic
from .result import require_columns

__all__ = [
    "heterogeneity",
    "one_stage",
    "random_effects",
    "study_estimates",
    "tau2_dersimonian_laird",
    "tau2_reml",
]


def _check_yi_vi(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if y.ndim != 1 or y.shape != v.shape:
        raise ValueError(f"yi and vi must be 1-d of equal length, got shapes {y.shape} and {v.shape}")
    if len(y) < 2:
        raise ValueError(f"random-effects pooling needs at least 2 studies, got {len(y)}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError(f"yi must be finite and vi finite and > 0, got yi={y.tolist()}, vi={v.tolist()}")
    return y, v


def _weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * y) / np.sum(w))


def cochran_q(yi, vi) -> float:
    """Cochran's Q = sum w_i (y_i - mu_FE)^2 with w_i = 1 / v_i."""
    y, v = _check_yi_vi(yi, vi)
    w = 1 / v
    return float(np.sum(w * (y - _weighted_mean(y, w)) ** 2))


def tau2_dersimonian_laird(yi, vi) -> float:
    """DerSimonian & Laird (1986): max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))."""
    y, v = _check_yi_vi(yi, vi)
    w = 1 / v
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    return max(0.0, (cochran_q(y, v) - (len(y) - 1)) / c)


def _reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Restricted log-likelihood of the random-effects model (constants dropped)."""
    w = 1 / (v + tau2)
    mu = _weighted_mean(y, w)
    return float(-0.5 * (np.sum(np.log(v + tau2)) + math.log(np.sum(w)) + np.sum(w * (y - mu) ** 2)))


def _reml_score(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """d/d tau^2 of the restricted log-likelihood (times 2)."""
    w = 1 / (v + tau2)
    mu = _weighted_mean(y, w)
    return float(np.sum(w**2 * (y - mu) ** 2) - np.sum(w) + np.sum(w**2) / np.sum(w))


def tau2_reml(yi, vi) -> float:
    """REML tau^2 (Viechtbauer 2005): the maximum of the restricted likelihood over tau^2 >= 0.

    Every sign change of the score on a grid from 0 to 100 x (the largest of the DL estimate,
    the variance of y_i and max v_i) is refined by Brent's method to 1e-15 relative, and the
    candidate (0 included) with the highest restricted likelihood wins: exact, where metafor's
    Fisher scoring stops at a change < 1e-5 by default (set ``threshold`` smaller to compare)."""
    y, v = _check_yi_vi(yi, vi)
    scale = max(tau2_dersimonian_laird(y, v), float(np.var(y)), float(np.max(v)))
    grid = np.concatenate([[0.0], scale * np.logspace(-8, 2, 400)])
    score = np.array([_reml_score(t, y, v) for t in grid])
    candidates = [0.0]
    for a, b, sa, sb in zip(grid[:-1], grid[1:], score[:-1], score[1:]):
        if sa > 0 >= sb:  # a maximum of the likelihood between a and b
            candidates.append(optimize.brentq(_reml_score, a, b, args=(y, v), xtol=1e-300, rtol=1e-15))
    if score[-1] > 0:
        raise ArithmeticError(
            "REML tau^2: the restricted likelihood still increases at the end of the search"
        )
    return max(candidates, key=lambda t: _reml_loglik(t, y, v))


def random_effects(yi, vi, method: str = "REML", alpha: float = 0.05) -> dict:
    """Random-effects pooling of estimates ``yi`` with sampling variances ``vi`` (see module doc).

    ``method``: "DL" (DerSimonian-Laird) or "REML". Returns tau^2, tau, I^2 (%), H^2, Q (df, p),
    the pooled estimate with its normal (Wald) and Hartung-Knapp CI and p, and the weights (%)."""
    y, v = _check_yi_vi(yi, vi)
    if method not in ("DL", "REML"):
        raise ValueError(f"method must be 'DL' or 'REML', got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    k = len(y)
    tau2 = tau2_dersimonian_laird(y, v) if method == "DL" else tau2_reml(y, v)
    w_fe = 1 / v
    s2 = (k - 1) * float(np.sum(w_fe)) / (float(np.sum(w_fe)) ** 2 - float(np.sum(w_fe**2)))
    w = 1 / (v + tau2)
    mu = _weighted_mean(y, w)
    se = math.sqrt(1 / float(np.sum(w)))
    z = stats.norm.ppf(1 - alpha / 2)
    q = cochran_q(y, v)
    se_hk = math.sqrt(float(np.sum(w * (y - mu) ** 2)) / ((k - 1) * float(np.sum(w))))
    se_adhoc = max(se_hk, se)
    t = stats.t.ppf(1 - alpha / 2, k - 1)
    out = {
        "method": method,
        "k": k,
        "tau2": tau2,
        "tau": math.sqrt(tau2),
        "i2_percent": 100 * tau2 / (tau2 + s2),
        "h2": (tau2 + s2) / s2,
        "q": q,
        "q_df": k - 1,
        "q_p_value": float(stats.chi2.sf(q, k - 1)),
        "estimate": mu,
        "se": se,
        "ci_wald": (mu - z * se, mu + z * se),
        "p_wald": float(2 * stats.norm.sf(abs(mu / se))),
        "se_hartung_knapp": se_hk,
        "ci_hartung_knapp": (mu - t * se_hk, mu + t * se_hk),
        "p_hartung_knapp": float(2 * stats.t.sf(abs(mu / se_hk), k - 1)) if se_hk > 0 else None,
        "hartung_knapp_df": k - 1,
        "se_hartung_knapp_adhoc": se_adhoc,
        "ci_hartung_knapp_adhoc": (mu - t * se_adhoc, mu + t * se_adhoc),
        "p_hartung_knapp_adhoc": float(2 * stats.t.sf(abs(mu / se_adhoc), k - 1)),
        "weights_percent": (100 * w / np.sum(w)).tolist(),
    }
    return out


def _odds_ratio_scale(block: dict) -> dict:
    """exp() of the log-OR estimate and CI limits of a pooled block (JSON: inf -> null)."""
    ex = {}
    for key in ("estimate", "ci_wald", "ci_hartung_knapp", "ci_hartung_knapp_adhoc"):
        val = block[key]
        with np.errstate(over="ignore"):
            ex[key] = tuple(float(np.exp(x)) for x in val) if isinstance(val, tuple) else float(np.exp(val))
    return {
        "odds_ratio": ex["estimate"],
        "odds_ratio_ci_wald": ex["ci_wald"],
        "odds_ratio_ci_hartung_knapp": ex["ci_hartung_knapp"],
        "odds_ratio_ci_hartung_knapp_adhoc": ex["ci_hartung_knapp_adhoc"],
    }


def _chosen_block(res) -> tuple[str, str, object]:
    """ML block, or the Firth block where separation makes the ML estimate infinite."""
    if res.separation:
        terms = ", ".join(sorted(res.separation_terms)) or "some terms"
        return "firth", f"separation (Konis 2007 LP; infinite ML estimate of {terms}): Firth", res.firth
    if not res.ml.estimable:
        return "firth", "ML fit failed (see warnings): Firth", res.firth
    return "ml", "no separation: maximum likelihood", res.ml


def _model_block(frame: pd.DataFrame, predictors: list[str], focus: str, alpha: float) -> dict:
    """The paper's logistic model (nonresponse) on ``frame``: the focus term's log OR, Wald SE
    and CI from ML or Firth (see ``_chosen_block``), or ``estimable: False`` with the reason."""
    out = {
        "n": len(frame),
        "estimable": False,
        "estimator": None,
        "estimator_reason": None,
        "log_odds_ratio": None,
        "se": None,
        "odds_ratio": None,
        "ci_wald": None,
        "p_wald": None,
        "separation": None,
        "warnings": [],
    }
    try:
        res = fit_logistic(
            frame, "responder", predictors, event=False, focus=focus, alpha=alpha, profile=False
        )
    except ValueError as err:
        out["warnings"].append(f"model not fitted: {err}")
        return out
    estimator, reason, block = _chosen_block(res)
    out.update(
        n=res.n,
        n_nonresponders=res.events,
        n_missing=res.n_missing,
        separation=res.separation,
        estimator=estimator,
        estimator_reason=reason,
        warnings=list(res.warnings),
    )
    if block.estimable and block.se is not None and math.isfinite(block.se) and block.se > 0:
        out.update(
            estimable=True,
            log_odds_ratio=block.estimate,
            se=block.se,
            odds_ratio=block.odds_ratio,
            ci_wald=block.ci_wald,
            p_wald=block.p_wald,
        )
    else:
        out["warnings"].append(f"{estimator} estimate of {focus} not available: excluded from the pooling")
    return out


def study_estimates(
    patients: pd.DataFrame,
    covariates: list[str],
    alpha: float = 0.05,
    study: str = "study",
    exposure: str = "bzd_plus",
) -> list[dict]:
    """The paper's adjusted OR of nonresponse for ``exposure`` within each study (sorted by name)."""
    require_columns(patients, [study, exposure, "responder", *covariates])
    rows = []
    for name, frame in patients.groupby(study, sort=True):
        block = _model_block(frame, [exposure, *covariates], exposure, alpha)
        block["n_exposed"] = int(frame[exposure].astype(bool).sum())
        rows.append({"study": str(name), **block})
    return rows


def one_stage(
    patients: pd.DataFrame,
    covariates: list[str],
    alpha: float = 0.05,
    study: str = "study",
    exposure: str = "bzd_plus",
) -> dict:
    """The paper's model on all patients with study as a fixed effect (indicators for every study
    but the first in sort order)."""
    require_columns(patients, [study, exposure, "responder", *covariates])
    names = sorted(patients[study].astype(str).unique())
    frame = patients.copy()
    dummies = []
    for s in names[1:]:
        col = f"study[{s}]"
        frame[col] = (frame[study].astype(str) == s).astype(float)
        dummies.append(col)
    out = _model_block(frame, [exposure, *covariates, *dummies], exposure, alpha)
    return {"reference_study": names[0], "study_terms": dummies, **out}


def heterogeneity(
    patients: pd.DataFrame,
    covariates: list[str],
    alpha: float = 0.05,
    study: str = "study",
    exposure: str = "bzd_plus",
) -> dict:
    """Per-study ORs, two-stage DL and REML pooling, and the one-stage model (see module doc).

    With fewer than 2 studies with an estimate the pooling is skipped (``pooled.estimable`` is
    false, with a note); with fewer than 2 studies the one-stage model is skipped too."""
    per_study = study_estimates(patients, covariates, alpha, study, exposure)
    usable = [r for r in per_study if r["estimable"]]
    warnings = [f"study {r['study']}: {w}" for r in per_study for w in r["warnings"]]
    out: dict = {
        "model": "logit P(nonresponse) ~ " + " + ".join([exposure, *covariates]),
        "effect": f"log odds ratio of nonresponse, {exposure} vs not",
        "alpha": alpha,
        "n_studies": len(per_study),
        "n_studies_pooled": len(usable),
        "studies": per_study,
    }
    if len(usable) < 2:
        note = (
            f"{len(per_study)} study in the data: heterogeneity between studies is not defined; pooling skipped"
            if len(per_study) < 2
            else f"only {len(usable)} of {len(per_study)} studies have an estimate: pooling skipped"
        )
        out["pooled"] = {"estimable": False, "note": note}
        warnings.append(note)
    else:
        yi = [r["log_odds_ratio"] for r in usable]
        vi = [r["se"] ** 2 for r in usable]
        pooled = {"estimable": True, "studies": [r["study"] for r in usable]}
        for method in ("DL", "REML"):
            try:
                block = random_effects(yi, vi, method, alpha)
            except ArithmeticError as err:  # REML search without a maximum: say so, do not crash
                pooled[method.lower()] = {"method": method, "estimable": False, "note": str(err)}
                warnings.append(f"{method}: not estimated ({err})")
                continue
            pooled[method.lower()] = {"estimable": True, **block, **_odds_ratio_scale(block)}
            if block["se_hartung_knapp"] < block["se"]:
                warnings.append(
                    f"{method}: Q = {block['q']:.3g} < k - 1 = {block['q_df']}, so the Hartung-Knapp SE "
                    f"({block['se_hartung_knapp']:.3g}) is below the normal SE ({block['se']:.3g}) and its CI "
                    "is narrower than the normal CI; the ad hoc variant (ci_hartung_knapp_adhoc) is the "
                    "conservative one"
                )
        out["pooled"] = pooled
        if len(usable) < len(per_study):
            warnings.append(
                f"{len(per_study) - len(usable)} study/studies without an estimate left out of the pooling"
            )
    if len(per_study) < 2:
        out["one_stage"] = {"estimable": False, "note": "one study: no study effect to adjust for; skipped"}
    else:
        os_ = one_stage(patients, covariates, alpha, study, exposure)
        warnings += [f"one-stage model: {w}" for w in os_["warnings"]]
        out["one_stage"] = os_
    out["warnings"] = warnings
    return to_jsonable(out)
