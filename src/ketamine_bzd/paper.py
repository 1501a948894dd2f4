"""The paper's tables and every number it reports, for the comparison with a reproduction.

Paper: "Benzodiazepines attenuate ketamine's antidepressant effect" (Frontiers in Psychiatry
2020;11:844). ``TABLE1_ROWS`` / ``TABLE2_ROWS`` are the rows of Tables 1 and 2 as
``stats.descriptives.RowSpec``; ``PAPER_NUMBERS`` lists each number printed in the Abstract,
Results, Tables and Figure legends with where it is printed, how it is read, and which
reproduced quantity (a key of ``reproduced_quantities``) it is compared with.

Reading the tables: in the extracted text every p value carries its footnote mark as a trailing
digit (Table 1: 1 t test, 2 Fisher, 3 Mann-Whitney; Table 2: 1 Fisher, 2 t test,
3 Mann-Whitney), e.g. "0.641" is p = 0.64 by t test and "0.0073" is p = 0.007 by Mann-Whitney
(the Results text prints the same p = 0.007, 0.04, 0.052, 0.07). The test of each row follows
from that mark; ``printed`` keeps the raw text, ``reading`` the number as read.

Not compared: protocol constants that no output can reproduce (ketamine 0.54 mg/kg as 0.27 +
0.27 mg/kg over 10 + 20 min, GC-MS LLOQ / LOD, emergency BZD up to 20 mg oxazepam, software
versions, EudraCT numbers); inclusion bounds (MADRS >= 20, age 18-65) are compared as bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .stats.descriptives import RowSpec

TABLE1_TITLE = "Table 1. Baseline characteristics of responders vs. nonresponders"
TABLE2_TITLE = "Table 2. BZD+ (> cut-off mg diazepam equivalent) vs. BZD- (0 to cut-off mg)"


@dataclass(frozen=True)
class PaperRow:
    """A table row: the spec and what the paper prints (mean, SD or counts per group; p)."""

    spec: RowSpec
    group_1: tuple[str, str]  # (mean, sd) or (count a, count b) as printed
    group_2: tuple[str, str]
    p_printed: str
    p_reading: str
    note: str = ""  # on the p value
    cell_note: str = ""  # on the means / SDs / counts


def _t(var, label, g1, g2, p, reading, test="t", note="", subset=None, footnote=None, cell_note=""):
    spec = RowSpec(var, label, "continuous", test, subset=subset, footnote=footnote)
    return PaperRow(spec, g1, g2, p, reading, note, cell_note)


def _b(var, label, levels, g1, g2, p, reading, note=""):
    return PaperRow(RowSpec(var, label, "binary", "fisher", levels=levels), g1, g2, p, reading, note)


_PK_NOTE = ("printed '{p}' read as p = {r} with footnote mark 1 (t test) like every other row; "
            "a literal {p} is possible")
_KET10_NOTE = ("Tables 1 and 2 disagree: Table 1 means imply a total of 11176-11224 ng/ml, Table 2 means "
               "11248-11296, and Table 1's SDs imply a smaller total sum of squares than Table 2's "
               "(see ketamine_bzd.synthetic.paper)")
_NORKET30_NOTE = ("Tables 1 and 2 disagree: Table 1 SDs (26, 26) imply a total sum of squares <= 3.3e4, "
                  "Table 2 SDs (39, 28) >= 4.4e4")

TABLE1_ROWS: list[PaperRow] = [
    _t("age_years", "Age (years)", ("41.6", "13.1"), ("43.5", "12.2"), "0.641", "0.64"),
    _b("sex", "F/M", ("F", "M"), ("6", "7"), ("21", "13"), "0.512", "0.51"),
    _b("ad_therapy", "AD mono/comb", ("monotherapy", "combination"), ("5", "8"), ("8", "26"), "0.462", "0.46"),
    _t("mdd_duration_years", "MDD duration (years)", ("5.9", "5.9"), ("11.6", "10.9"), "0.103", "0.10",
       test="mannwhitney"),
    _t("episode_duration_weeks", "Current episode duration (weeks)", ("10.8", "9.4"), ("22.6", "30.4"),
       "0.133", "0.13", test="mannwhitney"),
    _t("n_hospitalizations", "No. of hospitalizations", ("2.4", "2"), ("2.7", "2.4"), "0.703", "0.70",
       test="mannwhitney"),
    _t("bdi_day0", "Baseline BDI", ("14.8", "5.4"), ("18.9", "6.9"), "0.061", "0.06"),
    _t("bai_day0", "Baseline BAI", ("14.9", "9.1"), ("22.2", "11.3"), "0.041", "0.04"),
    _t("madrs_day0", "Baseline MADRS", ("21.1", "6.5"), ("25.0", "5.9"), "0.0521", "0.052"),
    _b("episode", "First/recurrent episode", ("first", "recurrent"), ("5", "8"), ("6", "28"), "0.252", "0.25"),
    _t("fluoxetine_eq_mg", "FLX equivalent (mg/day)", ("46.9", "16.8"), ("56.9", "26.5"), "0.211", "0.21"),
    _t("diazepam_eq_mg", "DZ equivalent (mg/day), BZD users", ("7.7", "4.5"), ("32.1", "24.9"), "0.0073",
       "0.007", test="mannwhitney", subset="bzd_user",
       footnote="DZ equivalent among daily BZD users only (the paper's 7.7 and 32.1 mg are users' means)."),
    _t("ketamine_ng_ml_10min", "Ketamine at 10 min (ng/ml)", ("226", "103"), ("243", "114"), "0.71", "0.7",
       note=_PK_NOTE.format(p="0.71", r="0.7"), cell_note=_KET10_NOTE),
    _t("ketamine_ng_ml_30min", "Ketamine at 30 min (ng/ml)", ("238", "70"), ("243", "85"), "0.81", "0.8",
       note=_PK_NOTE.format(p="0.81", r="0.8")),
    _t("norketamine_ng_ml_10min", "Norketamine at 10 min (ng/ml)", ("9", "4"), ("15", "12"), "0.11", "0.1",
       note=_PK_NOTE.format(p="0.11", r="0.1")),
    _t("norketamine_ng_ml_30min", "Norketamine at 30 min (ng/ml)", ("62", "26"), ("71", "26"), "0.31", "0.3",
       note=_PK_NOTE.format(p="0.31", r="0.3"), cell_note=_NORKET30_NOTE),
]

_FISHER_NOTE = ("printed '0.071' in Table 2 (0.07 with footnote mark 1 = Fisher; Results: 'Fisher's exact "
                "test, p=0.07'); Fisher's exact two-sided p for 1/12 vs 12/22 is 0.0765 (R fisher.test and "
                "scipy agree), which rounds to 0.08: neither 0.071 nor 0.07 follows from the printed counts")

TABLE2_ROWS: list[PaperRow] = [
    _b("responder", "Responders/Nonresponders", (True, False), ("1", "12"), ("12", "22"), "0.071", "0.07",
       note=_FISHER_NOTE),
    _t("age_years", "Age (years)", ("41.3", "14.2"), ("43.6", "11.7"), "0.572", "0.57"),
    _t("mdd_duration_years", "MDD duration (years)", ("11.7", "14.2"), ("9.4", "8.1"), "0.483", "0.48",
       test="mannwhitney"),
    _t("episode_duration_weeks", "Current episode duration (weeks)", ("24.3", "41.0"), ("17.4", "19.3"),
       "0.433", "0.43", test="mannwhitney"),
    _t("bdi_day0", "Baseline BDI", ("17.1", "7.6"), ("18.1", "6.5"), "0.652", "0.65"),
    _t("bai_day0", "Baseline BAI", ("21.7", "14.2"), ("19.6", "9.9"), "0.562", "0.56"),
    _t("madrs_day0", "Baseline MADRS", ("24.5", "8.2"), ("23.7", "5.4"), "0.702", "0.70"),
    _t("madrs_rel_change_day1", "MADRS change baseline vs. day 1", ("0.2", "0.3"), ("0.3", "0.3"), "0.522",
       "0.52"),
    _t("madrs_rel_change_day3", "MADRS change baseline vs. day 3", ("0.04", "0.43"), ("0.26", "0.28"), "0.042",
       "0.04"),
    _t("madrs_rel_change_day7", "MADRS change baseline vs. day 7", ("0.03", "0.47"), ("0.30", "0.27"), "0.022",
       "0.02"),
    _t("ketamine_ng_ml_10min", "Ketamine at 10 min (ng/ml)", ("276", "148"), ("226", "94"), "0.222", "0.22",
       cell_note=_KET10_NOTE),
    _t("ketamine_ng_ml_30min", "Ketamine at 30 min (ng/ml)", ("262", "87"), ("235", "79"), "0.362", "0.36"),
    _t("norketamine_ng_ml_10min", "Norketamine at 10 min (ng/ml)", ("18", "13"), ("12", "10"), "0.12", "0.1",
       note=_PK_NOTE.format(p="0.12", r="0.1").replace("mark 1", "mark 2")),
    _t("norketamine_ng_ml_30min", "Norketamine at 30 min (ng/ml)", ("80", "39"), ("65", "28"), "0.22", "0.2",
       note=_PK_NOTE.format(p="0.22", r="0.2").replace("mark 1", "mark 2"), cell_note=_NORKET30_NOTE),
]


def table_specs(rows: list[PaperRow]) -> list[RowSpec]:
    return [r.spec for r in rows]


@dataclass(frozen=True)
class PaperNumber:
    """One printed number. ``reading``: the number as read ("<0.001" keeps its relation; ">=20"
    for a bound); ``reproduced_by``: key of ``reproduced_quantities``; ``transform``:
    ``identity``, ``percent`` (x 100) or ``abs`` (sign convention differs)."""

    key: str
    where: str
    quantity: str
    printed: str
    reading: str
    reproduced_by: str
    transform: str = "identity"
    note: str = ""

    @property
    def relation(self) -> str:
        for rel in ("<=", ">=", "<", ">"):
            if self.reading.startswith(rel):
                return rel
        return "="

    @property
    def value(self) -> float:
        return float(self.reading.lstrip("<>="))

    @property
    def decimals(self) -> int:
        text = self.reading.lstrip("<>=")
        return len(text.split(".")[1]) if "." in text else 0


_SWAP = ("the paper's 'sensitivity' is the share of responders at <= 8 mg (4/5) and its 'specificity' the "
         "share of nonresponders above 8 mg (11/13); with nonresponse as the positive class (the text: "
         "'distinguished nonresponders from responders by a criterion of >8mg') these are swapped, so the "
         "paper's sensitivity is compared with our specificity and vice versa")
_N18 = ("the printed ROC numbers fit 18 BZD users (5 responders + 13 nonresponders): the exact binomial "
        "CI on AUC x 18 gives 0.68-0.99, and 4/5, 11/13 give 80 %, 84.6 %; the paper reports 19 users "
        "(5 + 14); compared with the bzd_users population")
_AGE = ("a 21-year range (31-52) cannot have SD 12.3 with n = 47: the largest SD such a range allows is "
        "about 10.6 (half the sample at each end); the inclusion criteria were 18-65 years")
_MADRS24 = ("with integer MADRS scores and Table 1's means (21.1 x 13, 25.0 x 34) the overall mean is at most "
            "1125 / 47 = 23.94, which does not round to 24.0")
_OR = ("the CI 1.2-69.7 is not centred on the log scale (geometric midpoint sqrt(1.2 x 69.7) = 9.15, not 9.7), "
       "so it is not a Wald interval around 9.7; compared with the ML Wald CI (what Statistica prints); the "
       "profile and Firth CIs are in logistic.json. With 1/13 vs 12/34 responders the Wald SE of the BZD+ "
       "log-OR is at least sqrt(1/0.923 + 1/7.76) = 1.10 whatever the covariates, so OR 9.7 forces p >= 0.039: "
       "OR 9.7 and p = 0.03 cannot both be ML Wald results (docs/synthetic.md)")
_FDF = ("135 = 3 x 45 are the uncorrected df (N - 2 groups = 45 times 3 contrasts), although Methods say the "
        "df were corrected for a lack of sphericity; the Greenhouse-Geisser / Huynh-Feldt p are in rm_anova.json")
_MIN20 = ("inclusion criterion MADRS >= 20, yet responders' baseline 21.1 +/- 6.5 (n = 13) is impossible with all "
          "scores >= 20 (the largest SD then is about 4.0): the analysed baseline (day -1) differs from screening")
_POSTHOC = ("Bonferroni post hoc of the group x time interaction; reproduced as the group difference in MADRS "
            "at the visit, Bonferroni over the 4 visits (Statistica's all-cell-pairs Bonferroni would "
            "multiply by 28); Table 2 prints the same p for the t test on the relative MADRS change "
            "(posthoc.csv, relative_change_t_test), a different test")


def _table_numbers(table: str, rows: list[PaperRow]) -> list[PaperNumber]:
    out = []
    where = "Table 1" if table == "table1" else "Table 2"
    for r in rows:
        v, lab = r.spec.variable, r.spec.label
        base = f"{table}.{v}"
        if r.spec.kind == "binary":
            a, b = (str(x) for x in r.spec.levels)
            cells = [("count_a_1", r.group_1[0], f"{a} in group 1"), ("count_b_1", r.group_1[1], f"{b} in group 1"),
                     ("count_a_2", r.group_2[0], f"{a} in group 2"), ("count_b_2", r.group_2[1], f"{b} in group 2")]
        else:
            cells = [("mean_1", r.group_1[0], "mean, group 1"), ("sd_1", r.group_1[1], "SD, group 1"),
                     ("mean_2", r.group_2[0], "mean, group 2"), ("sd_2", r.group_2[1], "SD, group 2")]
        for col, text, what in cells:
            out.append(PaperNumber(f"{base}.{col}", where, f"{lab}: {what}", text, text, f"{base}.{col}",
                                   note=r.cell_note))
        out.append(PaperNumber(f"{base}.p_value", where, f"{lab}: p ({r.spec.test})", r.p_printed, r.p_reading,
                               f"{base}.p_value", note=r.note))
    return out


def _n(key, where, quantity, printed, reading, by, transform="identity", note=""):
    return PaperNumber(key, where, quantity, printed, reading, by, transform, note)


R_ALL = "roc.populations.all"
R_USERS = "roc.populations.bzd_users"
RESP = "response.response_by_bzd_group"
LOG = "logistic.bzd_plus_adjusted.ml"
RM = "rm_anova.effects.group_x_time"
SE = "posthoc.simple_effect_madrs"
TT = "posthoc.relative_change_t_test"

_TEXT_NUMBERS: list[PaperNumber] = [
    # Abstract
    _n("abstract.n_patients", "Abstract", "patients analysed", "47", "47", "cohort.n_patients"),
    _n("abstract.n_female", "Abstract", "females", "27", "27", "cohort.n_female"),
    _n("abstract.madrs_inclusion", "Abstract", "inclusion: baseline MADRS >= 20 (minimum baseline MADRS)",
       "MADRS ≥ 20", ">=20", "cohort.madrs_day0_min", note=_MIN20),
    _n("abstract.n_responders", "Abstract", "responders (>= 50 % MADRS reduction within one week)", "13", "13",
       "cohort.n_responders"),
    _n("abstract.pct_responders", "Abstract", "responders (%)", "28%", "28", "cohort.pct_responders"),
    _n("abstract.n_bzd_users", "Abstract", "daily BZD users", "19", "19", "cohort.n_bzd_users"),
    _n("abstract.pct_bzd_users", "Abstract", "daily BZD users (%)", "40%", "40", "cohort.pct_bzd_users"),
    _n("abstract.dose_p", "Abstract", "BZD dose, nonresponders vs responders: p (Mann-Whitney)", "p=0.007",
       "0.007", "table1.diazepam_eq_mg.p_value"),
    _n("abstract.roc_criterion", "Abstract", "ROC criterion (Youden), mg DZ equivalent", ">8mg", "8",
       f"{R_USERS}.cutoff_mg", note=_N18),
    _n("abstract.roc_sensitivity", "Abstract", "ROC sensitivity (%) as printed", "80%", "80",
       f"{R_USERS}.specificity", "percent", _SWAP),
    _n("abstract.roc_specificity", "Abstract", "ROC specificity (%) as printed", "85%", "85",
       f"{R_USERS}.sensitivity", "percent", _SWAP + "; the Results print 84.6 %"),
    _n("abstract.roc_p", "Abstract", "ROC p (AUC = 0.5)", "p<0.001", "<0.001", f"{R_USERS}.p_value",
       note="the Results text prints p=0.001"),
    _n("abstract.day3_p", "Abstract", "RM-ANOVA post hoc, BZD+ vs BZD- at day 3: p", "p=0.04", "0.04",
       f"{SE}.day3.p_bonferroni", note=_POSTHOC),
    _n("abstract.day7_p", "Abstract", "RM-ANOVA post hoc, BZD+ vs BZD- at day 7: p", "p=0.02", "0.02",
       f"{SE}.day7.p_bonferroni", note=_POSTHOC),
    # Methods (bounds the data can be checked against)
    _n("methods.age_min", "Methods", "inclusion: age >= 18 years (youngest patient)", "18 to 65", ">=18",
       "cohort.age_min"),
    _n("methods.age_max", "Methods", "inclusion: age <= 65 years (oldest patient)", "18 to 65", "<=65",
       "cohort.age_max"),
    # Results, paragraph 1
    _n("results.n_patients", "Results ¶1", "patients analysed", "47", "47", "cohort.n_patients"),
    _n("results.n_female", "Results ¶1", "females", "27", "27", "cohort.n_female"),
    _n("results.pct_female", "Results ¶1", "females (%)", "57%", "57", "cohort.pct_female"),
    _n("results.age_min", "Results ¶1", "age range, lower end (years)", "31", "31", "cohort.age_min", note=_AGE),
    _n("results.age_max", "Results ¶1", "age range, upper end (years)", "52", "52", "cohort.age_max", note=_AGE),
    _n("results.age_mean", "Results ¶1", "age, mean (years)", "43.0", "43.0", "cohort.age_years_mean"),
    _n("results.age_sd", "Results ¶1", "age, SD (years)", "12.3", "12.3", "cohort.age_years_sd", note=_AGE),
    _n("results.madrs_mean", "Results ¶1", "baseline MADRS, mean", "24.0", "24.0", "cohort.madrs_day0_mean",
       note=_MADRS24),
    _n("results.madrs_sd", "Results ¶1", "baseline MADRS, SD", "6.3", "6.3", "cohort.madrs_day0_sd"),
    _n("results.mdd_duration_mean", "Results ¶1", "MDD duration, mean (years)", "10.0", "10.0",
       "cohort.mdd_duration_years_mean"),
    _n("results.mdd_duration_sd", "Results ¶1", "MDD duration, SD (years)", "10.1", "10.1",
       "cohort.mdd_duration_years_sd"),
    _n("results.episode_mean", "Results ¶1", "current episode duration, mean (weeks)", "19.3", "19.3",
       "cohort.episode_duration_weeks_mean"),
    _n("results.episode_sd", "Results ¶1", "current episode duration, SD (weeks)", "26.7", "26.7",
       "cohort.episode_duration_weeks_sd"),
    _n("results.n_monotherapy", "Results ¶1", "AD monotherapy", "13", "13", "cohort.n_monotherapy"),
    _n("results.pct_monotherapy", "Results ¶1", "AD monotherapy (%)", "28%", "28", "cohort.pct_monotherapy"),
    _n("results.n_combination", "Results ¶1", "AD combination", "34", "34", "cohort.n_combination"),
    _n("results.pct_combination", "Results ¶1", "AD combination (%)", "72%", "72", "cohort.pct_combination"),
    _n("results.pct_ad_sertraline_escitalopram", "Results ¶1", "sertraline + escitalopram (% of AD prescriptions)",
       "36%", "36", "cohort.pct_ad_sertraline_escitalopram",
       note="the paper does not say what the percentage is of; read as share of antidepressant prescriptions"),
    _n("results.pct_ad_venlafaxine", "Results ¶1", "venlafaxine (% of AD prescriptions)", "28%", "28",
       "cohort.pct_ad_venlafaxine"),
    _n("results.pct_ad_mirtazapine", "Results ¶1", "mirtazapine (% of AD prescriptions)", "17%", "17",
       "cohort.pct_ad_mirtazapine"),
    _n("results.fluoxetine_mean", "Results ¶1", "AD dose, mean (mg/day fluoxetine equivalent)", "54.1", "54.1",
       "cohort.fluoxetine_eq_mg_mean"),
    _n("results.fluoxetine_sd", "Results ¶1", "AD dose, SD (mg/day fluoxetine equivalent)", "24.5", "24.5",
       "cohort.fluoxetine_eq_mg_sd"),
    _n("results.n_responders", "Results ¶1", "responders", "13", "13", "cohort.n_responders"),
    _n("results.pct_responders", "Results ¶1", "responders (%)", "28%", "28", "cohort.pct_responders"),
    _n("results.bai_p", "Results ¶1", "baseline BAI, responders vs nonresponders: p", "p=0.04", "0.04",
       "table1.bai_day0.p_value"),
    _n("results.madrs_p", "Results ¶1", "baseline MADRS, responders vs nonresponders: p", "p=0.052", "0.052",
       "table1.madrs_day0.p_value"),
    # Results, paragraph 2
    _n("results.n_bzd_any_use", "Results ¶2", "patients with at least one BZD dose", "Twenty-one", "21",
       "cohort.n_bzd_any_use"),
    _n("results.n_bzd_single_dose", "Results ¶2", "patients with a single (as-needed) BZD dose only", "Two", "2",
       "cohort.n_bzd_as_needed_only"),
    _n("results.n_bzd_users", "Results ¶2", "daily BZD users", "Nineteen", "19", "cohort.n_bzd_users"),
    _n("results.pct_bzd_users", "Results ¶2", "daily BZD users (%)", "40%", "40", "cohort.pct_bzd_users"),
    _n("results.dose_min", "Results ¶2", "users' dose, minimum (mg/day DZ equivalent)", "3.8", "3.8",
       "cohort.users_dose_min"),
    _n("results.dose_max", "Results ¶2", "users' dose, maximum (mg/day DZ equivalent)", "94.0", "94.0",
       "cohort.users_dose_max"),
    _n("results.n_clonazepam", "Results ¶2", "users taking clonazepam", "Thirteen", "13",
       "cohort.n_users_clonazepam"),
    _n("results.pct_clonazepam", "Results ¶2", "users taking clonazepam (%)", "68%", "68",
       "cohort.pct_users_clonazepam"),
    _n("results.n_alprazolam", "Results ¶2", "users taking alprazolam", "five", "5", "cohort.n_users_alprazolam"),
    _n("results.pct_alprazolam", "Results ¶2", "users taking alprazolam (%)", "26%", "26",
       "cohort.pct_users_alprazolam"),
    _n("results.n_clonazepam_midazolam", "Results ¶2", "users taking clonazepam + midazolam", "one", "1",
       "cohort.n_users_clonazepam_midazolam"),
    _n("results.pct_users_in_responders", "Results ¶2", "BZD users among responders (%)", "38%", "38",
       "cohort.pct_bzd_users_in_responders"),
    _n("results.pct_users_in_nonresponders", "Results ¶2", "BZD users among nonresponders (%)", "42%", "42",
       "cohort.pct_bzd_users_in_nonresponders",
       note="19 users with 5 responders leave 14 of 34 nonresponders = 41.2 %, which rounds to 41 %, not 42 %"),
    _n("results.dose_mean_responders", "Results ¶2", "users' dose, responders: mean (mg)", "7.7", "7.7",
       "table1.diazepam_eq_mg.mean_1"),
    _n("results.dose_sd_responders", "Results ¶2", "users' dose, responders: SD (mg)", "4.5", "4.5",
       "table1.diazepam_eq_mg.sd_1"),
    _n("results.dose_mean_nonresponders", "Results ¶2", "users' dose, nonresponders: mean (mg)", "32.1", "32.1",
       "table1.diazepam_eq_mg.mean_2"),
    _n("results.dose_sd_nonresponders", "Results ¶2", "users' dose, nonresponders: SD (mg)", "24.9", "24.9",
       "table1.diazepam_eq_mg.sd_2"),
    _n("results.dose_p", "Results ¶2", "users' dose, responders vs nonresponders: p (Mann-Whitney)", "p=0.007",
       "0.007", "table1.diazepam_eq_mg.p_value"),
    # Results, paragraph 3: ROC, groups, logistic, RM-ANOVA
    _n("results.roc_criterion", "Results ¶3", "ROC criterion (Youden), mg DZ equivalent", ">8mg", "8",
       f"{R_USERS}.cutoff_mg", note=_N18),
    _n("results.roc_sensitivity", "Results ¶3", "ROC sensitivity (%) as printed", "80%", "80",
       f"{R_USERS}.specificity", "percent", _SWAP),
    _n("results.roc_specificity", "Results ¶3", "ROC specificity (%) as printed", "84.6%", "84.6",
       f"{R_USERS}.sensitivity", "percent", _SWAP),
    _n("results.roc_auc", "Results ¶3", "ROC AUC", "0.91", "0.91", f"{R_USERS}.auc", note=_N18),
    _n("results.roc_auc_ci_low", "Results ¶3", "ROC AUC 95 % CI, lower", "0.68", "0.68",
       f"{R_USERS}.auc_ci_exact.0", note=_N18),
    _n("results.roc_auc_ci_high", "Results ¶3", "ROC AUC 95 % CI, upper", "0.99", "0.99",
       f"{R_USERS}.auc_ci_exact.1", note=_N18),
    _n("results.roc_p", "Results ¶3", "ROC p (AUC = 0.5)", "p=0.001", "0.001", f"{R_USERS}.p_value",
       note="Abstract and Figure 1 print p<0.001"),
    _n("results.n_bzd_plus", "Results ¶3", "BZD+ (> 8 mg) patients", "N=13", "13", "cohort.n_bzd_plus"),
    _n("results.n_bzd_minus", "Results ¶3", "BZD- (0-8 mg) patients", "N=34", "34", "cohort.n_bzd_minus"),
    _n("results.n_responders_bzd_plus", "Results ¶3", "responders in BZD+", "only one", "1", f"{RESP}.groups.0.events"),
    _n("results.rate_bzd_plus", "Results ¶3", "response rate in BZD+ (%)", "8%", "8", f"{RESP}.groups.0.rate",
       "percent"),
    _n("results.rate_bzd_minus", "Results ¶3", "response rate in BZD- (%)", "35%", "35", f"{RESP}.groups.1.rate",
       "percent"),
    _n("results.fisher_p", "Results ¶3", "response, BZD+ vs BZD-: Fisher p", "p=0.07", "0.07", f"{RESP}.p_value",
       note=_FISHER_NOTE),
    _n("results.or", "Results ¶3", "odds ratio of nonresponse, BZD+ (adjusted for MADRS, BAI)", "OR=9.7", "9.7",
       f"{LOG}.odds_ratio"),
    _n("results.or_ci_low", "Results ¶3", "odds ratio 95 % CI, lower", "1.2", "1.2", f"{LOG}.ci_wald.0", note=_OR),
    _n("results.or_ci_high", "Results ¶3", "odds ratio 95 % CI, upper", "69.7", "69.7", f"{LOG}.ci_wald.1",
       note=_OR),
    _n("results.or_p", "Results ¶3", "odds ratio p (Wald)", "p=0.03", "0.03", f"{LOG}.p_value"),
    _n("results.f_df1", "Results ¶3", "RM-ANOVA group x time: numerator df", "F(3,", "3", f"{RM}.df1", note=_FDF),
    _n("results.f_df2", "Results ¶3", "RM-ANOVA group x time: denominator df", "135)", "135", f"{RM}.df2",
       note=_FDF),
    _n("results.f", "Results ¶3", "RM-ANOVA group x time: F", "2.98", "2.98", f"{RM}.f"),
    _n("results.f_p", "Results ¶3", "RM-ANOVA group x time: p (uncorrected df)", "p=0.03", "0.03", f"{RM}.p_value",
       note=_FDF),
    _n("results.posthoc_day1_p", "Results ¶3", "post hoc, BZD+ vs BZD- at day 1: p", "p=0.53", "0.53",
       f"{SE}.day1.p_bonferroni",
       note=_POSTHOC + "; Table 2's t test on the relative change prints 0.52 (a different test)"),
    _n("results.posthoc_day3_p", "Results ¶3", "post hoc, BZD+ vs BZD- at day 3: p", "p=0.04", "0.04",
       f"{SE}.day3.p_bonferroni", note=_POSTHOC),
    _n("results.posthoc_day3_g", "Results ¶3", "Hedges' g, relative MADRS change at day 3 (BZD- better)",
       "g= 0.67", "0.67", f"{TT}.day3.hedges_g", "abs",
       "g of the relative change (Table 2's means and SDs give 0.66); sign: ours is BZD+ minus BZD-, compared as |g|"),
    _n("results.posthoc_day7_p", "Results ¶3", "post hoc, BZD+ vs BZD- at day 7: p", "p=0.02", "0.02",
       f"{SE}.day7.p_bonferroni", note=_POSTHOC),
    _n("results.posthoc_day7_g", "Results ¶3", "Hedges' g, relative MADRS change at day 7 (BZD- better)",
       "g= 0.78", "0.78", f"{TT}.day7.hedges_g", "abs",
       "g of the relative change (Table 2's means and SDs give 0.79); sign: ours is BZD+ minus BZD-, compared as |g|"),
    # Figure legends
    _n("figure1.auc", "Figure 1 legend", "ROC AUC", "AUC=0.91", "0.91", f"{R_USERS}.auc", note=_N18),
    _n("figure1.auc_ci_low", "Figure 1 legend", "ROC AUC 95 % CI, lower", "0.68", "0.68",
       f"{R_USERS}.auc_ci_exact.0", note=_N18),
    _n("figure1.auc_ci_high", "Figure 1 legend", "ROC AUC 95 % CI, upper", "0.99", "0.99",
       f"{R_USERS}.auc_ci_exact.1", note=_N18),
    _n("figure1.p", "Figure 1 legend", "ROC p (AUC = 0.5)", "p < 0.001", "<0.001", f"{R_USERS}.p_value"),
    _n("figure2.day3_p", "Figure 2 legend", "BZD- better at day 3: p", "p = 0.04", "0.04", f"{SE}.day3.p_bonferroni",
       note=_POSTHOC),
    _n("figure2.day7_p", "Figure 2 legend", "BZD- better at day 7: p", "p = 0.02", "0.02", f"{SE}.day7.p_bonferroni",
       note=_POSTHOC),
    # Table headers
    _n("table1.n_responders", "Table 1", "responders (n in header)", "n=13", "13", "cohort.n_responders"),
    _n("table1.n_nonresponders", "Table 1", "nonresponders (n in header)", "n=34", "34", "cohort.n_nonresponders"),
    _n("table2.n_bzd_plus", "Table 2", "BZD+ (n in header)", "n=13", "13", "cohort.n_bzd_plus"),
    _n("table2.n_bzd_minus", "Table 2", "BZD- (n in header)", "n=34", "34", "cohort.n_bzd_minus"),
]

PAPER_NUMBERS: list[PaperNumber] = (
    _TEXT_NUMBERS + _table_numbers("table1", TABLE1_ROWS) + _table_numbers("table2", TABLE2_ROWS)
)


# --- reproduced quantities and the comparison ------------------------------------------


def flatten(obj, prefix: str) -> dict[str, float]:
    """Numeric leaves of a JSON-able object as ``prefix.a.b.0`` keys (bools as 0/1)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}"))
    elif isinstance(obj, (bool, np.bool_)):
        out[prefix] = float(obj)
    elif isinstance(obj, (int, float, np.integer, np.floating)):
        out[prefix] = float(obj)
    elif obj is None:
        out[prefix] = math.nan
    return out


