"""Canonical truth tables from the template, for 47 patients or a jittered resample of any size.

Everything after the template is vectorized (one row index per output row), so 100,000
patients cost the same few numpy passes as 47.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..canonical import (
    MEDICATION_COLUMNS,
    PK_ANALYTES,
    PK_COLUMNS,
    PK_LLOQ_NG_ML,
    PK_LOD_NG_ML,
    PK_STATUS,
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
                    {
                        "tpl": i,
                        "study_day": days,
                        "drug": r.drug,
                        "drug_class": r.drug_class,
                        "dose_mg": dose,
                        "as_needed": False,
                    }
                )
            )
        for a in prn:
            rows.append(
                pd.DataFrame(
                    {
                        "tpl": [i],
                        "study_day": [a.study_day],
                        "drug": [a.drug],
                        "drug_class": [a.drug_class],
                        "dose_mg": [a.dose_mg],
                        "as_needed": [True],
                    }
                )
            )
    med = pd.concat(rows, ignore_index=True)
    return med.sort_values(["tpl", "drug", "as_needed", "study_day"], kind="stable").reset_index(drop=True)


@dataclass
class MedicationPlan:
    """Daily medication rows of a cohort as indices into a small row universe.

    ``study_day`` ... ``as_needed``: the universe (the template's daily rows, then one row per
    added as-needed dose); each cohort patient owns its template patient's block, with its
    added row (if any) inserted where the (drug, as-needed, day) order puts it.
    """

    drugs: list[str]
    classes: list[str]
    study_day: np.ndarray
    drug: np.ndarray
    drug_class: np.ndarray
    dose_mg: np.ndarray
    as_needed: np.ndarray
    block_start: np.ndarray  # per cohort patient: first universe row of its template block
    block_len: np.ndarray
    extra_row: np.ndarray  # per cohort patient: universe row of the added dose, -1 = none
    extra_at: np.ndarray  # its position in the patient's rows

    def rows_of(self, patients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Universe rows of ``patients`` in order, and the position in ``patients`` owning each."""
        has = self.extra_row[patients] >= 0
        lengths = self.block_len[patients] + has
        owner = np.repeat(np.arange(len(patients)), lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        base = self.block_start[patients][owner]
        if not has.any():
            return base + within, owner
        at = np.where(has, self.extra_at[patients], np.iinfo(np.int64).max)[owner]
        rows = np.where(within < at, base + within, base + within - 1)
        rows = np.where(within == at, self.extra_row[patients][owner], rows)
        return rows, owner


def _medication_plan(rng, tpl: Template, src: np.ndarray, study: np.ndarray) -> MedicationPlan:
    """Each cohort patient gets the daily rows of its template patient. Resampled cohorts
    (``rng`` given) also get single as-needed BZD doses so that, in each study, the share of
    patients with an as-needed dose is at least the template's (3 of 47): copies alone leave
    a study without any when the template's as-needed patients all belong to the other one,
    and its as-needed path would never be exercised. Each added dose is one of the template's
    single doses of a nonuser (oxazepam 10 mg on day -1 or 1), given to a patient without any
    BZD, so BZD use (> 2 days) and BZD+ (> 8 mg diazepam eq.) stay as in the template."""
    med_t = template_medication(tpl)
    n_tpl = len(tpl.patients)
    tpl_idx = med_t["tpl"].to_numpy()
    counts = np.bincount(tpl_idx, minlength=n_tpl)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    drugs, drug = _codes(med_t["drug"].to_numpy())
    classes, drug_class = _codes(med_t["drug_class"].to_numpy())
    day = med_t["study_day"].to_numpy().astype(np.int64)
    dose = med_t["dose_mg"].to_numpy().astype(float)
    prn = med_t["as_needed"].to_numpy().astype(bool)
    n = len(src)
    extra_row = np.full(n, -1, dtype=np.int64)
    extra_at = np.zeros(n, dtype=np.int64)
    if rng is not None:
        is_bzd = med_t["drug_class"].to_numpy() == "bzd"
        bzd_free = np.bincount(tpl_idx[is_bzd], minlength=n_tpl) == 0
        has_prn = np.bincount(tpl_idx[prn], minlength=n_tpl) > 0
        users = np.bincount(tpl_idx[is_bzd & ~prn], minlength=n_tpl) > 0
        pool = np.flatnonzero(prn & ~users[tpl_idx])  # single doses of nonusers
        rate = has_prn.sum() / n_tpl
        # position of each pool dose inside each template patient's (drug, as_needed,
        # study_day)-sorted block
        keys = list(zip((drugs[c] for c in drug), prn.tolist(), day.tolist()))
        at_of = np.array(
            [
                [
                    sum(
                        keys[r] < (drugs[drug[e]], True, day[e])
                        for r in range(starts[t], starts[t] + counts[t])
                    )
                    for e in pool
                ]
                for t in range(n_tpl)
            ],
            dtype=np.int64,
        ).reshape(n_tpl, len(pool))
        for s in STUDIES:
            members = np.flatnonzero(study == s)
            deficit = round(len(members) * rate) - int(has_prn[src[members]].sum())
            eligible = members[bzd_free[src[members]]]
            k = min(max(deficit, 0), len(eligible)) if len(pool) else 0
            if not k:
                continue
            who = np.sort(rng.choice(eligible, size=k, replace=False))
            pick = rng.integers(0, len(pool), size=k)
            event = pool[pick]
            extra_row[who] = len(day) + np.arange(k)
            extra_at[who] = at_of[src[who], pick]
            day, drug, drug_class = (np.append(a, a[event]) for a in (day, drug, drug_class))
            dose, prn = np.append(dose, dose[event]), np.append(prn, prn[event])
    return MedicationPlan(
        drugs, classes, day, drug, drug_class, dose, prn, starts[src], counts[src], extra_row, extra_at
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
    """Raw trial subject codes in enrolment order and infusion dates (weekdays).

    Codes are zero-padded to one width per study, so their text order is enrolment order.
    Returns the codes (Arrow large strings), dates and each patient's enrolment rank."""
    n = len(study)
    dates = np.empty(n, dtype="datetime64[D]")
    order = np.empty(n, dtype=np.int64)
    parts = []
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
            num, prefix = np.arange(1, k + 1), "K09-"
            width = max(3, len(str(k)))
        else:  # screening numbers: screen failures leave gaps
            num, prefix = np.cumsum(1 + rng.geometric(0.75, size=k) - 1) + 1, "13-"
            width = max(4, len(str(int(num[-1]))))
        digits = pc.utf8_lpad(pa.array(num).cast(pa.large_string()), width=width, padding="0")
        prefix, empty = (pa.scalar(x, pa.large_string()) for x in (prefix, ""))
        parts.append((members, pc.binary_join_element_wise(prefix, digits, empty)))
        order[members] = np.arange(k)
    where = np.empty(n, dtype=np.int64)
    offset = 0
    for members, _ in parts:
        where[members] = offset + np.arange(len(members))
        offset += len(members)
    joined = pa.concat_arrays([a for _, a in parts]) if parts else pa.array([], pa.large_string())
    ids = joined.take(pa.array(where))
    return ids, dates, order


def _text(values, codes: np.ndarray) -> pd.Series:
    """A ``str`` column of ``values[codes]`` (Arrow take from the distinct values, no Python
    object per row)."""
    return pd.Series(_arrow_text(values, codes), dtype="str")


def _constant(value: str, n: int) -> pd.Series:
    """A ``str`` column of ``n`` times ``value``, its Arrow buffers made directly."""
    data = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))
    return pd.Series(arr, dtype="str")


