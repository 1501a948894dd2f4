"""Ingest jobs keep the ratings' and intakes' text as codes (issue 10): ``read_partitions(...,
text_as_categories=True)`` gives the tables of the text path with categorical text columns,
they are validated once per category with the text path's errors, and the Parquet files written
from the codes read back as the text path's files (content, dtypes, schema and metadata)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from format_example import example_truth
from pandera.errors import SchemaError, SchemaErrors
from test_ingest_partition import _add_soft_problems

from ketamine_bzd.canonical import categories_as_text
from ketamine_bzd.canonical_schemas import MEDICATION_SCHEMA, RATINGS_SCHEMA, validate
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.io import read_parquet_metadata, read_table, write_study_tables

KEY = b"test-key"
STUDY_FORMAT = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
NAMES = ("subjects", "ratings", "medication")


@pytest.fixture(scope="module", params=sorted(STUDY_FORMAT))
def both(request, tmp_path_factory):
    """One study's 2 partitions read as text and as codes."""
    study = request.param
    module = FORMATS[STUDY_FORMAT[study]]
    files = module.write(example_truth(study), tmp_path_factory.mktemp(study))
    _add_soft_problems(STUDY_FORMAT[study], files)
    text = list(module.read_partitions(study, files, KEY, 2))
    coded = list(module.read_partitions(study, files, KEY, 2, text_as_categories=True))
    return text, coded


def test_coded_tables_are_the_text_tables(both):
    text, coded = both
    assert sum(len(r.tables.medication) for r in coded) > 0
    for a, b in zip(text, coded):
        for name in ("ratings", "medication"):
            frame = getattr(b.tables, name)
            assert isinstance(frame["patient_id"].dtype, pd.CategoricalDtype)
            pd.testing.assert_frame_equal(categories_as_text(frame), getattr(a.tables, name), obj=name)
        pd.testing.assert_frame_equal(b.tables.subjects, a.tables.subjects)
        pd.testing.assert_frame_equal(b.quarantine, a.quarantine)
        pd.testing.assert_frame_equal(b.report, a.report)
        assert b.warnings == a.warnings


def test_files_written_from_codes_read_back_as_the_text_files(both, tmp_path):
    text, coded = both
    metadata = {"key_fingerprint": "abc123"}
    for k, (a, b) in enumerate(zip(text, coded)):
        paths_a = {n: tmp_path / f"text-{k}-{n}.parquet" for n in NAMES}
        paths_b = {n: tmp_path / f"coded-{k}-{n}.parquet" for n in NAMES}
        write_study_tables(a.tables, paths_a, metadata)
        write_study_tables(b.tables, paths_b, metadata)
        for name in NAMES:
            expected = pd.read_parquet(paths_a[name])
            pd.testing.assert_frame_equal(pd.read_parquet(paths_b[name]), expected, obj=name)
            assert pq.read_schema(paths_b[name]).equals(pq.read_schema(paths_a[name]), check_metadata=True)
            assert read_parquet_metadata(paths_b[name], "key_fingerprint") == "abc123"
            # a reader of dictionaries (the cohort job) gets the same categories, in the same order
            by_codes = read_table(paths_b[name], text_as_categories=True)
            pd.testing.assert_frame_equal(by_codes, read_table(paths_a[name], text_as_categories=True))


def _coded_medication():
    codes = np.array([0, 1, 0], np.int8)
    frame = pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes([0, 0, 1], ["p1", "p2"]),
            "study": pd.Categorical.from_codes([0, 0, 0], ["s"]),
            "study_day": np.array([-1, 0, 2], np.int64),
            "drug": pd.Categorical.from_codes(codes, ["diazepam", "sertraline", "unused"]),
            "drug_class": pd.Categorical.from_codes(codes, ["bzd", "ad", "no such class"]),
            "dose_mg": [5.0, 50.0, 10.0],
            "as_needed": [False, False, True],
        }
    )
    return frame


def _error(schema, frame) -> str:
    with pytest.raises((SchemaError, SchemaErrors)) as err:
        validate(schema, frame)
    return str(err.value)


def test_coded_validation_passes_what_the_text_validation_passes():
    frame = _coded_medication()
    assert validate(MEDICATION_SCHEMA, frame) is frame  # an unused category is no value
    MEDICATION_SCHEMA.validate(categories_as_text(frame))


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(drug_class=f["drug_class"].cat.rename_categories(["bzd", "xx", "yy"])),
        lambda f: f.assign(drug=pd.Categorical.from_codes([0, -1, 0], ["diazepam", "sertraline"])),
        lambda f: f.assign(dose_mg=[5.0, -1.0, 10.0]),
        lambda f: f.assign(study_day=np.array([-1, 0, 9], np.int64)),
        lambda f: f[["study", *[c for c in f.columns if c != "study"]]],
    ],
    ids=["bad class", "missing drug", "dose", "day", "column order"],
)
def test_coded_validation_raises_the_error_of_the_text_table(change):
    frame = change(_coded_medication())
    with pytest.raises((SchemaError, SchemaErrors)) as text:
        MEDICATION_SCHEMA.validate(categories_as_text(frame))
    assert _error(MEDICATION_SCHEMA, frame) == str(text.value)


def test_a_repeated_rating_in_codes_is_the_text_tables_error():
    ratings = categories_as_text(
        pd.DataFrame(
            {
                "patient_id": ["p1", "p1"],
                "study": ["s", "s"],
                "scale": ["madrs", "madrs"],
                "visit": ["day0", "day0"],
                "study_day": np.array([-1, -1], np.int64),
                "score": [10.0, 11.0],
                "status": ["observed", "observed"],
            }
        )
    )
    coded = ratings.astype({c: "category" for c in ("patient_id", "study", "scale", "visit", "status")})
    with pytest.raises((SchemaError, SchemaErrors)) as text:
        RATINGS_SCHEMA.validate(ratings)
    assert _error(RATINGS_SCHEMA, coded) == str(text.value)
