"""Multiverse grid (size, exclusion rules), batched specifications against per-specification
statsmodels / firthmodels fits to 1e-6, failed tables, determinism of the joint inference."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from firthmodels import FirthLogisticRegression
from scipy import stats

from ketamine_bzd import definitions as d
from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.multiverse.bootstrap import cutoff_bootstrap
from ketamine_bzd.multiverse.engine import evaluate, evaluate_each, prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import joint_inference, permutation_curves
from ketamine_bzd.stats.logistic import firth_constrained_loglik, penalized_loglik
from ketamine_bzd.synthetic import generate_cohort

# heavy (compiles the numba kernels / fits the whole grid): `make test-fast` skips it
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-6
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TABLES = {k: str(REPO / v) for k, v in CONFIG["equivalents"]["diazepam_tables"].items()}
STUDIES = list(CONFIG["studies"])


def _grid(mv=None, tables=None):
    return build_grid(mv or CONFIG["multiverse"], list(tables or TABLES), STUDIES)


@pytest.fixture(scope="module")
def cohort():
    studies = generate_cohort()
    merged = merge(list(studies.values()))
    med = add_equivalents(
        merged.medication,
        load_table(TABLES["paper"]),
        load_table(REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv"),
    )
    c = derive(merged, med, CohortSettings())
    return c.patients, c.medication_daily


@pytest.fixture(scope="module")
def observed(cohort):
    grid = _grid()
    data = prepare_data(*cohort, grid, TABLES)
    return grid, data, specification_table(grid, data)


# ----------------------------------------------------------------------------- grid


def test_default_grid_size_and_exclusions():
    g = _grid()
    n_all = 9 * 6 * 3 * len(TABLES) * (3 + len(STUDIES)) * 2 * 2
    assert len(g.specifications) + len(g.excluded) == n_all
    assert len(g.specifications) >= 1000
    s = g.specifications
    assert not ((s.outcome_kind == "relative_change") & (s.estimator == "firth")).any()
    assert not ((s.outcome_kind == "relative_change") & (s.exposure_kind == "roc")).any()
    # every excluded combination is explained by a declared rule, and only those are excluded
    firth = (g.excluded.outcome_kind == "relative_change") & (g.excluded.estimator == "firth")
    roc = (g.excluded.outcome_kind == "relative_change") & (g.excluded.exposure_kind == "roc")
    assert (firth | roc).all() and g.excluded["reason"].str.len().gt(0).all()
    assert s["spec_id"].is_unique
    assert "gt8mg|response_any|mean_dm1_d7|paper|all|adjusted|ml" in set(s.spec_id)
    assert {f"study_{x}" for x in STUDIES} <= set(s.population)


def test_grid_is_config_driven():
    mv = copy.deepcopy(CONFIG["multiverse"])
    mv["exposures"]["gt12mg"] = {"kind": "cutoff", "mg": 12}
    mv["exclusions"].append(
        {"reason": "no Firth for per-study", "when": {"population_kind": ["study"], "estimator": ["firth"]}}
    )
    g = _grid(mv)
    assert "gt12mg" in set(g.specifications.exposure)
    assert not ((g.specifications.population_kind == "study") & (g.specifications.estimator == "firth")).any()


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda mv: mv["exposures"].update(bad={"kind": "quantile"}), "unknown kind"),
        (lambda mv: mv["exclusions"].append({"reason": "x", "when": {"colour": ["red"]}}), "unknown keys"),
        (
            lambda mv: mv["exclusions"].append(
                {"reason": "x", "when": {"estimator": ["ml"], "outcome": ["response_any"]}}
            ),
            "paper's specification",
        ),
        (lambda mv: mv.update(tables=["nonexistent"]), "not in equivalents"),
    ],
)
def test_grid_rejects_bad_declarations(change, message):
    mv = copy.deepcopy(CONFIG["multiverse"])
    change(mv)
    with pytest.raises(ValueError, match=message):
        _grid(mv)


# ----------------------------------------------------------------- reference fits


def _reference_frame(cohort, grid, row):
    """The specification's data built independently with pandas and the definitions."""
    patients, medication = cohort
    p = patients.sort_values(["study", "patient_id"], ignore_index=True).copy()
    o = grid.outcomes[row.outcome]
    if o.kind == "response":
        r = d.responder(p, visits=o.visits, min_reduction=o.min_reduction)
        p["y"] = (~r.astype("boolean")).astype("Float64")
    elif o.kind == "remission":
        p["y"] = (~d.remitter(p, o.visits[0], o.max_score)).astype("Float64")
    else:
        p["y"] = d.relative_change(p["madrs_day0"], p[f"madrs_{o.visits[0]}"])
    table = load_table(TABLES[row.table])
    bzd = medication[medication.drug_class == "bzd"].copy()
    bzd["dz"] = table.convert(bzd["drug"], bzd["dose_mg"])
    w = grid.windows[row.window]
    p["dose"] = d.dose_exposure(bzd, pd.Index(p.patient_id), "dz", w.days, w.summary).to_numpy()
    pop = grid.populations[row.population]
    keep = {
        "all": np.ones(len(p), bool),
        "exclude_as_needed_only": ~p.bzd_as_needed_only,
        "bzd_users": p.bzd_user,
        "study": p.study == pop.study,
    }[pop.kind]
    covs = list(grid.adjustments[row.adjustment])
    f = p[keep].dropna(subset=["y", *covs]).copy()
    e = grid.exposures[row.exposure]
    if e.kind == "cutoff":
        f["x"] = (f.dose > e.mg).astype(float)
    elif e.kind == "median_users":
        f["x"] = (f.dose > f.loc[f.bzd_user, "dose"].median()).astype(float)
    elif e.kind == "roc":
        pos, cands = f.y.to_numpy(float) == 1, np.unique(f.dose)
        j = [(f.dose[pos] > c).mean() + (f.dose[~pos] <= c).mean() - 1 for c in cands]
        f["x"] = (f.dose > cands[int(np.argmax(j))]).astype(float)  # argmax: lowest of ties
    elif e.kind == "log1p":
        f["x"] = np.log1p(f.dose)
    else:
        f["x"] = f.dose / 10
    X = np.column_stack([np.ones(len(f)), f.x, *(f[c] for c in covs)]).astype(float)
    return X, f.y.to_numpy(float)


