"""Generate the small reference datasets used by the R cross-checks.

Run from the repository root: ``.venv/bin/python tests/reference/make_data.py``.
The CSVs are committed; re-running with the same seed reproduces them byte for byte
(numpy's PCG64 stream is stable across versions for the calls used here).

These are made-up data for testing the statistics only; they are not the project's
synthetic cohort and carry no information about real patients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "data"
VISITS = ("day0", "day1", "day3", "day7")


def _cohort(rng: np.random.Generator, n: int = 47, n_users: int = 19) -> pd.DataFrame:
    """Paper-shaped cohort: 47 patients, 19 BZD users with 3.8-94 mg diazepam eq."""
    dose = np.zeros(n)
    users = rng.choice(n, size=n_users, replace=False)
    # Doses on the 0.5 mg grid the clinic would record; two fixed extremes as in the paper.
    user_dose = np.round(rng.lognormal(mean=2.6, sigma=0.8, size=n_users) * 2) / 2
    user_dose = np.clip(user_dose, 3.8, 94.0)
    user_dose[0], user_dose[1] = 3.8, 94.0
    dose[users] = user_dose
    bzd_plus = dose > 8
    madrs0 = np.clip(np.round(rng.normal(24, 6.3, n)), 20, 45)
    # Improvement fraction per visit; high-dose users improve less from day 3 on.
    base = np.array([0.0, 0.28, 0.27, 0.30])
    penalty = np.array([0.0, 0.05, 0.22, 0.27])
    frac = base + rng.normal(0, 0.25, (n, 1)) * np.array([0, 1, 1.2, 1.4])
    frac -= np.outer(bzd_plus, penalty)
    frac += rng.normal(0, 0.08, (n, 4)) * np.array([0, 1, 1, 1])
    madrs = np.clip(np.round(madrs0[:, None] * (1 - frac)), 0, 60)
    madrs[:, 0] = madrs0
    df = pd.DataFrame(
        {
            "patient_id": [f"P{i + 1:03d}" for i in range(n)],
            "study": np.where(np.arange(n) < 27, "A", "B"),
            "sex": rng.choice(["F", "M"], size=n, p=[0.57, 0.43]),
            "age_years": np.round(rng.normal(43, 12.3, n)).astype(int),
        }
    )
    for j, v in enumerate(VISITS):
        df[f"madrs_{v}"] = madrs[:, j]
    df["bdi_day0"] = np.clip(np.round(rng.normal(18, 7, n)), 0, 63)
    df["bai_day0"] = np.clip(np.round(rng.normal(20 + 0.3 * (madrs0 - 24), 10, n)), 0, 63)
    df["diazepam_eq_mg"] = dose
    df["bzd_user"] = dose > 0
    df["bzd_plus"] = bzd_plus
    df["fluoxetine_eq_mg"] = np.round(rng.normal(54, 24, n).clip(10, 120), 1)
    for v in VISITS[1:]:
        df[f"madrs_rel_change_{v}"] = (df["madrs_day0"] - df[f"madrs_{v}"]) / df["madrs_day0"]
    rel = df[[f"madrs_rel_change_{v}" for v in VISITS[1:]]].to_numpy()
    df["responder"] = (rel >= 0.5).any(axis=1)
    return df


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20200844)
    paper = _cohort(rng)
    paper.to_csv(OUT / "paper_shaped.csv", index=False)

    # (b) ties and zeros in the dose: doses on a 5 mg grid, many zeros, ties across classes.
    ties = _cohort(np.random.default_rng(7))
    ties["diazepam_eq_mg"] = (np.round(ties["diazepam_eq_mg"] / 5) * 5).clip(upper=60)
    ties.loc[ties["diazepam_eq_mg"].eq(0) & ties.index.isin(range(0, 47, 3)), "diazepam_eq_mg"] = 5.0
    ties["bzd_user"] = ties["diazepam_eq_mg"] > 0
    ties["bzd_plus"] = ties["diazepam_eq_mg"] > 8
    ties.to_csv(OUT / "ties_zeros.csv", index=False)

    # (c) separation: no responder among BZD+ (quasi-complete for bzd_plus), and the dose
    # separates responders completely within users.
    sep = paper.copy()
    sep.loc[sep["bzd_plus"], "responder"] = False
    sep.to_csv(OUT / "separation.csv", index=False)
    comp = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            "z": [0.3, -1.2, 0.8, 0.1, -0.4, 1.5, -0.9, 0.2, 0.6, -0.2],
            "y": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
        }
    )
    comp.to_csv(OUT / "complete_separation.csv", index=False)

    # (d) sphericity violated: a strong linear-in-time random slope makes the variance of
    # later differences much larger than early ones.
    r = np.random.default_rng(99)
    n = 40
    grp = np.repeat(["BZD+", "BZD-"], [14, 26])
    slope = r.normal(0, 4.0, n)
    t = np.array([0, 1, 3, 7])
    y = 25 + r.normal(0, 2, (n, 1)) + np.outer(slope, t) - np.outer(grp == "BZD-", [0, 3, 5, 7])
    y += r.normal(0, 1.0, (n, 4))
    sph = pd.DataFrame({"patient_id": [f"S{i:03d}" for i in range(n)], "group": grp})
    for j, v in enumerate(VISITS):
        sph[f"madrs_{v}"] = np.round(y[:, j], 1)
    sph.to_csv(OUT / "sphericity_violated.csv", index=False)

    # (e) missing visits: a few patients miss day 1, day 3 or day 7.
    miss = paper.copy()
    for pid, v in [(2, "day1"), (5, "day3"), (11, "day7"), (20, "day7"), (33, "day3"), (40, "day1")]:
        miss.loc[pid, f"madrs_{v}"] = np.nan
    miss.to_csv(OUT / "missing_visits.csv", index=False)

    # (f) dropout for the MMRM: monotone dropout after day 1 or day 3, intermittent missing
    # visits, and one patient without any post-baseline visit (excluded from the MMRM).
    drop = paper.copy()
    for pid, gone in [
        (3, ["day7"]),
        (8, ["day7"]),
        (15, ["day7"]),
        (21, ["day3", "day7"]),
        (30, ["day3", "day7"]),
        (12, ["day1", "day3"]),
        (26, ["day1"]),
        (44, ["day1", "day3", "day7"]),
    ]:
        for v in gone:
            drop.loc[pid, f"madrs_{v}"] = np.nan
    drop.to_csv(OUT / "mmrm_dropout.csv", index=False)


if __name__ == "__main__":
    main()
