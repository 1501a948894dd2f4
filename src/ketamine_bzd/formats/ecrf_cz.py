"""``ecrf_cz``: the eCRF export of EudraCT 2013-000952-17 (``ket2013``).

Czech locale throughout: cp1250 encoding, ``;`` delimiter, decimal comma, dates
``dd.mm.yyyy``, Czech headers. Four files (see ``docs/data-contract.md``):

- ``patients`` (``pacienti.csv``): one row per patient with demographics, illness history,
  infusion date and the six serum levels as text (``226,4``, ``<LLOQ``, ``<LOD``, empty = not
  sampled).
- ``ratings`` (``hodnoceni.csv``): long, one row per visit and scale; the study day is the visit
  date minus the infusion date.
- ``prescriptions`` (``preskripce.csv``): regular medication by Czech brand and strength exactly
  as in ``resources/brands_cz.csv``, start and stop date (inclusive), tablets per day.
- ``prn`` (``jednorazove_podani.csv``): single as-needed administrations, date and tablets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from ..canonical import (
    PK_ANALYTES,
    PK_MAX_NG_ML,
    PK_TIMES_MIN,
    SCORE_RANGE,
    STUDY_DAYS,
    SUBJECT_RANGES,
    VISIT_STUDY_DAY,
    StudyTables,
)
from ..errors import IngestError, Quarantine
from . import columnar, common
from .common import IngestResult

FILE_ROLES = ("patients", "ratings", "prescriptions", "prn")
DEFAULT_FILENAMES = {
    "patients": "pacienti.csv",
    "ratings": "hodnoceni.csv",
    "prescriptions": "preskripce.csv",
    "prn": "jednorazove_podani.csv",
}
ENCODING, DELIMITER, DECIMAL, NEWLINE = "cp1250", ";", ",", "\r\n"

ID = "Číslo pacienta"
SEX = "Pohlaví"
EPISODE = "Epizoda"
INFUSION = "Datum infuze"
SUBJECT_HEADERS = {  # canonical column -> Czech header
    "age_years": "Věk (roky)",
    "weight_kg": "Hmotnost (kg)",
    "mdd_duration_years": "Trvání deprese (roky)",
    "episode_duration_weeks": "Trvání epizody (týdny)",
    "n_hospitalizations": "Počet hospitalizací",
}
ANALYTE_CZ = {"ketamine": "Ketamin", "norketamine": "Norketamin"}
PK_HEADERS = {
    f"{a}_ng_ml_{t}min": f"{ANALYTE_CZ[a]} {t} min (ng/ml)" for a in PK_ANALYTES for t in PK_TIMES_MIN
}
PATIENT_COLUMNS = [ID, SEX, *SUBJECT_HEADERS.values(), EPISODE, INFUSION, *PK_HEADERS.values()]
SEX_CODES = {"Ž": "F", "M": "M"}  # žena / muž
EPISODE_CODES = {"první": "first", "opakovaná": "recurrent"}
PK_TEXT = {"<LLOQ": "below_lloq", "<LOD": "below_lod", "": "missing"}

VISIT_CODE, VISIT_DATE, SCALE, SCORE = "Kód návštěvy", "Datum návštěvy", "Škála", "Celkové skóre"
RATING_COLUMNS = [ID, VISIT_CODE, VISIT_DATE, SCALE, SCORE]
VISIT_CODES = {"BL": "day0", "D1": "day1", "D3": "day3", "D7": "day7"}
SCALE_NAMES = {"MADRS": "madrs", "BDI-II": "bdi", "BAI": "bai"}

BRAND, START, STOP, TABLETS_DAY = "Přípravek", "Datum od", "Datum do", "Tablet denně"
PRESCRIPTION_COLUMNS = [ID, BRAND, START, STOP, TABLETS_DAY]
PRN_DATE, PRN_TABLETS = "Datum podání", "Počet tablet"
PRN_COLUMNS = [ID, BRAND, PRN_DATE, PRN_TABLETS]
MAX_TABLETS = 20.0


# ----------------------------------------------------------------------------- write


def write(truth: StudyTables, outdir: Path) -> dict[str, Path]:
    """Write ``truth`` (raw ids, ``subjects.infusion_date``) as the four eCRF files.

    Regular daily medication is compressed into prescriptions (a run of consecutive days with
    the same dose of a drug = one row); each dose is expressed in quarter tablets of the
    strongest brand in ``brands_cz.csv`` that allows it (ValueError if none does). Written
    column-wise (``formats.columnar``): the bytes of a row-wise ``csv.writer``.
    """
    return write_parts([truth], outdir)


# role -> (header, columns where a missing value is an error, as in the row-wise writer;
# elsewhere it is an empty field, as ``_num`` wrote it)
_FILES = {
    "patients": (PATIENT_COLUMNS, (0, 1, 7, 8)),
    "ratings": (RATING_COLUMNS, (0, 1, 2, 3)),
    "prescriptions": (PRESCRIPTION_COLUMNS, (0, 1, 2, 3)),
    "prn": (PRN_COLUMNS, (0, 1, 2)),
}


def write_parts(parts: Iterable[StudyTables], outdir: Path) -> dict[str, Path]:
    """``write`` for a study given in parts: each part holds whole patients (subjects with all
    their ratings and medication), parts in patient order. The files are those ``write``
    makes of the concatenated tables; memory is bounded by a part."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {role: outdir / name for role, name in DEFAULT_FILENAMES.items()}
    brands = common.load_brands()
    with ExitStack() as stack:
        files = {
            role: stack.enter_context(columnar.TableFile(
                paths[role], header, _DIALECT,
                missing=[None if j in strict else "" for j in range(len(header))]))
            for role, (header, strict) in _FILES.items()
        }
        for part in parts:
            for role, columns in _columns(part, brands).items():
                files[role].append(columns)
    return paths


