"""The paper's analyses on the cohort (``results/cohort/patients.parquet``), one function per rule.

Each function takes the tidy patients frame and an ``AnalysisSettings`` (``config.yaml:
analysis``) and returns JSON-able dicts / tidy frames; the statistics themselves are in
``ketamine_bzd.stats``. Output contract: ``docs/results.md``. Groups:

- responders vs nonresponders (Table 1): ``responder`` (>= 50 % MADRS reduction at any
  follow-up visit); patients with unknown response are excluded and counted;
- BZD+ vs BZD- (Table 2, response, RM-ANOVA): ``diazepam_eq_mg`` > ``bzd_cutoff_mg`` (paper:
  "> 8 mg of DZ equivalent", ``definitions.bzd_high_dose``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import definitions as d
from .jsonable import to_jsonable
from .stats.contingency import response_by_group
from .stats.descriptives import RowSpec, build_table, render_markdown
from .stats.effect_size import group_difference_tests
from .stats.logistic import fit_logistic
from .stats.mixed import mixed_model
from .stats.mmrm import mmrm
from .stats.result import clopper_pearson
from .stats.rm_anova import rm_anova, simple_effects
from .stats.roc import roc_from_frame

BZD_PLUS, BZD_MINUS = "BZD+", "BZD-"
RESPONDERS, NONRESPONDERS = "responders", "nonresponders"
MADRS_VISITS = ("day0", "day1", "day3", "day7")
MADRS_COLUMNS = [f"madrs_{v}" for v in MADRS_VISITS]
REL_CHANGE_COLUMNS = [f"madrs_rel_change_{v}" for v in d.FOLLOW_UP_VISITS]
ROC_SUBSETS = {"all": None, "bzd_users": "bzd_user"}


@dataclass(frozen=True)
class AnalysisSettings:
    """``config.yaml: analysis`` (defaults = the paper's choices).

    Each rule receives only the config sections it uses (``rules/analysis.smk``), so that a
    change reruns only the analyses that depend on it; absent sections keep their defaults and
    are left out of ``to_dict()`` (the settings recorded in that rule's outputs).
    """

    bzd_cutoff_mg: float = 8.0
    alpha: float = 0.05
    roc_populations: tuple[str, ...] = ("all", "bzd_users")
    bootstrap_n: int = 2000
    bootstrap_seed: int = 20200844
    covariates: tuple[str, ...] = ("madrs_day0", "bai_day0")
    effect_size_ci: str = "noncentral_t"
    given: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, analysis: dict) -> "AnalysisSettings":
        values = {"bzd_cutoff_mg": float(analysis["bzd_cutoff_mg"]), "alpha": float(analysis["alpha"])}
        if "roc" in analysis:
            values |= {
                "roc_populations": tuple(analysis["roc"]["populations"]),
                "bootstrap_n": int(analysis["roc"]["bootstrap_n"]),
                "bootstrap_seed": int(analysis["roc"]["bootstrap_seed"]),
            }
        if "logistic" in analysis:
            values["covariates"] = tuple(analysis["logistic"]["covariates"])
        if "effect_size" in analysis:
            values["effect_size_ci"] = analysis["effect_size"]["ci_method"]
        return cls(**values, given=tuple(values))

    def to_dict(self) -> dict:
        fields = self.given or tuple(f for f in self.__dataclass_fields__ if f != "given")
        return to_jsonable({f: getattr(self, f) for f in fields})


def add_groups(patients: pd.DataFrame, cutoff_mg: float) -> pd.DataFrame:
    """Add ``bzd_plus`` (bool), ``bzd_group`` ("BZD+"/"BZD-") and ``response_group``
    ("responders"/"nonresponders", missing when response is unknown)."""
    missing = [c for c in ("diazepam_eq_mg", "responder") if c not in patients]
    if missing:
        raise ValueError(f"patients table lacks column(s) {missing}")
    dose = patients["diazepam_eq_mg"]
    if dose.isna().any():
        ids = patients.loc[dose.isna(), "patient_id"].tolist() if "patient_id" in patients else []
        raise ValueError(
            f"diazepam_eq_mg missing for {int(dose.isna().sum())} patient(s) {ids[:5]}: "
            "BZD+/BZD- cannot be assigned"
        )
    out = patients.copy()
    out["bzd_plus"] = d.bzd_high_dose(dose, cutoff_mg).astype(bool)
    out["bzd_group"] = np.where(out["bzd_plus"], BZD_PLUS, BZD_MINUS)
    resp = out["responder"].astype("boolean")
    out["response_group"] = pd.Series(pd.NA, index=out.index, dtype="object")
    out.loc[resp.fillna(False).astype(bool), "response_group"] = RESPONDERS
    out.loc[(~resp).fillna(False).astype(bool), "response_group"] = NONRESPONDERS
    return out


def collect_warnings(obj, path: str = "") -> list[str]:
    """Every ``warnings`` list in a nested JSON-able object, as ``"path: message"``."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else str(k)
            if k == "warnings" and isinstance(v, list):
                found += [f"{path or 'result'}: {w}" for w in v]
            else:
                found += collect_warnings(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += collect_warnings(v, f"{path}[{i}]")
    return found


# --- Tables 1 and 2 -----------------------------------------------------------------------


def comparison_table(
    patients: pd.DataFrame, group: str, groups: tuple[str, str], specs: list[RowSpec]
) -> tuple[pd.DataFrame, list[str]]:
    """``stats.descriptives.build_table`` on the patients with a known ``group``; patients
    without one (unknown response) are excluded, counted in ``n_excluded`` and warned about."""
    known = patients[group].notna()
    warnings = []
    if (~known).any():
        warnings.append(f"{int((~known).sum())} patient(s) with unknown {group} excluded from the table")
    table = build_table(patients.loc[known], group, specs, groups=list(groups))
    table.insert(0, "row", range(1, len(table) + 1))
    table["n_excluded"] = int((~known).sum())
    return table, warnings


def table_markdown(table: pd.DataFrame, title: str, warnings: list[str], data_source: str) -> str:
    text = render_markdown(table, digits=2, title=title)
    notes = [f"Data source: {data_source}."] + [f"Warning: {w}" for w in warnings]
    notes += [f"Warning ({r.variable}): {r.warnings}" for r in table.itertuples() if r.warnings]
    return text + "\n" + "\n\n".join(notes) + "\n"


# --- ROC ------------------------------------------------------------------------------------


def operating_point(frame: pd.DataFrame, cutoff_mg: float, alpha: float) -> dict:
    """Sensitivity / specificity of ``diazepam_eq_mg > cutoff_mg`` for nonresponse."""
    data = frame.dropna(subset=["responder"])
    nonresp = data.loc[~data["responder"].astype(bool), "diazepam_eq_mg"]
    resp = data.loc[data["responder"].astype(bool), "diazepam_eq_mg"]
    tp, tn = int((nonresp > cutoff_mg).sum()), int((resp <= cutoff_mg).sum())
    m, n = len(nonresp), len(resp)
    return {
        "criterion": f">{cutoff_mg:g}",
        "cutoff_mg": cutoff_mg,
        "true_positive": tp,
        "n_positive": m,
        "true_negative": tn,
        "n_negative": n,
        "sensitivity": tp / m if m else math.nan,
        "sensitivity_ci": clopper_pearson(tp, m, alpha),
        "specificity": tn / n if n else math.nan,
        "specificity_ci": clopper_pearson(tn, n, alpha),
    }


def roc(patients: pd.DataFrame, settings: AnalysisSettings) -> tuple[dict, pd.DataFrame]:
    """ROC of ``diazepam_eq_mg`` for nonresponse in each population (MedCalc-style, see
    ``stats.roc``), plus the operating point of the configured cut-off. A population where
    the ROC cannot be computed (e.g. no responder) gets ``estimable: false`` and its error."""
    blocks, coords = {}, []
    for pop in settings.roc_populations:
        if pop not in ROC_SUBSETS:
            raise ValueError(f"unknown ROC population {pop!r}; use {sorted(ROC_SUBSETS)}")
        subset = ROC_SUBSETS[pop]
        data = patients if subset is None else patients[patients[subset].astype(bool)]
        try:
            res = roc_from_frame(
                patients,
                "diazepam_eq_mg",
                "responder",
                positive=False,
                subset=subset,
                population=pop,
                alpha=settings.alpha,
                n_boot=settings.bootstrap_n,
                seed=settings.bootstrap_seed,
            )
        except ValueError as err:
            blocks[pop] = {
                "population": pop,
                "estimable": False,
                "error": str(err),
                "warnings": [f"ROC not computed: {err}"],
            }
            continue
        block = {"estimable": True, **res.to_dict()}
        block["at_configured_cutoff"] = operating_point(data, settings.bzd_cutoff_mg, settings.alpha)
        blocks[pop] = block
        c = res.coordinates.copy()
        c.insert(0, "population", pop)
        coords.append(c)
    out = {
        "marker": "diazepam_eq_mg",
        "marker_unit": "mg/day diazepam equivalent",
        "status": "responder",
        "positive_class": "nonresponder (responder == False)",
        "configured_cutoff_mg": settings.bzd_cutoff_mg,
        "alpha": settings.alpha,
        "populations": blocks,
    }
    out["warnings"] = collect_warnings(blocks)
    table = pd.concat(coords, ignore_index=True) if coords else pd.DataFrame({"population": []})
    return to_jsonable(out), table


# --- response, logistic regression, dose-response ----------------------------------------


def response(patients: pd.DataFrame, settings: AnalysisSettings) -> dict:
    """Response rate in BZD+ vs BZD- (Fisher) and BZD use in responders vs nonresponders."""
    by_group = response_by_group(
        patients, "bzd_group", "responder", groups=[BZD_PLUS, BZD_MINUS], event=True, alpha=settings.alpha
    )
    use = response_by_group(
        patients,
        "response_group",
        "bzd_user",
        groups=[RESPONDERS, NONRESPONDERS],
        event=True,
        alpha=settings.alpha,
    )
    out = {
        "bzd_cutoff_mg": settings.bzd_cutoff_mg,
        "response_by_bzd_group": by_group.to_dict(),
        "bzd_use_by_response": use.to_dict(),
    }
    out["warnings"] = collect_warnings({k: out[k] for k in ("response_by_bzd_group", "bzd_use_by_response")})
    return to_jsonable(out)


def _logistic_block(frame: pd.DataFrame, predictors: list[str], focus: str, alpha: float) -> dict:
    try:
        res = fit_logistic(frame, "responder", predictors, event=False, focus=focus, alpha=alpha)
    except ValueError as err:
        return {
            "estimable": False,
            "error": str(err),
            "predictors": predictors,
            "focus": focus,
            "warnings": [f"model not fitted: {err}"],
        }
    return {"estimable": True, **res.to_dict()}


def dose_correlation(patients: pd.DataFrame, column: str = "madrs_rel_change_day7") -> dict:
    """Spearman correlation of the dose with ``column`` (all patients and BZD users)."""
    out = {}
    for pop, subset in ROC_SUBSETS.items():
        data = patients if subset is None else patients[patients[subset].astype(bool)]
        sub = data[["diazepam_eq_mg", column]].dropna()
        block = {"variable": column, "n": len(sub), "n_missing": int(len(data) - len(sub)), "warnings": []}
        if len(sub) < 3 or sub["diazepam_eq_mg"].nunique() < 2 or sub[column].nunique() < 2:
            block.update(rho=None, p_value=None)
            block["warnings"].append("fewer than 3 patients or a constant variable: correlation undefined")
        else:
            r = sps.spearmanr(sub["diazepam_eq_mg"], sub[column])
            block.update(rho=float(r.statistic), p_value=float(r.pvalue))
        if block["n_missing"]:
            block["warnings"].append(f"{block['n_missing']} patient(s) with missing {column} excluded")
        out[pop] = block
    return out


def logistic(patients: pd.DataFrame, settings: AnalysisSettings) -> dict:
    """Nonresponse on BZD+ adjusted for the covariates (paper: OR 9.7), and on the dose (per mg
    diazepam equivalent) with the same covariates; ML (Wald + profile CI) and Firth."""
    cov = list(settings.covariates)
    out = {
        "outcome": "nonresponse (responder == False)",
        "covariates": cov,
        "bzd_cutoff_mg": settings.bzd_cutoff_mg,
        "bzd_plus_adjusted": _logistic_block(patients, ["bzd_plus", *cov], "bzd_plus", settings.alpha),
        "dose_continuous": _logistic_block(
            patients, ["diazepam_eq_mg", *cov], "diazepam_eq_mg", settings.alpha
        ),
        "dose_correlation_day7": dose_correlation(patients),
    }
    out["warnings"] = collect_warnings({k: v for k, v in out.items() if isinstance(v, dict)})
    return to_jsonable(out)


# --- repeated measures ------------------------------------------------------------------


def _estimable(what: str, fit) -> dict:
    """``fit()`` with ``estimable: true``, or, when the data cannot support the model (a group
    without patients, a rank-deficient design: ValueError), ``estimable: false`` with the
    reason in ``error`` and ``warnings`` (as the ROC and logistic blocks)."""
    try:
        return {"estimable": True, **fit()}
    except ValueError as err:
        return {"estimable": False, "error": str(err), "warnings": [f"{what} not computed: {err}"]}


def repeated_measures(patients: pd.DataFrame, settings: AnalysisSettings) -> tuple[dict, pd.DataFrame, dict]:
    """RM-ANOVA (BZD group x visit on MADRS), post hoc tests and the linear mixed model.

    ``posthoc`` rows: ``analysis = "simple_effect_madrs"`` (group difference in MADRS at each
    visit on the RM-ANOVA's patients, Bonferroni over the 4 visits) and
    ``analysis = "relative_change_t_test"`` (Student t test and Hedges' g of the relative MADRS
    change at days 1, 3 and 7, as Table 2 and the Results' g = 0.67 / 0.78)."""
    groups = [BZD_PLUS, BZD_MINUS]
    kw = dict(
        subject="patient_id",
        group="bzd_group",
        columns=MADRS_COLUMNS,
        groups=groups,
        times=list(MADRS_VISITS),
    )
    rm = _estimable("RM-ANOVA", lambda: rm_anova(patients, dv="madrs", alpha=settings.alpha, **kw).to_dict())
    try:
        se = simple_effects(patients, alpha=settings.alpha, **kw)
    except ValueError as err:  # e.g. a group without a complete patient: every visit undefined
        se = pd.DataFrame(
            {
                "time": list(MADRS_VISITS),
                "group_1": BZD_PLUS,
                "group_2": BZD_MINUS,
                "warnings": f"not estimable: {err}",
            }
        )
    se.insert(0, "analysis", "simple_effect_madrs")
    se.insert(1, "variable", [f"madrs_{t}" for t in se["time"]])
    tt = group_difference_tests(
        patients,
        "bzd_group",
        REL_CHANGE_COLUMNS,
        groups=groups,
        alpha=settings.alpha,
        ci_method=settings.effect_size_ci,
    )
    tt.insert(0, "analysis", "relative_change_t_test")
    tt.insert(1, "time", [c.rsplit("_", 1)[1] for c in tt["variable"]])
    tt["p_bonferroni"] = np.nan
    posthoc = pd.concat([se, tt], ignore_index=True)
    posthoc["warnings"] = posthoc.pop("warnings").fillna("")
    mm = _estimable(
        "mixed model", lambda: mixed_model(patients, dv="madrs", alpha=settings.alpha, **kw).to_dict()
    )
    rm = {"bzd_cutoff_mg": settings.bzd_cutoff_mg, **rm}
    mm = {"bzd_cutoff_mg": settings.bzd_cutoff_mg, **mm}
    return to_jsonable(rm), posthoc, to_jsonable(mm)


def mmrm_analysis(patients: pd.DataFrame, settings: AnalysisSettings) -> dict:
    """MMRM of the MADRS change from baseline at days 1, 3, 7 (``stats.mmrm``): BZD group x visit
    + baseline MADRS x visit, unstructured covariance, REML, Satterthwaite df. Every patient with
    a baseline and at least one post-baseline MADRS is used. A design that cannot be estimated
    (e.g. a group without any patient at a visit) gives ``estimable: false`` and the reason."""
    follow_up = [f"madrs_{v}" for v in d.FOLLOW_UP_VISITS]
    try:
        res = mmrm(
            patients,
            subject="patient_id",
            group="bzd_group",
            baseline="madrs_day0",
            columns=follow_up,
            groups=[BZD_PLUS, BZD_MINUS],
            visits=list(d.FOLLOW_UP_VISITS),
            dv="madrs_change_from_baseline",
            alpha=settings.alpha,
        )
    except ValueError as err:
        return to_jsonable(
            {
                "bzd_cutoff_mg": settings.bzd_cutoff_mg,
                "estimable": False,
                "error": str(err),
                "warnings": [f"MMRM not fitted: {err}"],
            }
        )
    return to_jsonable({"bzd_cutoff_mg": settings.bzd_cutoff_mg, "estimable": True, **res.to_dict()})


# --- cohort facts the paper prints ------------------------------------------------------


def _mean_sd(x: pd.Series) -> tuple[float, float]:
    x = x.dropna().astype(float)
    return float(x.mean()), float(x.std(ddof=1))


def cohort_facts(patients: pd.DataFrame) -> dict[str, float]:
    """The descriptive numbers of the paper's Results text, from the patients table (with
    ``add_groups`` applied for the BZD+/BZD- counts). Percentages are in %."""
    p = patients
    n = len(p)
    resp = p["responder"].astype("boolean")
    users = p[p["bzd_user"].astype(bool)]
    facts: dict[str, float] = {"n_patients": n, "n_female": int((p["sex"] == "F").sum())}
    facts["pct_female"] = 100 * facts["n_female"] / n
    facts["age_min"], facts["age_max"] = float(p["age_years"].min()), float(p["age_years"].max())
    for col in (
        "age_years",
        "madrs_day0",
        "mdd_duration_years",
        "episode_duration_weeks",
        "fluoxetine_eq_mg",
    ):
        facts[f"{col}_mean"], facts[f"{col}_sd"] = _mean_sd(p[col])
    for kind in ("monotherapy", "combination"):
        facts[f"n_{kind}"] = int((p["ad_therapy"] == kind).sum())
        facts[f"pct_{kind}"] = 100 * facts[f"n_{kind}"] / n
    facts["n_responders"] = int(resp.fillna(False).sum())
    facts["pct_responders"] = 100 * facts["n_responders"] / n
    facts["n_nonresponders"] = int((~resp).fillna(False).sum())
    facts["n_response_unknown"] = int(resp.isna().sum())
    facts["madrs_day0_min"] = float(p["madrs_day0"].min())
    if "bzd_plus" in p:
        facts["n_bzd_plus"] = int(p["bzd_plus"].sum())
        facts["n_bzd_minus"] = int((~p["bzd_plus"]).sum())
    facts["n_bzd_any_use"] = int(p["bzd_any_use"].sum()) if "bzd_any_use" in p else math.nan
    facts["n_bzd_as_needed_only"] = int(p["bzd_as_needed_only"].sum())
    facts["n_bzd_users"] = len(users)
    facts["pct_bzd_users"] = 100 * len(users) / n
    facts["users_dose_min"] = float(users["diazepam_eq_mg"].min()) if len(users) else math.nan
    facts["users_dose_max"] = float(users["diazepam_eq_mg"].max()) if len(users) else math.nan
    drugs = users["bzd_drugs"].fillna("")
    for name in ("clonazepam", "alprazolam", "clonazepam+midazolam"):
        k = int((drugs == name).sum())
        facts[f"n_users_{name.replace('+', '_')}"] = k
        facts[f"pct_users_{name.replace('+', '_')}"] = 100 * k / len(users) if len(users) else math.nan
    for label, mask in (("responders", resp == True), ("nonresponders", resp == False)):  # noqa: E712
        mask = mask.fillna(False).astype(bool)
        facts[f"pct_bzd_users_in_{label}"] = (
            100 * float(p.loc[mask, "bzd_user"].astype(bool).mean()) if mask.any() else math.nan
        )
    if "antidepressants" in p:
        mentions = p["antidepressants"].fillna("").str.split("+").explode()
        mentions = mentions[mentions != ""]
        share = mentions.value_counts() / len(mentions) * 100 if len(mentions) else pd.Series(dtype=float)
        facts["pct_ad_sertraline_escitalopram"] = float(
            share.get("sertraline", 0) + share.get("escitalopram", 0)
        )
        facts["pct_ad_venlafaxine"] = float(share.get("venlafaxine", 0))
        facts["pct_ad_mirtazapine"] = float(share.get("mirtazapine", 0))
    return facts


__all__ = [
    "AnalysisSettings",
    "add_groups",
    "collect_warnings",
    "comparison_table",
    "table_markdown",
    "operating_point",
    "roc",
    "response",
    "logistic",
    "dose_correlation",
    "repeated_measures",
    "mmrm_analysis",
    "cohort_facts",
    "BZD_PLUS",
    "BZD_MINUS",
    "RESPONDERS",
    "NONRESPONDERS",
]
