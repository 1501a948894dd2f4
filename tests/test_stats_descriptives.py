"""Two-group comparisons vs R t.test / wilcox.test / fisher.test (tests/reference/out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.descriptives import RowSpec, build_table, compare_groups, hedges_j, render_markdown

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "roc_contingency_descriptives.json").read_text())
T = R["tests"]


@pytest.fixture(scope="module")
def df():
    return pd.read_csv(REF / "data" / "paper_shaped.csv")


@pytest.mark.parametrize("var", ["age_years", "bai_day0", "madrs_day0"])
def test_student_t_matches_r(df, var):
    r = compare_groups(df, var, "responder", groups=[True, False], test="t")
    ref = T[f"{var}_t"]
    assert r.statistic == pytest.approx(ref["t"], abs=1e-9)
    assert r.df == ref["df"]
    assert r.p_value == pytest.approx(ref["p"], abs=1e-9)
    assert r.p_welch == pytest.approx(ref["p_welch"], abs=1e-9)
    assert r.p_method == "student_t_pooled"


def test_mann_whitney_normal_with_ties_matches_r(df):
    r = compare_groups(df, "madrs_day0", "responder", groups=[True, False], test="mannwhitney")
    ref = T["madrs_day0_mw_normal"]
    assert r.statistic == pytest.approx(ref["W"])
    assert r.p_value == pytest.approx(ref["p"], abs=1e-9)
    assert r.p_exact is None and r.p_method.startswith("mann_whitney_normal")


def test_dose_among_users_subset(df):
    r = compare_groups(
        df, "diazepam_eq_mg", "responder", groups=[True, False], test="mannwhitney", subset="bzd_user"
    )
    ref = T["diazepam_users_mw_normal"]
    assert sum(r.n) == int(df["bzd_user"].sum())
    assert r.p_normal == pytest.approx(ref["p"], abs=1e-9)


def test_mann_whitney_exact_without_ties_matches_r(df):
    d = df.assign(x=df["fluoxetine_eq_mg"] + np.arange(1, len(df) + 1) * 1e-3)
    r = compare_groups(d, "x", "responder", groups=[True, False], test="mannwhitney")
    assert r.p_method == "mann_whitney_exact"
    assert r.p_value == pytest.approx(T["flx_jitter_mw_exact"]["p"], abs=1e-9)
    assert r.p_normal == pytest.approx(T["flx_jitter_mw_normal"]["p"], abs=1e-9)


def test_fisher_row_matches_r(df):
    r = compare_groups(
        df, "sex", "responder", groups=[True, False], kind="binary", test="fisher", levels=("F", "M")
    )
    ref = R["fisher"]["paper_sex_by_responder"]
    assert [list(c) for c in r.counts] == ref["table"]
    assert r.p_value == pytest.approx(ref["p"], abs=1e-9)


def test_hedges_g_small_sample_factor():
    # J(df) -> 1 - 3/(4 df - 1) asymptotically (Hedges 1981)
    assert hedges_j(45) == pytest.approx(1 - 3 / (4 * 45 - 1), abs=2e-5)
    x = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "v": [1, 2, 3, 4, 3, 4, 5, 6]})
    r = compare_groups(x, "v", "g")
    assert r.cohen_d == pytest.approx(-2 / np.std([1, 2, 3, 4], ddof=1))
    assert r.hedges_g == pytest.approx(r.cohen_d * hedges_j(6))


def test_build_table_and_markdown(df):
    specs = [
        RowSpec("age_years", "Age", "continuous", "t"),
        RowSpec("sex", "Sex", "binary", "fisher", levels=("F", "M")),
        RowSpec("madrs_day0", "Baseline MADRS", "continuous", "t"),
        RowSpec(
            "diazepam_eq_mg",
            "DZ equi (mg)",
            "continuous",
            "mannwhitney",
            subset="bzd_user",
            footnote="among BZD users only",
        ),
    ]
    tab = build_table(df, "responder", specs, groups=[True, False])
    assert list(tab["variable"]) == [s.variable for s in specs]
    assert tab.loc[3, "n_1"] + tab.loc[3, "n_2"] == int(df["bzd_user"].sum())
    md = render_markdown(tab, title="Table 1")
    assert "| Age |" in md and "among BZD users only" in md
    assert "nan" not in md.lower()


def test_missing_values_counted(df):
    d = df.copy()
    d.loc[[0, 1], "bai_day0"] = np.nan
    r = compare_groups(d, "bai_day0", "responder", groups=[True, False])
    assert sum(r.n_missing) == 2 and r.warnings


def test_bad_input():
    x = pd.DataFrame({"g": ["a"] * 3, "v": [1.0, 2.0, 3.0]})
    empty = compare_groups(x, "v", "g", groups=["a", "b"])  # a group without patients
    assert empty.n == (3, 0) and empty.mean[0] == 2.0 and np.isnan(empty.mean[1]) and np.isnan(empty.p_value)
    assert "['b'] of 'g' have no patient" in empty.warnings[0]
    with pytest.raises(ValueError, match="missing column"):
        compare_groups(x, "w", "g")
    const = pd.DataFrame({"g": ["a", "a", "b", "b"], "v": [1.0, 1.0, 1.0, 1.0]})
    r = compare_groups(const, "v", "g")
    assert np.isnan(r.p_value) and r.warnings


def test_level_outside_groups_raises():
    x = pd.DataFrame({"g": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="outside groups"):
        compare_groups(x, "v", "g", groups=["a", "b"])


def test_binary_value_outside_the_row_levels_is_counted_not_an_error():
    # issue 8 finding 3: a patient without antidepressant (ad_therapy 'none') crashed Table 1
    x = pd.DataFrame(
        {
            "g": ["a", "a", "a", "b", "b", "b"],
            "ad": ["monotherapy", "none", "combination", "none", "combination", "combination"],
        }
    )
    r = compare_groups(x, "ad", "g", kind="binary", test="fisher", levels=("monotherapy", "combination"))
    assert r.counts == ((1, 1), (0, 2)) and r.n == (2, 2)
    assert "2 patient(s) with ad outside ['monotherapy', 'combination'] not counted" in r.warnings[0]
    assert "'none': 2" in r.warnings[0]
    assert 0 < r.p_value <= 1


def test_markdown_shows_na_not_nan_for_an_empty_group():
    x = pd.DataFrame({"g": ["a"] * 3, "v": [1.0, 2.0, 3.0], "s": ["F", "M", "F"]})
    specs = [RowSpec("v", "V"), RowSpec("s", "Sex", "binary", "fisher", levels=("F", "M"))]
    table = build_table(x, "g", specs, groups=["a", "b"])
    text = render_markdown(table)
    assert "nan" not in text.lower()
    assert "| 2.0 ± 1.0 (n=3) | NA ± NA (n=0) | NA" in text and "| 2/1 (n=3) | 0/0 (n=0) | NA" in text
