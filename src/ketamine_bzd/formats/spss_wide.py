"""``spss_wide``: the export of EudraCT 2009-010625-39 (``ket2009``).

Two files (see ``docs/data-contract.md`` for every variable, code and range):

- ``patients``: an SPSS ``.sav`` with one row per patient (wide): demographics, illness
  history, MADRS/BDI/BAI at baseline (day before infusion), 24 h, 72 h and day 7, and ketamine /
  norketamine serum levels at 0, 10 and 30 min. Levels that are not numbers carry
  user-missing codes with value labels (``-1`` below LLOQ, ``-2`` below LOD, ``-9`` not sampled).
- ``medication``: a long UTF-8 CSV of daily benzodiazepine and antidepressant intake by generic
  drug name and study day (mg/day), with a 0/1 flag for as-needed doses.

LLOQ / LOD of the GC-MS assay are those of the paper's Methods (canonical.PK_LLOQ_NG_ML).
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyreadstat

from ..canonical import (
    PK_ANALYTES,
    PK_COLUMNS,
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
from ..errors import IngestError, Quarantine, add_identifiers
from . import column_reading, columnar, common
from .common import IngestResult
from .sav_structure import check_sav_structure

FILE_ROLES = ("patients", "medication")
DEFAULT_FILENAMES = {"patients": "patients.sav", "medication": "medication_daily.csv"}

SEX_CODES = {1: "M", 2: "F"}
SEX_LABELS = {1.0: "male", 2.0: "female"}
EPISODE_CODES = {1: "first", 2: "recurrent"}
EPISODE_LABELS = {1.0: "first episode", 2.0: "recurrent"}
# user-missing codes of the serum levels; system-missing also means "not sampled"
PK_CODES = {-1.0: "below_lloq", -2.0: "below_lod", -9.0: "missing"}
PK_CODE_OF = {"below_lloq": -1.0, "below_lod": -2.0, "missing": -9.0}
PK_CODE_LABELS = {-1.0: "below LLOQ", -2.0: "below LOD", -9.0: "not sampled"}

SUBJECT_VARS = {  # canonical column -> (SPSS variable, variable label)
    "age_years": ("AGE", "Age (years)"),
    "weight_kg": ("WEIGHT", "Body weight (kg)"),
    "mdd_duration_years": ("MDD_DUR", "Duration of MDD since diagnosis (years)"),
    "episode_duration_weeks": ("EPI_DUR", "Duration of current depressive episode (weeks)"),
    "n_hospitalizations": ("N_HOSP", "Number of psychiatric hospitalisations"),
}
VISIT_SUFFIX = {"day0": "D0", "day1": "D1", "day3": "D3", "day7": "D7"}
VISIT_LABEL = {"day0": "baseline (day -1)", "day1": "24 h", "day3": "72 h", "day7": "day 7"}
SCALE_VAR = {"madrs": "MADRS", "bdi": "BDI", "bai": "BAI"}
ANALYTE_VAR = {"ketamine": "KET", "norketamine": "NORKET"}


def score_var(scale: str, visit: str) -> str:
    return f"{SCALE_VAR[scale]}_{VISIT_SUFFIX[visit]}"


def pk_var(analyte: str, minutes: int) -> str:
    return f"{ANALYTE_VAR[analyte]}_{minutes}"


SAV_VARIABLES = (
    ["ID", "SEX", "AGE", "WEIGHT", "MDD_DUR", "EPI_DUR", "N_HOSP", "EPISODE"]
    + [score_var(s, v) for s in SCALES for v in VISITS]
    + [pk_var(a, t) for a in PK_ANALYTES for t in PK_TIMES_MIN]
)
MED_COLUMNS = ["ID", "DAY", "DRUG", "DOSE_MG", "PRN"]

# ReadStat stamps the write time into the .sav header (bytes 92-109: "dd Mmm yy" + "hh:mm:ss");
# a fixed stamp makes the synthetic default byte-reproducible.
_SAV_STAMP_OFFSET = 92
_SAV_STAMP = b"01 Jan 00" + b"00:00:00"


# ----------------------------------------------------------------------------- write


def write(truth: StudyTables, outdir: Path) -> dict[str, Path]:
    """Write ``truth`` (raw ids) as a ``.sav`` + daily medication CSV; same input, same bytes."""
    return write_parts([truth], outdir)


def write_parts(parts: Iterable[StudyTables], outdir: Path) -> dict[str, Path]:
    """``write`` for a study given in parts (whole patients each, in patient order): the
    files ``write`` makes of the concatenated tables. The medication CSV is written part by
    part; the .sav's cases (26 numbers a patient) are collected and written at the end."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {role: outdir / name for role, name in DEFAULT_FILENAMES.items()}
    cases = []
    with columnar.TableFile(paths["medication"], MED_COLUMNS, _MED_DIALECT) as medication:
        for part in parts:
            cases.append(_sav_cases(part))
            medication.append(_medication_columns(part))
    if not cases:
        raise ValueError("write_parts: no parts given")
    _write_sav(pd.concat(cases, ignore_index=True) if len(cases) > 1 else cases[0], paths["patients"])
    return paths


