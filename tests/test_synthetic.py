"""The synthetic default cohort reproduces the paper's counts and Table 1 / Table 2 rows.

The analysis variables are derived here from the canonical tables by the paper's rules,
independently of the generator (which only exposes tables), and compared with the printed values
(Frontiers in Psychiatry 2020;11:844, Results, Tables 1-2) rounded to the printed decimals. The
printed values are read from ``resources/paper_numbers.csv`` (``ketamine_bzd.paper``), the file the
paper comparison and the generator read.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_bzd import paper
from ketamine_bzd.synthetic import generate_cohort
from ketamine_bzd.synthetic import paper as targets

# The default seed in `make test`; three others (a template search each) in `make test-integration`.
SEEDS = [20200819, *(pytest.param(seed, marks=pytest.mark.integration) for seed in (1, 2, 3))]


@cache
def cohort_of(seed: int):
    """The 47-patient cohort of ``seed``, built once per test session (about 2-4 s each)."""
    return generate_cohort(seed=seed)


ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "resources"


def _eq(name):
    t = pd.read_csv(RES / "equivalents" / name)
    return dict(zip(t["drug"], t["reference_mg"] / t["mg_equivalent_to_reference"]))


DZ_PER_MG = _eq("diazepam_paper.csv")
FLX_PER_MG = _eq("fluoxetine_hayasaka2015.csv")
BRANDS = pd.read_csv(RES / "brands_cz.csv")

# printed (mean, sd) per group; Table 1: responders / nonresponders, Table 2: BZD+ / BZD-
# (Table 1's diazepam equivalent is the users' mean: checked on its own)
TABLE1 = {
    r.variable: paper.printed_cells("table1", r.variable)
    for r in paper.TABLE1_ROWS
    if r.kind == "continuous" and r.subset is None
}
TABLE2 = {
    r.variable: paper.printed_cells("table2", r.variable) for r in paper.TABLE2_ROWS if r.kind == "continuous"
}
OVERALL = {
    v: (paper.reading(f"results.{k}_mean"), paper.reading(f"results.{k}_sd"))
    for v, k in targets.OVERALL_KEYS.items()
}
# printed values that contradict the other rows (docs/synthetic.md): not required
RESIDUALS = targets.DROPPED
N = {
    k: paper.count(f"results.{k}")
    for k in (
        "n_patients",
        "n_female",
        "n_responders",
        "n_bzd_users",
        "n_bzd_plus",
        "n_responders_bzd_plus",
        "n_bzd_single_dose",
        "n_clonazepam",
        "n_alprazolam",
        "n_clonazepam_midazolam",
    )
}
CUTOFF_MG = paper.number("results.roc_criterion").value  # BZD+: > 8 mg


def rounds_to(x: float, printed: str) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(x - float(printed)) <= 0.5 * 10.0**-decimals + 1e-9


def derive(cohort) -> pd.DataFrame:
    """One row per patient with the paper's analysis variables (Methods, Statistical Methods)."""
    subjects = pd.concat([t.subjects for t in cohort.values()], ignore_index=True)
    ratings = pd.concat([t.ratings for t in cohort.values()], ignore_index=True)
    med = pd.concat([t.medication for t in cohort.values()], ignore_index=True)
    out = subjects.set_index("patient_id")

    bzd = med[med["drug_class"] == "bzd"].copy()
    bzd["dz"] = bzd["dose_mg"] * bzd["drug"].map(DZ_PER_MG)
    assert bzd["dz"].notna().all()
    window = bzd[bzd["study_day"].between(-1, 7)]
    out["diazepam_eq_mg"] = (window.groupby("patient_id")["dz"].sum() / 9).reindex(out.index).fillna(0.0)
    before = bzd[bzd["study_day"].between(-7, -1)].groupby("patient_id")["study_day"].nunique()
    after = bzd[bzd["study_day"].between(0, 7)].groupby("patient_id")["study_day"].nunique()
    out["bzd_user"] = (before.reindex(out.index).fillna(0) > 2) | (after.reindex(out.index).fillna(0) > 2)
    out["bzd_drugs"] = bzd.groupby("patient_id")["drug"].agg(lambda s: "+".join(sorted(set(s))))
    out["bzd_plus"] = out["diazepam_eq_mg"] > CUTOFF_MG

    ad = med[med["drug_class"] == "ad"].copy()
    ad["flx"] = ad["dose_mg"] * 40 / ad["drug"].map({d: 40 / f for d, f in FLX_PER_MG.items()})
    daily = ad.groupby(["patient_id", "study_day"])["flx"].sum().unstack()
    assert (daily.nunique(axis=1) == 1).all(), "AD regimen not stable over days -7..7"
    out["fluoxetine_eq_mg"] = daily[0]
    out["n_ad"] = ad.groupby("patient_id")["drug"].nunique()

    wide = ratings.pivot_table(index="patient_id", columns=["scale", "visit"], values="score")
    for scale in ("madrs", "bdi", "bai"):
        for visit in ("day0", "day1", "day3", "day7"):
            out[f"{scale}_{visit}"] = wide[(scale, visit)]
    for visit in ("day1", "day3", "day7"):
        out[f"madrs_rel_change_{visit}"] = (out["madrs_day0"] - out[f"madrs_{visit}"]) / out["madrs_day0"]
    rel = out[[f"madrs_rel_change_{v}" for v in ("day1", "day3", "day7")]]
    out["responder"] = (rel >= 0.5).any(axis=1)
    return out


