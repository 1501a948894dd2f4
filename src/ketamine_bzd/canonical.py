"""The canonical, study-independent tables that every ingest adapter produces.

Each adapter (``ketamine_bzd.formats``) turns one study's raw export into three tables with the
columns below; the synthetic generator produces the same tables (with raw identifiers) so that
``read(write(truth))`` can be tested for every format. Ranges here are the hard limits: a value
outside them is an impossible value and stops ingest (see ``docs/data-contract.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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
        """Check every table against its schema (``canonical_schemas``); a table whose text
        columns are categoricals is checked once per category where that is the same check
        (``canonical_schemas.validate``), with the same error as its text table. Tables that
        pass are checked without pandera (``canonical_schemas.validate_table``)."""
        # imported here: only ingest validates (issue 10: every job of a registry run starts a
        # Python process); pandera itself (~0.8 s) only for a table that fails
        from .canonical_schemas import MEDICATION, RATINGS, SUBJECTS, validate_table

        subjects = self.subjects.drop(columns=["infusion_date"], errors="ignore")
        validate_table(SUBJECTS, subjects)
        validate_table(RATINGS, self.ratings)
        validate_table(MEDICATION, self.medication)
        return self

    def as_text(self) -> "StudyTables":
        """The tables with every categorical column as ``str`` (``categories_as_text``)."""
        return StudyTables(
            self.study,
            categories_as_text(self.subjects),
            categories_as_text(self.ratings),
            categories_as_text(self.medication),
        )


def categories_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each categorical column (of texts) as pandas' ``str`` column, built by
    one Arrow take of the categories (no Python string per row); other columns as they are."""
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not categorical:
        return frame
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pd.StringDtype(na_value=np.nan)
    columns = {}
    for name in categorical:
        values = frame[name].array
        codes = np.asarray(values.codes)
        # large_string: pandas' own storage of ``str`` (a plain string array would be cast, copied)
        labels = pa.array(values.categories, pa.large_string())
        taken = pc.take(labels, pa.array(codes, mask=codes < 0))
        columns[name] = pd.Series(pd.array(taken, dtype=text), index=frame.index, name=name)
    return frame.assign(**columns)
