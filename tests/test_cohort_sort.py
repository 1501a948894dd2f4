"""The cohort's fast sort (issue 10): ``sorted_rows`` orders rows exactly as
``DataFrame.sort_values(kind="stable")`` (what it does for several keys) on the canonical
key columns."""

import numpy as np
import pandas as pd

from ketamine_bzd.cohort import sorted_rows


def _frame(n=2_000, seed=3):
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{v:016x}" for v in rng.integers(0, 2**63, 50)], dtype=object)
    return pd.DataFrame(
        {
            "patient_id": pd.array(rng.choice(ids, n), dtype="str"),
            "study_day": rng.integers(-7, 60, n),
            "drug": pd.array(rng.choice(["diazepam", "alprazolam", "Zolpidem", "éter"], n), dtype="str"),
            "as_needed": rng.random(n) < 0.2,
            "dose_mg": rng.random(n),  # not a key: ties keep their input order
        }
    )


def test_sorted_rows_equal_sort_values():
    frame = _frame()
    for keys in (["patient_id", "study_day", "drug", "as_needed"], ["drug", "patient_id"], ["as_needed"]):
        pd.testing.assert_frame_equal(
            sorted_rows(frame, keys), frame.sort_values(keys, ignore_index=True, kind="stable")
        )


def test_missing_key_values_fall_back_to_sort_values():
    frame = _frame(200)
    frame.loc[[3, 50], "drug"] = np.nan
    keys = ["drug", "study_day"]
    pd.testing.assert_frame_equal(
        sorted_rows(frame, keys), frame.sort_values(keys, ignore_index=True, kind="stable")
    )


def test_empty_frame():
    frame = _frame().iloc[:0]
    assert sorted_rows(frame, ["patient_id"]).empty


def test_categoricals_sort_by_their_texts_whatever_the_categories_order():
    frame = _frame()
    coded = frame.assign(
        patient_id=pd.Categorical(frame["patient_id"], categories=frame["patient_id"].unique()[::-1]),
        drug=pd.Categorical(
            frame["drug"], categories=["éter", "Zolpidem", "diazepam", "alprazolam", "unused"]
        ),
    )
    keys = ["patient_id", "study_day", "drug", "as_needed"]
    got = sorted_rows(coded, keys, text_as_categories=True)
    want = frame.sort_values(keys, ignore_index=True, kind="stable")
    pd.testing.assert_frame_equal(got.astype({"patient_id": "str", "drug": "str"}), want)