def flatten_table(frame: pd.DataFrame, prefix: str, id_cols: list[str]) -> dict[str, float]:
    """Numeric cells of a tidy table as ``prefix.<id values>.<column>``."""
    out: dict[str, float] = {}
    for _, row in frame.iterrows():
        rid = ".".join(str(row[c]) for c in id_cols)
        for col, v in row.items():
            if col in id_cols:
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                continue
            out[f"{prefix}.{rid}.{col}"] = x
    return out


def reproduced_quantities(
    *, facts: dict, table1: pd.DataFrame, table2: pd.DataFrame, roc: dict, response: dict, logistic: dict,
    rm_anova: dict, posthoc: pd.DataFrame,
) -> dict[str, float]:
    """The flat namespace that ``PaperNumber.reproduced_by`` keys point into."""
    q = {f"cohort.{k}": float(v) for k, v in facts.items()}
    q.update(flatten_table(table1, "table1", ["variable"]))
    q.update(flatten_table(table2, "table2", ["variable"]))
    q.update(flatten(roc, "roc"))
    q.update(flatten(response, "response"))
    q.update(flatten(logistic, "logistic"))
    q.update(flatten(rm_anova, "rm_anova"))
    q.update(flatten_table(posthoc, "posthoc", ["analysis", "time"]))
    return q