def _arrow_text(values, codes: np.ndarray) -> pa.Array:
    return pa.array(list(values), pa.large_string()).take(pa.array(np.asarray(codes)))


def _codes(values: np.ndarray) -> tuple[list, np.ndarray]:
    uniques, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return list(uniques), codes.reshape(np.shape(values))


def build_tables(rng: np.random.Generator, tpl: Template, n: int) -> dict[str, StudyTables]:
    """The whole cohort: every study's tables at once."""
    plan = draw_cohort(rng, tpl, n)
    return {s: plan.study_tables(s) for s in STUDIES}


@dataclass
class CohortPlan:
    """Every draw of an n-patient cohort, per patient (cohort order); the long tables
    (ratings x 12, daily medication) are only expanded by ``study_tables``, for all of a
    study's patients or a range of them, so a large cohort can be built part by part."""

    study: np.ndarray
    ids: pa.Array
    dates: np.ndarray
    numbers: dict
    pk_values: dict
    pk_status: dict
    scores: np.ndarray
    missing: np.ndarray
    med: MedicationPlan
    sex: tuple
    episode: tuple

    def members(self, study: str) -> np.ndarray:
        """Cohort positions of ``study``'s patients in enrolment (= patient_id) order."""
        return np.flatnonzero(self.study == study)

    def study_tables(self, s: str, start: int = 0, stop: int | None = None) -> StudyTables:
        """Tables of patients ``start:stop`` (in patient_id order) of study ``s``; the
        tables of consecutive ranges concatenate to those of the whole study."""
        members = self.members(s)[start:stop]
        return _study_tables(self, s, members)


