"""Study heterogeneity (stats/meta.py) against metafor / glm / brglm2 (tests/reference/meta.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.meta import (
    heterogeneity,
    random_effects,
    tau2_dersimonian_laird,
    tau2_reml,
)

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "out" / "meta.json").read_text())
COVARIATES = ["madrs_day0", "bai_day0"]
DATASETS = ["paper_shaped", "separation", "ties_zeros", "three_studies", "synthetic_default_n47_study"]
POOLED_KEYS = [
    "tau2",
    "i2_percent",
    "h2",
    "q",
    "q_p_value",
    "estimate",
    "se",
    "ci_wald",
    "p_wald",
    "se_hartung_knapp",
    "ci_hartung_knapp",
    "p_hartung_knapp",
    "se_hartung_knapp_adhoc",
    "ci_hartung_knapp_adhoc",
    "p_hartung_knapp_adhoc",
    "weights_percent",
]
TOL = 1e-6


def close(a, b, tol=TOL):
    """Agreement to ``tol``, absolute for |b| <= 1 and relative above (p values near 0 compare
    absolutely; Q of the BCG trials is 152)."""
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))))


def load(name: str) -> pd.DataFrame:
    frame = pd.read_csv(REF_DIR / "data" / f"{name}.csv")
    frame["study"] = frame["study"].astype(str)
    return frame


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_pooling_matches_metafor_on_bcg_trials(method):
    """metafor's worked example (dat.bcg, 13 trials): tau^2 0.3088 (DL), 0.3132 (REML)."""
    ref = REF["dat_bcg"]
    got = random_effects(ref["yi"], ref["vi"], method)
    want = ref[method.lower()]
    for key in POOLED_KEYS:
        assert close(got[key], want[key]), (key, got[key], want[key])
    assert round(got["tau2"], 4) == {"DL": 0.3088, "REML": 0.3132}[method]


@pytest.mark.parametrize("name", DATASETS)
def test_per_study_one_stage_and_pooled_match_r(name):
    got = heterogeneity(load(name), COVARIATES)
    ref = REF[name]
    assert [s["study"] for s in got["studies"]] == [s["study"] for s in ref["studies"]]
    for g, r in zip(got["studies"], ref["studies"]):
        # the Konis LP (Python) and R's divergence check agree on which studies are separated
        assert (g["estimator"], g["separation"]) == (r["estimator"], r["separation"]), g["study"]
        assert close(g["log_odds_ratio"], r["log_odds_ratio"]) and close(g["se"], r["se"]), g["study"]
    one = got["one_stage"]
    assert one["estimator"] == ref["one_stage"]["estimator"]
    assert close(one["log_odds_ratio"], ref["one_stage"]["log_odds_ratio"])
    assert close(one["se"], ref["one_stage"]["se"])
    assert got["pooled"]["estimable"] and got["n_studies_pooled"] == len(ref["studies"])
    for method in ("dl", "reml"):
        for key in POOLED_KEYS:
            assert close(got["pooled"][method][key], ref[method][key]), (name, method, key)


def test_firth_used_where_separated_and_said_so():
    got = heterogeneity(load("paper_shaped"), COVARIATES)
    b = next(s for s in got["studies"] if s["study"] == "B")
    assert b["estimator"] == "firth" and b["separation"] is True
    assert "separation" in b["estimator_reason"] and "bzd_plus" in b["estimator_reason"]
    a = next(s for s in got["studies"] if s["study"] == "A")
    assert a["estimator"] == "ml" and a["estimator_reason"].startswith("no separation")


def test_hartung_knapp_narrower_than_wald_is_warned():
    # the default synthetic cohort: Q = 0.02 < k - 1 = 1
    got = heterogeneity(load("synthetic_default_n47_study"), COVARIATES)
    reml = got["pooled"]["reml"]
    assert reml["se_hartung_knapp"] < reml["se"] == reml["se_hartung_knapp_adhoc"]
    assert any("Hartung-Knapp SE" in w and w.startswith("REML") for w in got["warnings"])


def test_one_study_is_skipped_with_a_note():
    frame = load("paper_shaped")
    got = heterogeneity(frame[frame["study"] == "A"], COVARIATES)
    assert got["n_studies"] == 1 and got["pooled"]["estimable"] is False
    assert "pooling skipped" in got["pooled"]["note"]
    assert got["one_stage"]["estimable"] is False
    json.dumps(got, allow_nan=False)


def test_study_without_estimate_is_left_out_and_counted():
    frame = load("three_studies")
    # study C without any BZD+ patient: bzd_plus is constant there, the model cannot be fitted
    frame.loc[frame["study"] == "C", "bzd_plus"] = False
    got = heterogeneity(frame, COVARIATES)
    c = next(s for s in got["studies"] if s["study"] == "C")
    assert c["estimable"] is False and c["log_odds_ratio"] is None
    assert any("constant" in w for w in c["warnings"])
    assert got["n_studies_pooled"] == 2 and got["pooled"]["studies"] == ["A", "B"]
    assert any("left out of the pooling" in w for w in got["warnings"])
    json.dumps(got, allow_nan=False)


def test_reml_is_zero_when_q_below_df_and_dl_matches_formula():
    yi, vi = [0.1, 0.12, 0.09], [0.04, 0.05, 0.06]
    assert tau2_reml(yi, vi) == 0.0 and tau2_dersimonian_laird(yi, vi) == 0.0
    res = random_effects(yi, vi, "DL")
    assert res["i2_percent"] == 0.0 and res["h2"] == 1.0


def test_i2_equals_q_formula_for_dl():
    ref = REF["dat_bcg"]
    res = random_effects(ref["yi"], ref["vi"], "DL")
    assert math.isclose(res["i2_percent"], 100 * (res["q"] - res["q_df"]) / res["q"], rel_tol=1e-12)


@pytest.mark.parametrize("yi, vi", [([0.1], [0.1]), ([0.1, 0.2], [0.1, 0.0]), ([0.1, np.nan], [0.1, 0.1])])
def test_bad_input_raises(yi, vi):
    with pytest.raises(ValueError):
        random_effects(yi, vi)
