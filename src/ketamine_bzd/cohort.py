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

from . import cohort_kernels as kernels
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
    order, as for text). Each frame's codes are mapped to the union's (one lookup per category,
    a take per row), not recoded by ``set_categories``."""
    shared = [
        c for c in frames[0].columns if all(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames)
    ]
    if not shared:
        return pd.concat(frames, ignore_index=True)
    out = pd.concat([f.drop(columns=shared) for f in frames], ignore_index=True)
    for c in shared:
        categories = [f[c].cat.categories for f in frames]
        # every frame's categories numbered in one factorize, then by their sorted order
        numbers, union = pd.factorize(categories[0].append(categories[1:]))
        order = _sorted_order(pd.Index(union))
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        ends = np.cumsum([len(k) for k in categories])
        codes = np.concatenate(
            [
                np.append(rank[numbers[end - len(k) : end]], -1)[f[c].cat.codes.to_numpy()]
                for f, k, end in zip(frames, categories, ends)
            ]
        )
        dtype = pd.CategoricalDtype(pd.Index(union).take(order), ordered=frames[0][c].cat.ordered)
        out.insert(frames[0].columns.get_loc(c), c, pd.Categorical.from_codes(codes, dtype=dtype))
    return out


def _sorted_order(values: pd.Index) -> np.ndarray:
    """``values.argsort()``; text sorted by Arrow (code point order, as Python's), several times
    faster than pandas' sort of a quarter of a million pseudonyms."""
    if _is_text(pd.Series(values[:0])) and not values.hasnans:
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.array_sort_indices(pa.array(values, pa.large_string())).to_numpy()
    return values.argsort()


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
    drug, names = kernels.codes_of(medication["drug"])
    dose = medication["dose_mg"].to_numpy()
    for cls, table, col in (("bzd", diazepam, "diazepam_eq_mg"), ("ad", fluoxetine, "fluoxetine_eq_mg")):
        rows = _is_in(medication["drug_class"], [cls])
        values = np.full(len(medication), np.nan)
        if dose.dtype == np.float64 and (drug[rows] >= 0).all():
            # each drug's factor once (``convert`` of 1 mg; it raises for a drug not in the
            # table), then one product per intake, as ``convert`` computes it
            used = np.flatnonzero(np.bincount(drug[rows], minlength=len(names)))
            factor = np.full(len(names), np.nan)
            factor[used] = table.convert(pd.Series(names[used]), pd.Series(np.ones(len(used)))).to_numpy()
            values[rows] = dose[rows] * factor[drug[rows]]
        else:
            values[rows] = table.convert(medication["drug"][rows], medication["dose_mg"][rows]).to_numpy(
                float
            )
        equivalents[col] = values
    med = medication.assign(**equivalents)
    return sorted_rows(med, ["patient_id", "study_day", "drug", "as_needed"], text_as_categories)


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)


def sorted_rows(frame: pd.DataFrame, keys: list[str], text_as_categories: bool = False) -> pd.DataFrame:
    """``frame.sort_values(keys, ignore_index=True, kind="stable")``, faster at registry
    scale: each key's values are ranked once (``_ranks``: a categorical's categories, an
    integer's range, else ``pd.factorize(sort=True)``) and the ranks packed into one integer per
    row, so one stable ``argsort`` of integers (``_stable_order``) replaces the lexicographic sort
    of millions of strings. Falls back to ``sort_values`` for a missing key value or ranks that
    do not fit 63 bits.

    ``text_as_categories``: each text column comes back as a categorical whose categories are
    its distinct values in sorted order (the rows' codes are taken, not their strings: at
    registry scale the take of millions of strings is the cost); same values, same order."""
    packed = np.zeros(len(frame), np.int64)
    span = 1
    factorized = {}
    ranked = []
    for key in keys:
        ranks = _ranks(frame[key], text_as_categories)
        span *= max(ranks[1], 1) if ranks else 1
        if ranks is None or span >= 2**63:
            out = frame.sort_values(keys, ignore_index=True, kind="stable")
            return _as_categories(out, {}, None) if text_as_categories else out
        if len(ranks) == 3:  # a text column's factorization, reused for its categorical
            factorized[key] = ranks[0], ranks[2]
        ranked.append(ranks)
        packed = packed * max(ranks[1], 1) + ranks[0]
    # rows come grouped by the key with the most distinct values (the patient): the groups of
    # the keys up to it are ordered first, so that the sort of all keys finds sorted runs
    lead = 1 + int(np.argmax([r[1] for r in ranked])) if ranked else 0
    order = _stable_order(packed, np.prod([max(r[1], 1) for r in ranked[lead:]], dtype=np.int64))
    if text_as_categories:
        return _as_categories(frame, factorized, order)
    return frame.take(order).reset_index(drop=True)


