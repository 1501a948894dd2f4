import numpy as np
import pandas as pd
import pytest

from ketamine_bzd import definitions as d


def frame(**cols):
    return pd.DataFrame(cols)


def test_relative_change_positive_is_improvement_and_zero_baseline_is_nan():
    out = d.relative_change(pd.Series([20, 30, 0]), pd.Series([10, 33, 0]))
    assert out.iloc[0] == pytest.approx(0.5)
    assert out.iloc[1] == pytest.approx(-0.1)
    assert np.isnan(out.iloc[2])


def test_responder_at_any_visit_with_exact_half_and_missing_visits():
    p = frame(
        madrs_day0=[20, 20, 20, 20, 21],
        madrs_day1=[15, 10, np.nan, 15, 11],
        madrs_day3=[12, 18, 9, np.nan, 11],
        madrs_day7=[11, 16, np.nan, 14, 10],
    )
    out = d.responder(p)
    # exactly 50 % counts; response at an observed visit wins over a missing one;
    # no response seen but a visit missing is unknown, never a silent nonresponse
    assert out.tolist()[:3] == [False, True, True]
    assert out.isna().tolist() == [False, False, False, True, False]
    assert bool(out.iloc[4]) is True  # 21 -> 11 is 47.6 %, 21 -> 10 at day 7 is 52.4 %


def test_remitter_and_high_dose_group():
    p = frame(madrs_day7=[10, 11, np.nan])
    out = d.remitter(p)
    assert out.iloc[0] and not out.iloc[1] and out.isna().iloc[2]
    # MedCalc criterion ">8": 8.0 mg is BZD-, 8.01 mg is BZD+
    assert d.bzd_high_dose(pd.Series([0.0, 8.0, 8.01]), 8).tolist() == [False, False, True]


MED = pd.DataFrame(
    {
        "patient_id": ["a"] * 9 + ["b", "c", "c", "c"],
        "study_day": list(range(-1, 8)) + [1, -7, -6, -5],
        "drug_class": ["bzd"] * 13,
        "diazepam_eq_mg": [9.0] * 8 + [18.0] + [10.0, 5.0, 5.0, 5.0],
    }
)
IDS = pd.Index(["a", "b", "c", "z"])


def test_dose_exposure_mean_max_first_over_the_window():
    mean = d.dose_exposure(MED, IDS)
    assert mean["a"] == pytest.approx((8 * 9 + 18) / 9)
    assert mean["b"] == pytest.approx(10 / 9)  # a single as-needed dose still counts in the mean
    assert mean["c"] == 0 and mean["z"] == 0  # outside the window / never took any
    assert d.dose_exposure(MED, IDS, summary="max")["a"] == 18
    assert d.dose_exposure(MED, IDS, window=(-1, -1), summary="first")["a"] == 9
    with pytest.raises(ValueError, match="unknown dose summary"):
        d.dose_exposure(MED, IDS, summary="median")


def test_bzd_user_more_than_two_days_in_a_study_week():
    user = d.bzd_user(MED, IDS)
    assert user.to_dict() == {"a": True, "b": False, "c": True, "z": False}
    assert not d.bzd_user(MED, IDS, max_days_per_week=3)["c"]
