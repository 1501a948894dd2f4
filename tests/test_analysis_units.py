"""Unit tests of the analysis stage (ketamine_bzd.analysis, .paper, .figures) on small frames."""

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ketamine_bzd import analysis as a
from ketamine_bzd import figures as f
from ketamine_bzd import paper

from analysis_helpers import make_patients

REPO = Path(__file__).resolve().parents[1]
FAST = a.AnalysisSettings(bootstrap_n=50)


@pytest.fixture(scope="module")
def patients():
    return a.add_groups(make_patients(), 8)


@pytest.fixture(scope="module")
def results(patients):
    t1, _ = a.comparison_table(patients, "response_group", (a.RESPONDERS, a.NONRESPONDERS), paper.TABLE1_ROWS)
    t2, _ = a.comparison_table(patients, "bzd_group", (a.BZD_PLUS, a.BZD_MINUS), paper.TABLE2_ROWS)
    roc, coords = a.roc(patients, FAST)
    rm, posthoc, mixed = a.repeated_measures(patients, FAST)
    return dict(
        table1=t1,
        table2=t2,
        roc=roc,
        coords=coords,
        response=a.response(patients, FAST),
        logistic=a.logistic(patients, FAST),
        rm_anova=rm,
        posthoc=posthoc,
        mixed=mixed,
    )


def test_settings_from_the_shipped_config():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    s = a.AnalysisSettings.from_config(config["analysis"])
    assert s.bzd_cutoff_mg == 8 and s.roc_populations == ("all", "bzd_users")
    assert s.covariates == ("madrs_day0", "bai_day0") and s.alpha == 0.05


def test_groups_cutoff_is_strict_and_unknown_response_stays_missing():
    p = make_patients(12, seed=3)
    p.loc[0, "diazepam_eq_mg"] = 8.0
    p.loc[1, "diazepam_eq_mg"] = 8.01
    p["responder"] = p["responder"].astype("boolean")
    p.loc[2, "responder"] = pd.NA
    g = a.add_groups(p, 8)
    assert g.loc[0, "bzd_group"] == "BZD-" and g.loc[1, "bzd_group"] == "BZD+"
    assert pd.isna(g.loc[2, "response_group"])
    assert g["response_group"].notna().sum() == 11


def test_missing_dose_is_an_error_not_bzd_minus():
    p = make_patients(10)
    p.loc[3, "diazepam_eq_mg"] = np.nan
    with pytest.raises(ValueError, match="diazepam_eq_mg missing"):
        a.add_groups(p, 8)


def test_table_excludes_and_counts_unknown_response():
    p = make_patients()
    p["responder"] = p["responder"].astype("boolean")
    p.loc[[4, 5], "responder"] = pd.NA
    g = a.add_groups(p, 8)
    table, warnings = a.comparison_table(
        g, "response_group", (a.RESPONDERS, a.NONRESPONDERS), paper.TABLE1_ROWS
    )
    assert len(table) == len(paper.TABLE1_ROWS)
    assert (table["n_excluded"] == 2).all()
    assert warnings and "2 patient(s) with unknown response_group" in warnings[0]
    age = table.set_index("variable").loc["age_years"]
    assert age["n_1"] + age["n_2"] == len(p) - 2
    dz = table.set_index("variable").loc["diazepam_eq_mg"]
    assert dz["test"] == "mannwhitney" and dz["n_1"] + dz["n_2"] <= g["bzd_user"].sum()
    md = a.table_markdown(table, "T", warnings, "synthetic (test)")
    assert "synthetic (test)" in md and "unknown response_group" in md


def test_roc_has_both_populations_and_the_configured_cutoff(patients, results):
    roc = results["roc"]
    assert set(roc["populations"]) == {"all", "bzd_users"}
    users = patients[patients["bzd_user"]]
    block = roc["populations"]["bzd_users"]
    assert block["n_positive"] + block["n_negative"] == len(users)
    cut = block["at_configured_cutoff"]
    nonresp = users.loc[~users["responder"].astype(bool), "diazepam_eq_mg"]
    assert cut["true_positive"] == (nonresp > 8).sum()
    assert cut["sensitivity"] == pytest.approx((nonresp > 8).mean())
    assert set(results["coords"]["population"]) == {"all", "bzd_users"}


def test_roc_population_without_responders_is_reported_not_fatal(patients):
    p = patients.copy()
    p["responder"] = p["responder"].astype("boolean")
    p.loc[p["bzd_user"], "responder"] = False
    roc, coords = a.roc(p, FAST)
    assert roc["populations"]["bzd_users"]["estimable"] is False
    assert "both classes" in roc["populations"]["bzd_users"]["error"]
    assert roc["populations"]["all"]["estimable"] is True
    assert any("ROC not computed" in w for w in roc["warnings"])
    assert set(coords["population"]) == {"all"}