def _sav_cases(truth: StudyTables) -> pd.DataFrame:
    """The .sav's variables (``SAV_VARIABLES``), one row per patient of ``truth``."""
    subjects = truth.subjects
    ids = columnar.factorize(subjects["patient_id"].astype(str))
    data: dict[str, object] = {"ID": np.array(ids.values, dtype=object)[ids.codes]}
    data["SEX"] = _recode(subjects["sex"], {"M": 1.0, "F": 2.0})
    for col, (var, _) in SUBJECT_VARS.items():
        data[var] = subjects[col].to_numpy(dtype=float)
    data["EPISODE"] = _recode(subjects["episode"], {"first": 1.0, "recurrent": 2.0})
    data.update(_wide_scores(truth.ratings, ids))
    for analyte in PK_ANALYTES:
        for t in PK_TIMES_MIN:
            col = f"{analyte}_ng_ml_{t}min"
            status = columnar.factorize(subjects[f"{col}_status"])
            if (status.codes < 0).any():
                raise KeyError(f"{col}_status missing")
            code = np.array([np.nan if v == "measured" else PK_CODE_OF[v] for v in status.values])
            measured = np.isnan(code)[status.codes]
            data[pk_var(analyte, t)] = np.where(
                measured, subjects[col].to_numpy(dtype=float), code[status.codes]
            )
    return pd.DataFrame(data, columns=SAV_VARIABLES)


def _write_sav(frame: pd.DataFrame, path: Path) -> None:
    labels = {"ID": "Patient ID", "SEX": "Sex", "EPISODE": "Depressive episode"}
    labels.update({var: label for var, label in SUBJECT_VARS.values()})
    labels.update(
        {score_var(s, v): f"{SCALE_VAR[s]} total score, {VISIT_LABEL[v]}" for s in SCALES for v in VISITS}
    )
    pk_vars = [pk_var(a, t) for a in PK_ANALYTES for t in PK_TIMES_MIN]
    labels.update(
        {
            pk_var(a, t): f"{a.capitalize()} serum level at {t} min (ng/ml)"
            for a in PK_ANALYTES
            for t in PK_TIMES_MIN
        }
    )
    value_labels = {"SEX": SEX_LABELS, "EPISODE": EPISODE_LABELS}
    value_labels.update({v: PK_CODE_LABELS for v in pk_vars})
    write_sav_cases(
        frame,
        path,
        file_label="EudraCT 2009-010625-39 ketamine infusion, active branch",
        column_labels=labels,
        variable_value_labels=value_labels,
        missing_ranges={v: list(PK_CODES) for v in pk_vars},
        variable_measure={"SEX": "nominal", "EPISODE": "nominal", "ID": "nominal"},
    )
    with open(path, "r+b") as fh:
        fh.seek(_SAV_STAMP_OFFSET)
        fh.write(_SAV_STAMP)


_SAV_N_CASES_OFFSET, _SAV_COMPRESSION_OFFSET = 80, 72
# ReadStat's system-missing value in a .sav: -DBL_MAX (PSPP manual, "System File Format")
_SAV_SYSMIS = -np.finfo(np.float64).max


