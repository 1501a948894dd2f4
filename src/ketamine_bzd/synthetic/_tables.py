"""Canonical truth tables from the template, for 47 patients or a jittered resample of any size.

Everything after the template is vectorized (one row index per output row), so 100,000
patients cost the same few numpy passes as 47.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..canonical import (
    MEDICATION_COLUMNS,
    PK_ANALYTES,
    PK_COLUMNS,
    PK_LLOQ_NG_ML,
    PK_LOD_NG_ML,
    PK_TIMES_MIN,
    RATING_COLUMNS,
    SCALES,
    STUDY_DAYS,
    SUBJECT_COLUMNS,
    VISIT_STUDY_DAY,
    VISITS,
    StudyTables,
)
from ._template import Template

STUDIES = ("ket2009", "ket2013")
# infusion years of each source study (paper: 2010-2015, two consecutive trials)
DATE_RANGE = {"ket2009": ("2010-01-04", "2012-12-21"), "ket2013": ("2013-01-07", "2015-12-18")}
P_MISSING_VISIT = 0.02  # resampled cohorts only
P_MISSING_PK = 0.01


def template_medication(tpl: Template) -> pd.DataFrame:
    """Daily long rows (days -7..7) of the 47 template patients, ``tpl`` = template row."""
    days = np.arange(STUDY_DAYS[0], STUDY_DAYS[1] + 1)
    rows = []
    for i, (regs, prn) in enumerate(zip(tpl.regular, tpl.as_needed)):
        for r in regs:
            dose = np.where(days < r.change_day, r.dose_first, r.dose_then)
            rows.append(
                pd.DataFrame(
                    {"tpl": i, "study_day": days, "drug": r.drug, "drug_class": r.drug_class,
                     "dose_mg": dose, "as_needed": False}
                )
            )
        for a in prn:
            rows.append(
                pd.DataFrame(
                    {"tpl": [i], "study_day": [a.study_day], "drug": [a.drug],
                     "drug_class": [a.drug_class], "dose_mg": [a.dose_mg], "as_needed": [True]}
                )
            )
    med = pd.concat(rows, ignore_index=True)
    return med.sort_values(["tpl", "drug", "as_needed", "study_day"], kind="stable").reset_index(
        drop=True
    )


def _draw_rows(rng, tpl: Template, n: int) -> np.ndarray:
    """Template rows of an n-patient cohort: whole copies plus a sample without replacement
    per study, so every proportion of the template is kept up to one remainder draw."""
    study = tpl.patients["study"].to_numpy()
    n2009 = round(n * 20 / 47)
    out = []
    for s, k in (("ket2009", n2009), ("ket2013", n - n2009)):
        members = np.flatnonzero(study == s)
        reps, rem = divmod(k, len(members))
        pick = np.concatenate([np.tile(members, reps), rng.choice(members, rem, replace=False)])
        out.append(pick)
    return np.concatenate(out)


def _ids_and_dates(rng, study: np.ndarray):
    """Raw trial subject codes in enrolment order and infusion dates (weekdays)."""
    n = len(study)
    ids = np.empty(n, dtype=object)
    dates = np.empty(n, dtype="datetime64[D]")
    order = np.empty(n, dtype=np.int64)
    for s in STUDIES:
        members = np.flatnonzero(study == s)
        k = len(members)
        if k == 0:
            continue
        start, end = (np.datetime64(d) for d in DATE_RANGE[s])
        span = int((end - start).astype(int))
        d = np.sort(start + rng.integers(0, span + 1, size=k).astype("timedelta64[D]"))
        weekday = ((d - np.datetime64("1970-01-05")).astype(int)) % 7  # 0 = Monday
        d = d + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")
        dates[members] = d
        if s == "ket2009":
            width = max(3, len(str(k)))
            ids[members] = [f"K09-{j:0{width}d}" for j in range(1, k + 1)]
        else:  # screening numbers: screen failures leave gaps
            num = np.cumsum(1 + rng.geometric(0.75, size=k) - 1) + 1
            width = max(4, len(str(int(num[-1]))))
            ids[members] = [f"13-{j:0{width}d}" for j in num]
        order[members] = np.arange(k)
    return ids.astype(str), dates, order


def build_tables(rng: np.random.Generator, tpl: Template, n: int) -> dict[str, StudyTables]:
    resample = n != len(tpl.patients)
    src = _draw_rows(rng, tpl, n) if resample else np.arange(n)
    p = tpl.patients.iloc[src].reset_index(drop=True)
    study = p["study"].to_numpy().astype(str)
    madrs = tpl.madrs[src].astype(float)
    bdi = tpl.bdi[src].astype(float)
    bai = tpl.bai[src].astype(float)
    age = p["age_years"].to_numpy(float)
    weight = p["weight_kg"].to_numpy(float)
    weeks = p["episode_duration_weeks"].to_numpy(float)
    mdd = p["mdd_duration_years"].to_numpy(float)
    first = p["episode"].to_numpy() == "first"
    pk = {c: p[c].to_numpy(float) for c in PK_COLUMNS if c in p}
    if resample:  # jitter: new people around the same template, same proportions
        age = np.clip(age + rng.integers(-3, 4, n), 18, 65)
        weight = np.clip(weight + rng.normal(0, 3, n), 50, 120).round(1)
        weeks = np.maximum(4, np.round(weeks * rng.lognormal(0, 0.15, n)))
        floor_years = weeks // 52
        mdd = np.where(
            first, floor_years, np.maximum(mdd + rng.integers(-1, 2, n), floor_years + 1)
        )
        bdi = np.clip(bdi + rng.integers(-2, 3, bdi.shape), 0, 63)
        bai = np.clip(bai + rng.integers(-2, 3, bai.shape), 0, 63)
        pk = {c: (v * rng.lognormal(0, 0.1, n)).round(1) for c, v in pk.items()}
    ids, dates, _ = _ids_and_dates(rng, study)

    subjects = pd.DataFrame(
        {
            "patient_id": ids,
            "study": study,
            "sex": p["sex"].to_numpy().astype(str),
            "age_years": age.astype(float),
            "weight_kg": weight.astype(float),
            "mdd_duration_years": mdd.astype(float),
            "episode_duration_weeks": weeks.astype(float),
            "n_hospitalizations": p["n_hospitalizations"].to_numpy(float),
            "episode": p["episode"].to_numpy().astype(str),
        }
    )
    for analyte in PK_ANALYTES:
        for t in PK_TIMES_MIN:
            col = f"{analyte}_ng_ml_{t}min"
            if t == 0:  # drawn 5 min before the infusion
                subjects[col] = np.nan
                subjects[f"{col}_status"] = "below_lod"
                continue
            v = pk[col].copy()
            status = np.full(n, "measured", dtype=object)
            if resample:
                status[v < PK_LLOQ_NG_ML[analyte]] = "below_lloq"
                status[v < PK_LOD_NG_ML[analyte]] = "below_lod"
                status[rng.random(n) < P_MISSING_PK] = "missing"
                v[status != "measured"] = np.nan
            subjects[col] = v
            subjects[f"{col}_status"] = status.astype(str)
    subjects = subjects[SUBJECT_COLUMNS]
    subjects["infusion_date"] = pd.to_datetime(dates)

    # ratings: patient x scale x visit
    scores = np.stack([madrs, bdi, bai], axis=1)  # (n, scale, visit)
    status = np.full(scores.shape, "observed", dtype=object)
    if resample:
        miss = rng.random((n, len(VISITS) - 1)) < P_MISSING_VISIT
        miss = np.column_stack([np.zeros(n, bool), miss])  # baseline always rated
        status[np.broadcast_to(miss[:, None, :], scores.shape)] = "missing"
        scores = np.where(status == "missing", np.nan, scores)
    n_sv = len(SCALES) * len(VISITS)
    ratings = pd.DataFrame(
        {
            "patient_id": np.repeat(ids, n_sv),
            "study": np.repeat(study, n_sv),
            "scale": np.tile(np.repeat(SCALES, len(VISITS)), n),
            "visit": np.tile(VISITS, n * len(SCALES)),
            "study_day": np.tile([VISIT_STUDY_DAY[v] for v in VISITS], n * len(SCALES)).astype(
                "int64"
            ),
            "score": scores.reshape(-1).astype(float),
            "status": status.reshape(-1).astype(str),
        }
    )[RATING_COLUMNS]

    # medication: each cohort patient gets the daily rows of its template patient
    med_t = template_medication(tpl)
    tpl_idx = med_t["tpl"].to_numpy()
    counts = np.bincount(tpl_idx, minlength=len(tpl.patients))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lengths = counts[src]
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(starts[src], lengths) + offsets
    owner = np.repeat(np.arange(n), lengths)
    medication = pd.DataFrame(
        {
            "patient_id": ids[owner],
            "study": study[owner],
            "study_day": med_t["study_day"].to_numpy()[rows].astype("int64"),
            "drug": med_t["drug"].to_numpy()[rows].astype(str),
            "drug_class": med_t["drug_class"].to_numpy()[rows].astype(str),
            "dose_mg": med_t["dose_mg"].to_numpy()[rows].astype(float),
            "as_needed": med_t["as_needed"].to_numpy()[rows].astype(bool),
        }
    )[MEDICATION_COLUMNS]

    out = {}
    for s in STUDIES:
        keep_p = subjects["study"].to_numpy() == s
        sub = subjects[keep_p].sort_values("patient_id").reset_index(drop=True)
        rat = ratings[ratings["study"].to_numpy() == s].sort_values(
            ["patient_id"], kind="stable"
        ).reset_index(drop=True)
        med = medication[medication["study"].to_numpy() == s].sort_values(
            ["patient_id"], kind="stable"
        ).reset_index(drop=True)
        out[s] = StudyTables(s, sub, rat, med)
    return out