def _ranks(values: pd.Series, uniques: bool = True) -> tuple | None:
    """Each row's rank among the sorted distinct values (or categories) of ``values`` and the
    number of ranks, plus, for text if ``uniques``, the sorted distinct values; None if a value
    is missing. A categorical's codes are ranked through its categories, an integer's or
    boolean's value through its range (a presence table, when the range is at most 2^24), text
    without ``uniques`` by Arrow's dense rank (code point order, as Python's): no hashing of
    millions of rows."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        if len(codes) and codes.min() < 0:
            return None
        if dtype.categories.is_monotonic_increasing:  # as ``merge`` makes them
            return codes, len(dtype.categories)
        order = _sorted_order(dtype.categories)
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        return rank[codes], len(order)
    if isinstance(dtype, np.dtype) and dtype.kind in "iub" and len(values):
        x = values.to_numpy().astype(np.int64, copy=False)
        lo, hi = int(x.min()), int(x.max())
        if hi - lo < 2**24:
            x = x - lo
            present = np.zeros(hi - lo + 1, bool)
            present[x] = True
            rank = np.cumsum(present) - 1
            return rank[x], int(present.sum())
    if _is_text(values) and not uniques and len(values):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.array(values, pa.large_string())
        if text.null_count:
            return None
        rank = pc.rank(text, tiebreaker="dense").to_numpy().astype(np.int64) - 1
        return rank, int(rank.max()) + 1
    codes, distinct = pd.factorize(values, sort=True)
    if (codes < 0).any():
        return None
    return (codes, len(distinct), distinct) if _is_text(values) else (codes, len(distinct))


def _stable_order(packed: np.ndarray, run_span: int) -> np.ndarray:
    """``np.argsort(packed, kind="stable")``, with the rows first grouped by their leading key
    ``packed // run_span``: the contiguous runs of one leading key are put in that key's order
    (a sort of the runs, stable), so that the final stable sort (timsort) sees long sorted
    stretches. Rows of equal ``packed`` keep their input order (the runs of one leading key
    stay in input order)."""
    n = len(packed)
    lead = packed // run_span
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]) if n else np.zeros(0, np.int64)
    if len(starts) * 4 > n:  # short runs: nothing to gain
        return np.argsort(packed, kind="stable")
    lengths = np.diff(np.r_[starts, n])
    runs = np.argsort(lead[starts], kind="stable")
    lengths, first = lengths[runs], starts[runs]
    grouped = np.repeat(first - (np.cumsum(lengths) - lengths), lengths) + np.arange(n)
    return grouped[np.argsort(packed[grouped], kind="stable")]


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
    Arrow-backed text column converts every element to a Python object); a categorical's
    categories are its distinct values."""
    codes, uniques = kernels.codes_of(values)
    wanted = set(pd.Series(among).tolist())  # tolist: one conversion, not an element iterator
    hit = np.fromiter((u in wanted for u in uniques.tolist()), bool, len(uniques))
    return np.append(hit, False)[codes]


def _drug_lists(drug: pd.Series, patient: np.ndarray, rows: np.ndarray, n_patients: int):
    """Per patient (positions 0 .. ``n_patients`` - 1) of the intakes ``rows``: the distinct
    drugs, sorted by name and joined with ``+`` ("" for none), and their number.

    Column-wise: a patient x drug table of booleans (``cohort_kernels.drug_sets``; distinct
    drugs are few), and each distinct row of it is spelled out once."""
    codes, names = kernels.codes_of(drug)
    codes, patient = codes[rows], patient[rows]
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(names)))
    order = used[np.argsort(np.asarray(names[used], dtype=object), kind="stable")]
    rank = np.full(len(names) + 1, -1)
    rank[order] = np.arange(len(order))
    table = kernels.drug_sets(patient, rank[codes], len(order), n_patients)
    spelled_names = np.asarray(names[order], dtype=object)
    if len(order) < 63:  # each row as an int64 bit mask: distinct masks by hashing, not a sort
        inverse, masks = pd.factorize(table.astype(np.int64) @ np.left_shift(1, np.arange(len(order))))
        distinct = (np.asarray(masks)[:, None] >> np.arange(len(order))) & 1 == 1
    else:
        distinct, inverse = np.unique(table, axis=0, return_inverse=True)
    spelled = np.array(["+".join(spelled_names[row]) for row in distinct], dtype=object)
    lists = pd.Series(spelled[inverse.reshape(-1)] if len(distinct) else [], dtype=str)
    return lists, table.sum(axis=1)


def _repeats(key: np.ndarray) -> bool:
    """Whether a non-negative integer key occurs twice (a count per key; the keys here are dense)."""
    return len(key) > 0 and int(np.bincount(key).max()) > 1