def rm_anova_interaction_f(y: np.ndarray, group: np.ndarray) -> float:
    n, k = y.shape
    resid_ss, int_ss = 0.0, 0.0
    time_mean, grand = y.mean(axis=0), y.mean()
    for g in (True, False):
        yg = y[group == g]
        cell, gm = yg.mean(axis=0), yg.mean()
        int_ss += len(yg) * ((cell - gm - time_mean + grand) ** 2).sum()
        resid_ss += ((yg - yg.mean(axis=1, keepdims=True) - cell + gm) ** 2).sum()
    return (int_ss / (k - 1)) / (resid_ss / ((k - 1) * (n - 2)))


@pytest.fixture(scope="module")
def default():
    return cohort_of(20200819)


@pytest.fixture(scope="module")
def d(default):
    return derive(default)


def check_counts(d: pd.DataFrame) -> None:
    assert len(d) == N["n_patients"]
    assert (d["sex"] == "F").sum() == N["n_female"]
    r = d["responder"]
    assert r.sum() == N["n_responders"]
    (female_r, _), (female_nr, _) = paper.printed_cells("table1", "sex")
    assert ((d["sex"] == "F") & r).sum() == int(female_r) and ((d["sex"] == "F") & ~r).sum() == int(female_nr)
    (mono_r, _), (mono_nr, _) = paper.printed_cells("table1", "ad_therapy")
    assert ((d["n_ad"] == 1) & r).sum() == int(mono_r) and ((d["n_ad"] == 1) & ~r).sum() == int(mono_nr)
    (first_r, _), (first_nr, _) = paper.printed_cells("table1", "episode")
    assert ((d["episode"] == "first") & r).sum() == int(first_r)
    assert ((d["episode"] == "first") & ~r).sum() == int(first_nr)
    u = d["bzd_user"]
    # the paper prints the users among responders only as a percentage (38 %)
    assert u.sum() == N["n_bzd_users"]
    assert round(100 * (u & r).sum() / r.sum()) == paper.count("results.pct_users_in_responders")
    assert d.loc[u, "bzd_drugs"].value_counts().to_dict() == {
        "clonazepam": N["n_clonazepam"],
        "alprazolam": N["n_alprazolam"],
        "clonazepam+midazolam": N["n_clonazepam_midazolam"],
    }
    single = d[~u & (d["diazepam_eq_mg"] > 0)]
    assert len(single) == N["n_bzd_single_dose"] and (single["diazepam_eq_mg"] <= CUTOFF_MG).all()
    p = d["bzd_plus"]
    assert p.sum() == N["n_bzd_plus"] and (p & r).sum() == N["n_responders_bzd_plus"]
    assert (p <= u).all()
    dz = d.loc[u, "diazepam_eq_mg"]
    assert rounds_to(dz.min(), paper.reading("results.dose_min"))
    assert rounds_to(dz.max(), paper.reading("results.dose_max"))
    assert (d["study"] == "ket2009").sum() == 20


