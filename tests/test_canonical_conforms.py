"""The canonical tables are validated without pandera when they pass (issue 10: pandera's
import is 0.8 s of every ingest job): ``canonical_schemas.conforms`` must pass only tables
that pandera's schema passes, and ``validate_table`` must raise pandera's own error for every
table that fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from format_example import example_truth
from pandera.errors import SchemaError, SchemaErrors

from ketamine_bzd.canonical import categories_as_text
from ketamine_bzd.canonical_schemas import (
    MEDICATION,
    RATINGS,
    SUBJECTS,
    conforms,
    pandera_schema,
    validate_table,
)
from ketamine_bzd.formats import FORMATS

KEY = b"test-key"
STUDY_FORMAT = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
RULES = {"subjects": SUBJECTS, "ratings": RATINGS, "medication": MEDICATION}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Each study's tables as ingest builds them: text, and with the large tables as codes."""
    out = []
    for study, name in STUDY_FORMAT.items():
        module = FORMATS[name]
        files = module.write(example_truth(study), tmp_path_factory.mktemp(study))
        for coded in (False, True):
            (result,) = module.read_partitions(study, files, KEY, 1, text_as_categories=coded)
            out.append(result.tables)
    return out


def _pandera_passes(rule, frame) -> bool:
    try:
        pandera_schema(rule).validate(categories_as_text(frame))
    except (SchemaError, SchemaErrors):
        return False
    return True


def _pandera_error(rule, frame) -> str:
    with pytest.raises((SchemaError, SchemaErrors)) as err:
        pandera_schema(rule).validate(categories_as_text(frame))
    return str(err.value)


def test_ingested_tables_conform_without_pandera(tables):
    for t in tables:
        for name, rule in RULES.items():
            frame = getattr(t, name)
            assert conforms(rule, frame), name  # the fast path is the one taken
            assert _pandera_passes(rule, frame), name
            assert validate_table(rule, frame) is frame


def _subjects(tables):
    return tables[0].subjects


def _with_value(frame, column, row, value):
    out = frame.copy()
    if isinstance(out[column].dtype, pd.CategoricalDtype):
        out[column] = categories_as_text(out[[column]])[column]
    out[column] = out[column].astype(object)
    out.loc[out.index[row], column] = value
    return out.astype(
        {column: frame[column].dtype if not isinstance(frame[column].dtype, pd.CategoricalDtype) else "str"}
    )


# (table, change): each breaks one rule, in text and in coded tables
BROKEN = {
    "sex not coded": ("subjects", lambda f: _with_value(f, "sex", 1, "X")),
    "empty sex": ("subjects", lambda f: _with_value(f, "sex", 0, np.nan)),
    "repeated patient": ("subjects", lambda f: _with_value(f, "patient_id", 1, f["patient_id"].iloc[0])),
    "missing patient id": ("subjects", lambda f: _with_value(f, "patient_id", 2, np.nan)),
    "age too high": ("subjects", lambda f: f.assign(age_years=f["age_years"] + 100)),
    "negative level": ("subjects", lambda f: _with_value(f, "ketamine_ng_ml_10min", 0, -1.0)),
    "weight as text": ("subjects", lambda f: f.assign(weight_kg=f["weight_kg"].astype(str))),
    "column order": ("subjects", lambda f: f[[f.columns[1], f.columns[0], *f.columns[2:]]]),
    "extra column": ("subjects", lambda f: f.assign(extra=1)),
    "missing column": ("subjects", lambda f: f.drop(columns=["episode"])),
    "score too high": ("ratings", lambda f: _with_value(f, "score", 0, 64.0)),
    "unknown scale": ("ratings", lambda f: _with_value(f, "scale", 0, "hamd")),
    "repeated rating": ("ratings", lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True)),
    "day as float": ("ratings", lambda f: f.assign(study_day=f["study_day"].astype(float))),
    "day as int32": ("ratings", lambda f: f.assign(study_day=f["study_day"].astype(np.int32))),
    "dose zero": ("medication", lambda f: _with_value(f, "dose_mg", 0, 0.0)),
    "dose missing": ("medication", lambda f: _with_value(f, "dose_mg", 0, np.nan)),
    "day outside": ("medication", lambda f: _with_value(f, "study_day", 0, 8)),
    "unknown class": ("medication", lambda f: _with_value(f, "drug_class", 0, "opioid")),
    "as needed as int": ("medication", lambda f: f.assign(as_needed=f["as_needed"].astype(np.int64))),
    "drug missing": ("medication", lambda f: _with_value(f, "drug", 0, np.nan)),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_table_raises_pandera_error(tables, case):
    name, change = BROKEN[case]
    rule = RULES[name]
    for t in tables:
        frame = change(getattr(t, name))
        assert not conforms(rule, frame)
        expected = _pandera_error(rule, frame)
        with pytest.raises((SchemaError, SchemaErrors)) as err:
            validate_table(rule, frame)
        assert str(err.value) == expected


def test_conforms_passes_only_what_pandera_passes(tables):
    """Random damage to the ingested tables (values swapped between columns and rows, nulls,
    out-of-range numbers): wherever the fast check passes a table, pandera passes it."""
    rng = np.random.default_rng(7)
    fills = [np.nan, -1.0, 0.0, 63.0, 64.0, 1e9, "F", "x", "", "missing", "bzd", "day0", True]
    passed = failed = 0
    for _ in range(120):
        t = tables[rng.integers(len(tables))]
        name = ["subjects", "ratings", "medication"][rng.integers(3)]
        frame = getattr(t, name)
        column = frame.columns[rng.integers(len(frame.columns))]
        try:
            changed = _with_value(
                frame, column, int(rng.integers(len(frame))), fills[rng.integers(len(fills))]
            )
        except (TypeError, ValueError):
            continue  # a value the column's dtype cannot hold
        if conforms(RULES[name], changed):
            assert _pandera_passes(RULES[name], changed), (name, column)
            passed += 1
        else:
            failed += 1
    assert passed and failed


def test_one_patient_and_empty_tables_conform(tables):
    for t in tables:
        for name, rule in RULES.items():
            frame = getattr(t, name)
            for part in (frame.iloc[:1], frame.iloc[:0]):
                assert conforms(rule, part) == _pandera_passes(rule, part)
                assert conforms(rule, part)


def test_ingest_that_passes_does_not_import_pandera(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from format_example import example_truth
        from ketamine_bzd.formats import FORMATS
        m = FORMATS["ecrf_cz"]
        files = m.write(example_truth("ket2013"), __import__("pathlib").Path({str(tmp_path)!r}))
        list(m.read_partitions("ket2013", files, b"k", 2, text_as_categories=True))
        print("pandera" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