def _wide_ratings(ratings: pd.DataFrame, ids: pd.Index, rows: np.ndarray) -> pd.DataFrame:
    """One row per patient of ``ids``, one column ``{scale}_{visit}`` per scale and visit of the
    paper: ``ratings.pivot(index="patient_id", columns=["scale", "visit"], values="score")``
    reindexed to them. Filled from integer codes (each distinct pseudonym, scale and visit looked
    up once); pandas' ``pivot`` itself decides (and raises) if a patient has two ratings of one
    scale and visit, or a key is missing. ``rows``: each rating's patient as its position in
    ``ids`` (``cohort_kernels.row_positions``)."""
    names = [f"{s}_{v}" for s in SCALES for v in VISITS]
    score = ratings["score"]
    patient, _ = kernels.codes_of(ratings["patient_id"])
    scale, scales = kernels.codes_of(ratings["scale"])
    visit, visits = kernels.codes_of(ratings["visit"])
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
    col = pair[scale, visit]
    keep = (rows >= 0) & (col >= 0)
    values = np.full((len(ids), len(names)), np.nan)
    values[rows[keep], col[keep]] = score.to_numpy()[keep]
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
    known = {}
    rating_rows = kernels.row_positions(ids, merged.ratings["patient_id"], known)
    wide = _wide_ratings(merged.ratings, ids, rating_rows)

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
    coded = medication_daily.assign(
        patient_id=kernels.row_positions(ids, medication_daily["patient_id"], known)
    )

    def on_ids(per_position: pd.Series) -> pd.Series:
        return per_position.set_axis(ids)

    # the per-patient steps are numpy on the intakes' positions (``cohort_kernels``: the values
    # of the definitions, bit for bit; the definitions themselves where a kernel declines)
    patient = coded["patient_id"].to_numpy()
    day = coded["study_day"].to_numpy()
    integer_days = day.dtype.kind in "iu"
    bzd = _is_in(coded["drug_class"], ["bzd"])
    ad_window = _is_in(coded["drug_class"], ["ad"]) & (day >= lo) & (day <= hi)

    def summaries(col: str, window: tuple[int, int], which: tuple[str, ...]) -> dict[str, pd.Series]:
        dose = coded[col].to_numpy()
        fast = None
        if integer_days and dose.dtype == np.float64:
            fast = kernels.dose_summaries(patient, day, dose, len(ids), window, which)
        if fast is None:
            return d.dose_summaries(coded[["patient_id", "study_day", col]], positions, col, window, which)
        return {k: pd.Series(v, index=positions) for k, v in fast.items()}

    # one table of daily totals for the three summaries (the baseline is the window's first day)
    if lo <= hi:
        doses = summaries("diazepam_eq_mg", settings.dose_window, ("mean", "max", "first"))
    else:  # an empty window has no first day
        doses = summaries("diazepam_eq_mg", settings.dose_window, ("mean", "max"))
        doses["first"] = summaries("diazepam_eq_mg", (lo, lo), ("first",))["first"]
    out["diazepam_eq_mg"] = on_ids(doses["mean"])
    out["diazepam_eq_max_mg"] = on_ids(doses["max"])
    out["diazepam_eq_baseline_mg"] = on_ids(doses["first"])
    if integer_days:
        user = np.zeros(len(ids), dtype=bool)
        for week in d.STUDY_WEEKS:
            days = kernels.days_with_intake(patient[bzd], day[bzd], len(ids), week)
            user |= days > settings.user_max_days_per_week
        out["bzd_user"] = pd.Series(user, index=ids)
    else:
        bzd_rows = coded.loc[bzd, ["patient_id", "study_day", "drug_class"]]
        out["bzd_user"] = on_ids(d.bzd_user(bzd_rows, positions, settings.user_max_days_per_week))
    any_use = np.zeros(len(ids), dtype=bool)
    users = patient[bzd]
    any_use[users[users >= 0]] = True
    out["bzd_any_use"] = pd.Series(any_use, index=ids)
    out["bzd_as_needed_only"] = out["bzd_any_use"] & ~out["bzd_user"]
    out["bzd_drugs"] = on_ids(_drug_lists(coded["drug"], patient, bzd, len(ids))[0])
    out["fluoxetine_eq_mg"] = on_ids(summaries("fluoxetine_eq_mg", settings.dose_window, ("mean",))["mean"])
    antidepressants, n_ad = _drug_lists(coded["drug"], patient, ad_window, len(ids))
    out["n_antidepressants"] = pd.Series(n_ad.astype("int64"), index=ids)
    out["ad_therapy"] = pd.Series(
        np.select([n_ad == 0, n_ad == 1], ["none", "monotherapy"], "combination"), index=ids
    )
    out["antidepressants"] = on_ids(antidepressants)
    for v in d.FOLLOW_UP_VISITS:
        out[f"madrs_rel_change_{v}"] = d.relative_change(out["madrs_day0"], out[f"madrs_{v}"])
    out["responder"] = d.responder(out, min_reduction=settings.response_min_reduction)
    for col in PK_COLUMNS:
        out[col] = subjects[col]
        out[f"{col}_status"] = subjects[f"{col}_status"]
    patients = sorted_rows(out.reset_index(), ["study", "patient_id"])

    # the ratings of the cohort's patients (those of ``ids``), in their order (an inner join on
    # unique patients)
    visits = merged.ratings[rating_rows >= 0].reset_index(drop=True)
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