def _sample(specs, k=40, seed=4):
    idx = np.random.default_rng(seed).choice(len(specs), k, replace=False)
    paper = np.flatnonzero(specs.is_paper)
    return specs.iloc[np.unique(np.r_[idx, paper])]


def test_specifications_match_reference_fits(cohort, observed):
    grid, _, table = observed
    checked = {"ml": 0, "firth": 0, "ols": 0}
    for row in _sample(table).itertuples():
        X, y = _reference_frame(cohort, grid, row)
        assert row.n == len(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if row.outcome_kind == "relative_change":
                ref = sm.OLS(y, X).fit()
                if not np.isfinite(row.estimate):
                    continue
                assert row.estimate == pytest.approx(ref.params[1], abs=TOL)
                assert row.p_value == pytest.approx(ref.pvalues[1], abs=TOL)
                np.testing.assert_allclose([row.ci_low, row.ci_high], ref.conf_int()[1], atol=TOL)
                checked["ols"] += 1
            elif row.estimator == "ml":
                if not np.isfinite(row.estimate):
                    assert row.warnings  # not estimable is always explained
                    continue
                ref = sm.Logit(y, X).fit(method="newton", tol=1e-12, maxiter=200, disp=0)
                assert np.log(row.estimate) == pytest.approx(ref.params[1], abs=TOL)
                assert row.p_value == pytest.approx(ref.pvalues[1], abs=TOL)
                np.testing.assert_allclose(np.log([row.ci_low, row.ci_high]), ref.conf_int()[1], atol=TOL)
                checked["ml"] += 1
            else:
                ref = FirthLogisticRegression(backend="numpy", gtol=1e-8, xtol=1e-8, max_iter=200).fit(
                    X[:, 1:], y
                )
                ref.lrt(0)
                pl = ref.conf_int(method="pl", features=0, tol=1e-9, max_iter=200)[0]
                assert np.log(row.estimate) == pytest.approx(ref.coef_[0], abs=TOL)
                p_ref = ref.lrt_pvalues_[0]
                if not np.isfinite(p_ref):  # firthmodels' constrained refit failed: scalar routine
                    beta = np.r_[ref.intercept_, ref.coef_]
                    chi2 = 2 * (
                        penalized_loglik(X, y, beta)[0] - firth_constrained_loglik(X, y, 1, 0.0, beta)
                    )
                    p_ref = stats.chi2.sf(max(chi2, 0.0), 1)
                assert row.p_value == pytest.approx(p_ref, abs=TOL)
                np.testing.assert_allclose(np.log([row.ci_low, row.ci_high]), pl, atol=TOL)
                checked["firth"] += 1
    assert min(checked.values()) >= 2, checked


def test_deduplicated_fits_equal_direct_fits(observed):
    grid, data, _ = observed
    specs = grid.specifications[grid.specifications.population == "all"].iloc[::7]
    a = evaluate(grid, data, specs)
    b = evaluate_each(grid, data, specs)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    np.testing.assert_array_equal(a.p_value, b.p_value)


def test_missing_drug_fails_only_that_table(cohort, tmp_path):
    bad = pd.read_csv(TABLES["ashton"])
    bad = bad[bad.drug != "clonazepam"]
    bad.to_csv(tmp_path / "noclon.csv", index=False)
    tables = {"paper": TABLES["paper"], "noclon": str(tmp_path / "noclon.csv")}
    grid = _grid(tables=tables)
    data = prepare_data(*cohort, grid, tables)
    table = specification_table(grid, data)
    failed = table[table.table == "noclon"]
    assert (failed.status == "failed").all() and failed.estimate.isna().all()
    assert failed.warnings.str.contains("clonazepam").all()
    paper = table[table.table == "paper"]
    assert set(paper.status) <= {"ok", "not_estimable"}  # not_estimable: no finite estimate, a reason
    assert (np.isfinite(paper.estimate) == (paper.status == "ok")).all()
    assert (paper.loc[paper.status == "not_estimable", "warnings"].str.len() > 0).all()


# ----------------------------------------------------------- inference, bootstrap


def test_joint_inference_is_deterministic(observed):
    grid, data, table = observed
    specs = grid.specifications.iloc[::25]
    sub = table.iloc[::25].reset_index(drop=True)
    a = permutation_curves(grid, data, specs, 6, 11)
    b = permutation_curves(grid, data, specs, 6, 11)
    c = permutation_curves(grid, data, specs, 6, 12)
    for k in ("estimate", "z", "p_value"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(np.nan_to_num(a["z"]), np.nan_to_num(c["z"]))
    ja = joint_inference(sub, a, grid, alpha=0.05, n_permutations=6, seed=11)
    jb = joint_inference(sub, b, grid, alpha=0.05, n_permutations=6, seed=11)
    assert ja == jb
    for s in ja["statistics"].values():
        assert 1 / 7 <= s["permutation_p"] <= 1
    w = permutation_curves(grid, data, specs, 6, 11, firth_test="wald")
    jw = joint_inference(sub, w, grid, alpha=0.05, n_permutations=6, seed=11, firth_test="wald")
    assert jw["firth_test"] == "wald" and ja["firth_test"] == "lrt"
    ols = (specs.outcome_kind == "relative_change").to_numpy()
    np.testing.assert_array_equal(w["estimate"][:, ols], a["estimate"][:, ols])


def test_permutation_slices_combine(observed):
    """Slices computed separately (as the per-table rules do) equal the whole grid at once."""
    grid, data, _ = observed
    specs = grid.specifications.iloc[::40]
    whole = permutation_curves(grid, data, specs, 3, 5)
    parts = [permutation_curves(grid, data, specs[specs.table == t], 3, 5) for t in grid.tables]
    joined = np.concatenate([p["estimate"] for p in parts], axis=1)
    order = np.concatenate([np.flatnonzero(specs.table.to_numpy() == t) for t in grid.tables])
    np.testing.assert_array_equal(joined, whole["estimate"][:, order])


def test_cutoff_bootstrap(observed):
    grid, data, _ = observed
    dose = data.dose[("paper", "mean_dm1_d7")]
    y = data.outcome["response_any"]
    Z = np.column_stack([data.covariate["madrs_day0"], data.covariate["bai_day0"]])
    a = cutoff_bootstrap(dose, y, Z, n_boot=50, seed=3)
    b = cutoff_bootstrap(dose, y, Z, n_boot=50, seed=3)
    pd.testing.assert_frame_equal(a.resamples, b.resamples)
    assert len(a.resamples) == 50 and a.cutoff_ci[0] <= a.cutoff_ci[1]
    assert a.corrected_auc_model == pytest.approx(a.apparent_auc_model - a.optimism_model)
    assert set(a.resamples.cutoff_mg.dropna()) <= set(np.round(dose, 12)) | set(dose)