def _columns(truth: StudyTables, brands) -> dict[str, list]:
    """The coded columns of the four files for the patients of ``truth``."""
    subjects = truth.subjects
    ids = columnar.factorize(subjects["patient_id"])
    if len(ids.values) != len(ids.codes) or (ids.codes < 0).any():
        raise ValueError("subjects: patient_id must be unique and present")
    infusion = _epoch_days(subjects["infusion_date"])

    columns = [ids, columnar.mapped(columnar.factorize(subjects["sex"]), {"F": "Ž", "M": "M"}.__getitem__)]
    columns += [_numbers(subjects[c]) for c in SUBJECT_HEADERS]
    columns.append(columnar.mapped(columnar.factorize(subjects["episode"]),
                                   {"first": "první", "recurrent": "opakovaná"}.__getitem__))
    columns.append(_dates(infusion))
    status_text = {v: k for k, v in PK_TEXT.items()}
    for col in PK_HEADERS:
        status = columnar.factorize(subjects[f"{col}_status"])
        if (status.codes < 0).any():
            raise KeyError(f"{col}_status missing")
        measured = np.array([v == "measured" for v in status.values] + [False])[status.codes]
        values = _numbers(subjects[col])
        texts = [status_text[v] for v in status.values if v != "measured"]
        # measured -> the number, else the status text (after the numbers in the value list)
        text_code = {v: len(values.values) + i for i, v in enumerate(
            [v for v in status.values if v != "measured"])}
        other = np.array([text_code.get(v, -1) for v in status.values] + [-1])[status.codes]
        columns.append(columnar.Coded(np.where(measured, values.codes, other),
                                      values.values + texts))
    out = {"patients": columns}

    ratings = truth.ratings[(truth.ratings["status"] == "observed").to_numpy()]
    visit_code = {v: k for k, v in VISIT_CODES.items()}
    scale_name = {v: k for k, v in SCALE_NAMES.items()}
    r_ids = columnar.factorize(ratings["patient_id"])
    r_pos = columnar.positions(r_ids, ids.values)  # the patient's row in subjects = file order
    visits = columnar.factorize(ratings["visit"])
    scales = columnar.factorize(ratings["scale"])
    visit_rank = np.array([list(VISIT_CODES.values()).index(v) for v in visits.values] + [0])
    scale_rank = np.array([list(SCALE_NAMES.values()).index(s) for s in scales.values] + [0])
    if (visits.codes < 0).any() or (scales.codes < 0).any():
        raise ValueError("ratings: missing visit or scale")
    sort = _stable_order(r_pos, visit_rank[visits.codes], scale_rank[scales.codes])
    days = ratings["study_day"].to_numpy()[sort].astype(np.int64)
    rows = [
        columnar.Coded(r_ids.codes[sort], r_ids.values),
        columnar.mapped(visits, visit_code.__getitem__).take(sort),
        _dates(infusion[r_pos[sort]] + days),
        columnar.mapped(scales, scale_name.__getitem__).take(sort),
        _numbers(ratings["score"].to_numpy()[sort]),
    ]
    out["ratings"] = rows

    med = truth.medication
    prn_mask = med["as_needed"].to_numpy().astype(bool)
    m_ids = columnar.factorize(med["patient_id"])
    m_pos = columnar.positions(m_ids, ids.values)
    drugs = columnar.factorize(med["drug"])
    if (drugs.codes < 0).any():
        raise ValueError("medication: missing drug")
    # drug order as Python sorts strings (code points)
    drug_rank = np.argsort(np.argsort(np.array(drugs.values, dtype=object), kind="stable"))
    m_days = med["study_day"].to_numpy().astype(np.int64)
    doses = med["dose_mg"].to_numpy().astype(float)
    drug_of = drug_rank[drugs.codes]

    reg = np.flatnonzero(~prn_mask)
    sort = reg[_stable_order(m_pos[reg], drug_of[reg], m_days[reg])]
    group = np.stack([m_pos[sort], drugs.codes[sort]])
    first, last = common.dose_run_bounds(group, m_days[sort], doses[sort])
    run_rows = sort[first]
    brand, tablets = _brands(drugs, drugs.codes[run_rows], doses[run_rows], brands)
    pos = m_pos[run_rows]
    rows = [
        columnar.Coded(m_ids.codes[run_rows], m_ids.values),
        brand,
        _dates(infusion[pos] + m_days[run_rows]),
        _dates(infusion[pos] + m_days[sort[last]]),
        tablets,
    ]
    out["prescriptions"] = rows

    prn = np.flatnonzero(prn_mask)
    prn = prn[_stable_order(m_pos[prn], m_days[prn], drug_of[prn])]
    brand, tablets = _brands(drugs, drugs.codes[prn], doses[prn], brands)
    rows = [
        columnar.Coded(m_ids.codes[prn], m_ids.values),
        brand,
        _dates(infusion[m_pos[prn]] + m_days[prn]),
        tablets,
    ]
    out["prn"] = rows
    return out