def _paper_shaped_counts():
    # BZD+ 1 responder / 12 nonresponders, BZD- 12 / 22: the paper's Table 2 counts
    p = make_patients()
    dose = np.r_[np.full(13, 20.0), np.zeros(34)]
    resp = np.r_[[True], np.zeros(12, bool), np.ones(12, bool), np.zeros(22, bool)]
    p["diazepam_eq_mg"] = dose
    p["bzd_user"] = dose > 0
    p["responder"] = pd.array(resp, dtype="boolean")
    return a.add_groups(p, 8)


def test_response_reproduces_the_papers_fisher_p():
    out = a.response(_paper_shaped_counts(), FAST)
    r = out["response_by_bzd_group"]
    assert r["table"] == [[1, 12], [12, 22]]
    assert r["p_value"] == pytest.approx(0.0765, abs=5e-5)
    assert [g["group"] for g in r["groups"]] == ["BZD+", "BZD-"]


def test_logistic_separation_is_flagged_and_firth_reported():
    p = _paper_shaped_counts()
    p["responder"] = p["responder"].astype("boolean")
    p.loc[p["bzd_plus"], "responder"] = False  # no responder among BZD+
    out = a.logistic(p, FAST)
    block = out["bzd_plus_adjusted"]
    assert block["separation"] is True and block["ml"]["estimable"] is False
    assert block["firth"]["estimable"] is True and block["firth"]["odds_ratio"] > 1
    assert any("separation" in w for w in out["warnings"])


def test_logistic_unfittable_model_is_reported_not_fatal(patients):
    p = patients.copy()
    p["bai_day0"] = 10.0  # constant covariate
    out = a.logistic(p, FAST)
    assert out["bzd_plus_adjusted"]["estimable"] is False
    assert "constant" in out["bzd_plus_adjusted"]["error"]


def test_repeated_measures_outputs(results):
    ph = results["posthoc"]
    se = ph[ph["analysis"] == "simple_effect_madrs"]
    tt = ph[ph["analysis"] == "relative_change_t_test"]
    assert se["time"].tolist() == ["day0", "day1", "day3", "day7"]
    assert tt["time"].tolist() == ["day1", "day3", "day7"]
    assert np.allclose(se["p_bonferroni"], np.minimum(1, 4 * se["p_value"]))
    assert tt["hedges_g"].notna().all() and tt["ci_low"].lt(tt["ci_high"]).all()
    gxt = results["rm_anova"]["effects"]["group_x_time"]
    assert (gxt["df1"], gxt["df2"]) == (3, 3 * (47 - 2))
    assert results["mixed"]["contrasts"][0]["time"] == "day0"


def test_cohort_facts(patients):
    facts = a.cohort_facts(patients)
    assert facts["n_patients"] == 47
    assert facts["pct_female"] == pytest.approx(100 * (patients["sex"] == "F").mean())
    # counted from the columns the groups are defined by, not from the facts' own totals
    assert facts["n_bzd_plus"] == int((patients["diazepam_eq_mg"] > 8).sum())
    assert facts["n_bzd_minus"] == int((patients["diazepam_eq_mg"] <= 8).sum())
    assert facts["n_responders"] == int(patients["responder"].astype("boolean").sum())
    assert facts["n_nonresponders"] == int((~patients["responder"].astype("boolean")).sum())


def test_every_paper_number_has_a_reproduced_quantity(patients, results):
    q = paper.reproduced_quantities(
        facts=a.cohort_facts(patients),
        table1=results["table1"],
        table2=results["table2"],
        roc=results["roc"],
        response=results["response"],
        logistic=results["logistic"],
        rm_anova=results["rm_anova"],
        posthoc=results["posthoc"],
    )
    missing = [n.key for n in paper.paper_numbers() if n.reproduced_by not in q]
    assert not missing
    cmp = paper.compare(q)
    assert len(cmp) == len(paper.paper_numbers()) and cmp["key"].is_unique
    assert cmp["reproduced_value"].notna().all()


def test_paper_numbers_cover_the_tables_and_the_known_inconsistencies():
    keys = {n.key for n in paper.paper_numbers()}
    for table, rows in (("table1", paper.TABLE1_ROWS), ("table2", paper.TABLE2_ROWS)):
        for r in rows:
            assert f"{table}.{r.variable}.p_value" in keys
    notes = " ".join(n.note for n in paper.paper_numbers())
    for fact in ("0.0765", "18 BZD users", "swapped", "not centred", "135 = 3 x 45", "31-52", "41.2 %"):
        assert fact in notes, fact
    by = {n.key: n for n in paper.paper_numbers()}
    assert by["results.roc_sensitivity"].reproduced_by.endswith("bzd_users.specificity")
    assert by["table2.responder.p_value"].printed == "0.071"


