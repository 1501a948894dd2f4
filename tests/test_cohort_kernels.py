"""The cohort job's numpy kernels (issue 10) give the values of the definitions they replace,
bit for bit, also on inputs the synthetic generator never makes: intakes out of order, many
intakes a day, NaN and infinite doses, intakes of no patient, patients without intakes, an
empty partition, a single study."""

import functools

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd import cohort_kernels as kernels
from ketamine_bzd import definitions as d
from ketamine_bzd.canonical import StudyTables
from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import MissingEquivalentError, load_table
from ketamine_bzd.shipped import resource_path
from ketamine_bzd.synthetic import generate_cohort


def _intakes(n=5_000, n_patients=300, seed=1, shuffle=True):
    """Intakes with doses spanning 16 orders of magnitude (the summation order shows in the
    last bits), several a day, some NaN, some of no patient (-1)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "patient_id": rng.integers(-1, n_patients, n),
            "study_day": rng.integers(-9, 12, n),
            "dose": rng.random(n) * 10.0 ** rng.integers(-8, 8, n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "dose"] = np.nan
    if not shuffle:
        frame = frame.sort_values(["patient_id", "study_day"], kind="stable", ignore_index=True)
    return frame


@pytest.mark.parametrize("shuffle", [True, False])
def test_group_sums_are_pandas_sums(shuffle):
    frame = _intakes(shuffle=shuffle).dropna()
    frame = frame[frame["patient_id"] >= 0]
    key = (frame["patient_id"] * 30 + frame["study_day"] + 9).to_numpy()
    want = frame.assign(key=key).groupby("key")["dose"].sum()
    got = kernels.group_sums(key, frame["dose"].to_numpy(), 300 * 30)
    assert (got[want.index] == want.to_numpy()).all()
    assert (np.delete(got, want.index) == 0).all()
    naive = np.bincount(key, weights=frame["dose"].to_numpy(), minlength=300 * 30)
    assert (naive != got).any()  # the data tell the compensated sums (and pandas' order) apart


@pytest.mark.parametrize("key", [[0, 0, 0, 1, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1, 2, 2]])
def test_group_sums_with_infinite_values(key):
    key = np.array(key)
    values = np.array([1.0, np.inf, 2.0, np.inf, -np.inf, 1.0, 1e16, 1.0])
    with np.errstate(invalid="ignore"):
        want = pd.Series(values).groupby(key).sum().to_numpy()
    got = kernels.group_sums(key, values, 3)
    assert np.array_equal(got, want, equal_nan=True)


@pytest.mark.parametrize("window", [(-1, 7), (0, 0), (-3, 20), (5, 9)])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n_patients", [300, 3])
def test_dose_summaries_equal_the_definition(window, shuffle, n_patients):
    frame = _intakes(n_patients=n_patients, shuffle=shuffle)
    ids = pd.RangeIndex(n_patients + 10)  # the last 10 patients: no intakes
    summaries = ("mean", "max", "first")
    want = d.dose_summaries(frame, ids, "dose", window, summaries)
    got = kernels.dose_summaries(
        frame["patient_id"].to_numpy(),
        frame["study_day"].to_numpy(),
        frame["dose"].to_numpy(),
        len(ids),
        window,
        summaries,
    )
    for s in summaries:
        assert (got[s] == want[s].to_numpy()).all(), s
    assert (got["mean"][n_patients:] == 0).all()


def test_dose_summaries_decline_what_they_do_not_compute():
    frame = _intakes()
    args = frame["patient_id"].to_numpy(), frame["study_day"].to_numpy(), frame["dose"].to_numpy(), 300
    assert kernels.dose_summaries(*args, (3, 2), ("mean",)) is None  # empty window
    infinite = frame["dose"].to_numpy().copy()
    infinite[frame["patient_id"].to_numpy() == 3] = np.inf
    assert kernels.dose_summaries(args[0], args[1], infinite, 300, (-9, 12), ("mean",)) is None
    empty = kernels.dose_summaries(*(a[:0] for a in args[:3]), 0, (-1, 7), ("mean", "max", "first"))
    assert all(len(v) == 0 for v in empty.values())


def test_days_with_intake_and_bzd_user_equal_the_definition():
    frame = _intakes().assign(drug_class="bzd")
    ids = pd.RangeIndex(310)
    for max_days in (0, 2, 5):
        want = d.bzd_user(frame, ids, max_days)
        user = np.zeros(len(ids), bool)
        for week in d.STUDY_WEEKS:
            days = kernels.days_with_intake(
                frame["patient_id"].to_numpy(), frame["study_day"].to_numpy(), len(ids), week
            )
            user |= days > max_days
        assert (user == want.to_numpy()).all()


def test_drug_sets():
    table = kernels.drug_sets(np.array([0, 0, 2, -1, 2]), np.array([1, 1, 0, 0, -1]), 2, 4)
    assert table.tolist() == [[False, True], [False, False], [True, False], [False, False]]


# --- derive with the kernels, against the definitions applied to the pseudonymized tables ---


def _equivalents():
    return (
        load_table(resource_path("equivalents/diazepam_paper.csv")),
        load_table(resource_path("equivalents/fluoxetine_hayasaka2015.csv")),
    )


@functools.cache
def _default_study() -> StudyTables:
    return generate_cohort(47, 20200819)["ket2013"]


def _odd_study() -> StudyTables:
    """One study of the default cohort with intakes shuffled, a patient without intakes, one
    without ratings, a NaN dose, a drug outside any equivalence class, and three intakes of
    one drug on one day."""
    tables = _default_study()
    subjects, ratings, med = tables.subjects, tables.ratings, tables.medication
    no_intakes, no_ratings = subjects["patient_id"].iloc[0], subjects["patient_id"].iloc[1]
    med = med[med["patient_id"] != no_intakes]
    ratings = ratings[ratings["patient_id"] != no_ratings]
    med = pd.concat([med, med.iloc[[4, 4, 4]].assign(dose_mg=[0.1, 1e-9, 3.3])], ignore_index=True)
    med.loc[7, "dose_mg"] = np.nan
    med = med.sample(frac=1.0, random_state=3).reset_index(drop=True)
    return StudyTables(study=tables.study, subjects=subjects, ratings=ratings, medication=med)


def _expected_columns(merged: StudyTables, med: pd.DataFrame, settings: CohortSettings) -> pd.DataFrame:
    ids = pd.Index(merged.subjects["patient_id"])
    lo, hi = settings.dose_window
    doses = d.dose_summaries(med, ids, "diazepam_eq_mg", settings.dose_window, ("mean", "max", "first"))
    window = med[med["study_day"].between(lo, hi)]
    bzd, ad = med[med["drug_class"] == "bzd"], window[window["drug_class"] == "ad"]

    def drug_list(rows):
        return (
            rows.groupby("patient_id")["drug"].agg(lambda s: "+".join(sorted(set(s)))).reindex(ids).fillna("")
        )

    return pd.DataFrame(
        {
            "diazepam_eq_mg": doses["mean"],
            "diazepam_eq_max_mg": doses["max"],
            "diazepam_eq_baseline_mg": doses["first"],
            "bzd_user": d.bzd_user(med, ids, settings.user_max_days_per_week),
            "bzd_drugs": drug_list(bzd),
            "fluoxetine_eq_mg": d.dose_exposure(med, ids, "fluoxetine_eq_mg", settings.dose_window),
            "n_antidepressants": ad.groupby("patient_id")["drug"].nunique().reindex(ids, fill_value=0),
            "antidepressants": drug_list(ad),
        }
    )


@pytest.mark.parametrize("coded", [False, True])
def test_derive_equals_the_definitions_on_odd_inputs(coded):
    study = _odd_study()
    if coded:
        study = StudyTables(
            study=study.study,
            subjects=study.subjects,
            ratings=study.ratings,
            medication=study.medication.astype({"drug": "category", "drug_class": "category"}),
        )
    merged = merge([study])
    med = add_equivalents(merged.medication, *_equivalents(), text_as_categories=coded)
    settings = CohortSettings()
    patients = derive(merged, med, settings, text_as_categories=coded).patients.set_index("patient_id")
    want = _expected_columns(merged, med.astype({"drug": str, "drug_class": str}), settings)
    got = patients.loc[want.index, want.columns]
    for col in want.columns:
        assert (got[col].to_numpy() == want[col].to_numpy()).all(), col
    first = merged.subjects["patient_id"].iloc[0]
    assert patients.loc[first, "bzd_drugs"] == "" and patients.loc[first, "diazepam_eq_mg"] == 0


def test_derive_of_an_empty_partition():
    study = _odd_study()
    empty = StudyTables(
        study=study.study,
        subjects=study.subjects.iloc[:0],
        ratings=study.ratings.iloc[:0],
        medication=study.medication.iloc[:0],
    )
    merged = merge([empty])
    cohort = derive(merged, add_equivalents(merged.medication, *_equivalents()), CohortSettings())
    assert cohort.patients.empty and cohort.visits.empty


def test_add_equivalents_from_codes_equals_text_and_refuses_a_drug_without_equivalent():
    med = _odd_study().medication
    coded = med.astype({"drug": "category", "drug_class": "category"})
    text_eq = add_equivalents(med, *_equivalents())
    coded_eq = add_equivalents(coded, *_equivalents(), text_as_categories=True)
    for col in ("diazepam_eq_mg", "fluoxetine_eq_mg"):
        assert np.array_equal(coded_eq[col].to_numpy(), text_eq[col].to_numpy(), equal_nan=True)
    unknown = pd.concat(
        [med, med.iloc[[0]].assign(drug="unknownazepam", drug_class="bzd")], ignore_index=True
    )
    for frame in (unknown, unknown.astype({"drug": "category", "drug_class": "category"})):
        with pytest.raises(MissingEquivalentError, match="'unknownazepam'"):
            add_equivalents(frame, *_equivalents())


def test_positions_in_is_get_indexer():
    ids = pd.Index(pd.array(["P3", "P1", "P2"], dtype="str"))
    values = pd.Index(pd.array(["P2", "P9", "P3", "P1"], dtype="str"))
    assert kernels.positions_in(ids, values).tolist() == ids.get_indexer(values).tolist() == [2, -1, 0, 1]
    assert kernels.positions_in(ids[:0], values).tolist() == [-1] * 4
    assert kernels.positions_in(ids, values[:0]).tolist() == []
    with pytest.raises(pd.errors.InvalidIndexError):
        kernels.positions_in(ids.append(ids), values)