_DIALECT = columnar.Dialect(DELIMITER, NEWLINE, ENCODING)


def _numbers(values) -> columnar.Coded:
    """``_num`` of each distinct value (missing -> empty field)."""
    return columnar.mapped(columnar.factorize(values), _num)


def _epoch_days(dates) -> np.ndarray:
    """Calendar dates as days since 1970-01-01 (``common.as_date`` of each value)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(dates))
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    if stamps.isna().any():
        raise ValueError("subjects: infusion_date missing")
    return stamps.to_numpy().astype("datetime64[D]").astype(np.int64)


def _dates(epoch_days: np.ndarray) -> columnar.Coded:
    coded = columnar.factorize(np.asarray(epoch_days, dtype=np.int64))
    epoch = dt.date(1970, 1, 1)
    return columnar.mapped(coded, lambda d: common.format_date(epoch + dt.timedelta(days=int(d))))


def _brands(drugs: columnar.Coded, drug_codes: np.ndarray, doses: np.ndarray, brands):
    """(brand, tablets) columns: ``_brand_for`` once per distinct (drug, dose)."""
    dose_codes, dose_values = pd.factorize(doses, use_na_sentinel=False)
    pair_codes, pair_values = pd.factorize(drug_codes * (len(dose_values) + 1) + dose_codes)
    pairs = columnar.Coded(pair_codes.astype(np.int64), list(pair_values))  # present pairs only
    picks = [_brand_for(drugs.values[int(k) // (len(dose_values) + 1)],
                        float(dose_values[int(k) % (len(dose_values) + 1)]), brands)
             for k in pairs.values]
    brand = columnar.Coded(pairs.codes, [b for b, _ in picks])
    tablets = columnar.mapped(columnar.Coded(pairs.codes, [t for _, t in picks]), _num)
    return brand, tablets


def _stable_order(*keys) -> np.ndarray:
    """Row order sorted by ``keys`` (integer arrays, most significant first), ties in row
    order; one pass over a combined key, and none when the rows are already in order (the
    generator's tables are)."""
    n = len(keys[0])
    combined, span = np.zeros(n, dtype=np.int64), 1
    for key in keys:
        key = np.asarray(key, dtype=np.int64)
        lo = int(key.min()) if n else 0
        width = (int(key.max()) - lo + 1) if n else 1
        span *= width
        if span >= 2**62:  # too wide for one int64 key
            return np.lexsort((np.arange(n), *reversed(keys)))
        combined = combined * width + (key - lo)
    if n < 2 or bool((combined[1:] >= combined[:-1]).all()):
        return np.arange(n)
    return np.argsort(combined, kind="stable")


def _num(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else common.format_number(x, DECIMAL)


def _brand_for(drug: str, dose: float, brands) -> tuple[str, float]:
    """The brand a prescriber would pick: whole tablets before halves before quarters, then the
    strongest tablet, then file order; at most ``MAX_TABLETS`` tablets."""
    best = None
    for i, (brand, (generic, strength)) in enumerate(brands.items()):
        if generic != drug:
            continue
        quarters = dose / strength * 4
        n = round(quarters)
        if abs(quarters - n) > 1e-9 or not 0 < n <= MAX_TABLETS * 4:
            continue
        split = 0 if n % 4 == 0 else 1 if n % 2 == 0 else 2
        rank = (split, -strength, i)
        if best is None or rank < best[0]:
            best = (rank, brand, n / 4)
    if best is None:
        raise ValueError(f"{dose} mg {drug} cannot be written as quarter tablets (at most "
                         f"{MAX_TABLETS:g}) of any brand in resources/brands_cz.csv")
    return best[1], best[2]


# ----------------------------------------------------------------------------- read


def read(study: str, files: dict[str, Path], key: bytes) -> IngestResult:
    """Ingest an ``ecrf_cz`` export strictly (see module doc and ``docs/data-contract.md``).

    Raw identifiers seen in the files are collected first, so that an error whose value equals
    or contains one (e.g. an ID in a swapped score column) withholds it."""
    identifiers: set[str] = set()
    try:
        return _read(study, files, key, identifiers)
    except IngestError as err:
        raise err.withhold_identifiers(identifiers, (ID,)) from None  # no chained raw ids


def _read(study, files, key, identifiers) -> IngestResult:
    for role in FILE_ROLES:
        if role not in files:
            raise IngestError(f"<{role}>", f"no path given for file role {role!r}")
    quarantine = Quarantine(study, identifiers=identifiers)
    pseudo = common.Pseudonyms(study, key)
    warnings: list[str] = []

    def records(role, columns):
        return common.read_records(files[role], role, columns, encoding=ENCODING,
                                   delimiter=DELIMITER, quarantine=quarantine, id_column=ID,
                                   identifiers=identifiers)

    pat = records("patients", PATIENT_COLUMNS)
    subjects, infusion = _patients(study, pat, pseudo)
    common.require_patients(pat.file, len(subjects), pat.n_read)
    patients = [s["patient_id"] for s in subjects]
    rat = records("ratings", RATING_COLUMNS)
    observed = _ratings(rat, infusion, pseudo, quarantine, warnings)
    drugs, brands, limits = common.load_drugs(), common.load_brands(), common.DoseLimits()
    pres = records("prescriptions", PRESCRIPTION_COLUMNS)
    med = _prescriptions(pres, infusion, pseudo, quarantine, warnings, brands, limits)
    prn = records("prn", PRN_COLUMNS)
    med += _prn(prn, infusion, pseudo, quarantine, brands, limits)
    return common.result(
        study,
        common.subjects_frame(subjects),
        common.ratings_frame(study, patients, observed),
        common.medication_frame(study, patients, med, drugs),
        [(r.file, r.n_read) for r in (pat, rat, pres, prn)],
        quarantine,
        warnings,
    )


def _patient(recs, row, f, pseudo):
    if not f[ID]:
        raise IngestError(recs.file, "empty patient ID", row=row, column=ID)
    return pseudo(f[ID])


def _patients(study, recs, pseudo):
    path, out, infusion, first_seen = recs.file, [], {}, {}
    for row, f in recs.rows:
        pid = _patient(recs, row, f, pseudo)
        if pid in first_seen:
            raise IngestError(path, f"duplicate patient (same ID as row {first_seen[pid]})",
                              row=row, column=ID)
        first_seen[pid] = row
        if f[SEX] not in SEX_CODES:
            raise IngestError(path, "sex must be 'Ž' (female) or 'M' (male)", row=row, column=SEX,
                              value=f[SEX])
        rec = {"patient_id": pid, "study": study, "sex": SEX_CODES[f[SEX]]}
        for col, header in SUBJECT_HEADERS.items():
            value = common.parse_number(path, row, header, f[header], decimal=DECIMAL)
            rec[col] = common.check_range(path, row, header, value, *SUBJECT_RANGES[col], header)
            if col in common.WHOLE_SUBJECT_COLUMNS:
                common.check_whole(path, row, header, value, header)
        if f[EPISODE] not in EPISODE_CODES:
            raise IngestError(path, "episode must be 'první' (first) or 'opakovaná' (recurrent)",
                              row=row, column=EPISODE, value=f[EPISODE])
        rec["episode"] = EPISODE_CODES[f[EPISODE]]
        infusion[pid] = common.parse_date(path, row, INFUSION, f[INFUSION])
        for col, header in PK_HEADERS.items():
            text = f[header]
            if text in PK_TEXT:
                rec[col], rec[f"{col}_status"] = np.nan, PK_TEXT[text]
                continue
            value = common.parse_number(path, row, header, text, decimal=DECIMAL)
            if value < 0:
                raise IngestError(path, "serum level must be >= 0 ng/ml, '<LLOQ', '<LOD' or empty",
                                  row=row, column=header, value=text)
            common.check_range(path, row, header, value, 0, PK_MAX_NG_ML, "serum level (ng/ml)")
            rec[col], rec[f"{col}_status"] = value, "measured"
        out.append(rec)
    return out, infusion


def _ratings(recs, infusion, pseudo, quarantine, warnings):
    path, observed, seen = recs.file, {}, {}
    for row, f in recs.rows:
        pid = _patient(recs, row, f, pseudo)
        if f[VISIT_CODE] not in VISIT_CODES:
            raise IngestError(path, f"unknown visit code (allowed: {', '.join(VISIT_CODES)})",
                              row=row, column=VISIT_CODE, value=f[VISIT_CODE])
        visit = VISIT_CODES[f[VISIT_CODE]]
        if f[SCALE] not in SCALE_NAMES:
            raise IngestError(path, f"unknown scale (allowed: {', '.join(SCALE_NAMES)})",
                              row=row, column=SCALE, value=f[SCALE])
        scale = SCALE_NAMES[f[SCALE]]
        score = common.parse_number(path, row, SCORE, f[SCORE], decimal=DECIMAL)
        common.check_range(path, row, SCORE, score, *SCORE_RANGE[scale], f"{f[SCALE]} score")
        common.check_whole(path, row, SCORE, score, f"{f[SCALE]} score")
        date = common.parse_date(path, row, VISIT_DATE, f[VISIT_DATE]) if f[VISIT_DATE] else None
        if score is not None and date is None:
            raise IngestError(path, "visit date missing for a rated visit", row=row, column=VISIT_DATE,
                              value=f[VISIT_DATE])
        key = (pid, scale, visit)
        if key in seen:
            raise IngestError(path, f"duplicate rating (same patient, visit and scale as row "
                              f"{seen[key]})", row=row)
        seen[key] = row
        if pid not in infusion:
            quarantine.add(path, row, ID, pid, "patient not in the patients file")
            continue
        if score is None:
            continue  # visit not rated: becomes a 'missing' row like an absent one
        day = (date - infusion[pid]).days
        # off schedule: far from the nominal day, or on the wrong side of the infusion (day 0)
        if abs(day - VISIT_STUDY_DAY[visit]) > 2 or (day < 0) != (VISIT_STUDY_DAY[visit] < 0):
            warnings.append(f"{path} row {row}: visit {f[VISIT_CODE]} dated study day {day}, "
                            f"nominal day {VISIT_STUDY_DAY[visit]}")
        observed[key] = (score, day)
    return observed


def _brand(recs, row, f, brands):
    if f[BRAND] not in brands:
        raise IngestError(recs.file, "unknown brand (not in resources/brands_cz.csv; write the "
                          "brand and strength exactly, e.g. 'Rivotril 0,5 mg')",
                          row=row, column=BRAND, value=f[BRAND])
    return brands[f[BRAND]]


def _tablets(recs, row, column, text):
    n = common.parse_number(recs.file, row, column, text, decimal=DECIMAL)
    common.check_dose(recs.file, row, column, n, "number of tablets")
    if n > MAX_TABLETS:
        raise IngestError(recs.file, f"impossible number of tablets (> {MAX_TABLETS:g})",
                          row=row, column=column, value=text)
    if abs(n * 4 - round(n * 4)) > 1e-9:
        raise IngestError(recs.file, "tablets must be in quarters (e.g. 0,25, 0,5, 1,75)",
                          row=row, column=column, value=text)
    return n


def _prescriptions(recs, infusion, pseudo, quarantine, warnings, brands, limits):
    path, out = recs.file, []
    lo, hi = STUDY_DAYS
    for row, f in recs.rows:
        pid = _patient(recs, row, f, pseudo)
        drug, strength = _brand(recs, row, f, brands)
        tablets = _tablets(recs, row, TABLETS_DAY, f[TABLETS_DAY])
        dose = round(tablets * strength, 9)
        limits.check_record(path, row, TABLETS_DAY, f[TABLETS_DAY], drug, dose)
        start = common.parse_date(path, row, START, f[START])
        stop = common.parse_date(path, row, STOP, f[STOP]) if f[STOP] else None
        if stop is not None and stop < start:
            raise IngestError(path, f"prescription stops before it starts ({START} {f[START]})",
                              row=row, column=STOP, value=f[STOP])
        if pid not in infusion:
            quarantine.add(path, row, ID, pid, "patient not in the patients file")
            continue
        first = (start - infusion[pid]).days
        last = hi if stop is None else (stop - infusion[pid]).days
        if last < lo or first > hi:
            quarantine.add(path, row, START, f[START],
                           "prescription entirely outside the study period -7..7")
            continue
        if first < lo or last > hi:
            warnings.append(f"{path} row {row}: prescription days {first}..{last} clipped to "
                            f"the study period {lo}..{hi}")
        for d in range(max(first, lo), min(last, hi) + 1):
            limits.add_daily(path, row, TABLETS_DAY, f[TABLETS_DAY], pid, d, drug, dose)
            out.append((pid, d, drug, dose, False))
    return out


def _prn(recs, infusion, pseudo, quarantine, brands, limits):
    path, out = recs.file, []
    for row, f in recs.rows:
        pid = _patient(recs, row, f, pseudo)
        drug, strength = _brand(recs, row, f, brands)
        tablets = _tablets(recs, row, PRN_TABLETS, f[PRN_TABLETS])
        dose = round(tablets * strength, 9)
        limits.check_record(path, row, PRN_TABLETS, f[PRN_TABLETS], drug, dose)
        date = common.parse_date(path, row, PRN_DATE, f[PRN_DATE])
        if pid not in infusion:
            quarantine.add(path, row, ID, pid, "patient not in the patients file")
            continue
        day = (date - infusion[pid]).days
        if not common.in_study_period(day):
            quarantine.add(path, row, PRN_DATE, f[PRN_DATE],
                           f"administration on study day {day}, outside the study period -7..7")
            continue
        limits.add_daily(path, row, PRN_TABLETS, f[PRN_TABLETS], pid, day, drug, dose)
        out.append((pid, day, drug, dose, True))
    return out
