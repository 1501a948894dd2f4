"""The minimal forms in ``stats`` that the synthetic generator's searches call thousands of
times, each against the reference implementation of its method (itself tested against R):

- ``student_t_from_sums`` vs ``compare_groups(test="t")`` (R ``t.test(var.equal = TRUE)``);
- ``mann_whitney_abs_z`` vs ``compare_groups(test="mannwhitney")``'s ``p_normal``
  (R ``wilcox.test(exact = FALSE, correct = TRUE)``);
- ``u_statistic_pairs`` / ``youden_at_cuts`` vs ``auc_mann_whitney`` / ``roc_coordinates`` (pROC);
- ``ml_newton_wald`` vs ``fit_logistic``'s ML block (R ``glm``);
- ``group_time_f_from_sums`` vs ``rm_anova`` (afex).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ketamine_bzd.stats.descriptives import compare_groups, mann_whitney_abs_z, student_t_from_sums
from ketamine_bzd.stats.logistic import fit_logistic, ml_newton_wald
from ketamine_bzd.stats.rm_anova import group_time_f_from_sums, rm_anova
from ketamine_bzd.stats.roc import auc_mann_whitney, roc_coordinates, u_statistic_pairs, youden_at_cuts

DATA = Path(__file__).parent / "reference" / "data"
VISITS = ["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def sums(x: np.ndarray) -> tuple[int, float, float]:
    return len(x), float(x.sum()), float((x * x).sum())


@pytest.mark.parametrize("name", ["paper_shaped", "ties_zeros"])
@pytest.mark.parametrize(
    "var", ["age_years", "madrs_day0", "bai_day0", "fluoxetine_eq_mg", "madrs_rel_change_day7"]
)
def test_student_t_from_sums_is_compare_groups_t(name, var):
    d = load(name)
    ref = compare_groups(d, var, "responder", groups=[True, False], test="t")
    x = d.loc[d["responder"], var].to_numpy(float)
    y = d.loc[~d["responder"], var].to_numpy(float)
    assert student_t_from_sums(*sums(x), *sums(y)) == pytest.approx(ref.statistic, rel=1e-10)


def test_student_t_from_sums_without_variance_is_infinite():
    assert student_t_from_sums(*sums(np.array([2.0, 2.0])), *sums(np.array([2.0, 2.0, 2.0]))) == np.inf


@pytest.mark.parametrize("name", ["paper_shaped", "ties_zeros"])
@pytest.mark.parametrize("var", ["age_years", "madrs_day0", "bai_day0", "bdi_day0"])
def test_mann_whitney_abs_z_gives_compare_groups_p_normal(name, var):
    d = load(name)
    ref = compare_groups(d, var, "responder", groups=[True, False], test="mannwhitney")
    x = d[var].to_numpy(float)
    assert np.array_equal(x, np.rint(x)) and x.min() >= 0  # integers on their grid
    z = mann_whitney_abs_z(x.astype(np.int64), d["responder"].to_numpy(bool))
    assert 2 * norm.sf(z) == pytest.approx(ref.p_normal, rel=1e-10)


def test_mann_whitney_abs_z_all_tied_is_zero():
    assert mann_whitney_abs_z(np.full(6, 3), np.array([True] * 3 + [False] * 3)) == 0.0


def users(name):
    d = load(name)
    d = d[d["bzd_user"]]
    dose = d["diazepam_eq_mg"].to_numpy(float)
    return dose[~d["responder"].to_numpy(bool)], dose[d["responder"].to_numpy(bool)]


@pytest.mark.parametrize("name", ["paper_shaped", "ties_zeros", "separation"])
def test_u_statistic_pairs_is_auc_times_pairs(name):
    pos, neg = users(name)
    u = u_statistic_pairs(pos, neg)
    assert u == pytest.approx(auc_mann_whitney(pos, neg) * len(pos) * len(neg), abs=1e-9)
    assert 2 * u == round(2 * u)  # a count of pairs, ties 1/2: exact


@pytest.mark.parametrize("name", ["paper_shaped", "ties_zeros", "separation"])
def test_youden_at_cuts_is_roc_coordinates_column(name):
    pos, neg = users(name)
    coords = roc_coordinates(pos, neg)
    cuts = np.unique(np.concatenate([pos, neg]))  # the rows ">c" after ">=min"
    np.testing.assert_allclose(youden_at_cuts(pos, neg, cuts), coords["youden_j"].to_numpy()[1:], atol=1e-15)


LOGISTIC = [
    ("paper_shaped", ["bzd_plus", "madrs_day0", "bai_day0"]),
    ("paper_shaped", ["diazepam_eq_mg", "madrs_day0", "bai_day0"]),
    ("ties_zeros", ["bzd_plus", "madrs_day0", "bai_day0"]),
    ("synthetic_default_n47", ["bzd_plus", "madrs_day0", "bai_day0"]),
]


def design(name, predictors):
    d = load(name)
    X = np.column_stack([np.ones(len(d)), d[predictors].to_numpy(float)])
    return d, X, (~d["responder"].to_numpy(bool)).astype(float)


@pytest.mark.parametrize("name,predictors", LOGISTIC)
def test_ml_newton_wald_is_fit_logistic_ml(name, predictors):
    d, X, y = design(name, predictors)
    ref = fit_logistic(d, "responder", predictors, event=False, profile=False).coefficients
    ref = ref[ref["method"] == "ml"]
    beta, se = ml_newton_wald(X, y, np.zeros(X.shape[1]))
    np.testing.assert_allclose(beta, ref["estimate"].to_numpy(float), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(se, ref["se"].to_numpy(float), rtol=1e-7)
    # warm start at a nearby design's fit, as in the search (two baseline MADRS exchanged)
    near = X.copy()
    near[[0, -1], 2] = near[[-1, 0], 2]
    start, _ = ml_newton_wald(near, y, np.zeros(X.shape[1]))
    beta2, se2 = ml_newton_wald(X, y, start)
    np.testing.assert_allclose(beta2, beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(se2, se, rtol=1e-7)


def test_ml_newton_wald_far_start_gives_no_se_rather_than_a_wrong_one():
    """Plain Newton has no step control: from a far start (0.3 per MADRS point) it diverges,
    and then reports infinite SEs, not numbers."""
    d, X, y = design("paper_shaped", ["bzd_plus", "madrs_day0", "bai_day0"])
    beta, _ = ml_newton_wald(X, y, np.zeros(X.shape[1]))
    with np.errstate(over="ignore"):
        _, se = ml_newton_wald(X, y, beta + 0.3)
    assert np.isinf(se).all()


def test_ml_newton_wald_under_separation_has_no_se():
    d, X, y = design("separation", ["bzd_plus", "madrs_day0", "bai_day0"])
    assert not fit_logistic(
        d, "responder", ["bzd_plus", "madrs_day0", "bai_day0"], event=False, profile=False
    ).ml.estimable
    _, se = ml_newton_wald(X, y, np.zeros(X.shape[1]))
    assert np.isinf(se).all()


def f_from_sums(y: np.ndarray, gi: np.ndarray, n_groups: int) -> float:
    cells = [[float(y[gi == g, t].sum()) for t in range(y.shape[1])] for g in range(n_groups)]
    n_g = [int((gi == g).sum()) for g in range(n_groups)]
    return group_time_f_from_sums(cells, n_g, float((y.sum(axis=1) ** 2).sum()), float((y**2).sum()))


@pytest.mark.parametrize(
    "name,group,levels",
    [
        ("paper_shaped", "bzd_plus", [False, True]),
        ("sphericity_violated", "group", ["BZD-", "BZD+"]),
        ("ties_zeros", "bzd_plus", [False, True]),
        ("missing_visits", "bzd_plus", [False, True]),
    ],
)
def test_group_time_f_from_sums_is_rm_anova(name, group, levels):
    d = load(name)
    ref = rm_anova(d, subject="patient_id", group=group, columns=VISITS, groups=levels).group_x_time
    d = d.dropna(subset=VISITS)  # rm_anova's complete cases
    gi = np.array([levels.index(v) for v in d[group]])
    assert f_from_sums(d[VISITS].to_numpy(float), gi, 2) == pytest.approx(ref.f, rel=1e-10)


def test_group_time_f_from_sums_three_groups_unbalanced():
    rng = np.random.default_rng(5)
    gi = np.repeat([0, 1, 2], [7, 12, 5])
    y = rng.normal(20, 5, (len(gi), 4)) + rng.normal(0, 4, (len(gi), 1)) - np.outer(gi, [0, 1, 2, 3])
    d = pd.DataFrame(y, columns=VISITS).assign(patient_id=range(len(gi)), g=gi)
    ref = rm_anova(d, subject="patient_id", group="g", columns=VISITS, groups=[0, 1, 2]).group_x_time
    assert ref.df1 == 6 and ref.df2 == 3 * (len(gi) - 3)
    assert f_from_sums(y, gi, 3) == pytest.approx(ref.f, rel=1e-10)


def test_group_time_f_from_sums_without_within_variation_is_infinite():
    y = np.array([[10.0, 10, 10, 10], [12, 12, 12, 12], [9, 9, 9, 9], [11, 11, 11, 11]])
    assert f_from_sums(y, np.array([0, 0, 1, 1]), 2) == np.inf
