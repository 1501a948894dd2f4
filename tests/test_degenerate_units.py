"""Degenerate cohorts, unit level (issue 8, findings 2 and 3; docs/reliability.md).

Each test here failed on the code before the fix: the JSON writer raised on NaN, the paper's
specification was ``ok`` with a NaN estimate under separation, and Table 1 raised on a patient
without antidepressant.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from degenerate_cohorts import REPO, SMALL_GRID, build_truth

from ketamine_bzd import analysis as a
from ketamine_bzd import paper
from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.io import finite_json, write_json, write_table
from ketamine_bzd.multiverse.engine import prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TABLES = {k: str(REPO / v) for k, v in CONFIG["equivalents"]["diazepam_tables"].items()}


def _cohort(name):
    truth = build_truth(name)
    merged = merge(list(truth.values()))
    med = add_equivalents(
        merged.medication,
        load_table(TABLES["paper"]),
        load_table(REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv"),
    )
    return derive(merged, med, CohortSettings()), list(truth)


# --- the JSON writer: the one place where NaN / inf become null, with a reason -------------


def test_write_json_turns_nan_and_inf_into_null_with_the_nearest_reason(tmp_path):
    obj = {
        "model": {
            "estimate": math.nan,
            "ci": [np.float64(-np.inf), 1.5],
            "n": np.int64(3),
            "warnings": ["fitted probabilities 0 or 1 (separation)"],
        },
        "other": {"rho": float("inf")},
        "p": 0.5,
    }
    write_json(obj, tmp_path / "x.json", "test data", reasons={"other": "constant dose"})
    text = (tmp_path / "x.json").read_text()
    out = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written as a number"))
    assert out["data_source"] == "test data" and list(out)[0] == "data_source"
    assert out["model"]["estimate"] is None and out["model"]["ci"] == [None, 1.5] and out["model"]["n"] == 3
    assert out["other"]["rho"] is None and out["p"] == 0.5
    assert out["warnings"] == [
        "model.estimate: not estimable (nan) - fitted probabilities 0 or 1 (separation)",
        "model.ci[0]: not estimable (-inf) - fitted probabilities 0 or 1 (separation)",
        "other.rho: not estimable (inf) - constant dose",
    ]
    # same object, same bytes; a finite object is written exactly as json.dumps would
    write_json(obj, tmp_path / "y.json", "test data", reasons={"other": "constant dose"})
    assert (tmp_path / "y.json").read_text() == text
    write_json({"a": 1.0}, tmp_path / "z.json")
    assert (tmp_path / "z.json").read_text() == json.dumps({"a": 1.0}, indent=2) + "\n"


def test_finite_json_without_any_reason_says_so():
    clean, found = finite_json({"x": [math.nan]})
    assert clean == {"x": [None]}
    assert found == [{"path": "x[0]", "value": "nan", "reason": "no reason given by the analysis"}]


def test_write_table_leaves_infinity_empty(tmp_path):
    write_table(pd.DataFrame({"a": [1.0, np.inf, np.nan], "b": ["x", "y", "z"]}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "a,b\n1.0,x\n,y\n,z\n"


# --- finding 2: separation in the paper's specification ------------------------------------


@pytest.mark.parametrize("cell", ["quasi_separation", "complete_separation"])
def test_paper_specification_under_separation_is_not_estimable_with_the_reason(cell):
    cohort, studies = _cohort(cell)
    mv = {**CONFIG["multiverse"], **SMALL_GRID}
    grid = build_grid(mv, list(TABLES), studies)
    data = prepare_data(cohort.patients, cohort.medication_daily, grid, TABLES)
    specs = specification_table(grid, data)
    paper_spec = specs[specs["is_paper"]].iloc[0]
    assert paper_spec["status"] == "not_estimable" and not np.isfinite(paper_spec["estimate"])
    assert "separation" in paper_spec["warnings"]
    # the class: no specification is "ok" without a finite estimate
    assert np.isfinite(specs.loc[specs["status"] == "ok", "estimate"]).all()
    assert (specs.loc[specs["status"] != "ok", "warnings"].str.len() > 0).all()
    # Firth's estimate exists under separation (that is what it is for)
    firth = specs[(specs["spec_id"] == paper_spec["spec_id"].replace("|ml", "|firth"))].iloc[0]
    assert firth["status"] == "ok" and firth["estimate"] > 1


# --- finding 3: patients without antidepressant; an empty medication file -------------------


@pytest.mark.parametrize("cell", ["no_antidepressants", "empty_medication_file"])
def test_table1_counts_patients_without_antidepressant_in_a_warning(cell):
    cohort, _ = _cohort(cell)
    patients = a.add_groups(cohort.patients, 8.0)
    n_none = int((patients["ad_therapy"] == "none").sum())
    assert n_none > 0
    table, _ = a.comparison_table(
        patients, "response_group", (a.RESPONDERS, a.NONRESPONDERS), paper.TABLE1_ROWS
    )
    row = table.set_index("variable").loc["ad_therapy"]
    counted = row[["count_a_1", "count_b_1", "count_a_2", "count_b_2"]].sum()
    assert counted + n_none == len(patients)  # counts reconcile
    assert f"{n_none} patient(s) with ad_therapy outside" in row["warnings"] and "'none'" in row["warnings"]
    text = a.table_markdown(table, "Table 1", [], "test")
    assert "nan" not in text.lower() and "'none'" in text
