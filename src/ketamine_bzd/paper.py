"""The paper's tables and every number it prints, for the comparison with a reproduction.

Paper: "Benzodiazepines attenuate ketamine's antidepressant effect" (Frontiers in Psychiatry
2020;11:844). The printed numbers are data, in one file: ``resources/paper_numbers.csv`` (read
by :func:`paper_numbers`; the synthetic generator's targets, ``synthetic.paper``, and the tests
read the same file). One row per number printed in the Abstract, Methods, Results, Tables and
Figure legends: ``key``, ``where`` it is printed, the ``quantity``, the text as ``printed``, the
``reading`` (the number as read), the reproduced quantity it is compared with
(``reproduced_by``, a key of :func:`reproduced_quantities`), a ``transform`` and a ``note``. A
note may name a shared explanation as ``{name}`` (:data:`NOTES`).

``TABLE1_ROWS`` / ``TABLE2_ROWS`` are the rows of Tables 1 and 2 as
``stats.descriptives.RowSpec`` (variable, label, test): what the analysis computes; their
printed cells are the CSV's ``table1.<variable>.<cell>`` rows (:func:`printed_cells`).

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

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from .shipped import resource_path
from .stats.descriptives import RowSpec

PAPER_NUMBERS_FILE = "paper_numbers.csv"  # under resources/
TABLE1_TITLE = "Table 1. Baseline characteristics of responders vs. nonresponders"
TABLE2_TITLE = "Table 2. BZD+ (> cut-off mg diazepam equivalent) vs. BZD- (0 to cut-off mg)"


def _t(var, label, test="t", subset=None, footnote=None) -> RowSpec:
    return RowSpec(var, label, "continuous", test, subset=subset, footnote=footnote)


def _b(var, label, levels) -> RowSpec:
    return RowSpec(var, label, "binary", "fisher", levels=levels)


TABLE1_ROWS: list[RowSpec] = [
    _t("age_years", "Age (years)"),
    _b("sex", "F/M", ("F", "M")),
    _b("ad_therapy", "AD mono/comb", ("monotherapy", "combination")),
    _t("mdd_duration_years", "MDD duration (years)", test="mannwhitney"),
    _t("episode_duration_weeks", "Current episode duration (weeks)", test="mannwhitney"),
    _t("n_hospitalizations", "No. of hospitalizations", test="mannwhitney"),
    _t("bdi_day0", "Baseline BDI"),
    _t("bai_day0", "Baseline BAI"),
    _t("madrs_day0", "Baseline MADRS"),
    _b("episode", "First/recurrent episode", ("first", "recurrent")),
    _t("fluoxetine_eq_mg", "FLX equivalent (mg/day)"),
    _t(
        "diazepam_eq_mg",
        "DZ equivalent (mg/day), BZD users",
        test="mannwhitney",
        subset="bzd_user",
        footnote="DZ equivalent among daily BZD users only (the paper's DZ means are users' means).",
    ),
    _t("ketamine_ng_ml_10min", "Ketamine at 10 min (ng/ml)"),
    _t("ketamine_ng_ml_30min", "Ketamine at 30 min (ng/ml)"),
    _t("norketamine_ng_ml_10min", "Norketamine at 10 min (ng/ml)"),
    _t("norketamine_ng_ml_30min", "Norketamine at 30 min (ng/ml)"),
]

TABLE2_ROWS: list[RowSpec] = [
    _b("responder", "Responders/Nonresponders", (True, False)),
    _t("age_years", "Age (years)"),
    _t("mdd_duration_years", "MDD duration (years)", test="mannwhitney"),
    _t("episode_duration_weeks", "Current episode duration (weeks)", test="mannwhitney"),
    _t("bdi_day0", "Baseline BDI"),
    _t("bai_day0", "Baseline BAI"),
    _t("madrs_day0", "Baseline MADRS"),
    _t("madrs_rel_change_day1", "MADRS change baseline vs. day 1"),
    _t("madrs_rel_change_day3", "MADRS change baseline vs. day 3"),
    _t("madrs_rel_change_day7", "MADRS change baseline vs. day 7"),
    _t("ketamine_ng_ml_10min", "Ketamine at 10 min (ng/ml)"),
    _t("ketamine_ng_ml_30min", "Ketamine at 30 min (ng/ml)"),
    _t("norketamine_ng_ml_10min", "Norketamine at 10 min (ng/ml)"),
    _t("norketamine_ng_ml_30min", "Norketamine at 30 min (ng/ml)"),
]
TABLE_ROWS = {"table1": TABLE1_ROWS, "table2": TABLE2_ROWS}
# the printed cells of a table row, as keyed in the CSV: table1.<variable>.<cell>
CONTINUOUS_CELLS = ("mean_1", "sd_1", "mean_2", "sd_2")
BINARY_CELLS = ("count_a_1", "count_b_1", "count_a_2", "count_b_2")
# footnote mark of the t test in each table (its legend), for the notes on the PK p values
_T_TEST_MARK = {"Table 1": 1, "Table 2": 2}


@dataclass(frozen=True)
class PaperNumber:
    """One printed number (a row of ``resources/paper_numbers.csv``). ``reading``: the number as
    read ("<0.001" keeps its relation; ">=20" for a bound); ``reproduced_by``: key of
    ``reproduced_quantities``; ``transform``: ``identity``, ``percent`` (x 100) or ``abs``
    (sign convention differs)."""

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


# Explanations shared by several numbers; a note in the CSV names one as {name}.
NOTES = {
    "pk": "printed '{printed}' read as p = {reading} with footnote mark {t_mark} (t test) like every other "
    "row; a literal {printed} is possible",
    "ket10": "Tables 1 and 2 disagree: Table 1 means imply a total of 11176-11224 ng/ml, Table 2 means "
    "11248-11296, and Table 1's SDs imply a smaller total sum of squares than Table 2's "
    "(see ketamine_bzd.synthetic.paper)",
    "norket30": "Tables 1 and 2 disagree: Table 1 SDs (26, 26) imply a total sum of squares <= 3.3e4, "
    "Table 2 SDs (39, 28) >= 4.4e4",
    "fisher": "printed '0.071' in Table 2 (0.07 with footnote mark 1 = Fisher; Results: 'Fisher's exact "
    "test, p=0.07'); Fisher's exact two-sided p for 1/12 vs 12/22 is 0.0765 (R fisher.test and "
    "scipy agree), which rounds to 0.08: neither 0.071 nor 0.07 follows from the printed counts",
    "swap": "the paper's 'sensitivity' is the share of responders at <= 8 mg (4/5) and its 'specificity' the "
    "share of nonresponders above 8 mg (11/13); with nonresponse as the positive class (the text: "
    "'distinguished nonresponders from responders by a criterion of >8mg') these are swapped, so the "
    "paper's sensitivity is compared with our specificity and vice versa",
    "n18": "the printed ROC numbers fit 18 BZD users (5 responders + 13 nonresponders): the exact binomial "
    "CI on AUC x 18 gives 0.68-0.99, and 4/5, 11/13 give 80 %, 84.6 %; the paper reports 19 users "
    "(5 + 14); compared with the bzd_users population",
    "age": "a 21-year range (31-52) cannot have SD 12.3 with n = 47: the largest SD such a range allows is "
    "about 10.6 (half the sample at each end); the inclusion criteria were 18-65 years",
    "madrs24": "with integer MADRS scores and Table 1's means (21.1 x 13, 25.0 x 34) the overall mean is at "
    "most 1125 / 47 = 23.94, which does not round to 24.0",
    "or": "the CI 1.2-69.7 is not centred on the log scale (geometric midpoint sqrt(1.2 x 69.7) = 9.15, not "
    "9.7), so it is not a Wald interval around 9.7; compared with the ML Wald CI (what Statistica "
    "prints); the profile and Firth CIs are in logistic.json. With 1/13 vs 12/34 responders the Wald "
    "SE of the BZD+ log-OR is at least sqrt(1/0.923 + 1/7.76) = 1.10 whatever the covariates, so OR "
    "9.7 forces p >= 0.039: OR 9.7 and p = 0.03 cannot both be ML Wald results (docs/synthetic.md)",
    "fdf": "135 = 3 x 45 are the uncorrected df (N - 2 groups = 45 times 3 contrasts), although Methods say "
    "the df were corrected for a lack of sphericity; the Greenhouse-Geisser / Huynh-Feldt p are in "
    "rm_anova.json",
    "min20": "inclusion criterion MADRS >= 20, yet responders' baseline 21.1 +/- 6.5 (n = 13) is impossible "
    "with all scores >= 20 (the largest SD then is about 4.0): the analysed baseline (day -1) "
    "differs from screening",
    "posthoc": "Bonferroni post hoc of the group x time interaction; reproduced as the group difference in "
    "MADRS at the visit, Bonferroni over the 4 visits (Statistica's all-cell-pairs Bonferroni "
    "would multiply by 28); Table 2 prints the same p for the t test on the relative MADRS "
    "change (posthoc.csv, relative_change_t_test), a different test",
}
_COLUMNS = ["key", "where", "quantity", "printed", "reading", "reproduced_by", "transform", "note"]


def _expand(note: str, where: str, printed: str, reading: str) -> str:
    shared = {
        k: v.format(printed=printed, reading=reading, t_mark=_T_TEST_MARK.get(where, "?"))
        for k, v in NOTES.items()
    }
    return note.format(**shared)


@cache
def _read_numbers(path: Path) -> tuple[PaperNumber, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != _COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {_COLUMNS}")
        out = []
        for line, row in enumerate(reader, start=2):
            try:
                note = _expand(row["note"], row["where"], row["printed"], row["reading"])
            except KeyError as err:
                raise ValueError(f"{path}, line {line}, column note: unknown shared note {err}") from None
            number = PaperNumber(
                row["key"],
                row["where"],
                row["quantity"],
                row["printed"],
                row["reading"],
                row["reproduced_by"],
                row["transform"],
                note,
            )
            try:
                number.value  # noqa: B018 - a reading that is not a number stops here, named
            except ValueError:
                raise ValueError(
                    f"{path}, line {line}, column reading: {row['reading']!r} "
                    "is not a number (with an optional <, >, <=, >=)"
                ) from None
            out.append(number)
    keys = [n.key for n in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"{path}: duplicate keys {dup}")
    return tuple(out)


def paper_numbers() -> list[PaperNumber]:
    """Every number the paper prints, in the order of ``resources/paper_numbers.csv`` (the copy
    the rule passes in, ``shipped.use_resources``, else the shipped one)."""
    return list(_read_numbers(resource_path(PAPER_NUMBERS_FILE)))


def number(key: str) -> PaperNumber:
    """The printed number ``key`` (e.g. ``"results.n_female"``); ``KeyError`` naming the file."""
    for n in paper_numbers():
        if n.key == key:
            return n
    raise KeyError(f"{key!r} is not a key of resources/{PAPER_NUMBERS_FILE}")


def reading(key: str) -> str:
    """The number ``key`` as read (e.g. ``"0.052"`` for the printed "0.0521")."""
    return number(key).reading


def count(key: str) -> int:
    """A printed count (``"Twenty-one"`` is read as 21)."""
    value = number(key).value
    if value != int(value):
        raise ValueError(f"{key}: {value} is not a count")
    return int(value)


def printed_cells(table: str, variable: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """A table row's cells as read: ``((mean, sd), (mean, sd))`` per group for a continuous row,
    ``((count a, count b), (count a, count b))`` for a binary one (``table``: table1, table2)."""
    spec = next((r for r in TABLE_ROWS[table] if r.variable == variable), None)
    if spec is None:
        raise KeyError(f"{variable!r} is not a row of {table}")
    cells = BINARY_CELLS if spec.kind == "binary" else CONTINUOUS_CELLS
    a, b, c, d = (reading(f"{table}.{variable}.{cell}") for cell in cells)
    return (a, b), (c, d)


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
    *,
    facts: dict,
    table1: pd.DataFrame,
    table2: pd.DataFrame,
    roc: dict,
    response: dict,
    logistic: dict,
    rm_anova: dict,
    posthoc: pd.DataFrame,
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
    for n in paper_numbers() if numbers is None else numbers:
        raw = reproduced.get(n.reproduced_by)
        note = n.note
        if raw is None:
            value = math.nan
            note = "; ".join(
                filter(
                    None,
                    [
                        f"not reproduced: {n.reproduced_by} is not in the outputs "
                        "(analysis not estimable on these data)",
                        note,
                    ],
                )
            )
        else:
            value = _transform(raw, n.transform)
        ok = agrees(n, value)
        rows.append(
            {
                "key": n.key,
                "where": n.where,
                "quantity": n.quantity,
                "printed": n.printed,
                "relation": n.relation,
                "paper_value": n.value,
                "reproduced_value": value,
                "deviation": value - n.value if math.isfinite(value) else math.nan,
                "agrees_at_printed_precision": ok,
                "reproduced_from": n.reproduced_by
                + ("" if n.transform == "identity" else f" ({n.transform})"),
                "note": note,
            }
        )
    return pd.DataFrame(rows)
