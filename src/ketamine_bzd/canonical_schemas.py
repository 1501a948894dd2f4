"""The pandera schemas of the canonical tables (``canonical``): the column types and hard
limits that ``StudyTables.validate`` checks. A module of its own so that only the jobs that
validate (ingest) import pandera."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from .canonical import (
    DRUG_CLASSES,
    PK_COLUMNS,
    PK_STATUS,
    SCALES,
    STUDY_DAYS,
    SUBJECT_RANGES,
    VISITS,
    categories_as_text,
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


# pandera's built-in checks that test each value on its own: true of every row exactly when
# true of every distinct value
ROW_WISE_CHECKS = {"isin", "in_range", "greater_than_or_equal_to", "greater_than"}


def validate(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.validate`` of ``frame``, or of its text table when its text columns are
    categoricals of texts (ingest builds the large tables from codes, issue 10): then each
    categorical column is checked once per category in use (dtype, nulls, row-wise checks,
    uniqueness by codes) and the other columns and the table by pandera as they are. When any
    of that fails, pandera validates the text table (``categories_as_text``) and raises its
    own error, so the message is the text path's."""
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not categorical or not all(_text_categories(frame[c]) for c in categorical):
        return schema.validate(frame)
    if not _valid_by_categories(schema, frame, categorical):
        schema.validate(categories_as_text(frame))
    return frame


def _text_categories(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.cat.categories.dtype)


def _valid_by_categories(schema: pa.DataFrameSchema, frame: pd.DataFrame, categorical: list[str]) -> bool:
    """Whether ``schema`` passes ``frame``, checked once per category; False where it fails or
    where this shortcut is not the same check (the caller then runs pandera on the texts)."""
    if list(frame.columns) != list(schema.columns) or not (schema.strict and schema.ordered):
        return False
    if schema.checks or schema.index is not None or schema.coerce or schema.dtype is not None:
        return False
    try:
        for name in categorical:
            column = schema.columns[name]
            if column.coerce or any(check.name not in ROW_WISE_CHECKS for check in column.checks):
                return False
            values = frame[name].array
            codes = np.asarray(values.codes)
            if (codes < 0).any() and not column.nullable:
                return False
            if column.unique and pd.Series(codes).duplicated().any():
                return False
            used = np.bincount(codes[codes >= 0], minlength=len(values.categories)) > 0
            distinct = pd.DataFrame({name: pd.Series(values.categories[used])})
            pa.DataFrameSchema({name: column}).validate(distinct)
        rest = [c for c in frame.columns if c not in categorical]
        pa.DataFrameSchema({c: schema.columns[c] for c in rest}).validate(frame[rest])
    except (SchemaError, SchemaErrors):
        return False
    return not (schema.unique and frame.duplicated(subset=schema.unique).any())
