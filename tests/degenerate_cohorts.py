"""Degenerate cohorts for the reliability matrix (issue 8, deliverable 2; docs/reliability.md).

Each cell starts from the synthetic cohort's truth tables (``ketamine_bzd.synthetic``), changes
them in one named way and is then written through the raw formats' own writers
(``ketamine_bzd.formats.*.write``), so that the workflow meets it exactly as a user's export:
through ingest, never as edited Parquet. ``CELLS`` is the matrix; ``build_cell`` writes one
cell's exports and ``cell_config`` the config that points the workflow at them.

The BZD+ and responder groups a cell changes are computed with the package's own definitions
(``definitions.dose_exposure``, ``definitions.responder``) on the paper's diazepam table, so that
a cell means in the analysis what its name says.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from cluster.merge_config import deep_merge

from ketamine_bzd import definitions as d
from ketamine_bzd.canonical import StudyTables
from ketamine_bzd.cohort import add_equivalents
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.synthetic import generate_cohort

REPO = Path(__file__).resolve().parents[1]
FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
SEED = 20200819
CUTOFF_MG = 8.0  # config.yaml analysis.bzd_cutoff_mg, the paper's BZD+ (> 8 mg)
FOLLOW_UP = d.FOLLOW_UP_VISITS

# Small resample counts: the matrix checks that every output is written, not the precision of
# the resampling (same code paths as the default).
FAST_CONFIG = {
    "analysis": {"roc": {"bootstrap_n": 50}, "figures": {"dpi": 50}},
    "multiverse": {"n_permutations": 5, "bootstrap": {"n": 20}},
}

# A smaller multiverse for the in-process matrix: every kind of exposure (ROC cut-off, fixed
# cut-off incl. the paper's, continuous), outcome (binary, continuous), population (all, each
# study, users), adjustment and estimator, but one window (the real-Snakemake matrix runs all).
SMALL_GRID = {
    "exposures": {
        "roc_youden": {"kind": "roc"},
        "gt8mg": {"kind": "cutoff", "mg": 8},
        "per_10mg": {"kind": "per_10mg"},
    },
    "outcomes": {
        "response_any": {"kind": "response", "visits": ["day1", "day3", "day7"]},
        "rel_change_day7": {"kind": "relative_change", "visit": "day7"},
    },
    "windows": {"mean_dm1_d7": {"days": [-1, 7], "summary": "mean"}},
    "populations": {
        "all": {"kind": "all"},
        "study": {"kind": "each_study"},
        "bzd_users": {"kind": "bzd_users"},
    },
}

Truth = dict[str, StudyTables]


@dataclass(frozen=True)
class Cell:
    description: str  # what the cohort is, in the paper's words
    build: Callable[[Truth], Truth]
    n_patients: int = 47


# --- groups of the truth, by the package's definitions -------------------------------------


def _all(truth: Truth, name: str) -> pd.DataFrame:
    return pd.concat([getattr(t, name) for t in truth.values()], ignore_index=True)


def madrs_wide(truth: Truth) -> pd.DataFrame:
    r = _all(truth, "ratings")
    r = r[r["scale"] == "madrs"]
    wide = r.pivot(index="patient_id", columns="visit", values="score")
    wide.columns = [f"madrs_{v}" for v in wide.columns]
    return wide


def bzd_plus(truth: Truth) -> pd.Series:
    """BZD+ (> 8 mg/day diazepam equivalent, days -1..7, paper's table) by raw patient id."""
    ids = pd.Index(_all(truth, "subjects")["patient_id"])
    med = _all(truth, "medication")
    diazepam = load_table(REPO / "resources/equivalents/diazepam_paper.csv")
    fluoxetine = load_table(REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv")
    med = add_equivalents(med, diazepam, fluoxetine)
    return d.bzd_high_dose(d.dose_exposure(med, ids, "diazepam_eq_mg", (-1, 7)), CUTOFF_MG)


def responders(truth: Truth) -> pd.Series:
    return d.responder(madrs_wide(truth)).astype("boolean")


# --- edits of the truth tables --------------------------------------------------------------


def _copy(truth: Truth) -> Truth:
    return {s: copy.deepcopy(t) for s, t in truth.items()}


def set_madrs(truth: Truth, ids, visits, value: Callable[[pd.Series], pd.Series]) -> Truth:
    """MADRS of patients ``ids`` at ``visits`` = ``value(baseline)`` (integers, observed)."""
    out = _copy(truth)
    ids = set(ids)
    for t in out.values():
        r = t.ratings
        base = r[(r["scale"] == "madrs") & (r["visit"] == "day0")].set_index("patient_id")["score"]
        rows = r["patient_id"].isin(ids) & (r["scale"] == "madrs") & r["visit"].isin(visits)
        new = value(r.loc[rows, "patient_id"].map(base)).round()
        r.loc[rows, "score"] = new.astype(float)
        r.loc[rows, "status"] = "observed"
    return out


def no_response(baseline: pd.Series) -> pd.Series:
    return baseline  # relative change 0


def response(baseline: pd.Series) -> pd.Series:
    return np.floor(baseline * 0.4)  # a reduction of 60 %


def set_missing(truth: Truth, ids, visits, scales=("madrs", "bdi", "bai")) -> Truth:
    out = _copy(truth)
    ids = set(ids)
    for t in out.values():
        r = t.ratings
        rows = r["patient_id"].isin(ids) & r["scale"].isin(scales) & r["visit"].isin(visits)
        r.loc[rows, "score"] = np.nan
        r.loc[rows, "status"] = "missing"
    return out


def drop_medication(truth: Truth, keep: Callable[[pd.DataFrame], pd.Series]) -> Truth:
    out = _copy(truth)
    for t in out.values():
        t.medication = t.medication[keep(t.medication)].reset_index(drop=True)
    return out


def add_regular(truth: Truth, ids, drug: str, dose_mg: float) -> Truth:
    """A regular daily dose of ``drug`` on every study day (-7..7) for patients ``ids``."""
    out = _copy(truth)
    ids = set(ids)
    for s, t in out.items():
        who = [p for p in t.subjects["patient_id"] if p in ids]
        days = range(-7, 8)
        rows = pd.DataFrame(
            {
                "patient_id": np.repeat(who, len(days)),
                "study": s,
                "study_day": np.tile(list(days), len(who)).astype("int64"),
                "drug": drug,
                "drug_class": "bzd",
                "dose_mg": float(dose_mg),
                "as_needed": False,
            }
        )
        t.medication = pd.concat([t.medication, rows], ignore_index=True).sort_values(
            ["patient_id"], kind="stable", ignore_index=True
        )
    return out


def _ids(truth: Truth) -> list[str]:
    return _all(truth, "subjects")["patient_id"].tolist()


def _every_third(truth: Truth) -> list[str]:
    return _ids(truth)[::3]


def _is_bzd(med: pd.DataFrame) -> pd.Series:
    return med["drug_class"] == "bzd"


def _users(truth: Truth) -> set[str]:
    med = _all(truth, "medication")
    ids = pd.Index(_ids(truth))
    u = d.bzd_user(med, ids)
    return set(u[u].index)


# --- the cells ------------------------------------------------------------------------------


def _complete_separation(truth: Truth) -> Truth:
    plus = bzd_plus(truth)
    t = set_madrs(truth, plus[plus].index, FOLLOW_UP, no_response)
    return set_madrs(t, plus[~plus].index, ["day1"], response)


def _quasi_separation(truth: Truth) -> Truth:
    plus, resp = bzd_plus(truth), responders(truth)
    return set_madrs(truth, plus[plus & resp.fillna(False)].index, FOLLOW_UP, no_response)


def _no_antidepressants(truth: Truth) -> Truth:
    drop = set(_every_third(truth))
    return drop_medication(truth, lambda m: ~((m["drug_class"] == "ad") & m["patient_id"].isin(drop)))


def _empty_medication_file(truth: Truth) -> Truth:
    out = _copy(truth)
    out["ket2009"].medication = out["ket2009"].medication.iloc[0:0]
    return out


def _group_empty_at_visit(truth: Truth) -> Truth:
    plus = bzd_plus(truth)
    return set_missing(truth, plus[plus].index, ["day3"])


def _followups_missing(truth: Truth) -> Truth:
    return set_missing(truth, _every_third(truth), FOLLOW_UP)


def _same_dose(truth: Truth) -> Truth:
    t = drop_medication(truth, lambda m: ~_is_bzd(m))
    return add_regular(t, _ids(t), "diazepam", 10.0)


def _all_users(truth: Truth) -> Truth:
    # 5 mg diazepam = 5 mg/day equivalent: regular users that stay BZD- (<= 8 mg)
    return add_regular(truth, set(_ids(truth)) - _users(truth), "diazepam", 5.0)


CELLS: dict[str, Cell] = {
    "complete_separation": Cell(
        "every BZD+ patient a nonresponder and every BZD- patient a responder", _complete_separation
    ),
    "quasi_separation": Cell(
        "no BZD+ patient responds, BZD- patients do and do not (the paper has 1 of 13)", _quasi_separation
    ),
    "no_bzd_users": Cell(
        "no patient takes a benzodiazepine", lambda t: drop_medication(t, lambda m: ~_is_bzd(m))
    ),
    "all_bzd_users": Cell("every patient a regular BZD user", _all_users),
    "no_responders": Cell("no patient responds", lambda t: set_madrs(t, _ids(t), FOLLOW_UP, no_response)),
    "all_responders": Cell(
        "every patient responds (60 % at 24 h)", lambda t: set_madrs(t, _ids(t), ["day1"], response)
    ),
    "no_antidepressants": Cell(
        "a third of the patients take no antidepressant (ad_therapy 'none')", _no_antidepressants
    ),
    "empty_medication_file": Cell(
        "ket2009's medication file has a header and no rows", _empty_medication_file
    ),
    "single_study": Cell("only ket2013 configured", lambda t: {"ket2013": t["ket2013"]}),
    "n12": Cell("12 patients", lambda t: t, n_patients=12),
    "group_empty_at_visit": Cell("no MADRS of any BZD+ patient at 72 h (day 3)", _group_empty_at_visit),
    "followups_missing": Cell(
        "every follow-up visit missing for a third of the patients", _followups_missing
    ),
    "same_dose": Cell("every patient on the same dose (diazepam 10 mg/day, days -7..7)", _same_dose),
}


@functools.lru_cache(maxsize=2)
def _synthetic(n_patients: int) -> Truth:
    # the template search takes seconds: one draw per size serves every cell (cells copy it)
    return generate_cohort(n_patients, SEED)


def build_truth(name: str) -> Truth:
    cell = CELLS[name]
    return cell.build(_copy(_synthetic(cell.n_patients)))


def build_cell(name: str, outdir: Path) -> dict[str, dict[str, Path]]:
    """Write cell ``name``'s raw exports under ``outdir/<study>/``: ``{study: {role: path}}``."""
    truth = build_truth(name)
    return {s: FORMATS[FORMAT_OF[s]].write(t, Path(outdir) / s) for s, t in truth.items()}


def cell_config(exports: dict[str, dict[str, Path]], workdir: Path = REPO, small_grid: bool = False) -> dict:
    """``workdir``'s config.yaml pointed at ``exports`` (synthetic off, FAST_CONFIG merged;
    ``small_grid``: the multiverse dimensions of SMALL_GRID)."""
    config = yaml.safe_load((Path(workdir) / "config.yaml").read_text())
    config = deep_merge(config, FAST_CONFIG)
    if small_grid:
        config["multiverse"].update(copy.deepcopy(SMALL_GRID))
    config["synthetic"]["enabled"] = False
    config["studies"] = {
        s: {"format": FORMAT_OF[s], "files": {r: str(p) for r, p in files.items()}}
        for s, files in exports.items()
    }
    return config
