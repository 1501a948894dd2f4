"""The pandera schemas of the canonical tables (``canonical``): the column types and hard
limits that ``StudyTables.validate`` checks. A module of its own so that only the jobs that
validate (ingest) import pandera."""

from __future__ import annotations

import pandera.pandas as pa

from .canonical import (
    DRUG_CLASSES,
    PK_COLUMNS,
    PK_STATUS,
    SCALES,
    STUDY_DAYS,
    SUBJECT_RANGES,
    VISITS,
)


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
