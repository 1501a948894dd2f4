"""Mixed-design ANOVA and simple effects vs afex::aov_ez + emmeans (tests/reference/out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.rm_anova import rm_anova, simple_effects

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "rm_anova.json").read_text())
VISITS = ["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]
CASES = {
    "paper_shaped": ("bzd_plus", [False, True]),
    "sphericity_violated": ("group", ["BZD-", "BZD+"]),
    "missing_visits": ("bzd_plus", [False, True]),
    "ties_zeros": ("bzd_plus", [False, True]),
}


def run(name):
    group, levels = CASES[name]
    d = pd.read_csv(REF / "data" / f"{name}.csv")
    kw = dict(subject="patient_id", group=group, columns=VISITS, groups=levels)
    return rm_anova(d, **kw), simple_effects(d, **kw)


@pytest.mark.parametrize("name", list(CASES))
def test_anova_table_matches_afex(name):
    ref = R[name]
    res, _ = run(name)
    assert res.n == ref["n"]
    rows = {"grp": res.group_effect, "time": res.time, "grp:time": res.group_x_time}
    for i, term in enumerate(ref["terms"]):
        if term not in rows:
            continue
        r = rows[term]
        assert r.ss == pytest.approx(ref["ss"][i], rel=1e-9)
        assert r.ss_error == pytest.approx(ref["ss_err"][i], rel=1e-9)
        assert (r.df1, r.df2) == (ref["df1"][i], ref["df2"][i])
        assert r.f == pytest.approx(ref["f"][i], rel=1e-9)
        assert r.p_value == pytest.approx(ref["p"][i], rel=1e-7, abs=1e-12)
        assert r.partial_eta_sq == pytest.approx(ref["ss"][i] / (ref["ss"][i] + ref["ss_err"][i]), rel=1e-9)
    for i, term in enumerate(ref["sph_terms"]):
        r = rows[term]
        assert r.mauchly_w == pytest.approx(ref["mauchly_w"][i], rel=1e-7)
        assert r.mauchly_p == pytest.approx(ref["mauchly_p"][i], rel=1e-6)
        assert r.gg_epsilon == pytest.approx(ref["gg"][i], abs=1e-9)
        assert r.p_gg == pytest.approx(ref["p_gg"][i], abs=1e-9)
        assert r.hf_epsilon == pytest.approx(ref["hf"][i], abs=1e-9)
        assert r.p_hf == pytest.approx(ref["p_hf"][i], abs=1e-9)
    assert res.group_effect.gg_epsilon is None  # between-subject term: no sphericity


@pytest.mark.parametrize("name", list(CASES))
def test_simple_effects_match_emmeans_bonferroni(name):
    ref = R[name]
    _, se = run(name)
    np.testing.assert_allclose(se["estimate"], ref["estimate"], atol=1e-9)
    np.testing.assert_allclose(se["se"], ref["se"], atol=1e-9)
    np.testing.assert_allclose(se["df"], ref["df"])
    np.testing.assert_allclose(se["t"], ref["t"], atol=1e-9)
    np.testing.assert_allclose(se["p_value"], ref["p_raw"], atol=1e-9)
    np.testing.assert_allclose(se["p_bonferroni"], ref["p_bonf"], atol=1e-9)


def test_sphericity_violation_is_flagged():
    res, _ = run("sphericity_violated")
    assert res.sphericity_violated
    assert any("sphericity rejected" in w for w in res.warnings)
    assert res.group_x_time.gg_epsilon < 0.5


def test_missing_visits_reported():
    res, _ = run("missing_visits")
    assert res.n_dropped == 6 and len(res.dropped_ids) == 6
    assert any("dropped" in w for w in res.warnings)
    d = res.to_dict()
    json.dumps(d)
    for eff in ("group", "time", "group_x_time"):
        assert {
            "f",
            "df1",
            "df2",
            "p_value",
            "mauchly_w",
            "mauchly_p",
            "gg_epsilon",
            "p_gg",
            "hf_epsilon",
            "p_hf",
        } <= set(d["effects"][eff])


def test_empty_group_raises():
    d = pd.read_csv(REF / "data" / "paper_shaped.csv")
    with pytest.raises(ValueError, match="no patients"):
        rm_anova(
            d.assign(bzd_plus=False),
            subject="patient_id",
            group="bzd_plus",
            columns=VISITS,
            groups=[False, True],
        )


def test_no_within_variation_raises():
    d = pd.DataFrame({"patient_id": list("abcd"), "g": [0, 0, 1, 1]})
    for c in VISITS:
        d[c] = 20.0
    with pytest.raises(ValueError, match="no within-patient variation"):
        rm_anova(d, subject="patient_id", group="g", columns=VISITS)
