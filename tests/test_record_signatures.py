"""Record signatures (issue 10): a 128-bit hash of each patient's record, computed column-wise
(numpy mixing of each value's bits, a text's distinct values hashed once), that identifies a
record whatever its pseudonym, study, partition, row order or text dtype, and that any change of
a value changes."""

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.canonical import StudyTables
from ketamine_bzd.provenance import record_signatures
from ketamine_bzd.synthetic import generate_cohort


@pytest.fixture(scope="module")
def study() -> StudyTables:
    return generate_cohort(47, 20200819)["ket2013"]


def _renamed(tables: StudyTables, study: str, prefix: str) -> StudyTables:
    """The same records under another study name and other pseudonyms."""

    def rename(frame):
        return frame.assign(
            study=study, patient_id=pd.Series(prefix + frame["patient_id"].astype(str), dtype="str")
        )

    return StudyTables(
        study=study,
        subjects=rename(tables.subjects),
        ratings=rename(tables.ratings),
        medication=rename(tables.medication),
    )


def _changed(tables: StudyTables, name: str, column: str, row: int, value) -> StudyTables:
    frame = getattr(tables, name).copy()
    frame.loc[frame.index[row], column] = value
    return StudyTables(**{**vars(tables), name: frame})


def test_signatures_are_128_bit_and_distinct(study):
    sig = record_signatures(study)
    assert sig.index.tolist() == study.subjects["patient_id"].tolist()
    assert sig.str.fullmatch("[0-9a-f]{32}").all() and sig.is_unique


def test_equal_records_have_equal_signatures_whatever_the_names_order_partition_and_dtype(study):
    sig = record_signatures(study)
    renamed = _renamed(study, "other", "X")
    shuffled = StudyTables(
        study="other",
        subjects=renamed.subjects.iloc[::-1].reset_index(drop=True),
        ratings=renamed.ratings.sample(frac=1.0, random_state=1).reset_index(drop=True),
        medication=renamed.medication.sample(frac=1.0, random_state=2)
        .astype({"drug": "category", "drug_class": "category"})
        .reset_index(drop=True),
    )
    got = record_signatures(shuffled)
    assert (got.loc["X" + sig.index].to_numpy() == sig.to_numpy()).all()
    # a partition: some patients only, with their rows
    some = set(study.subjects["patient_id"].iloc[::3])
    part = StudyTables(
        study=study.study,
        **{
            name: getattr(study, name)[getattr(study, name)["patient_id"].isin(some)]
            for name in ("subjects", "ratings", "medication")
        },
    )
    assert record_signatures(part).equals(sig[sig.index.isin(some)])


@pytest.mark.parametrize(
    "name, column, value",
    [
        ("subjects", "sex", "F?"),
        ("subjects", "age_years", 99.0),
        ("subjects", "weight_kg", np.nan),
        ("subjects", "episode", None),
        ("ratings", "score", 0.5),
        ("ratings", "study_day", 2),
        ("ratings", "visit", "day2"),
        ("medication", "dose_mg", 1e-300),
        ("medication", "study_day", 40),
        ("medication", "drug", "other"),
        ("medication", "as_needed", True),
    ],
)
def test_any_changed_value_changes_the_signature_of_that_patient_only(study, name, column, value):
    frame = getattr(study, name)
    row = int(np.flatnonzero((frame[column] != value) & frame[column].notna())[0])
    patient = frame["patient_id"].iloc[row]
    before, after = record_signatures(study), record_signatures(_changed(study, name, column, row, value))
    assert before[patient] != after[patient]
    assert (before.drop(patient) == after.drop(patient)).all()
    # both 64-bit halves change
    assert before[patient][:16] != after[patient][:16] and before[patient][16:] != after[patient][16:]


def test_a_repeated_row_and_negative_zero(study):
    sig = record_signatures(study)
    med = study.medication
    doubled = StudyTables(**{**vars(study), "medication": pd.concat([med, med.iloc[[0]]], ignore_index=True)})
    assert record_signatures(doubled)[med["patient_id"].iloc[0]] != sig[med["patient_id"].iloc[0]]
    zero = _changed(study, "medication", "dose_mg", 0, 0.0)
    negative = _changed(study, "medication", "dose_mg", 0, -0.0)
    assert (record_signatures(zero) == record_signatures(negative)).all()  # equal values


def test_patients_without_rows_and_an_empty_study(study):
    some = study.subjects["patient_id"].iloc[:2]
    bare = StudyTables(
        study=study.study,
        subjects=study.subjects[study.subjects["patient_id"].isin(some)],
        ratings=study.ratings.iloc[:0],
        medication=study.medication.iloc[:0],
    )
    sig = record_signatures(bare)
    assert sig.is_unique and len(sig) == 2
    empty = StudyTables(
        study=study.study,
        subjects=study.subjects.iloc[:0],
        ratings=study.ratings.iloc[:0],
        medication=study.medication.iloc[:0],
    )
    assert record_signatures(empty).empty


def test_texts_with_many_combinations_hash_as_few(study):
    """Over 2^20 combinations of text codes the steps run row by row: same signatures."""
    subjects = study.subjects.copy()
    for col in ("sex", "episode", "ketamine_ng_ml_0min_status", "ketamine_ng_ml_10min_status"):
        subjects[col] = pd.array([f"{col}{i}" for i in range(len(subjects))], dtype="str")
    many = StudyTables(**{**vars(study), "subjects": subjects})  # 48^4 combinations of codes
    first = subjects["patient_id"].iloc[:1]
    alone = StudyTables(
        study=study.study,
        **{
            name: getattr(many, name)[getattr(many, name)["patient_id"].isin(first)]
            for name in vars(study)
            if name != "study"
        },
    )
    assert record_signatures(many)[first.iloc[0]] == record_signatures(alone)[first.iloc[0]]