def check_rows(d: pd.DataFrame) -> list[str]:
    bad = []

    def check(table, name, label, values, mean, sd):
        if (table, name, label, "mean") not in RESIDUALS and not rounds_to(values.mean(), mean):
            bad.append(f"{table} {name} {label} mean {values.mean():.4f} vs {mean}")
        if (table, name, label, "sd") not in RESIDUALS and not rounds_to(values.std(ddof=1), sd):
            bad.append(f"{table} {name} {label} sd {values.std(ddof=1):.4f} vs {sd}")

    r, p = d["responder"], d["bzd_plus"]
    for name, rows in TABLE1.items():
        for label, mask, (mean, sd) in zip(("R", "NR"), (r, ~r), rows):
            check("TABLE1", name, label, d.loc[mask, name], mean, sd)
    u = d["bzd_user"]
    for label, mask, (mean, sd) in zip(
        ("R", "NR"), (r & u, ~r & u), paper.printed_cells("table1", "diazepam_eq_mg")
    ):
        check("TABLE1", "diazepam_eq_mg", label, d.loc[mask, "diazepam_eq_mg"], mean, sd)
    for name, rows in TABLE2.items():
        for label, mask, (mean, sd) in zip(("BZD+", "BZD-"), (p, ~p), rows):
            check("TABLE2", name, label, d.loc[mask, name], mean, sd)
    for name, (mean, sd) in OVERALL.items():
        v = d[name]
        if ("OVERALL", name, "ALL", "mean") not in RESIDUALS and not rounds_to(v.mean(), mean):
            bad.append(f"OVERALL {name} mean {v.mean():.4f} vs {mean}")
        if not rounds_to(v.std(ddof=1), sd):
            bad.append(f"OVERALL {name} sd {v.std(ddof=1):.4f} vs {sd}")
    return bad


def test_validates(default):
    assert set(default) == {"ket2009", "ket2013"}
    for study, t in default.items():
        assert t.study == study
        t.validate()
        assert (t.subjects["study"] == study).all()
        assert "infusion_date" in t.subjects


def test_counts(d):
    check_counts(d)


def test_table_rows(d):
    assert check_rows(d) == []


def test_residuals_documented_and_small(d):
    # the contradicting printed values are missed, but only by the contradiction
    assert 23.9 <= d["madrs_day0"].mean() < 23.95
    assert 222 <= d.loc[~d["bzd_plus"], "ketamine_ng_ml_10min"].mean() < 226.5
    assert d.loc[~d["responder"], "ketamine_ng_ml_10min"].std() < 120
    assert d.loc[~d["responder"], "norketamine_ng_ml_30min"].std() < 36


def test_roc_and_mann_whitney(d):
    users = d[d["bzd_user"]]
    nr = users.loc[~users["responder"], "diazepam_eq_mg"].to_numpy()
    r = users.loc[users["responder"], "diazepam_eq_mg"].to_numpy()
    diff = nr[:, None] - r[None, :]
    auc = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert rounds_to(auc, paper.reading("results.roc_auc"))
    # Youden: the best ">c" cut lies between the largest dose <= 8 and the next one
    values = np.unique(users["diazepam_eq_mg"])
    j = [(nr > c).mean() + (r <= c).mean() - 1 for c in values]
    best = values[int(np.argmax(j))]
    assert best <= CUTOFF_MG < values[values > best].min()
    assert sorted(j)[-1] > sorted(j)[-2]
    assert round(best, 0) == CUTOFF_MG
    p = stats.mannwhitneyu(nr, r).pvalue
    assert p < 0.02


