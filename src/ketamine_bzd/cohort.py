"""Merge the studies' canonical tables and derive the analysis cohort.

Outputs (the cohort contract, ``docs/cohort.md``):
- ``patients``: one row per patient with ratings wide (``madrs_day0`` ...), dose equivalents,
  BZD use, antidepressant regimen, response, relative MADRS change and serum levels;
- ``visits``: ratings long, with relative change from baseline;
- ``medication_daily``: one row per intake with its diazepam or fluoxetine equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import definitions as d
from .canonical import PK_COLUMNS, SCALES, VISITS, StudyTables
from .equivalents import EquivalenceTable


@dataclass(frozen=True)
class CohortSettings:
    """The derivation choices (``config.yaml: cohort``)."""

    dose_window: tuple[int, int] = (-1, 7)
    user_max_days_per_week: int = 2
    response_min_reduction: float = 0.5


@dataclass
class Cohort:
    patients: pd.DataFrame
    visits: pd.DataFrame
    medication_daily: pd.DataFrame


def merge(studies: list[StudyTables]) -> StudyTables:
    """Concatenate studies; a pseudonym seen in two studies is an error."""
    subjects = pd.concat([s.subjects for s in studies], ignore_index=True)
    dup = subjects["patient_id"].duplicated()
    if dup.any():
        raise ValueError(f"patient {subjects.loc[dup, 'patient_id'].iloc[0]} appears in more than one study")
    return StudyTables(
        study="+".join(s.study for s in studies),
        subjects=subjects,
        ratings=_concat([s.ratings for s in studies]),
        medication=_concat([s.medication for s in studies]),
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)``; a column categorical in every frame stays
    categorical, its categories the sorted union (so the categories' order is the values'
    order, as for text)."""
    shared = [
        c for c in frames[0].columns if all(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames)
    ]
    if shared:
        union = {
            c: frames[0][c].cat.categories.append([f[c].cat.categories for f in frames[1:]]) for c in shared
        }
        union = {c: u.unique().sort_values() for c, u in union.items()}
        frames = [f.assign(**{c: f[c].cat.set_categories(union[c]) for c in shared}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def add_equivalents(
    medication: pd.DataFrame,
    diazepam: EquivalenceTable,
    fluoxetine: EquivalenceTable,
    text_as_categories: bool = False,
) -> pd.DataFrame:
    """Each intake with its diazepam (BZD) or fluoxetine (antidepressant) equivalent in mg.

    ``text_as_categories``: the text columns come back as categoricals of their sorted
    distinct values (``sorted_rows``), for a caller that writes them with
    ``io.write_table_from_categories`` (same file content as text columns)."""
    # new columns on a (copy-on-write) view, no deep copy of the intakes: at registry scale the
    # table holds millions of rows and this step's copies set the cohort job's peak memory
    equivalents = {}
    for cls, table, col in (("bzd", diazepam, "diazepam_eq_mg"), ("ad", fluoxetine, "fluoxetine_eq_mg")):
        rows = (medication["drug_class"] == cls).to_numpy()
        values = np.full(len(medication), np.nan)
        values[rows] = table.convert(medication["drug"][rows], medication["dose_mg"][rows]).to_numpy(float)
        equivalents[col] = values
    med = medication.assign(**equivalents)
    return sorted_rows(med, ["patient_id", "study_day", "drug", "as_needed"], text_as_categories)


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)


def sorted_rows(frame: pd.DataFrame, keys: list[str], text_as_categories: bool = False) -> pd.DataFrame:
    """``frame.sort_values(keys, ignore_index=True, kind="stable")``, faster at registry
    scale: each key's distinct values are ranked once (``pd.factorize(sort=True)``) and the
    ranks packed into one integer per row, so one stable ``argsort`` of integers replaces the
    lexicographic sort of millions of strings. Falls back to ``sort_values`` for a missing key
    value or ranks that do not fit 63 bits.

    ``text_as_categories``: each text column comes back as a categorical whose categories are
    its distinct values in sorted order (the rows' codes are taken, not their strings: at
    registry scale the take of millions of strings is the cost); same values, same order."""
    packed = np.zeros(len(frame), np.int64)
    span = 1
    factorized = {}
    for key in keys:
        codes, uniques = pd.factorize(frame[key], sort=True)
        factorized[key] = codes, uniques
        span *= max(len(uniques), 1)
        if span >= 2**63 or (codes < 0).any():
            out = frame.sort_values(keys, ignore_index=True, kind="stable")
            return _as_categories(out, {}, None) if text_as_categories else out
        packed = packed * max(len(uniques), 1) + codes
    order = np.argsort(packed, kind="stable")
    if text_as_categories:
        return _as_categories(frame, factorized, order)
    return frame.take(order).reset_index(drop=True)


def _as_categories(frame: pd.DataFrame, factorized: dict, order: np.ndarray | None) -> pd.DataFrame:
    """``frame`` (rows in ``order``; None: as they are) with text columns as categoricals of
    their sorted distinct values (``factorized``: ``pd.factorize(sort=True)`` results known)."""
    columns = {}
    rows = np.arange(len(frame)) if order is None else order
    for col in frame.columns:
        values = frame[col]
        if _is_text(values):
            codes, uniques = factorized.get(col) or pd.factorize(values, sort=True)
            columns[col] = pd.Categorical.from_codes(codes[rows], categories=uniques)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            columns[col] = pd.Categorical.from_codes(values.cat.codes.to_numpy()[rows], dtype=values.dtype)
        elif isinstance(values.dtype, np.dtype):
            columns[col] = values.to_numpy()[rows]
        else:
            columns[col] = values.take(rows).reset_index(drop=True)
    # copy=False: the columns are new arrays already, not to be copied into blocks again
    return pd.DataFrame(columns, copy=False)


def _is_in(values: pd.Series, among) -> np.ndarray:
    """``values.isin(among)`` looked up once per distinct value (pandas' ``isin`` of an
    Arrow-backed text column converts every element to a Python object)."""
    codes, uniques = pd.factorize(values)
    wanted = set(pd.Series(among).tolist())  # tolist: one conversion, not an element iterator
    hit = np.fromiter((u in wanted for u in uniques.tolist()), bool, len(uniques))
    return np.append(hit, False)[codes]


def _positions_in(ids: pd.Index, patient_id: pd.Series) -> np.ndarray:
    """Position in ``ids`` of each row's patient (-1 if absent), each distinct pseudonym looked
    up once (from a categorical's categories, or ``pd.factorize``)."""
    if isinstance(patient_id.dtype, pd.CategoricalDtype):
        codes, uniques = patient_id.cat.codes.to_numpy(), patient_id.cat.categories
    else:
        codes, uniques = pd.factorize(patient_id)
    return np.append(ids.get_indexer(uniques), -1)[codes]


def _drug_list(med: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """Each patient's distinct drugs, sorted by name and joined with ``+`` ("" for none).

    Column-wise: each drug is one bit of a per-patient mask (distinct drugs are few), and each
    distinct mask is spelled out once."""
    pairs = med[["patient_id", "drug"]].drop_duplicates()
    names = np.array(sorted(pairs["drug"].unique()), dtype=object)
    if len(names) == 0:
        return pd.Series("", index=ids, dtype=str)
    # int64 masks while the drugs fit 63 bits, Python integers beyond
    dtype = np.int64 if len(names) < 63 else object
    bit = pd.Series(np.left_shift(1, np.arange(len(names)).astype(dtype)), index=names)
    masks = bit.reindex(pairs["drug"]).to_numpy()
    per_patient = pd.Series(masks, index=pairs["patient_id"].to_numpy()).groupby(level=0).sum()
    spelled = {
        m: "+".join(names[[(m >> i) & 1 == 1 for i in range(len(names))]]) for m in per_patient.unique()
    }
    return per_patient.map(spelled).reindex(ids).fillna("").astype(str)


def _repeats(key: np.ndarray) -> bool:
    """Whether a non-negative integer key occurs twice (a count per key; the keys here are dense)."""
    return len(key) > 0 and int(np.bincount(key).max()) > 1


def _wide_ratings(ratings: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """One row per patient of ``ids``, one column ``{scale}_{visit}`` per scale and visit of the
    paper: ``ratings.pivot(index="patient_id", columns=["scale", "visit"], values="score")``
    reindexed to them. Filled from integer codes (each distinct pseudonym, scale and visit looked
    up once); pandas' ``pivot`` itself decides (and raises) if a patient has two ratings of one
    scale and visit, or a key is missing."""
    names = [f"{s}_{v}" for s in SCALES for v in VISITS]
    score = ratings["score"]
    patient, patients = pd.factorize(ratings["patient_id"])
    scale, scales = pd.factorize(ratings["scale"])
    visit, visits = pd.factorize(ratings["visit"])
    key = (patient.astype(np.int64) * max(len(scales), 1) + scale) * max(len(visits), 1) + visit
    if (
        len(ratings) == 0
        or score.dtype != np.float64
        or (patient < 0).any()
        or (scale < 0).any()
        or (visit < 0).any()
        or _repeats(key)
    ):
        wide = ratings.pivot(index="patient_id", columns=["scale", "visit"], values="score")
        wide.columns = [f"{scale}_{visit}" for scale, visit in wide.columns]
        return wide.reindex(index=ids, columns=names)
    # column of each (scale, visit) pair; -1 for pairs outside the paper's
    pair = pd.Index(names).get_indexer([f"{s}_{v}" for s in scales for v in visits]).reshape(len(scales), -1)
    row = ids.get_indexer(patients)[patient]
    col = pair[scale, visit]
    keep = (row >= 0) & (col >= 0)
    values = np.full((len(ids), len(names)), np.nan)
    values[row[keep], col[keep]] = score.to_numpy()[keep]
    return pd.DataFrame(values, index=ids, columns=names)


def _baseline_scores(visits: pd.DataFrame) -> np.ndarray:
    """Each rating's baseline: the score of the same patient and scale at visit ``day0`` (NaN
    if none). A lookup table indexed by integer codes; pandas' ``reindex`` on (patient, scale)
    decides (and raises) if a patient has two baselines of a scale or a key is missing."""
    patient, patients = pd.factorize(visits["patient_id"])
    scale, scales = pd.factorize(visits["scale"])
    day0 = (visits["visit"] == "day0").to_numpy()
    key = patient[day0].astype(np.int64) * max(len(scales), 1) + scale[day0]
    score = visits["score"]
    if score.dtype != np.float64 or (patient < 0).any() or (scale < 0).any() or _repeats(key):
        base = visits[day0].set_index(["patient_id", "scale"])["score"]
        return base.reindex(pd.MultiIndex.from_frame(visits[["patient_id", "scale"]])).to_numpy()
    table = np.full((len(patients), len(scales)), np.nan)
    table[patient[day0], scale[day0]] = score.to_numpy()[day0]
    return table[patient, scale]


def derive(
    merged: StudyTables,
    medication_daily: pd.DataFrame,
    settings: CohortSettings,
    text_as_categories: bool = False,
) -> Cohort:
    """Derive one row per patient from merged tables (each variable defined in ``definitions``).

    ``text_as_categories``: the visits' text columns come back as categoricals (``sorted_rows``),
    for a caller that writes them with ``io.write_table_from_categories``."""
    subjects = merged.subjects.set_index("patient_id")
    ids = subjects.index
    wide = _wide_ratings(merged.ratings, ids)

    out = subjects[
        [
            "study",
            "sex",
            "age_years",
            "weight_kg",
            "mdd_duration_years",
            "episode_duration_weeks",
            "n_hospitalizations",
            "episode",
        ]
    ].join(wide)
    lo, hi = settings.dose_window
    # each intake's patient as its position in ``ids``: the per-patient steps group integers and
    # reindex to positions (``on_ids`` labels the results), not millions of pseudonyms
    positions = pd.RangeIndex(len(ids))
    coded = medication_daily.assign(patient_id=_positions_in(ids, medication_daily["patient_id"]))

    def on_ids(per_position: pd.Series) -> pd.Series:
        return per_position.set_axis(ids)

    # only the columns each step reads: every row filter then copies 4-5 columns, not 9
    # (registry scale: tens of millions of daily rows)
    drugs = coded[["patient_id", "study_day", "drug", "drug_class"]]
    med_window = drugs[drugs["study_day"].between(lo, hi)]
    bzd = drugs[drugs["drug_class"] == "bzd"]
    ad = med_window[med_window["drug_class"] == "ad"]
    diazepam = coded[["patient_id", "study_day", "diazepam_eq_mg"]]

    # one table of daily totals for the three summaries (the baseline is the window's first day)
    if lo <= hi:
        doses = d.dose_summaries(
            diazepam, positions, "diazepam_eq_mg", settings.dose_window, ("mean", "max", "first")
        )
    else:  # an empty window has no first day
        doses = d.dose_summaries(diazepam, positions, "diazepam_eq_mg", settings.dose_window, ("mean", "max"))
        doses["first"] = d.dose_exposure(diazepam, positions, "diazepam_eq_mg", (lo, lo), "first")
    out["diazepam_eq_mg"] = on_ids(doses["mean"])
    out["diazepam_eq_max_mg"] = on_ids(doses["max"])
    out["diazepam_eq_baseline_mg"] = on_ids(doses["first"])
    out["bzd_user"] = on_ids(d.bzd_user(bzd, positions, settings.user_max_days_per_week))
    any_use = np.zeros(len(ids), dtype=bool)
    users = bzd["patient_id"].to_numpy()
    any_use[users[users >= 0]] = True
    out["bzd_any_use"] = pd.Series(any_use, index=ids)
    out["bzd_as_needed_only"] = out["bzd_any_use"] & ~out["bzd_user"]
    out["bzd_drugs"] = on_ids(_drug_list(bzd, positions))
    out["fluoxetine_eq_mg"] = on_ids(
        d.dose_exposure(
            coded[["patient_id", "study_day", "fluoxetine_eq_mg"]],
            positions,
            "fluoxetine_eq_mg",
            settings.dose_window,
        )
    )
    n_ad = on_ids(ad.groupby("patient_id")["drug"].nunique().reindex(positions, fill_value=0))
    out["n_antidepressants"] = n_ad.astype("int64")
    out["ad_therapy"] = pd.Series(
        np.select([n_ad == 0, n_ad == 1], ["none", "monotherapy"], "combination"), index=ids
    )
    out["antidepressants"] = on_ids(_drug_list(ad, positions))
    for v in d.FOLLOW_UP_VISITS:
        out[f"madrs_rel_change_{v}"] = d.relative_change(out["madrs_day0"], out[f"madrs_{v}"])
    out["responder"] = d.responder(out, min_reduction=settings.response_min_reduction)
    for col in PK_COLUMNS:
        out[col] = subjects[col]
        out[f"{col}_status"] = subjects[f"{col}_status"]
    patients = out.reset_index().sort_values(["study", "patient_id"], ignore_index=True)

    # the ratings of the cohort's patients, in their order (an inner join on unique patients)
    visits = merged.ratings[_is_in(merged.ratings["patient_id"], patients["patient_id"])].reset_index(
        drop=True
    )
    visits["baseline_score"] = _baseline_scores(visits)
    visits["rel_change"] = d.relative_change(visits["baseline_score"], visits["score"])
    visits = sorted_rows(visits, ["study", "patient_id", "scale", "study_day"], text_as_categories)
    return Cohort(patients=patients, visits=visits, medication_daily=medication_daily)


# the columns of ``patients`` that ``summarize`` reads
SUMMARY_INPUT_COLUMNS = [
    "study",
    "sex",
    "responder",
    "bzd_user",
    "bzd_as_needed_only",
    "diazepam_eq_mg",
    "ad_therapy",
    "episode",
]


def summarize(patients: pd.DataFrame) -> pd.DataFrame:
    """Counts per study and overall: the numbers to check a cohort against the paper."""

    def counts(p: pd.DataFrame) -> dict:
        users = p[p["bzd_user"]]
        return {
            "n_patients": len(p),
            "n_female": int((p["sex"] == "F").sum()),
            "n_responders": int(p["responder"].sum()),
            "n_response_unknown": int(p["responder"].isna().sum()),
            "n_bzd_users": int(p["bzd_user"].sum()),
            "n_bzd_as_needed_only": int(p["bzd_as_needed_only"].sum()),
            "n_users_responders": int(users["responder"].sum()),
            "users_diazepam_eq_mg_min": round(float(users["diazepam_eq_mg"].min()), 4)
            if len(users)
            else None,
            "users_diazepam_eq_mg_max": round(float(users["diazepam_eq_mg"].max()), 4)
            if len(users)
            else None,
            "n_monotherapy": int((p["ad_therapy"] == "monotherapy").sum()),
            "n_combination": int((p["ad_therapy"] == "combination").sum()),
            "n_first_episode": int((p["episode"] == "first").sum()),
        }

    rows = [{"study": s, **counts(g)} for s, g in patients.groupby("study", sort=True)]
    rows.append({"study": "all", **counts(patients)})
    return pd.DataFrame(rows)
