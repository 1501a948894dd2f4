"""The schemas of the canonical tables (``canonical``): the column types and hard limits that
``StudyTables.validate`` checks.

The rules are plain data (:class:`TableRule`), so that a table that passes is checked without
importing pandera (0.8-0.9 s of every ingest job's CPU, issue 10): :func:`conforms` checks the
columns, dtypes, nulls, uniqueness and value checks column-wise (once per distinct value), and
only a table it does not pass goes to pandera (:func:`pandera_schema` of the same rules), which
raises its own error, so a failure's message is pandera's as before. ``SUBJECTS_SCHEMA``,
``RATINGS_SCHEMA`` and ``MEDICATION_SCHEMA`` are the pandera schemas, built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

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

# pandas' default text dtype (``str``): the text columns the readers build
TEXT = pd.StringDtype(na_value=np.nan)


@dataclass(frozen=True)
class ColumnRule:
    """One column: ``dtype`` ``"str"``, ``"float"``, ``"int64"`` or ``"bool"``; ``checks``:
    ``("isin", values)``, ``("in_range", lo, hi)`` (both ends included), ``("ge", v)``,
    ``("gt", v)``, each of every non-null value (pandera's ``Check`` of the same name)."""

    dtype: str
    checks: tuple = ()
    nullable: bool = False
    unique: bool = False


@dataclass(frozen=True)
class TableRule:
    """A table's columns in order (no others: strict and ordered) and the columns whose
    combination is unique."""

    columns: dict[str, ColumnRule]
    unique: tuple[str, ...] | None = None


SUBJECTS = TableRule(
    {
        "patient_id": ColumnRule("str", unique=True),
        "study": ColumnRule("str"),
        "sex": ColumnRule("str", (("isin", ("F", "M")),)),
        **{
            c: ColumnRule("float", (("in_range", lo, hi),), nullable=True)
            for c, (lo, hi) in SUBJECT_RANGES.items()
        },
        # may be missing: an SDTM study without SUPPDM does not record it
        "episode": ColumnRule("str", (("isin", ("first", "recurrent")),), nullable=True),
        **{c: ColumnRule("float", (("ge", 0),), nullable=True) for c in PK_COLUMNS},
        **{f"{c}_status": ColumnRule("str", (("isin", tuple(PK_STATUS)),)) for c in PK_COLUMNS},
    }
)

RATINGS = TableRule(
    {
        "patient_id": ColumnRule("str"),
        "study": ColumnRule("str"),
        "scale": ColumnRule("str", (("isin", tuple(SCALES)),)),
        "visit": ColumnRule("str", (("isin", tuple(VISITS)),)),
        "study_day": ColumnRule("int64"),
        "score": ColumnRule("float", (("in_range", 0, 63),), nullable=True),
        "status": ColumnRule("str", (("isin", ("observed", "missing")),)),
    },
    unique=("patient_id", "scale", "visit"),
)

MEDICATION = TableRule(
    {
        "patient_id": ColumnRule("str"),
        "study": ColumnRule("str"),
        "study_day": ColumnRule("int64", (("in_range", *STUDY_DAYS),)),
        "drug": ColumnRule("str"),
        "drug_class": ColumnRule("str", (("isin", tuple(DRUG_CLASSES)),)),
        "dose_mg": ColumnRule("float", (("gt", 0),)),
        "as_needed": ColumnRule("bool"),
    }
)

_SCHEMA_RULES = {"SUBJECTS_SCHEMA": SUBJECTS, "RATINGS_SCHEMA": RATINGS, "MEDICATION_SCHEMA": MEDICATION}


@cache
def _pandera_schema(rule_name: str):
    import pandera.pandas as pa

    rule = _SCHEMA_RULES[rule_name]
    make = {"isin": pa.Check.isin, "in_range": pa.Check.in_range, "ge": pa.Check.ge, "gt": pa.Check.gt}
    dtypes = {"str": str, "float": float, "int64": "int64", "bool": bool}
    columns = {
        name: pa.Column(
            dtypes[c.dtype],
            [make[kind](*(list(a) if isinstance(a, tuple) else a for a in args)) for kind, *args in c.checks],
            nullable=c.nullable,
            unique=c.unique,
        )
        for name, c in rule.columns.items()
    }
    unique = list(rule.unique) if rule.unique else None
    return pa.DataFrameSchema(columns, unique=unique, strict=True, ordered=True)


def pandera_schema(rule: TableRule):
    """The pandera ``DataFrameSchema`` of ``rule`` (one of ``SUBJECTS``, ``RATINGS``,
    ``MEDICATION``); imports pandera."""
    for name, known in _SCHEMA_RULES.items():
        if known is rule:
            return _pandera_schema(name)
    raise ValueError("not a canonical table rule")


def __getattr__(name: str):
    # SUBJECTS_SCHEMA, RATINGS_SCHEMA, MEDICATION_SCHEMA: pandera imported on first use only
    if name in _SCHEMA_RULES:
        return _pandera_schema(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate_table(rule: TableRule, frame: pd.DataFrame) -> pd.DataFrame:
    """``validate(pandera_schema(rule), frame)``, without pandera when ``frame`` conforms
    (:func:`conforms`): the same tables pass, and a table that fails raises pandera's error."""
    if conforms(rule, frame):
        return frame
    return validate(pandera_schema(rule), frame)


def conforms(rule: TableRule, frame: pd.DataFrame) -> bool:
    """Whether ``frame`` passes ``rule``, checked column-wise: True only where pandera's schema
    passes it too; False where something fails or where this check is not sure (a dtype it
    does not know, nulls in a unique column; pandera then decides). Categorical columns of
    texts are checked by their categories in use and their codes."""
    if list(frame.columns) != list(rule.columns):
        return False
    if not all(_column_conforms(frame[name], column) for name, column in rule.columns.items()):
        return False
    if rule.unique:
        return not _repeats(frame, list(rule.unique))
    return True


_NUMPY_DTYPES = {"float": np.dtype(np.float64), "int64": np.dtype(np.int64), "bool": np.dtype(np.bool_)}


def _column_conforms(series: pd.Series, column: ColumnRule) -> bool:
    """Dtype, nulls, uniqueness and the value checks of one column (False where one fails,
    or where a null sits in a unique column: pandera then decides)."""
    if column.dtype == "str":
        return _text_conforms(series, column)
    if series.dtype != _NUMPY_DTYPES[column.dtype] or column.unique:
        return False
    values = series.to_numpy()
    if column.dtype == "float":
        null = np.isnan(values)
        if null.any():
            if not column.nullable:
                return False
            values = values[~null]
    return all(_check_passes(kind, args, values, column.dtype) for kind, *args in column.checks)


def _text_conforms(series: pd.Series, column: ColumnRule) -> bool:
    """A text column (pandas' ``str``, or a categorical of ``str`` categories, checked by its
    codes and the categories in use); the checks run once per distinct text."""
    categorical = isinstance(series.dtype, pd.CategoricalDtype)
    if categorical:
        categories = series.cat.categories
        if categories.dtype != TEXT:
            return False
        codes = np.asarray(series.array.codes)
        null = codes < 0
    elif series.dtype != TEXT:
        return False
    else:
        null = series.isna().to_numpy()
    if null.any() and (not column.nullable or column.unique):
        return False
    if column.unique:
        if has_repeats(codes) if categorical else len(series.unique()) != len(series):
            return False
    if not column.checks:
        return True
    if categorical:
        used = np.bincount(codes[~null], minlength=len(categories)) > 0
        values = np.asarray(categories[used], object)
    else:
        values = np.asarray(series.unique(), object)
        values = values[~pd.isna(values)]
    return all(_check_passes(kind, args, values, "str") for kind, *args in column.checks)


def has_repeats(key: np.ndarray) -> bool:
    """Whether any value of ``key`` (integers) occurs twice: equal neighbours once sorted
    (cheaper than hashing every key)."""
    ordered = np.sort(key)
    return bool((ordered[1:] == ordered[:-1]).any())


def _check_passes(kind: str, args: list, values: np.ndarray, dtype: str) -> bool:
    if kind == "isin":
        allowed = set(args[0])
        return (
            all(v in allowed for v in values)
            if dtype == "str"
            else bool(np.isin(values, list(allowed)).all())
        )
    if dtype == "str":
        return False  # an order check of texts: pandera decides
    if kind == "in_range":
        return bool(((values >= args[0]) & (values <= args[1])).all())
    if kind == "ge":
        return bool((values >= args[0]).all())
    if kind == "gt":
        return bool((values > args[0]).all())
    return False


def _repeats(frame: pd.DataFrame, subset: list[str]) -> bool:
    """Whether a combination of ``subset``'s values repeats: by the codes where every column is
    a categorical without nulls (categories are distinct), else by pandas."""
    columns = [frame[c] for c in subset]
    if all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):
        codes = [np.asarray(c.array.codes, np.int64) for c in columns]
        sizes = [max(len(c.cat.categories), 1) for c in columns]
        if all((k >= 0).all() for k in codes) and float(np.prod(sizes, dtype=np.float64)) < 2.0**62:
            key = np.zeros(len(frame), np.int64)
            for k, size in zip(codes, sizes):
                key = key * size + k
            return has_repeats(key)
    return bool(frame.duplicated(subset=subset).any())


# pandera's built-in checks that test each value on its own: true of every row exactly when
# true of every distinct value
ROW_WISE_CHECKS = {"isin", "in_range", "greater_than_or_equal_to", "greater_than"}


def validate(schema, frame: pd.DataFrame) -> pd.DataFrame:
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


def _valid_by_categories(schema, frame: pd.DataFrame, categorical: list[str]) -> bool:
    """Whether ``schema`` passes ``frame``, checked once per category; False where it fails or
    where this shortcut is not the same check (the caller then runs pandera on the texts)."""
    import pandera.pandas as pa
    from pandera.errors import SchemaError, SchemaErrors

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