def test_ad_shares_and_drugs(default):
    med = pd.concat([t.medication for t in default.values()])
    ad = med[(med["drug_class"] == "ad")].drop_duplicates(["patient_id", "drug"])
    assert set(ad["drug"]) <= set(FLX_PER_MG)
    share = ad["drug"].value_counts() / len(ad) * 100
    for drugs, key in targets.AD_SHARE_KEYS.items():
        assert round(sum(share.get(drug, 0) for drug in drugs)) == paper.count(key), drugs
    drugs = pd.read_csv(RES / "drugs.csv")
    assert set(med["drug"]) <= set(drugs["drug"])
    assert (med["drug"].map(dict(zip(drugs["drug"], drugs["drug_class"]))) == med["drug_class"]).all()


def test_dose_granularity(default):
    m13 = default["ket2013"].medication
    strengths = BRANDS.groupby("drug")["strength_mg"].apply(list).to_dict()
    for row in m13.drop_duplicates(["drug", "dose_mg", "as_needed", "drug_class"]).itertuples():
        s = strengths[row.drug]
        if row.as_needed:
            assert row.dose_mg in s, row
        elif row.drug_class == "ad":
            assert any(abs(row.dose_mg / x - round(row.dose_mg / x)) < 1e-9 for x in s), row
        else:
            assert any(abs(row.dose_mg * 4 / x - round(row.dose_mg * 4 / x)) < 1e-9 for x in s), row
    m09 = default["ket2009"].medication
    assert np.allclose(m09["dose_mg"] * 20, np.round(m09["dose_mg"] * 20))
    clon = pd.concat([m09, m13]).query("drug == 'clonazepam'")["dose_mg"]
    assert clon.between(0.25, 8).all()
    med = pd.concat([m09, m13])
    assert med["study_day"].between(-7, 7).all()
    assert not med.duplicated(["patient_id", "study_day", "drug", "as_needed"]).any()
    reg = med[~med["as_needed"]].groupby(["patient_id", "drug"])
    assert (reg["study_day"].count() == 15).all()
    assert (reg["dose_mg"].nunique() <= 2).all()  # one adjustment at most


def test_single_as_needed_doses(d, default):
    med = pd.concat([t.medication for t in default.values()])
    single = d.index[~d["bzd_user"] & (d["diazepam_eq_mg"] > 0)]
    days = sorted(med[med["patient_id"].isin(single) & (med["drug_class"] == "bzd")]["study_day"])
    assert days == [-1, 1]