def write_sav_cases(frame: pd.DataFrame, path: Path, **meta) -> None:
    """``pyreadstat.write_sav(frame, path, **meta)``, the same bytes, with the cases packed by
    numpy: pyreadstat packs them one by one in Python (about 18 µs a case, 8 s for 425,000).

    ``frame``: a text ``ID`` first, every other column float64. pyreadstat writes the
    dictionary from a one-case frame holding the longest ID (it sizes the string variable from
    the data); the case count in the header is set to ``len(frame)`` and the uncompressed
    cases follow as fixed-width records (strings space-padded to 8-byte segments, numbers
    little-endian doubles, NaN as system-missing), the layout of the PSPP manual's "System
    File Format". Anything else (no cases, non-ASCII IDs, another layout) is written by
    pyreadstat itself.
    """
    numeric = list(frame.columns[1:])
    ids = pa.array(frame["ID"].astype(str), pa.large_string())
    plain = (
        len(frame) > 0
        and frame.columns[0] == "ID"
        and all(frame[c].dtype == np.float64 for c in numeric)
        and pc.all(pc.string_is_ascii(ids)).as_py()
        and sys.byteorder == "little"
    )
    if not plain:
        pyreadstat.write_sav(frame, str(path), **meta)
        return
    lengths = pc.utf8_length(ids).to_numpy()
    longest = int(np.argmax(lengths))
    width = max(8, -(-int(lengths[longest]) // 8) * 8)
    pyreadstat.write_sav(frame.iloc[[longest]], str(path), **meta)
    probe = path.read_bytes()
    case_bytes = width + 8 * len(numeric)
    header = struct.unpack_from("<4i", probe, _SAV_COMPRESSION_OFFSET - 8)
    if header[0] != 2 or header[2] != 0 or struct.unpack_from("<i", probe, _SAV_N_CASES_OFFSET)[0] != 1:
        pyreadstat.write_sav(frame, str(path), **meta)  # not the layout assumed here
        return
    dictionary = bytearray(probe[:-case_bytes])
    # the case count is stored twice: in the header (int32) and in the extension record 7
    # subtype 16 (byte-order flag 1, then the count as int64)
    ext16 = struct.pack("<4i", 7, 16, 8, 2) + struct.pack("<q", 1) + struct.pack("<q", 1)
    if dictionary.count(ext16) != 1:
        pyreadstat.write_sav(frame, str(path), **meta)  # not the layout assumed here
        return
    at = dictionary.find(ext16) + 24
    struct.pack_into("<q", dictionary, at, len(frame))
    struct.pack_into("<i", dictionary, _SAV_N_CASES_OFFSET, len(frame))
    records = np.empty(len(frame), dtype=[("ID", f"S{width}")] + [(c, "<f8") for c in numeric])
    padded = pc.utf8_rpad(ids, width=width, padding=" ").cast(pa.large_binary())
    records["ID"] = np.frombuffer(columnar.contiguous(padded), dtype=f"S{width}")
    for c in numeric:
        v = frame[c].to_numpy(dtype=np.float64)
        records[c] = np.where(np.isnan(v), _SAV_SYSMIS, v)
    with open(path, "wb") as fh:
        fh.write(dictionary)
        fh.write(records.tobytes())


def _recode(values, codes: dict) -> np.ndarray:
    """Text codes -> SPSS numeric codes, KeyError on any other value."""
    coded = columnar.factorize(values)
    if (coded.codes < 0).any():
        raise KeyError(None)
    return np.array([codes[v] for v in coded.values] + [np.nan])[coded.codes]


def _wide_scores(ratings: pd.DataFrame, ids: columnar.Coded) -> dict[str, np.ndarray]:
    """Score variables (patients x scale x visit) in the subjects' order; NaN where absent.

    As ``DataFrame.pivot``: a duplicated (patient, scale, visit) is an error; ratings of
    patients not in ``subjects`` or of other scales / visits are not written."""
    n = len(ids.codes)
    r_ids = columnar.factorize(ratings["patient_id"].astype(str))
    index = pd.Index(np.array(ids.values, dtype=object)[ids.codes])
    where = index.get_indexer(pd.Index(r_ids.values, dtype=object))
    row = np.append(where, -1)[r_ids.codes]
    scale = columnar.factorize(ratings["scale"])
    visit = columnar.factorize(ratings["visit"])
    s_idx = np.array([SCALES.index(v) if v in SCALES else -1 for v in scale.values] + [-1])
    v_idx = np.array([VISITS.index(v) if v in VISITS else -1 for v in visit.values] + [-1])
    s_of, v_of = s_idx[scale.codes], v_idx[visit.codes]
    # pivot's duplicate check covers every (patient, scale, visit), also the unwritten ones
    keys = pd.DataFrame({"p": r_ids.codes, "s": scale.codes, "v": visit.codes})
    if keys.duplicated().any():
        raise ValueError("Index contains duplicate entries, cannot reshape")
    keep = (row >= 0) & (s_of >= 0) & (v_of >= 0)
    cube = np.full((n, len(SCALES), len(VISITS)), np.nan)
    cube[row[keep], s_of[keep], v_of[keep]] = ratings["score"].to_numpy(dtype=float)[keep]
    return {score_var(sc, vi): cube[:, i, j] for i, sc in enumerate(SCALES) for j, vi in enumerate(VISITS)}


_MED_DIALECT = columnar.Dialect(",", "\n", "utf-8")


def _medication_columns(truth: StudyTables) -> list[columnar.Coded]:
    med = truth.medication
    return [
        columnar.factorize(med["patient_id"]),
        columnar.mapped(columnar.factorize(med["study_day"].to_numpy().astype(np.int64)), int),
        columnar.factorize(med["drug"]),
        columnar.mapped(columnar.factorize(med["dose_mg"].to_numpy()), common.format_number),
        columnar.mapped(columnar.factorize(med["as_needed"].to_numpy().astype(bool)), lambda v: int(bool(v))),
    ]


# ----------------------------------------------------------------------------- read


def read(
    study: str, files: dict[str, Path], key: bytes, *, partition: tuple[int, int] | None = None
) -> IngestResult:
    """Ingest a ``spss_wide`` export strictly (see module doc and ``docs/data-contract.md``).

    Raw identifiers seen in the files are collected first, so that an error whose value equals
    or contains one (e.g. an ID in a swapped score variable) withholds it.

    ``partition`` = (index, count): keep only the patients whose pseudonym falls in that
    partition (``ketamine_bzd.partition.partition_of``), selected right after the ID variable
    is read, before the other checks; cases and records without an ID belong to partition 0.
    Row numbers stay the file's own; the report counts the partition's records. File-level
    checks run in every partition."""
    identifiers: set[str] = set()
    try:
        return _read(study, files, key, identifiers, partition)
    except IngestError as err:
        raise err.withhold_identifiers(identifiers, ("ID",)) from None  # no chained raw ids


def read_partitions(
    study: str, files: dict[str, Path], key: bytes, count: int, *, text_as_categories: bool = False
) -> Iterator[IngestResult]:
    """``read(..., partition=(k, count))`` for k = 0 .. count-1, each file decoded once.

    The ``.sav`` and the medication CSV are parsed, checked at file level and pseudonymized at
    the first partition (``column_reading.Decoded``); each partition then checks and converts
    only its own records, so the results equal the ``count`` separate reads while the raw
    files are decoded once. The first bad cell raised is that of the lowest partition that has
    one. ``text_as_categories``: as in ``ecrf_cz.read_partitions``."""
    return column_reading.each_partition(
        lambda identifiers, partition, decoded: _read(study, files, key, identifiers, partition, decoded),
        count,
        ("ID",),
        text_as_categories,
    )


def _read(study, files, key, identifiers, partition, decoded=None) -> IngestResult:
    quarantine = Quarantine(study, identifiers=identifiers)
    pseudo = common.Pseudonyms(study, key)
    warnings: list[str] = []
    for role in FILE_ROLES:
        if role not in files:
            raise IngestError(f"<{role}>", f"no path given for file role {role!r}")
    sav = common.require_file(files["patients"], "patients")
    subjects, observed, n_sav, n_cases = _read_sav(
        study, sav, pseudo, quarantine, identifiers, partition, decoded
    )
    common.require_patients(sav, n_cases, n_sav, "a dictionary but no cases")
    index = column_reading.PatientIndex(subjects["patient_id"].tolist())  # looked up in by every file
    patients = column_reading.text_labels(subjects["patient_id"])  # the tables' categories
    drugs = common.load_drugs()
    drug_names = list(drugs)
    med, n_med, med_path = _read_medication(
        files["medication"], index, pseudo, quarantine, identifiers, drug_names, partition, decoded
    )
    ratings = column_reading.ratings_table(study, patients, *observed)
    medication = column_reading.medication_table(
        study, patients, med[0], med[1], med[2], drug_names, med[3], med[4], drugs
    )
    return common.result(
        study,
        subjects,
        ratings,
        medication,
        [(sav, n_sav), (med_path, n_med)],
        quarantine,
        warnings,
        text_as_categories=decoded is not None and decoded.text_as_categories,
    )


class _Var:
    """One .sav variable column-wise: numeric (float64, NaN = system-missing) or text."""

    def __init__(self, series: pd.Series, ranges):
        self.text = series.dtype == object or not pd.api.types.is_numeric_dtype(series.dtype)
        if self.text:
            values = series.astype(object).to_numpy()
            missing = pd.isna(values)
            if _texts_or_missing(values, missing):  # column-wise (10^6 IDs at registry scale)
                texts = values.copy()
                texts[missing] = ""
                self.column = column_reading.TextColumn.from_texts(texts)
                self.blank = self.column.equals("")  # its texts are stripped
                self.sysmis = missing
            else:
                self.column = column_reading.TextColumn.from_texts(
                    "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values
                )
                self.blank = self.column.each(lambda u: not u.strip(), bool)
                self.sysmis = np.array(
                    [v is None or (isinstance(v, float) and math.isnan(v)) for v in values], bool
                )
            self.raw = values
            self.x = np.full(len(values), np.nan)
        else:
            self.x = series.to_numpy(np.float64)
            self.blank = self.sysmis = np.isnan(self.x)
        self.user_missing = np.zeros(len(self.x), bool)
        for r in ranges:
            if _numeric(r["lo"]):
                self.user_missing |= (r["lo"] <= self.x) & (self.x <= r["hi"])

    def take(self, index):
        out = object.__new__(_Var)
        out.text = self.text
        out.x, out.blank, out.sysmis = self.x[index], self.blank[index], self.sysmis[index]
        out.user_missing = self.user_missing[index]
        if self.text:
            out.column, out.raw = self.column.take(index), self.raw[index]
        return out

    def value(self, i):
        """The cell as the record reader saw it (a Python float or str)."""
        return self.raw[i] if self.text else float(self.x[i])

    def string(self) -> np.ndarray:
        """Cells that are text where a number belongs ("variable must be numeric")."""
        return ~self.sysmis if self.text else np.zeros(len(self.x), bool)

    def number(self) -> np.ndarray:
        """``number()`` of the record reader: NaN for system- or user-missing."""
        return np.where(self.sysmis | self.user_missing, np.nan, self.x)


def _read_sav(study, path: Path, pseudo, quarantine, identifiers, partition, decoded=None):
    if decoded is None:
        variables, ids, pids, blank, n_file, n_cases, parts = _decode_sav(path, pseudo, identifiers, None)
    else:
        variables, ids, pids, blank, n_file, n_cases, parts = decoded.get(
            "patients", lambda: _decode_sav(path, pseudo, identifiers, decoded.count)
        )
        if partition[0] == decoded.count - 1:
            decoded.drop("patients")  # the last partition: the cases are not needed again
    # the partition's cases (a case without an ID belongs to partition 0)
    if parts is None:
        keep = column_reading.in_partition(pids, ids.codes, partition)
    else:
        keep = parts[ids.codes] == partition[0] if len(ids.codes) else np.zeros(0, bool)
    return _select_sav(study, path, quarantine, variables, ids, pids, blank, n_file, n_cases, keep)


def _decode_sav(path: Path, pseudo, identifiers, count):
    """The .sav's variables column-wise, its ID texts and their pseudonyms, which cases are
    blank; with ``count``, each distinct ID's partition of ``count``."""
    data = path.read_bytes()
    if not data.startswith((b"$FL2", b"$FL3")):
        kind = common.sniff_binary(data) or ("file is empty" if not data else "file is text")
        raise IngestError(
            path, f"not a readable SPSS .sav file ({kind}; an SPSS .sav starts with the signature $FL2)"
        )
    # ReadStat trusts the dictionary's counts; a damaged one can crash the process
    check_sav_structure(path, data)
    del data
    try:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:  # pyreadstat raises several types for a damaged .sav
        raise IngestError(
            path, f"not a readable SPSS .sav file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    for var in SAV_VARIABLES:
        if var not in frame.columns:
            raise IngestError(path, "missing variable", column=var)
    ranges = meta.missing_ranges or {}
    n_file = len(frame)
    variables = {var: _Var(frame[var], ranges.get(var, [])) for var in SAV_VARIABLES}
    del frame
    raw_id = variables["ID"]
    if raw_id.text:
        ids = raw_id.column
    else:
        ids = column_reading.TextColumn.from_texts(
            "" if np.isnan(v) else common.raw_id_text(float(v)) for v in raw_id.x
        )
    add_identifiers(identifiers, lambda: (u for u in ids.uniques if u.strip()))  # deferred
    blank = np.ones(n_file, bool)
    for var in variables.values():
        blank &= var.blank
    n_cases = int((~blank).sum())
    if count is None:
        pids, parts = column_reading.pseudonyms_of(ids.uniques, pseudo), None
    else:  # the medication file's pseudonyms and partitions too
        pids, parts = column_reading.pseudonyms_and_partitions(ids.uniques, pseudo, count)
    return variables, ids, pids, blank, n_file, n_cases, parts


def _select_sav(study, path, quarantine, variables, ids, pids, blank, n_file, n_cases, keep):
    """The checked subjects and observed ratings of the cases ``keep`` (None: all)."""
    rows = np.arange(1, n_file + 1, dtype=np.int64)
    n_read = n_file
    if keep is not None:
        sel = np.flatnonzero(keep)
        rows, blank, ids = rows[sel], blank[sel], ids.take(sel)
        variables = {k: v.take(sel) for k, v in variables.items()}
        n_read = len(sel)
    for row in rows[blank]:
        quarantine.add(path, int(row), None, None, "blank record (all variables missing)")
    sel = np.flatnonzero(~blank)
    rows, ids = rows[sel], ids.take(sel)
    variables = {k: v.take(sel) for k, v in variables.items()}
    first = column_reading.FirstError()
    v_id = variables["ID"]
    empty = v_id.blank
    first.add(empty, lambda i: IngestError(path, "empty patient ID", row=int(rows[i]), column="ID"))
    # value omitted on purpose: the raw identifier must not appear in messages
    first.add(
        column_reading.duplicated(ids.codes) & ~empty,
        lambda i: IngestError(
            path,
            f"duplicate patient (same ID as row {int(rows[column_reading.first_with(ids.codes, i)])})",
            row=int(rows[i]),
            column="ID",
        ),
    )

    def number(var):
        v = variables[var]
        first.add(
            v.string(),
            lambda i: IngestError(
                path, "variable must be numeric", row=int(rows[i]), column=var, value=v.value(i)
            ),
        )
        return v.number()

    def coded(var, codes, message):
        x = number(var)
        bad = ~np.isin(x, list(codes))
        first.add(
            bad,
            lambda i: IngestError(path, message, row=int(rows[i]), column=var, value=variables[var].value(i)),
        )
        return x

    def ranged(var, lo, hi, what, whole):
        x = number(var)
        known = ~np.isnan(x)
        first.add(
            known & ~((lo <= x) & (x <= hi)),
            lambda i: column_reading.error_of(
                common.check_range, path, int(rows[i]), var, float(x[i]), lo, hi, what
            ),
        )
        if whole:
            first.add(
                known & (x != np.floor(x)),
                lambda i: column_reading.error_of(
                    common.check_whole, path, int(rows[i]), var, float(x[i]), what
                ),
            )
        return x

    data = {"sex": coded("SEX", SEX_CODES, "sex must be coded 1 (male) or 2 (female)")}
    for col, (var, label) in SUBJECT_VARS.items():
        data[col] = ranged(var, *SUBJECT_RANGES[col], label, col in common.WHOLE_SUBJECT_COLUMNS)
    data["episode"] = coded("EPISODE", EPISODE_CODES, "episode must be coded 1 (first) or 2 (recurrent)")
    status = {}
    for analyte in PK_ANALYTES:
        for t in PK_TIMES_MIN:
            var, col = pk_var(analyte, t), f"{analyte}_ng_ml_{t}min"
            data[col], status[f"{col}_status"] = _pk(first, path, rows, var, variables[var])
    scores = {}
    for scale in SCALES:
        for visit in VISITS:
            var = score_var(scale, visit)
            scores[(scale, visit)] = ranged(var, *SCORE_RANGE[scale], f"{SCALE_VAR[scale]} score", True)
    first.raise_first()
    n = len(rows)
    pid = np.array(pids + [None], dtype=object)[ids.codes] if n else np.empty(0, object)
    out = {
        "patient_id": pid,
        "study": np.full(n, study, object),
        "sex": np.where(data["sex"] == 1, "M", "F").astype(object),
    }
    for col in SUBJECT_RANGES:
        out[col] = data[col]
    out["episode"] = np.where(data["episode"] == 1, "first", "recurrent").astype(object)
    for col in PK_COLUMNS:
        out[col] = data[col]
    out.update(status)
    subjects = pd.DataFrame({c: out[c] for c in SUBJECT_COLUMNS}).astype(
        {c: "float64" for c in common.FLOAT_SUBJECT_COLUMNS}
        | {c: column_reading.TEXT for c in SUBJECT_COLUMNS if c not in common.FLOAT_SUBJECT_COLUMNS}
    )
    # observed ratings, patient by patient in file order, scale by scale, visit by visit
    parts = [], [], [], [], []
    for s_i, scale in enumerate(SCALES):
        for v_i, visit in enumerate(VISITS):
            x = scores[(scale, visit)]
            hit = np.flatnonzero(~np.isnan(x))
            parts[0].append(hit)
            parts[1].append(np.full(len(hit), s_i))
            parts[2].append(np.full(len(hit), v_i))
            parts[3].append(x[hit])
            parts[4].append(np.full(len(hit), VISIT_STUDY_DAY[visit]))
    observed = tuple(np.concatenate(p) for p in parts)
    return subjects, observed, n_read, n_cases


def _pk(first, path, rows, var, v):
    """Serum level and its status; codes -1/-2/-9 (user-missing) and system-missing."""
    first.add(
        v.string() & ~v.blank,
        lambda i: IngestError(
            path, "variable must be numeric", row=int(rows[i]), column=var, value=v.value(i)
        ),
    )
    x = v.x
    status = np.full(len(x), "measured", object)
    status[v.blank] = "missing"
    coded = np.zeros(len(x), bool)
    for code, name in PK_CODES.items():
        hit = ~v.blank & (x == code)
        status[hit] = name
        coded |= hit
    # a level: numeric, present and not a code (text cells failed above)
    level = ~v.blank & ~coded & (not v.text)
    first.add(
        level & (v.user_missing | (x < 0)),
        lambda i: IngestError(
            path,
            "unknown serum-level code (allowed: a level >= 0 ng/ml, -1 below LLOQ, "
            "-2 below LOD, -9 or system-missing not sampled)",
            row=int(rows[i]),
            column=var,
            value=float(x[i]),
        ),
    )
    first.add(
        level & ~((x >= 0) & (x <= PK_MAX_NG_ML)),
        lambda i: column_reading.error_of(
            common.check_range, path, int(rows[i]), var, float(x[i]), 0, PK_MAX_NG_ML, "serum level (ng/ml)"
        ),
    )
    return np.where(level, x, np.nan), status


def _read_medication(path, index, pseudo, quarantine, identifiers, drug_names, partition, decoded=None):
    """Daily records (patient, day, drug code, dose, as_needed) of the patients in ``index``."""
    path = common.require_file(path, "medication")

    def decode():
        t = column_reading.read_columns(
            path,
            "medication",
            MED_COLUMNS,
            encoding="utf-8",
            delimiter=",",
            id_column="ID",
            identifiers=identifiers,
        )
        if decoded is None:
            return t, None
        return t, column_reading.pseudonymize_and_partition(t, "ID", pseudo, decoded.count)

    if decoded is None:
        t, parts = decode()
    else:
        t, parts = decoded.get("medication", decode)
        if partition[0] == decoded.count - 1:
            decoded.drop("medication")  # the last partition: the columns are not needed again
    t = column_reading.select(t, "ID", pseudo, partition, quarantine, parts)
    n_read = t.n_read
    t = t.take(np.flatnonzero(~t.blank))
    rows, cols, first = t.rows, t.columns, column_reading.FirstError()
    limits = common.DoseLimits()
    ids = cols["ID"]
    first.add(ids.equals(""), lambda i: IngestError(path, "empty patient ID", row=int(rows[i]), column="ID"))
    dc = cols["DAY"]
    days = column_reading.parse(dc, lambda u: common.parse_int(path, 0, "DAY", u))
    first.add(
        days.failed,
        lambda i: column_reading.error_of(common.parse_int, path, int(rows[i]), "DAY", dc.text(i)),
    )
    day = days.map(lambda v: 0 if v is None else v, np.int64)
    gc = cols["DRUG"]
    code = {d: i for i, d in enumerate(drug_names)}
    drug = gc.each(lambda u: code.get(u.strip().lower(), -1), np.int64)
    first.add(
        drug < 0,
        lambda i: IngestError(
            path,
            "unknown generic drug name (not in resources/drugs.csv)",
            row=int(rows[i]),
            column="DRUG",
            value=gc.text(i),
        ),
    )
    drug = np.maximum(drug, 0)
    oc = cols["DOSE_MG"]
    doses = column_reading.parse(oc, lambda u: common.parse_number(path, 0, "DOSE_MG", u, decimal="."))
    first.add(
        doses.failed,
        lambda i: column_reading.error_of(
            common.parse_number, path, int(rows[i]), "DOSE_MG", oc.text(i), decimal="."
        ),
    )
    dose = doses.floats()
    first.add(
        ~(dose > 0),
        lambda i: column_reading.error_of(
            common.check_dose,
            path,
            int(rows[i]),
            "DOSE_MG",
            None if np.isnan(dose[i]) else float(dose[i]),
            "daily dose (mg)",
        ),
    )
    limit = np.array([limits.limits[d][0] for d in drug_names], np.float64)[drug]
    first.add(
        dose > limit + 1e-9,
        lambda i: limits.error(
            path, int(rows[i]), "DOSE_MG", oc.text(i), drug_names[drug[i]], float(dose[i]), "daily dose"
        ),
    )
    pc_ = cols["PRN"]
    first.add(
        ~pc_.isin(("0", "1")),
        lambda i: IngestError(
            path, "as-needed flag must be 0 or 1", row=int(rows[i]), column="PRN", value=pc_.text(i)
        ),
    )
    prn = pc_.isin(("1",))
    key = column_reading.key_of(ids.codes, drug, prn.astype(np.int64), day - (day.min() if len(day) else 0))
    first.add(
        column_reading.duplicated(key),
        lambda i: IngestError(
            path,
            f"duplicate daily record (same patient, day, drug and PRN flag as row "
            f"{int(rows[column_reading.first_with(key, i)])})",
            row=int(rows[i]),
        ),
    )
    valid = ~first.failing(len(rows))
    patient = column_reading.patient_codes(t, "ID", index)
    unknown = valid & (patient < 0)
    outside = valid & ~unknown & ~((day >= STUDY_DAYS[0]) & (day <= STUDY_DAYS[1]))
    record = np.flatnonzero(valid & ~unknown & ~outside)
    column_reading.daily_limit_check(
        first,
        path,
        "DOSE_MG",
        oc,
        record,
        patient[record],
        day[record],
        drug[record],
        drug_names,
        dose[record],
        limits,
        np.ones(len(record), bool),
        rows,
        len(rows),
    )
    first.raise_first()
    pids = t.pseudonyms
    for i in np.flatnonzero(unknown | outside):
        if unknown[i]:
            quarantine.add(path, int(rows[i]), "ID", pids[ids.codes[i]], "patient not in the patients file")
        else:
            quarantine.add(path, int(rows[i]), "DAY", int(day[i]), "study day outside the study period -7..7")
    return (patient[record], day[record], drug[record], dose[record], prn[record]), n_read, path


def _texts_or_missing(values: np.ndarray, missing: np.ndarray) -> bool:
    """Whether every cell is a ``str`` or system-missing (``None`` or a float NaN) with
    ``missing`` marking the latter, as the value-by-value reading of a text variable takes
    them; then it can be read column-wise."""
    present = values[~missing]
    if pd.api.types.infer_dtype(present, skipna=False) not in ("string", "empty"):
        return False
    return all(v is None or (isinstance(v, float) and math.isnan(v)) for v in values[missing])


def _blank(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _numeric(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