def _transform(x: float, how: str) -> float:
    if how == "percent":
        return 100 * x
    if how == "abs":
        return abs(x)
    if how == "identity":
        return x
    raise ValueError(f"unknown transform {how!r}")


def agrees(number: PaperNumber, reproduced: float) -> bool | None:
    """Does the reproduced value agree with the paper at the printed precision (or satisfy its
    bound)? ``None`` when there is nothing to compare."""
    if reproduced is None or not math.isfinite(reproduced):
        return None
    v, rel = number.value, number.relation
    if rel == "<":
        return reproduced < v
    if rel == ">":
        return reproduced > v
    if rel == "<=":
        return reproduced <= v + 1e-12
    if rel == ">=":
        return reproduced >= v - 1e-12
    return abs(reproduced - v) <= 0.5 * 10 ** (-number.decimals) + 1e-9


def compare(reproduced: dict[str, float], numbers: list[PaperNumber] | None = None) -> pd.DataFrame:
    """One row per paper number: paper value, reproduced value, deviation, agreement, note."""
    rows = []
    for n in numbers or PAPER_NUMBERS:
        raw = reproduced.get(n.reproduced_by)
        note = n.note
        if raw is None:
            value = math.nan
            note = "; ".join(filter(None, [f"not reproduced: {n.reproduced_by} is not in the outputs "
                                           "(analysis not estimable on these data)", note]))
        else:
            value = _transform(raw, n.transform)
        ok = agrees(n, value)
        rows.append({
            "key": n.key,
            "where": n.where,
            "quantity": n.quantity,
            "printed": n.printed,
            "relation": n.relation,
            "paper_value": n.value,
            "reproduced_value": value,
            "deviation": value - n.value if math.isfinite(value) else math.nan,
            "agrees_at_printed_precision": ok,
            "reproduced_from": n.reproduced_by + ("" if n.transform == "identity" else f" ({n.transform})"),
            "note": note,
        })
    return pd.DataFrame(rows)


def _check_unique() -> None:
    keys = [n.key for n in PAPER_NUMBERS]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise RuntimeError(f"duplicate paper number keys: {sorted(dup)}")


_check_unique()
