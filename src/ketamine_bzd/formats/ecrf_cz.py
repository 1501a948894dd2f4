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
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from ..canonical import (
    PK_ANALYTES,
    PK_MAX_NG_ML,
    PK_TIMES_MIN,
    SCALES,
    SCORE_RANGE,
    STUDY_DAYS,
    SUBJECT_COLUMNS,
    SUBJECT_RANGES,
    VISIT_STUDY_DAY,
    VISITS,
    StudyTables,
)
from ..errors import IngestError, Quarantine
from . import column_reading, columnar, common
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
            role: stack.enter_context(
                columnar.TableFile(
                    paths[role],
                    header,
                    _DIALECT,
                    missing=[None if j in strict else "" for j in range(len(header))],
                )
            )
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
    columns.append(
        columnar.mapped(
            columnar.factorize(subjects["episode"]), {"first": "první", "recurrent": "opakovaná"}.__getitem__
        )
    )
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
        text_code = {
            v: len(values.values) + i for i, v in enumerate([v for v in status.values if v != "measured"])
        }
        other = np.array([text_code.get(v, -1) for v in status.values] + [-1])[status.codes]
        columns.append(columnar.Coded(np.where(measured, values.codes, other), values.values + texts))
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
    picks = [
        _brand_for(
            drugs.values[int(k) // (len(dose_values) + 1)],
            float(dose_values[int(k) % (len(dose_values) + 1)]),
            brands,
        )
        for k in pairs.values
    ]
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
        raise ValueError(
            f"{dose} mg {drug} cannot be written as quarter tablets (at most "
            f"{MAX_TABLETS:g}) of any brand in resources/brands_cz.csv"
        )
    return best[1], best[2]


# ----------------------------------------------------------------------------- read


def read(
    study: str, files: dict[str, Path], key: bytes, *, partition: tuple[int, int] | None = None
) -> IngestResult:
    """Ingest an ``ecrf_cz`` export strictly (see module doc and ``docs/data-contract.md``).

    Raw identifiers seen in the files are collected first, so that an error whose value equals
    or contains one (e.g. an ID in a swapped score column) withholds it.

    ``partition`` = (index, count): keep only the patients whose pseudonym falls in that
    partition (``ketamine_bzd.partition.partition_of``), selected right after the ID column is
    read, before the other checks; records without an ID belong to partition 0. Row numbers
    stay the file's own; the report counts the partition's records, so partitions add up to
    the file. File-level checks run in every partition."""
    identifiers: set[str] = set()
    try:
        return _read(study, files, key, identifiers, partition)
    except IngestError as err:
        raise err.withhold_identifiers(identifiers, (ID,)) from None  # no chained raw ids


def read_partitions(
    study: str, files: dict[str, Path], key: bytes, count: int, *, text_as_categories: bool = False
) -> Iterator[IngestResult]:
    """``read(..., partition=(k, count))`` for k = 0 .. count-1, each file decoded once.

    The files are parsed, checked at file level and pseudonymized at the first partition
    (``column_reading.Decoded``); each partition then checks and converts only its own
    records, so the results equal the ``count`` separate reads while the raw files are
    decoded once. The first bad cell raised is that of the lowest partition that has one.
    ``text_as_categories``: the ratings' and intakes' text columns stay categoricals (an
    ingest job writes its files from the codes; the texts are those of ``read``)."""
    return column_reading.each_partition(
        lambda identifiers, partition, decoded: _read(study, files, key, identifiers, partition, decoded),
        count,
        (ID,),
        text_as_categories,
    )


def _read(study, files, key, identifiers, partition, decoded=None) -> IngestResult:
    for role in FILE_ROLES:
        if role not in files:
            raise IngestError(f"<{role}>", f"no path given for file role {role!r}")
    quarantine = Quarantine(study, identifiers=identifiers)
    pseudo = common.Pseudonyms(study, key)
    warnings: list[str] = []

    def decode(role, columns):
        t = column_reading.read_columns(
            files[role],
            role,
            columns,
            encoding=ENCODING,
            delimiter=DELIMITER,
            id_column=ID,
            identifiers=identifiers,
        )
        if decoded is None:
            return t, None
        return t, column_reading.pseudonymize_and_partition(t, ID, pseudo, decoded.count)

    def table(role, columns):
        if decoded is None:
            t, parts = decode(role, columns)
        else:
            t, parts = decoded.get(role, lambda: decode(role, columns))
            if partition[0] == decoded.count - 1:
                decoded.drop(role)  # the last partition: the columns are not needed again
        return column_reading.select(t, ID, pseudo, partition, quarantine, parts)

    read = []  # (file, records read) for the report; the columns are dropped after use
    pat = table("patients", PATIENT_COLUMNS)
    subjects, infusion = _patients(study, pat)
    common.require_patients(pat.file, pat.n_file_nonblank, pat.n_file_records)
    read.append((pat.file, pat.n_read))
    del pat
    index = column_reading.PatientIndex(subjects["patient_id"].tolist())  # looked up in by every file
    patients = column_reading.text_labels(subjects["patient_id"])  # the tables' categories
    rat = table("ratings", RATING_COLUMNS)
    ratings = _ratings(study, rat, patients, index, infusion, quarantine, warnings)
    read.append((rat.file, rat.n_read))
    del rat
    drugs, brands, limits = common.load_drugs(), common.load_brands(), common.DoseLimits()
    drug_names = list(drugs)
    pres = table("prescriptions", PRESCRIPTION_COLUMNS)
    regular = _prescriptions(pres, index, infusion, quarantine, warnings, brands, drug_names, limits)
    read.append((pres.file, pres.n_read))
    del pres
    prn = table("prn", PRN_COLUMNS)
    as_needed = _prn(prn, index, infusion, quarantine, brands, drug_names, limits, regular)
    read.append((prn.file, prn.n_read))
    del prn
    n_regular = len(regular[0])
    med = [np.concatenate([a, b]) for a, b in zip(regular, as_needed)]
    del regular, as_needed  # 10^7 daily doses at 10^6 patients: keep one copy
    medication = column_reading.medication_table(
        study,
        patients,
        med[1],
        med[2],
        med[3],
        drug_names,
        med[4],
        np.arange(len(med[1])) >= n_regular,
        drugs,
    )
    del med
    return common.result(
        study,
        subjects,
        ratings,
        medication,
        read,
        quarantine,
        warnings,
        text_as_categories=decoded is not None and decoded.text_as_categories,
    )


def _nonblank(t: column_reading.Columns) -> column_reading.Columns:
    return t.take(np.flatnonzero(~t.blank))


def _check_id(first, t, rows):
    empty = t.columns[ID].equals("")
    first.add(empty, lambda i: IngestError(t.file, "empty patient ID", row=int(rows[i]), column=ID))
    return empty


def _patients(study, t):
    """Subjects frame (file order) and each patient's infusion date (ordinal)."""
    t = _nonblank(t)
    path, rows, cols, first = t.file, t.rows, t.columns, column_reading.FirstError()
    ids = cols[ID]
    empty = _check_id(first, t, rows)
    dup = column_reading.duplicated(ids.codes) & ~empty
    first.add(
        dup,
        lambda i: IngestError(
            path,
            f"duplicate patient (same ID as row {int(rows[column_reading.first_with(ids.codes, i)])})",
            row=int(rows[i]),
            column=ID,
        ),
    )

    def coded(header, codes, message):
        c = cols[header]
        first.add(
            ~c.isin(codes),
            lambda i: IngestError(path, message, row=int(rows[i]), column=header, value=c.text(i)),
        )
        return c.texts(lambda u: codes.get(u, ""))

    sex = coded(SEX, SEX_CODES, "sex must be 'Ž' (female) or 'M' (male)")
    data = {"patient_id": None, "study": None, "sex": sex}
    for col, header in SUBJECT_HEADERS.items():
        data[col] = _number(
            first,
            path,
            rows,
            cols[header],
            header,
            *SUBJECT_RANGES[col],
            header,
            whole=col in common.WHOLE_SUBJECT_COLUMNS,
        )
    data["episode"] = coded(
        EPISODE, EPISODE_CODES, "episode must be 'první' (first) or 'opakovaná' (recurrent)"
    )
    dates = column_reading.parse(cols[INFUSION], lambda u: common.parse_date(path, 0, INFUSION, u))
    first.add(
        dates.failed,
        lambda i: column_reading.error_of(
            common.parse_date, path, int(rows[i]), INFUSION, cols[INFUSION].text(i)
        ),
    )
    infusion = dates.ordinals()
    status = {}
    for col, header in PK_HEADERS.items():
        c = cols[header]
        status[col] = c.texts(lambda u: PK_TEXT.get(u, "measured"))
        data[col] = _pk(first, path, rows, c, header)
    data.update({f"{col}_status": s for col, s in status.items()})
    first.raise_first()
    data["patient_id"] = column_reading.pseudonym_array(t, ID)
    data["study"] = np.full(len(rows), study, object)
    subjects = pd.DataFrame({c: data[c] for c in SUBJECT_COLUMNS})
    return subjects.astype(
        {c: "float64" for c in common.FLOAT_SUBJECT_COLUMNS}
        | {c: column_reading.TEXT for c in SUBJECT_COLUMNS if c not in common.FLOAT_SUBJECT_COLUMNS}
    ), infusion


def _number(first, path, rows, c, header, lo, hi, what, *, whole=False, check_range=common.check_range):
    """``parse_number`` + ``check_range`` (+ ``check_whole``) of a column, as floats. ``lo``,
    ``hi`` are bounds or per-row arrays of bounds, ``what`` a label or a function of the row."""
    parsed = column_reading.parse(c, lambda u: common.parse_number(path, 0, header, u, decimal=DECIMAL))
    first.add(
        parsed.failed,
        lambda i: column_reading.error_of(
            common.parse_number, path, int(rows[i]), header, c.text(i), decimal=DECIMAL
        ),
    )
    at = lambda bound, i: bound[i] if isinstance(bound, np.ndarray) else bound  # noqa: E731
    label = what if callable(what) else (lambda i: what)
    v = parsed.floats()
    known = ~np.isnan(v)
    first.add(
        known & ~((lo <= v) & (v <= hi)),
        lambda i: column_reading.error_of(
            check_range, path, int(rows[i]), header, float(v[i]), at(lo, i), at(hi, i), label(i)
        ),
    )
    if whole:
        first.add(
            known & (v != np.floor(v)),
            lambda i: column_reading.error_of(
                common.check_whole, path, int(rows[i]), header, float(v[i]), label(i)
            ),
        )
    return v


def _pk(first, path, rows, c, header):
    parsed = column_reading.parse(
        c, lambda u: None if u in PK_TEXT else common.parse_number(path, 0, header, u, decimal=DECIMAL)
    )
    first.add(
        parsed.failed,
        lambda i: column_reading.error_of(
            common.parse_number, path, int(rows[i]), header, c.text(i), decimal=DECIMAL
        ),
    )
    v = parsed.floats()
    first.add(
        v < 0,
        lambda i: IngestError(
            path,
            "serum level must be >= 0 ng/ml, '<LLOQ', '<LOD' or empty",
            row=int(rows[i]),
            column=header,
            value=c.text(i),
        ),
    )
    first.add(
        ~np.isnan(v) & ~((v >= 0) & (v <= PK_MAX_NG_ML)),
        lambda i: column_reading.error_of(
            common.check_range,
            path,
            int(rows[i]),
            header,
            float(v[i]),
            0,
            PK_MAX_NG_ML,
            "serum level (ng/ml)",
        ),
    )
    return v


def _ratings(study, t, patients, index, infusion, quarantine, warnings):
    t = _nonblank(t)
    path, rows, cols, first = t.file, t.rows, t.columns, column_reading.FirstError()
    ids = cols[ID]
    _check_id(first, t, rows)
    vc, sc = cols[VISIT_CODE], cols[SCALE]
    first.add(
        ~vc.isin(VISIT_CODES),
        lambda i: IngestError(
            path,
            f"unknown visit code (allowed: {', '.join(VISIT_CODES)})",
            row=int(rows[i]),
            column=VISIT_CODE,
            value=vc.text(i),
        ),
    )
    first.add(
        ~sc.isin(SCALE_NAMES),
        lambda i: IngestError(
            path,
            f"unknown scale (allowed: {', '.join(SCALE_NAMES)})",
            row=int(rows[i]),
            column=SCALE,
            value=sc.text(i),
        ),
    )
    visit = vc.each(lambda u: VISITS.index(VISIT_CODES[u]) if u in VISIT_CODES else 0, np.int64)
    scale = sc.each(lambda u: SCALES.index(SCALE_NAMES[u]) if u in SCALE_NAMES else 0, np.int64)
    lo = np.array([SCORE_RANGE[s][0] for s in SCALES], np.float64)[scale]
    hi = np.array([SCORE_RANGE[s][1] for s in SCALES], np.float64)[scale]

    def what(i):
        return f"{sc.text(i)} score"

    def check_range(file, row, column, value, lo_, hi_, what_):  # ranges are whole numbers
        return common.check_range(file, row, column, value, int(lo_), int(hi_), what_)

    score = _number(first, path, rows, cols[SCORE], SCORE, lo, hi, what, whole=True, check_range=check_range)
    dc = cols[VISIT_DATE]
    dates = column_reading.parse(dc, lambda u: common.parse_date(path, 0, VISIT_DATE, u) if u else None)
    first.add(
        dates.failed,
        lambda i: column_reading.error_of(common.parse_date, path, int(rows[i]), VISIT_DATE, dc.text(i)),
    )
    no_date = dates.map(lambda d: d is None, bool)
    first.add(
        ~np.isnan(score) & no_date,
        lambda i: IngestError(
            path,
            "visit date missing for a rated visit",
            row=int(rows[i]),
            column=VISIT_DATE,
            value=dc.text(i),
        ),
    )
    key = column_reading.key_of(ids.codes, scale, visit)
    first.add(
        column_reading.duplicated(key),
        lambda i: IngestError(
            path,
            f"duplicate rating (same patient, visit and scale as row "
            f"{int(rows[column_reading.first_with(key, i)])})",
            row=int(rows[i]),
        ),
    )
    first.raise_first()
    patient = column_reading.patient_codes(t, ID, index)
    pids = t.pseudonyms
    for i in np.flatnonzero(patient < 0):
        quarantine.add(path, int(rows[i]), ID, pids[ids.codes[i]], "patient not in the patients file")
    rated = np.flatnonzero((patient >= 0) & ~np.isnan(score))
    day = dates.ordinals()[rated] - infusion[patient[rated]]
    nominal = np.array([VISIT_STUDY_DAY[v] for v in VISITS], np.int64)[visit[rated]]
    off = (np.abs(day - nominal) > 2) | ((day < 0) != (nominal < 0))
    for j in np.flatnonzero(off):
        i = rated[j]
        warnings.append(
            f"{path} row {int(rows[i])}: visit {vc.text(i)} dated study day "
            f"{int(day[j])}, nominal day {int(nominal[j])}"
        )
    return column_reading.ratings_table(
        study, patients, patient[rated], scale[rated], visit[rated], score[rated], day
    )


def _brand(first, t, rows, brands, drug_names):
    bc = t.columns[BRAND]
    first.add(
        ~bc.isin(brands),
        lambda i: IngestError(
            t.file,
            "unknown brand (not in resources/brands_cz.csv; write the brand and strength "
            "exactly, e.g. 'Rivotril 0,5 mg')",
            row=int(rows[i]),
            column=BRAND,
            value=bc.text(i),
        ),
    )
    drug = bc.each(lambda u: drug_names.index(brands[u][0]) if u in brands else 0, np.int64)
    return bc, drug


def _tablets(file, row, column, text):
    n = common.parse_number(file, row, column, text, decimal=DECIMAL)
    common.check_dose(file, row, column, n, "number of tablets")
    if n > MAX_TABLETS:
        raise IngestError(
            file, f"impossible number of tablets (> {MAX_TABLETS:g})", row=row, column=column, value=text
        )
    if abs(n * 4 - round(n * 4)) > 1e-9:
        raise IngestError(
            file, "tablets must be in quarters (e.g. 0,25, 0,5, 1,75)", row=row, column=column, value=text
        )
    return n


def _doses(first, t, rows, column, bc, drug, brands, drug_names, limits):
    """Tablets checked, daily dose in mg (``round(tablets * strength, 9)``) checked against
    the plausible maximum of its drug."""
    path, tc = t.file, t.columns[column]
    tablets = column_reading.parse(tc, lambda u: _tablets(path, 0, column, u))
    first.add(
        tablets.failed, lambda i: column_reading.error_of(_tablets, path, int(rows[i]), column, tc.text(i))
    )
    # one dose per distinct (brand, tablets) pair, with Python's rounding
    pair = column_reading.key_of(bc.codes, tc.codes)
    uniq, first_index, inverse = np.unique(pair, return_index=True, return_inverse=True)
    dose_u = np.array(
        [
            round(tablets.values[tc.codes[k]] * brands[bc.text(k)][1], 9)
            if tablets.values[tc.codes[k]] is not None and bc.text(k) in brands
            else np.nan
            for k in first_index
        ],
        np.float64,
    )
    dose = dose_u[inverse] if len(pair) else np.zeros(0)
    limit = np.array([limits.limits[d][0] for d in drug_names], np.float64)[drug]
    first.add(
        dose > limit + 1e-9,
        lambda i: limits.error(
            path, int(rows[i]), column, tc.text(i), drug_names[drug[i]], float(dose[i]), "daily dose"
        ),
    )
    return dose


def _parse_dates(first, t, rows, column, optional=False):
    c = t.columns[column]
    dates = column_reading.parse(
        c, lambda u: None if optional and not u else common.parse_date(t.file, 0, column, u)
    )
    first.add(
        dates.failed,
        lambda i: column_reading.error_of(common.parse_date, t.file, int(rows[i]), column, c.text(i)),
    )
    return dates


def _prescriptions(t, index, infusion, quarantine, warnings, brands, drug_names, limits):
    """Daily doses (record, patient, day, drug, dose) of the regular prescriptions, each
    expanded to one element per day of the study period it covers."""
    t = _nonblank(t)
    path, rows, cols, first = t.file, t.rows, t.columns, column_reading.FirstError()
    n = len(rows)
    _check_id(first, t, rows)
    bc, drug = _brand(first, t, rows, brands, drug_names)
    dose = _doses(first, t, rows, TABLETS_DAY, bc, drug, brands, drug_names, limits)
    start = _parse_dates(first, t, rows, START)
    stop = _parse_dates(first, t, rows, STOP, optional=True)
    start_day, stop_day = start.ordinals(), stop.ordinals()
    open_ended = stop.map(lambda d: d is None, bool)
    first.add(
        ~open_ended & (stop_day < start_day),
        lambda i: IngestError(
            path,
            f"prescription stops before it starts ({START} {cols[START].text(i)})",
            row=int(rows[i]),
            column=STOP,
            value=cols[STOP].text(i),
        ),
    )
    # records before the first failing one passed every check: only they can add up
    valid = ~first.failing(n)
    patient = column_reading.patient_codes(t, ID, index)
    lo, hi = STUDY_DAYS
    inf = np.where(patient >= 0, infusion[np.maximum(patient, 0)] if len(infusion) else 0, 0)
    first_day = start_day - inf
    last_day = np.where(open_ended, hi, stop_day - inf)
    unknown = valid & (patient < 0)
    outside = valid & ~unknown & ((last_day < lo) | (first_day > hi))
    taken = valid & ~unknown & ~outside
    record = np.flatnonzero(taken)
    begin = np.maximum(first_day[record], lo)
    count = np.minimum(last_day[record], hi) - begin + 1
    # one element per day: record repeated, day = first day + position within the record
    element = np.repeat(record.astype(np.int32), count)
    day = np.arange(len(element), dtype=np.int32) - np.repeat(
        (np.cumsum(count) - count - begin).astype(np.int32), count
    )
    column_reading.daily_limit_check(
        first,
        path,
        TABLETS_DAY,
        cols[TABLETS_DAY],
        element,
        patient[element],
        day,
        drug[element],
        drug_names,
        dose[element],
        limits,
        np.ones(len(element), bool),
        rows,
        n,
        candidates=_overlapping(record, patient, drug, begin, begin + count - 1, n)[element],
    )
    first.raise_first()
    pids = t.pseudonyms
    _quarantine_unknown_or_outside(
        quarantine,
        path,
        rows,
        cols,
        pids,
        unknown,
        outside,
        START,
        lambda i: "prescription entirely outside the study period -7..7",
    )
    for i in np.flatnonzero(taken & ((first_day < lo) | (last_day > hi))):
        warnings.append(
            f"{path} row {int(rows[i])}: prescription days {int(first_day[i])}.."
            f"{int(last_day[i])} clipped to the study period {lo}..{hi}"
        )
    return element, patient[element], day, drug[element], dose[element]


def _overlapping(record, patient, drug, begin, end, n) -> np.ndarray:
    """Records (of ``n``) whose days overlap another prescription of the same patient and
    drug: only their daily doses can add up (a prescription has each day once)."""
    group = column_reading.key_of(patient[record], drug[record])
    order = np.lexsort((begin, group))
    g, b, e = group[order], begin[order], end[order]
    same = np.r_[False, g[1:] == g[:-1]]
    rank = np.cumsum(~same)  # group number in sorted order
    span = int(STUDY_DAYS[1] - STUDY_DAYS[0]) + 2  # groups never mix in the running maximum
    reach = np.maximum.accumulate(e + rank * span)
    overlap = same & (b + rank * span <= np.r_[0, reach[:-1]])
    hit = np.zeros(int(rank.max()) + 1 if len(rank) else 1, bool)
    hit[rank[overlap]] = True
    out = np.zeros(n, bool)
    out[record[order]] = hit[rank]
    return out


def _prn(t, index, infusion, quarantine, brands, drug_names, limits, regular):
    """Single as-needed administrations (record, patient, day, drug, dose); the daily totals
    checked against the plausible maximum include the regular doses."""
    t = _nonblank(t)
    path, rows, cols, first = t.file, t.rows, t.columns, column_reading.FirstError()
    n = len(rows)
    _check_id(first, t, rows)
    bc, drug = _brand(first, t, rows, brands, drug_names)
    dose = _doses(first, t, rows, PRN_TABLETS, bc, drug, brands, drug_names, limits)
    date = _parse_dates(first, t, rows, PRN_DATE)
    valid = ~first.failing(n)
    patient = column_reading.patient_codes(t, ID, index)
    inf = np.where(patient >= 0, infusion[np.maximum(patient, 0)] if len(infusion) else 0, 0)
    day = date.ordinals() - inf
    unknown = valid & (patient < 0)
    outside = valid & ~unknown & ~((day >= STUDY_DAYS[0]) & (day <= STUDY_DAYS[1]))
    record = np.flatnonzero(valid & ~unknown & ~outside)
    _, r_patient, r_day, r_drug, r_dose = regular
    column_reading.daily_limit_check(
        first,
        path,
        PRN_TABLETS,
        cols[PRN_TABLETS],
        np.concatenate([np.full(len(r_day), -1), record]),
        np.concatenate([r_patient, patient[record]]),
        np.concatenate([r_day, day[record]]),
        np.concatenate([r_drug, drug[record]]),
        drug_names,
        np.concatenate([r_dose, dose[record]]),
        limits,
        np.arange(len(r_day) + len(record)) >= len(r_day),
        rows,
        n,
        # as-needed doses and the regular doses of the same patients
        candidates=np.concatenate([np.isin(r_patient, patient[record]), np.ones(len(record), bool)]),
    )
    first.raise_first()
    pids = t.pseudonyms
    _quarantine_unknown_or_outside(
        quarantine,
        path,
        rows,
        cols,
        pids,
        unknown,
        outside,
        PRN_DATE,
        lambda i: f"administration on study day {int(day[i])}, outside the study period -7..7",
    )
    return record, patient[record], day[record], drug[record], dose[record]


def _quarantine_unknown_or_outside(quarantine, path, rows, cols, pids, unknown, outside, column, why):
    """Quarantine the medication rows of patients missing from the patients file (named by
    pseudonym) and those outside the study period (``column``'s value, reason ``why(i)``)."""
    for i in np.flatnonzero(unknown | outside):
        if unknown[i]:
            quarantine.add(
                path, int(rows[i]), ID, pids[cols[ID].codes[i]], "patient not in the patients file"
            )
        else:
            quarantine.add(path, int(rows[i]), column, cols[column].text(i), why(i))