def draw_cohort(rng: np.random.Generator, tpl: Template, n: int) -> CohortPlan:
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
        mdd = np.where(first, floor_years, np.maximum(mdd + rng.integers(-1, 2, n), floor_years + 1))
        bdi = np.clip(bdi + rng.integers(-2, 3, bdi.shape), 0, 63)
        bai = np.clip(bai + rng.integers(-2, 3, bai.shape), 0, 63)
        pk = {c: (v * rng.lognormal(0, 0.1, n)).round(1) for c, v in pk.items()}
    ids, dates, _ = _ids_and_dates(rng, study)

    numbers = {
        "age_years": age.astype(float),
        "weight_kg": weight.astype(float),
        "mdd_duration_years": mdd.astype(float),
        "episode_duration_weeks": weeks.astype(float),
        "n_hospitalizations": p["n_hospitalizations"].to_numpy(float),
    }
    pk_values, pk_status = {}, {}
    for analyte in PK_ANALYTES:
        for t in PK_TIMES_MIN:
            col = f"{analyte}_ng_ml_{t}min"
            if t == 0:  # drawn 5 min before the infusion
                pk_values[col] = np.full(n, np.nan)
                pk_status[col] = np.full(n, PK_STATUS.index("below_lod"))
                continue
            v = pk[col].copy()
            status = np.full(n, PK_STATUS.index("measured"))
            if resample:
                status[v < PK_LLOQ_NG_ML[analyte]] = PK_STATUS.index("below_lloq")
                status[v < PK_LOD_NG_ML[analyte]] = PK_STATUS.index("below_lod")
                status[rng.random(n) < P_MISSING_PK] = PK_STATUS.index("missing")
                v[status != PK_STATUS.index("measured")] = np.nan
            pk_values[col], pk_status[col] = v, status

    # ratings: patient x scale x visit
    scores = np.stack([madrs, bdi, bai], axis=1)  # (n, scale, visit)
    missing = np.zeros(scores.shape, dtype=bool)
    if resample:
        miss = rng.random((n, len(VISITS) - 1)) < P_MISSING_VISIT
        miss = np.column_stack([np.zeros(n, bool), miss])  # baseline always rated
        missing = np.broadcast_to(miss[:, None, :], scores.shape)
        scores = np.where(missing, np.nan, scores)

    med = _medication_plan(rng if resample else None, tpl, src, study)
    return CohortPlan(
        study,
        ids,
        dates,
        numbers,
        pk_values,
        pk_status,
        scores,
        missing,
        med,
        _codes(p["sex"].to_numpy()),
        _codes(p["episode"].to_numpy()),
    )


def _study_tables(plan: CohortPlan, s: str, members: np.ndarray) -> StudyTables:
    ids, dates, numbers, med = plan.ids, plan.dates, plan.numbers, plan.med
    (sex_values, sex_codes), (episode_values, episode_codes) = plan.sex, plan.episode
    k = len(members)
    take = pa.array(members)
    subjects = pd.DataFrame(
        {
            "patient_id": pd.Series(ids.take(take), dtype="str"),
            "study": _constant(s, k),
            "sex": _text(sex_values, sex_codes[members]),
            **{c: v[members] for c, v in numbers.items()},
            "episode": _text(episode_values, episode_codes[members]),
        }
    )
    for col in PK_COLUMNS:
        subjects[col] = plan.pk_values[col][members]
    for col in PK_COLUMNS:
        subjects[f"{col}_status"] = _text(PK_STATUS, plan.pk_status[col][members])
    subjects = subjects[SUBJECT_COLUMNS]
    subjects["infusion_date"] = pd.to_datetime(dates[members])

    n_sv = len(SCALES) * len(VISITS)
    ratings = pd.DataFrame(
        {
            "patient_id": pd.Series(ids.take(pa.array(np.repeat(members, n_sv))), dtype="str"),
            "study": _constant(s, k * n_sv),
            "scale": _text(SCALES, np.tile(np.repeat(np.arange(len(SCALES)), len(VISITS)), k)),
            "visit": _text(VISITS, np.tile(np.arange(len(VISITS)), k * len(SCALES))),
            "study_day": np.tile([VISIT_STUDY_DAY[v] for v in VISITS], k * len(SCALES)).astype("int64"),
            "score": plan.scores[members].reshape(-1).astype(float),
            "status": _text(("observed", "missing"), plan.missing[members].reshape(-1).astype(np.int64)),
        }
    )[RATING_COLUMNS]

    rows, owner = med.rows_of(members)
    medication = pd.DataFrame(
        {
            "patient_id": pd.Series(ids.take(pa.array(members[owner])), dtype="str"),
            "study": _constant(s, len(rows)),
            "study_day": med.study_day[rows].astype("int64"),
            "drug": _text(med.drugs, med.drug[rows]),
            "drug_class": _text(med.classes, med.drug_class[rows]),
            "dose_mg": med.dose_mg[rows].astype(float),
            "as_needed": med.as_needed[rows].astype(bool),
        }
    )[MEDICATION_COLUMNS]
    return StudyTables(s, subjects, ratings, medication)
