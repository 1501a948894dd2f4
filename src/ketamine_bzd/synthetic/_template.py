"""The 47-patient template: one seeded draw, then integer searches until the paper's rows hold.

Order of construction (each step only uses what earlier steps fixed; one module each):

1. the four cells responder x BZD+ (1, 12, 12, 22) and the printed counts (sex, AD mono/comb,
   first/recurrent episode) within responders / nonresponders (here);
2. BZD users (all 13 BZD+, 4 low-dose responders, 2 low-dose nonresponders), the two single
   as-needed doses, drugs and studies; then the diazepam-equivalent search over the total mg in
   the window (day -1..7) on each study's dose grid, with U = 63.5 (AUC 0.91) and the Youden
   cut-off as extra criteria (``_benzodiazepines``; dose tables in ``_regimens``);
3. one search per Table 1/2 variable (age, durations, ratings, PK), each with a second pass
   (rows kept) towards the tables' p values (``_variables``); baseline MADRS / BAI then
   exchanged within the responder x BZD+ cells towards the logistic regression's p = 0.03
   (``_logistic_pairing``);
4. MADRS follow-ups: responder status as bounds, Table 2 relative-change rows as targets, then
   (rows kept) the RM-ANOVA interaction F, Table 2's p / Hedges' g and the post hoc p
   (``_followup``);
5. antidepressant regimens: drug shares fixed, drugs swapped and doses stepped until the
   fluoxetine-equivalent rows hold, then (rows kept) towards Table 1's p (``_antidepressants``).

Targets and penalties are in ``_targets``, the integer search in ``_fit``. Secondary criteria
never cost a row: each runs in a pass that only moves between states where every row holds
(docs/synthetic.md, "Secondary targets").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import paper
from ._antidepressants import fit_antidepressants
from ._benzodiazepines import fit_benzodiazepines
from ._followup import fit_madrs_followup, follow
from ._logistic_pairing import arrange_for_logistic
from ._regimens import AsNeeded, Regular
from ._targets import TemplateError, groups
from ._variables import P_ITER_RANKS, fit_variable

__all__ = ["AsNeeded", "Regular", "Template", "TemplateError", "build_template"]


@dataclass
class Template:
    patients: pd.DataFrame
    madrs: np.ndarray  # (n, 4) day0, day1, day3, day7
    bdi: np.ndarray
    bai: np.ndarray
    regular: list[list[Regular]]
    as_needed: list[list[AsNeeded]]


def _assign_counts(rng, mask_by_group: list[np.ndarray], counts: list[int], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for members, k in zip(mask_by_group, counts):
        out[rng.choice(members, size=k, replace=False)] = True
    return out


def build_template(rng: np.random.Generator, n_ket2009: int = 20) -> Template:
    n = paper.N_PATIENTS
    cells = np.array(
        [(True, True)] * paper.N_RESPONDERS_BZD_PLUS
        + [(True, False)] * (paper.N_RESPONDERS - paper.N_RESPONDERS_BZD_PLUS)
        + [(False, True)] * (paper.N_BZD_PLUS - paper.N_RESPONDERS_BZD_PLUS)
        + [(False, False)] * (n - paper.N_RESPONDERS - paper.N_BZD_PLUS + paper.N_RESPONDERS_BZD_PLUS)
    )
    cells = cells[rng.permutation(n)]
    responder, bzd_plus = cells[:, 0].copy(), cells[:, 1].copy()
    g = groups(responder, bzd_plus)
    rn = [g["R"], g["NR"]]
    female = _assign_counts(
        rng, rn, [paper.N_FEMALE_RESPONDERS, paper.N_FEMALE - paper.N_FEMALE_RESPONDERS], n
    )
    mono = _assign_counts(rng, rn, [paper.N_MONO_RESPONDERS, paper.N_MONO_NONRESPONDERS], n)
    first = _assign_counts(rng, rn, [paper.N_FIRST_RESPONDERS, paper.N_FIRST_NONRESPONDERS], n)

    bzd = fit_benzodiazepines(rng, responder, bzd_plus, n_ket2009)

    # --- patient-level Table 1 / Table 2 rows --------------------------------------------------
    age = fit_variable(rng, "age_years", g, 1, 18, 65, 43.0, 12.0, n)
    episode_w = fit_variable(
        rng,
        "episode_duration_weeks",
        g,
        1,
        4,
        260,
        18.0,
        15.0,
        n,
        max_step=20,
        skewed=True,
        p_iter=P_ITER_RANKS,
    )
    floor_years = (episode_w // 52).astype(int)
    mdd_lo = np.where(first, floor_years, floor_years + 1)
    mdd_hi = np.where(first, floor_years, np.maximum(age - 16, floor_years + 1)).astype(int)
    mdd = fit_variable(
        rng, "mdd_duration_years", g, 1, mdd_lo, mdd_hi, 10.0, 8.0, n, skewed=True, p_iter=P_ITER_RANKS
    )
    hosp_lo = np.ones(n, dtype=int)
    hosp_hi = np.where(first, 2, 12)
    hosp = fit_variable(
        rng, "n_hospitalizations", g, 1, hosp_lo, hosp_hi, 2.5, 1.5, n, max_step=3, p_iter=P_ITER_RANKS
    )
    madrs0 = fit_variable(rng, "madrs_day0", g, 1, 10, 50, 24.0, 6.0, n, max_step=4)
    bdi0 = fit_variable(rng, "bdi_day0", g, 1, 0, 63, 18.0, 6.5, n)
    bai0 = fit_variable(rng, "bai_day0", g, 1, 0, 63, 20.0, 10.0, n)
    pk = {
        "ketamine_ng_ml_10min": fit_variable(
            rng, "ketamine_ng_ml_10min", g, 0.1, 500, 9000, 240.0, 100.0, n, max_step=300
        ),
        "ketamine_ng_ml_30min": fit_variable(
            rng, "ketamine_ng_ml_30min", g, 0.1, 500, 7000, 242.0, 80.0, n, max_step=300
        ),
        "norketamine_ng_ml_10min": fit_variable(
            rng, "norketamine_ng_ml_10min", g, 0.1, 80, 1000, 12.0, 6.0, n, max_step=60
        ),
        "norketamine_ng_ml_30min": fit_variable(
            rng, "norketamine_ng_ml_30min", g, 0.1, 80, 2500, 68.0, 26.0, n, max_step=120
        ),
    }

    madrs0, bai0 = arrange_for_logistic(rng, madrs0, bai0, responder, bzd_plus)
    madrs = fit_madrs_followup(rng, madrs0.astype(int), responder, bzd_plus)
    bdi = follow(rng, bdi0, madrs)
    bai = follow(rng, bai0, madrs)

    regular = bzd.regular
    ad_regular = fit_antidepressants(rng, mono, g)
    for i in range(n):
        regular[i].extend(ad_regular[i])

    sex = np.where(female, "F", "M")
    weight = np.where(female, rng.normal(70, 12, n), rng.normal(86, 13, n)).clip(50, 120).round(1)
    patients = pd.DataFrame(
        {
            "study": bzd.study.astype(str),
            "responder": responder,
            "bzd_plus": bzd_plus,
            "bzd_user": bzd.user,
            "sex": sex,
            "age_years": age.astype(float),
            "weight_kg": weight,
            "mdd_duration_years": mdd.astype(float),
            "episode_duration_weeks": episode_w.astype(float),
            "n_hospitalizations": hosp.astype(float),
            "episode": np.where(first, "first", "recurrent"),
            "mono": mono,
            "diazepam_eq_mg": bzd.diazepam_eq_mg,
            **{k: np.round(v, 1) for k, v in pk.items()},
        }
    )
    return Template(patients, madrs, bdi, bai, regular, bzd.as_needed)
