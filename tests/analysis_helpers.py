"""A small hand-made patients frame with the cohort's columns (docs/definitions.md), for the
analysis unit tests. Invented numbers, shaped loosely like the paper (not the synthetic cohort)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_bzd import definitions as d


def make_patients(n: int = 47, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"P{i:016x}" for i in range(n)]
    users = np.zeros(n, bool)
    users[: max(4, int(0.4 * n))] = True
    dose = np.where(users, np.round(rng.lognormal(2.6, 0.9, n).clip(3.8, 94.0), 1), 0.0)
    high = dose > 8
    base = rng.integers(20, 35, n).astype(float)
    # BZD+ improve less, so the group x time interaction and the ROC have signal
    gain = np.where(high, 0.1, 0.35) + rng.normal(0, 0.2, (3, n))
    gain[0] = np.where(high, 0.2, 0.3) + rng.normal(0, 0.2, n)
    follow = np.clip(np.round(base * (1 - gain)), 0, 60)
    p = pd.DataFrame(
        {
            "patient_id": ids,
            "study": np.where(np.arange(n) % 2 == 0, "ket2009", "ket2013"),
            "sex": rng.choice(["F", "M"], n),
            "age_years": rng.integers(20, 65, n).astype(float),
            "weight_kg": rng.normal(75, 12, n).round(1),
            "mdd_duration_years": rng.gamma(1.0, 10.0, n).round(1),
            "episode_duration_weeks": rng.gamma(0.6, 30.0, n).round(1),
            "n_hospitalizations": rng.integers(0, 7, n).astype(float),
            "episode": rng.choice(["first", "recurrent"], n, p=[0.25, 0.75]),
            "madrs_day0": base,
            "madrs_day1": follow[0],
            "madrs_day3": follow[1],
            "madrs_day7": follow[2],
            "bdi_day0": rng.integers(5, 30, n).astype(float),
            "bai_day0": rng.integers(3, 40, n).astype(float),
            "diazepam_eq_mg": dose,
            "bzd_user": users,
            "bzd_any_use": users.copy(),
            "bzd_as_needed_only": np.zeros(n, bool),
            "bzd_drugs": np.where(users, rng.choice(["clonazepam", "alprazolam"], n), ""),
            "fluoxetine_eq_mg": rng.normal(54, 24, n).clip(10).round(1),
            "ad_therapy": rng.choice(["monotherapy", "combination"], n, p=[0.3, 0.7]),
            "antidepressants": rng.choice(["sertraline", "venlafaxine+mirtazapine", "escitalopram"], n),
        }
    )
    for a, mu in (("ketamine", 240), ("norketamine", 40)):
        for t in (0, 10, 30):
            v = np.zeros(n) if t == 0 else rng.normal(mu, mu / 3, n).clip(1).round(0)
            p[f"{a}_ng_ml_{t}min"] = v
            p[f"{a}_ng_ml_{t}min_status"] = "measured"
    for v in d.FOLLOW_UP_VISITS:
        p[f"madrs_rel_change_{v}"] = d.relative_change(p["madrs_day0"], p[f"madrs_{v}"])
    p["responder"] = d.responder(p)
    # both response classes among BZD+ users and non-users, whatever the draw
    p.loc[0, ["madrs_day1", "madrs_day3", "madrs_day7"]] = [5.0, 5.0, 5.0]
    p.loc[n - 1, ["madrs_day1", "madrs_day3", "madrs_day7"]] = p.loc[n - 1, "madrs_day0"]
    for v in d.FOLLOW_UP_VISITS:
        p[f"madrs_rel_change_{v}"] = d.relative_change(p["madrs_day0"], p[f"madrs_{v}"])
    p["responder"] = d.responder(p)
    return p
