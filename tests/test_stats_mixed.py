"""Linear mixed model vs R nlme::lme (REML) + emmeans (tests/reference/out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.mixed import mixed_model

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "mixed.json").read_text())
VISITS = ["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]
CASES = {
    "paper_shaped": ("bzd_plus", [False, True]),
    "missing_visits": ("bzd_plus", [False, True]),
    "sphericity_violated": ("group", ["BZD-", "BZD+"]),
}


def run(name):
    group, levels = CASES[name]
    d = pd.read_csv(REF / "data" / f"{name}.csv")
    return mixed_model(d, subject="patient_id", group=group, columns=VISITS, groups=levels)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_nlme_and_emmeans(name):
    ref = R[name]
    m = run(name)
    assert m.n_observations == ref["n_obs"] and m.converged
    # Same REML model; nlme stops its optimiser ~1e-7 (relative) from the optimum, we are at
    # least as high on the REML likelihood.
    assert m.loglik_reml == pytest.approx(ref["loglik"], abs=1e-8)
    assert m.loglik_reml >= ref["loglik"] - 1e-10
    assert m.random_intercept_var == pytest.approx(ref["tau2"], rel=1e-6)
    assert m.residual_var == pytest.approx(ref["sigma2"], rel=1e-6)
    np.testing.assert_allclose(m.fixed_effects["estimate"], ref["beta"], atol=1e-6)
    np.testing.assert_allclose(m.fixed_effects["se"], ref["se"], atol=1e-6)
    c = m.contrasts
    np.testing.assert_allclose(c["estimate"], ref["estimate"], atol=1e-6)
    np.testing.assert_allclose(c["se"], ref["ctr_se"], atol=1e-6)
    # df: emmeans on lme uses containment df (here N patients - 2); our p_value_t uses the same df,
    # p_value (normal) is what statsmodels-style inference gives and is smaller.
    np.testing.assert_allclose(c["df_t"], ref["df"])
    np.testing.assert_allclose(c["p_value_t"], ref["p"], atol=1e-6)
    np.testing.assert_allclose(c["p_bonferroni"], ref["p_bonf"], atol=1e-6)
    assert (c["p_value"] <= c["p_value_t"] + 1e-12).all()


def test_statsmodels_failure_is_reported_not_raised():
    m = run("sphericity_violated")
    assert any("statsmodels" in w for w in m.warnings) or np.isfinite(m.loglik_reml_statsmodels)
    json.dumps(m.to_dict())


def test_missing_visits_counted():
    m = run("missing_visits")
    assert m.n_missing_visits == 6 and m.n_patients == 47
    assert m.warnings


def test_empty_group_raises():
    d = pd.read_csv(REF / "data" / "paper_shaped.csv").assign(bzd_plus=False)
    with pytest.raises(ValueError, match="no patients"):
        mixed_model(d, subject="patient_id", group="bzd_plus", columns=VISITS, groups=[False, True])


def test_method_says_what_ran(monkeypatch):
    """issue 8, finding 9: the label names the direct REML maximisation and where it started."""
    m = run("paper_shaped")
    assert "maximised directly from statsmodels MixedLM estimates" in m.method

    class Failing:
        def __init__(self, *args, **kwargs):
            raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr("ketamine_bzd.stats.mixed.sm.MixedLM", Failing)
    failed = run("paper_shaped")
    assert any("MixedLM failed" in w for w in failed.warnings)
    assert "moment start values (statsmodels MixedLM failed)" in failed.method
    assert "from statsmodels MixedLM estimates" not in failed.method
    # the same REML optimum either way
    assert failed.loglik_reml == pytest.approx(m.loglik_reml, abs=1e-8)