def test_subjects_ratings_pk(default, d):
    for study, t in default.items():
        s = t.subjects
        pattern = r"K09-\d{3,}" if study == "ket2009" else r"13-\d{4,}"
        assert s["patient_id"].map(lambda x: re.fullmatch(pattern, x) is not None).all()
        years = s["infusion_date"].dt.year
        assert years.between(2010, 2012).all() if study == "ket2009" else years.between(2013, 2015).all()
        assert s["weight_kg"].between(50, 120).all() and s["age_years"].between(18, 65).all()
        for a in ("ketamine", "norketamine"):
            assert s[f"{a}_ng_ml_0min"].isna().all()
            assert (s[f"{a}_ng_ml_0min_status"] == "below_lod").all()
            for t_min in (10, 30):
                assert (s[f"{a}_ng_ml_{t_min}min_status"] == "measured").all()
        assert (s["ketamine_ng_ml_10min"] >= 50).all() and (s["norketamine_ng_ml_10min"] >= 8).all()
        r = t.ratings
        assert len(r) == len(s) * 12 and (r["status"] == "observed").all()
        assert (r["score"] == np.round(r["score"])).all()
        assert dict(zip(r["visit"], r["study_day"])) == {"day0": -1, "day1": 1, "day3": 3, "day7": 7}
    assert (d["mdd_duration_years"] >= d["episode_duration_weeks"] // 52).all()


def test_rm_anova_interaction(d):
    y = d[["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]].to_numpy(float)
    f = rm_anova_interaction_f(y, d["bzd_plus"].to_numpy())
    assert abs(f - paper.number("results.f").value) < 0.05


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Hedges' g with the pooled SD and the exact small-sample factor (Hedges 1981)."""
    df = len(x) + len(y) - 2
    sp = math.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / df)
    j = math.exp(math.lgamma(df / 2) - math.lgamma((df - 1) / 2)) / math.sqrt(df / 2)
    return (x.mean() - y.mean()) / sp * j


def logistic_bzd_plus(d: pd.DataFrame) -> tuple[float, float, float]:
    """Nonresponse on BZD+ adjusted for baseline MADRS and BAI (ML, Wald): OR, p, CI low."""
    import statsmodels.api as sm

    x = sm.add_constant(d[["bzd_plus", "madrs_day0", "bai_day0"]].astype(float))
    fit = sm.Logit((~d["responder"]).astype(float), x).fit(disp=0)
    b, se = fit.params["bzd_plus"], fit.bse["bzd_plus"]
    return math.exp(b), float(fit.pvalues["bzd_plus"]), math.exp(b - stats.norm.isf(0.025) * se)


# Table p values reached by the secondary search for every tested seed (the row's test, as read);
# docs/synthetic.md lists the ones out of reach and the ones reached only for some seeds.
def _p_targets(table, variables):
    test = {r.variable: r.test for r in paper.TABLE_ROWS[table]}
    return {v: (test[v], paper.reading(f"{table}.{v}.p_value")) for v in variables}


P_TABLE1 = _p_targets(
    "table1",
    (
        "age_years",
        "bdi_day0",
        "bai_day0",
        "madrs_day0",
        "fluoxetine_eq_mg",
        "ketamine_ng_ml_10min",
        "ketamine_ng_ml_30min",
        "norketamine_ng_ml_10min",
        "norketamine_ng_ml_30min",
        "n_hospitalizations",
    ),
)
P_TABLE2 = _p_targets(
    "table2",
    (
        "age_years",
        "bdi_day0",
        "norketamine_ng_ml_10min",
        "norketamine_ng_ml_30min",
        "madrs_rel_change_day1",
        "madrs_rel_change_day3",
        "madrs_rel_change_day7",
    ),
)


def two_group_p(x: np.ndarray, y: np.ndarray, test: str) -> float:
    if test == "t":
        return float(stats.ttest_ind(x, y).pvalue)
    # as the analysis (R wilcox.test): exact without ties, else normal with continuity correction
    ties = len(np.unique(np.concatenate([x, y]))) < len(x) + len(y)
    method = "asymptotic" if ties else "exact"
    return float(stats.mannwhitneyu(x, y, method=method, use_continuity=True).pvalue)


def check_secondary(d: pd.DataFrame) -> list[str]:
    """The secondary targets (docs/synthetic.md): p values, effect sizes, F, logistic model."""
    bad = []
    r, p = d["responder"], d["bzd_plus"]
    for table, spec, groups in (("TABLE1", P_TABLE1, (r, ~r)), ("TABLE2", P_TABLE2, (p, ~p))):
        for name, (test, reading) in spec.items():
            pv = two_group_p(
                d.loc[groups[0], name].to_numpy(float), d.loc[groups[1], name].to_numpy(float), test
            )
            if not rounds_to(pv, reading):
                bad.append(f"{table} {name} p {pv:.4f} vs {reading}")
    for visit in ("day3", "day7"):
        reading = paper.reading(f"results.posthoc_{visit}_g")
        col = f"madrs_rel_change_{visit}"
        g = abs(hedges_g(d.loc[p, col].to_numpy(), d.loc[~p, col].to_numpy()))
        if not rounds_to(g, reading):
            bad.append(f"Hedges g {visit} {g:.4f} vs {reading}")
    # Bonferroni post hoc of the interaction: MADRS score BZD+ vs BZD- per visit, times 4 visits
    for visit in ("day1", "day3", "day7"):
        reading = paper.reading(f"results.posthoc_{visit}_p")
        col = f"madrs_{visit}"
        pb = min(1.0, 4 * stats.ttest_ind(d.loc[p, col], d.loc[~p, col]).pvalue)
        if not rounds_to(pb, reading):
            bad.append(f"post hoc {visit} p {pb:.4f} vs {reading}")
    y = d[["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]].to_numpy(float)
    f = rm_anova_interaction_f(y, p.to_numpy())
    df1, df2 = paper.count("results.f_df1"), paper.count("results.f_df2")
    if not (
        rounds_to(f, paper.reading("results.f"))
        and rounds_to(stats.f.sf(f, df1, df2), paper.reading("results.f_p"))
    ):
        bad.append(f"F {f:.4f}")
    odds, p_or, ci_low = logistic_bzd_plus(d)
    # p = 0.03 and the CI's lower limit 1.2 are reached; OR 9.7 together with them is not
    # (Wald SE >= 1.10 with 1/12 vs 12/22 responders), the OR is the smallest found above 9.7
    printed_or = paper.number("results.or").value
    if not (
        rounds_to(p_or, paper.reading("results.or_p"))
        and rounds_to(ci_low, paper.reading("results.or_ci_low"))
        and printed_or < odds < 25
    ):
        bad.append(f"logistic OR {odds:.2f} p {p_or:.4f} CI low {ci_low:.3f}")
    return bad


@pytest.mark.slow  # several full cohort searches; `make test-fast` skips it
@pytest.mark.parametrize("seed", SEEDS)
def test_secondary_targets(seed):
    assert check_secondary(derive(cohort_of(seed))) == []


def test_mann_whitney_u_keeps_auc_ci(d):
    # U = 63.5 of 70 (one responder/nonresponder tie): AUC 0.907 and the exact CI 0.68-0.99;
    # the paper's p = 0.0073 would need U = 64 (normal approximation without continuity
    # correction), whose CI starts at 0.69. R-style p (with ties): 0.0095.
    users = d[d["bzd_user"]]
    nr = users.loc[~users["responder"], "diazepam_eq_mg"].to_numpy()
    r = users.loc[users["responder"], "diazepam_eq_mg"].to_numpy()
    diff = nr[:, None] - r[None, :]
    assert (diff > 0).sum() + 0.5 * (diff == 0).sum() == 63.5
    assert 0.0090 < stats.mannwhitneyu(nr, r, method="asymptotic").pvalue < 0.0096


@pytest.mark.slow  # a second cohort search
def test_deterministic(default):
    again = generate_cohort()
    for study in default:
        for part in ("subjects", "ratings", "medication"):
            pd.testing.assert_frame_equal(getattr(default[study], part), getattr(again[study], part))


@pytest.mark.slow  # three more cohort searches
@pytest.mark.integration
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_other_seeds_exact(seed, default):
    cohort = cohort_of(seed)
    d = derive(cohort)
    check_counts(d)
    assert check_rows(d) == []
    assert not d["age_years"].equals(derive(default)["age_years"])


@pytest.mark.slow  # a 1,000-patient cohort; `make test-fast` skips it
@pytest.mark.integration
def test_resampled_proportions():
    cohort = generate_cohort(1000, seed=5)
    for t in cohort.values():
        t.validate()
    assert len(cohort["ket2009"].subjects) == round(1000 * 20 / 47)
    assert len(cohort["ket2013"].subjects) == 1000 - round(1000 * 20 / 47)
    d = derive(cohort)
    assert d.index.is_unique
    n = N["n_patients"]
    assert abs(d["responder"].mean() - N["n_responders"] / n) < 0.04
    assert abs(d["bzd_plus"].mean() - N["n_bzd_plus"] / n) < 0.02
    assert abs(d["bzd_user"].mean() - N["n_bzd_users"] / n) < 0.02
    assert abs((d["sex"] == "F").mean() - N["n_female"] / n) < 0.02
    assert abs(d["age_years"].mean() - paper.number("results.age_mean").value) < 1.5
    ratings = pd.concat([t.ratings for t in cohort.values()])
    missing = ratings["status"] == "missing"
    assert 0 < missing.mean() < 0.05 and ratings.loc[missing, "score"].isna().all()
    assert (ratings.loc[ratings["visit"] == "day0", "status"] == "observed").all()
