"""A tiny hand-made truth (three made-up patients) covering the cases the formats must carry:
a dose change mid-window, a single as-needed dose, two BZDs at once, values below LLOQ / LOD,
an unsampled level, missing visits and a missing weight. A test fixture (outside the package, so
the wheel does not ship it), handy to see an example export:
``FORMATS["ecrf_cz"].write(example_truth("ket2013"), Path("out"))``.
Not real patients, not the synthetic cohort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_bzd.canonical import (
    MEDICATION_COLUMNS,
    PK_COLUMNS,
    RATING_COLUMNS,
    SCALES,
    SUBJECT_COLUMNS,
    VISIT_STUDY_DAY,
    VISITS,
    StudyTables,
)

_PK = {  # patient -> (values, statuses) in PK_COLUMNS order
    "101": (
        [0.0, 226.4, 238.0, np.nan, 9.5, 62.25],
        ["measured", "measured", "measured", "below_lod", "measured", "measured"],
    ),
    "102": (
        [np.nan, 310.5, np.nan, np.nan, np.nan, 71.0],
        ["below_lod", "measured", "missing", "below_lod", "below_lloq", "measured"],
    ),
    "103": (
        [np.nan, 180.0, 201.3, np.nan, 12.0, 55.0],
        ["missing", "measured", "measured", "below_lod", "measured", "measured"],
    ),
}
_SCORES = {  # patient -> scale -> scores at day0, day1, day3, day7 (NaN = not rated)
    "101": {"madrs": [30, 14, 12, 10], "bdi": [20, 11, 9, 8], "bai": [25, 12, 10, 9]},
    "102": {"madrs": [22, 18, np.nan, 20], "bdi": [15, 14, np.nan, 13], "bai": [18, 17, np.nan, 16]},
    "103": {"madrs": [27, 25, 24, np.nan], "bdi": [19, 18, 18, np.nan], "bai": [30, 28, 27, np.nan]},
}


def example_truth(study: str = "example") -> StudyTables:
    ids = list(_PK)
    subjects = pd.DataFrame(
        {
            "patient_id": ids,
            "study": study,
            "sex": ["F", "M", "F"],
            "age_years": [43.0, 31.0, 52.0],
            "weight_kg": [68.5, 91.0, np.nan],
            "mdd_duration_years": [10.0, 2.5, 21.0],
            "episode_duration_weeks": [19.0, 8.0, 40.0],
            "n_hospitalizations": [2.0, 0.0, 5.0],
            "episode": ["recurrent", "first", "recurrent"],
        }
    )
    for i, col in enumerate(PK_COLUMNS):
        subjects[col] = [_PK[p][0][i] for p in ids]
    for i, col in enumerate(PK_COLUMNS):
        subjects[f"{col}_status"] = [_PK[p][1][i] for p in ids]
    subjects = subjects[SUBJECT_COLUMNS]
    subjects["infusion_date"] = pd.to_datetime(["2014-03-12", "2014-06-02", "2015-01-20"])

    ratings = pd.DataFrame(
        [
            (
                p,
                study,
                s,
                v,
                VISIT_STUDY_DAY[v],
                float(_SCORES[p][s][j]),
                "missing" if np.isnan(_SCORES[p][s][j]) else "observed",
            )
            for p in ids
            for s in SCALES
            for j, v in enumerate(VISITS)
        ],
        columns=RATING_COLUMNS,
    )

    days = range(-7, 8)
    med = []
    # 101: clonazepam raised from 1 mg to 2 mg on day 3; sertraline + escitalopram throughout
    med += [("101", d, "clonazepam", "bzd", 1.0 if d < 3 else 2.0, False) for d in days]
    med += [("101", d, "sertraline", "ad", 100.0, False) for d in days]
    med += [("101", d, "escitalopram", "ad", 10.0, False) for d in days]
    # 102: no regular BZD, one as-needed alprazolam 0.5 mg the day before the infusion
    med += [("102", d, "venlafaxine", "ad", 150.0, False) for d in days]
    med += [("102", -1, "alprazolam", "bzd", 0.5, True)]
    # 103: clonazepam plus midazolam; mirtazapine; an extra as-needed clonazepam on day 2
    med += [("103", d, "clonazepam", "bzd", 0.5, False) for d in days]
    med += [("103", d, "midazolam", "bzd", 7.5, False) for d in days]
    med += [("103", d, "mirtazapine", "ad", 30.0, False) for d in days]
    med += [("103", 2, "clonazepam", "bzd", 0.25, True)]
    medication = pd.DataFrame(
        [(p, study, d, g, c, x, n) for p, d, g, c, x, n in med], columns=MEDICATION_COLUMNS
    ).astype({"study_day": "int64", "dose_mg": "float64", "as_needed": "bool"})
    return StudyTables(study, subjects, ratings, medication)


def expected_read(truth: StudyTables, key: bytes, study: str | None = None) -> StudyTables:
    """What ``read(write(truth))`` must return: ids pseudonymized, ``infusion_date`` dropped,
    rows in a canonical order (subjects by pseudonym; ratings by patient, scale, visit;
    medication by patient, drug, as_needed, study day). Apply :func:`canonical_order` to the
    read tables before comparing."""
    from ketamine_bzd.pseudonym import pseudonymize

    study = study or truth.study
    ids = {r: pseudonymize(study, str(r), key) for r in truth.subjects["patient_id"]}

    def swap(frame):
        return frame.assign(patient_id=frame["patient_id"].map(ids), study=study)

    subjects = swap(truth.subjects.drop(columns=["infusion_date"], errors="ignore"))
    return canonical_order(StudyTables(study, subjects, swap(truth.ratings), swap(truth.medication)))


def canonical_order(tables: StudyTables) -> StudyTables:
    def order(frame, keys):
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    return StudyTables(
        tables.study,
        order(tables.subjects, ["patient_id"]),
        order(tables.ratings, ["patient_id", "scale", "visit"]),
        order(tables.medication, ["patient_id", "drug", "as_needed", "study_day"]),
    )
