"""The canonical, study-independent tables that every ingest adapter produces.

Each adapter (``ketamine_bzd.formats``) turns one study's raw export into three tables with the
columns below; the synthetic generator produces the same tables (with raw identifiers) so that
``read(write(truth))`` can be tested for every format. Ranges here are the hard limits: a value
outside them is an impossible value and stops ingest (see ``docs/data-contract.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

SCALES = ("madrs", "bdi", "bai")
VISITS = ("day0", "day1", "day3", "day7")
# day0 is the baseline rating, taken the day before the infusion (study day -1)
VISIT_STUDY_DAY = {"day0": -1, "day1": 1, "day3": 3, "day7": 7}
SCORE_RANGE = {"madrs": (0, 60), "bdi": (0, 63), "bai": (0, 63)}
# the study period of the paper: 7 days before the infusion (day 0) to 7 days after
STUDY_DAYS = (-7, 7)
PK_ANALYTES = ("ketamine", "norketamine")
PK_TIMES_MIN = (0, 10, 30)
PK_STATUS = ("measured", "below_lloq", "below_lod", "missing")
# GC-MS limits of the paper (Methods): ng/ml
PK_LLOQ_NG_ML = {"ketamine": 50.0, "norketamine": 8.0}
PK_LOD_NG_ML = {"ketamine": 20.0, "norketamine": 1.0}
# Hard upper limit of a serum level: ten times the plasma levels of ketamine anaesthesia (of the
# order of 1,000-5,000 ng/ml); the paper's subanaesthetic infusion gives a few hundred. Catches
# unit errors (pg/ml or ng/l entered as ng/ml are 1,000-fold).
PK_MAX_NG_ML = 50_000.0
DRUG_CLASSES = ("bzd", "ad")

PK_COLUMNS = [f"{a}_ng_ml_{t}min" for a in PK_ANALYTES for t in PK_TIMES_MIN]

SUBJECT_RANGES = {
    "age_years": (18, 90),
    "weight_kg": (30, 250),
    "mdd_duration_years": (0, 80),
    "episode_duration_weeks": (0, 1500),
    "n_hospitalizations": (0, 100),
}

SUBJECT_COLUMNS = (
    ["patient_id", "study", "sex", *SUBJECT_RANGES, "episode"]
    + PK_COLUMNS
    + [f"{c}_status" for c in PK_COLUMNS]
)
RATING_COLUMNS = ["patient_id", "study", "scale", "visit", "study_day", "score", "status"]
MEDICATION_COLUMNS = [
    "patient_id",
    "study",
    "study_day",
    "drug",
    "drug_class",
    "dose_mg",
    "as_needed",
]


def _in_range(lo, hi):
    return pa.Check.in_range(lo, hi)


SUBJECTS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, unique=True),
        "study": pa.Column(str),
        "sex": pa.Column(str, pa.Check.isin(["F", "M"])),
        **{c: pa.Column(float, _in_range(lo, hi), nullable=True) for c, (lo, hi) in SUBJECT_RANGES.items()},
        # may be missing: an SDTM study without SUPPDM does not record it
        "episode": pa.Column(str, pa.Check.isin(["first", "recurrent"]), nullable=True),
        **{c: pa.Column(float, pa.Check.ge(0), nullable=True) for c in PK_COLUMNS},
        **{f"{c}_status": pa.Column(str, pa.Check.isin(PK_STATUS)) for c in PK_COLUMNS},
    },
    strict=True,
    ordered=True,
)

RATINGS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str),
        "study": pa.Column(str),
        "scale": pa.Column(str, pa.Check.isin(SCALES)),
        "visit": pa.Column(str, pa.Check.isin(VISITS)),
        "study_day": pa.Column("int64"),
        "score": pa.Column(float, pa.Check.in_range(0, 63), nullable=True),
        "status": pa.Column(str, pa.Check.isin(["observed", "missing"])),
    },
    unique=["patient_id", "scale", "visit"],
    strict=True,
    ordered=True,
)

MEDICATION_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str),
        "study": pa.Column(str),
        "study_day": pa.Column("int64", pa.Check.in_range(*STUDY_DAYS)),
        "drug": pa.Column(str),
        "drug_class": pa.Column(str, pa.Check.isin(DRUG_CLASSES)),
        "dose_mg": pa.Column(float, pa.Check.gt(0)),
        "as_needed": pa.Column(bool),
    },
    strict=True,
    ordered=True,
)


@dataclass
class StudyTables:
    """One study's canonical tables.

    Produced by an adapter's ``read`` (pseudonymized ``patient_id``) and by the synthetic
    generator (raw identifiers, plus an ``infusion_date`` column in ``subjects`` that the
    date-based formats need; it never leaves ingest).
    """

    study: str
    subjects: pd.DataFrame
    ratings: pd.DataFrame
    medication: pd.DataFrame

    def validate(self) -> "StudyTables":
        subjects = self.subjects.drop(columns=["infusion_date"], errors="ignore")
        SUBJECTS_SCHEMA.validate(subjects)
        RATINGS_SCHEMA.validate(self.ratings)
        MEDICATION_SCHEMA.validate(self.medication)
        return self