def test_paper_numbers_file_is_the_one_source(tmp_path):
    # the shipped file is read whole, in its order, with shared notes expanded
    numbers = paper.paper_numbers()
    assert len(numbers) == len({n.key for n in numbers}) > 200
    assert all("{" not in n.note for n in numbers)
    pk = paper.number("table2.norketamine_ng_ml_30min.p_value")
    assert pk.note.startswith("printed '0.22' read as p = 0.2 with footnote mark 2")
    assert paper.printed_cells("table1", "sex") == (("6", "7"), ("21", "13"))
    assert paper.count("results.n_bzd_any_use") == 21  # printed "Twenty-one"
    # a copy passed in by the rule is the one read, and its errors name file, line and column
    from ketamine_bzd.shipped import resource_path, use_resources

    text = resource_path(paper.PAPER_NUMBERS_FILE).read_text(encoding="utf-8")
    mine = tmp_path / "paper_numbers.csv"
    mine.write_text(
        text.replace(
            "abstract.n_patients,Abstract,patients analysed,47,47",
            "abstract.n_patients,Abstract,patients analysed,48,48",
        ),
        encoding="utf-8",
    )
    with use_resources({paper.PAPER_NUMBERS_FILE: mine}):
        assert paper.number("abstract.n_patients").value == 48
    assert paper.number("abstract.n_patients").value == 47
    bad = tmp_path / "bad.csv"
    bad.write_text(
        text.replace(",47,47,cohort.n_patients,identity,", ",47,forty,cohort.n_patients,identity,", 1),
        encoding="utf-8",
    )
    with (
        use_resources({paper.PAPER_NUMBERS_FILE: bad}),
        pytest.raises(ValueError, match="line 2, column reading"),
    ):
        paper.paper_numbers()


def test_reading_and_agreement_rules():
    n = paper.PaperNumber("k", "w", "q", "p<0.001", "<0.001", "x")
    assert (n.relation, n.value) == ("<", 0.001)
    assert paper.agrees(n, 0.0004) is True and paper.agrees(n, 0.002) is False
    m = paper.PaperNumber("k", "w", "q", "0.0521", "0.052", "x")
    assert m.decimals == 3
    assert paper.agrees(m, 0.0524) is True and paper.agrees(m, 0.0514) is False
    assert paper.agrees(m, math.nan) is None
    b = paper.PaperNumber("k", "w", "q", "≥ 20", ">=20", "x")
    assert paper.agrees(b, 20) is True and paper.agrees(b, 19) is False
    cmp = paper.compare({}, [m])
    assert math.isnan(cmp.loc[0, "reproduced_value"]) and "not reproduced" in cmp.loc[0, "note"]
    pct = paper.PaperNumber("k", "w", "q", "8%", "8", "x", "percent")
    assert paper.compare({"x": 1 / 13}, [pct]).loc[0, "agrees_at_printed_precision"]


def test_collect_warnings_walks_nested_blocks():
    obj = {"a": {"warnings": ["w1"], "b": [{"warnings": ["w2"]}]}}
    assert a.collect_warnings(obj) == ["a: w1", "a.b[0]: w2"]


def _digest(paths):
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


@pytest.mark.slow  # renders every figure twice; `make test-fast` skips it
def test_figures_are_byte_reproducible_and_labelled(tmp_path, patients, results):
    ds = "synthetic (seed 1, n=47; not patient data)"
    digests = []
    for run in ("a", "b"):
        paths = f.save(f.roc_figure(results["coords"], results["roc"], ds), tmp_path / run / "roc", 72)
        paths += f.save(
            f.madrs_course_figure(patients, results["posthoc"], ds), tmp_path / run / "course", 72
        )
        paths += f.save(
            f.dose_response_figure(patients, ds, 8, results["logistic"]["dose_correlation_day7"]["all"]),
            tmp_path / run / "dose",
            72,
        )
        digests.append(_digest(paths))
    assert digests[0] == digests[1]
    assert all(Path(p).stat().st_size > 1000 for p in paths)
    assert b"CreationDate" not in (tmp_path / "a" / "roc.pdf").read_bytes()
    fig = f.dose_response_figure(patients, ds, 8)
    assert "SYNTHETIC DATA" in [t.get_text() for t in fig.texts]
    fig_real = f.dose_response_figure(patients, "study exports", 8)
    assert "SYNTHETIC DATA" not in [t.get_text() for t in fig_real.texts]


@pytest.mark.slow
def test_rule_all_targets_every_output_of_the_analysis_rules(tmp_path):
    """rule all is built from the rules' own outputs: the default target's DAG has exactly the
    files of results/analysis/ that a run writes (test_analysis_workflow), each made by an
    analysis_* rule."""
    from test_analysis_workflow import ANALYSIS_FILES

    from workflow_helpers import copy_workflow, snakemake

    run = copy_workflow(tmp_path / "run")
    out = snakemake(run, "--summary").stdout
    rows = [line.split("\t") for line in out.splitlines()[1:] if "\t" in line]
    planned = {path: rule for path, _, rule, *_ in rows}
    analysis = {p: r for p, r in planned.items() if p.startswith("results/analysis/")}
    assert sorted(analysis) == sorted(f"results/analysis/{f}" for f in ANALYSIS_FILES)
    assert all(r.startswith("analysis_") for r in analysis.values()), analysis
    text = (REPO / "rules/analysis.smk").read_text()
    assert "for path in r.output" in text and "rules.analysis_roc.output.roc" in text
