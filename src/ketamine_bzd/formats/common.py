"""Shared machinery of the ingest adapters: strict text decoding, CSV records with row numbers,
number/date parsing, the drug and brand registers, and assembly of the canonical tables.

Every check here raises :class:`~ketamine_bzd.errors.IngestError` naming file, row, column and
value (row = 1-based data record, header excluded; row 0 = the header line). Raw patient
identifiers are never put into an error or a quarantine record: rows are named by number and
quarantined patients by their pseudonym. The contract is ``docs/data-contract.md``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..canonical import (
    DRUG_CLASSES,
    MEDICATION_COLUMNS,
    PK_COLUMNS,
    RATING_COLUMNS,
    SCALES,
    STUDY_DAYS,
    SUBJECT_COLUMNS,
    SUBJECT_RANGES,
    VISIT_STUDY_DAY,
    VISITS,
    StudyTables,
)
from ..errors import IngestError, Quarantine, ResourceError
from ..partition import partition_of
from ..pseudonym import pseudonymize, pseudonymize_many
from ..resource_tables import Column, read_resource
from ..shipped import resource_path

REPORT_COLUMNS = ["study", "file", "rows_read", "rows_accepted", "rows_quarantined"]
FLOAT_SUBJECT_COLUMNS = [*SUBJECT_RANGES, *PK_COLUMNS]
# counts: a fraction is a typo, not a value
WHOLE_SUBJECT_COLUMNS = ("n_hospitalizations",)


@dataclass
class IngestResult:
    """What an adapter's ``read`` returns.

    ``tables``: canonical tables with pseudonymized ``patient_id``, already validated;
    ``quarantine``: rows excluded at ingest with their reason (``errors.QUARANTINE_COLUMNS``);
    ``report``: one row per file, ``rows_read == rows_accepted + rows_quarantined``;
    ``warnings``: soft problems that kept their rows (e.g. prescription days clipped to the
    study period), one human-readable line each, free of raw identifiers.
    """

    tables: StudyTables
    quarantine: pd.DataFrame
    report: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- registers


DRUG_SPEC = [Column("drug"), Column("drug_class", "choice", DRUG_CLASSES), Column("atc_code", required=False)]
BRAND_SPEC = [
    Column("brand"),
    Column("drug"),
    Column("strength_mg", "positive"),
    Column("form", required=False),
    Column("source"),
]
DOSE_LIMIT_SPEC = [
    Column("drug"),
    Column("label_max_daily_mg", "positive"),
    Column("max_plausible_daily_mg", "positive"),
    Column("source"),
]


def drugs_path() -> Path:
    """The drug register read: ``resources/drugs.csv`` as passed in by the rule, else shipped."""
    return resource_path("drugs.csv")


def brands_path() -> Path:
    """The brand register read: ``resources/brands_cz.csv`` as passed in, else shipped."""
    return resource_path("brands_cz.csv")


def dose_limits_path() -> Path:
    """The dose limits read: ``resources/max_daily_doses.csv`` as passed in, else shipped."""
    return resource_path("max_daily_doses.csv")


def load_drugs(path: str | Path | None = None) -> dict[str, str]:
    """Generic drug name -> class (``bzd``/``ad``) from ``resources/drugs.csv``."""
    return _read_drugs(Path(path or drugs_path()))


def load_brands(path: str | Path | None = None) -> dict[str, tuple[str, float]]:
    """Czech brand with strength (e.g. ``Rivotril 0,5 mg``) -> (generic drug, mg per tablet);
    every brand's drug must be in ``drugs.csv``."""
    return _read_brands(Path(path or brands_path()), drugs_path())


def load_dose_limits(path: str | Path | None = None) -> dict[str, tuple[float, float]]:
    """Drug -> (maximum plausible daily dose, label maximum daily dose), mg/day, from
    ``resources/max_daily_doses.csv``: one sourced row for every drug of ``drugs.csv``.

    The plausible maximum is twice the labelled (SmPC / prescribing information) maximum:
    above-label doses occur in treatment-resistant depression, keying and unit errors (an extra
    zero, µg for mg) are 10-fold or more.
    """
    return _read_dose_limits(Path(path or dose_limits_path()), drugs_path())


# cached per file path (the rule passes the registers in; library use reads the shipped copy)
@lru_cache(maxsize=4)
def _read_drugs(path: Path) -> dict[str, str]:
    rows = read_resource(path, DRUG_SPEC, key="drug")
    return {r["drug"]: r["drug_class"] for r in rows}


@lru_cache(maxsize=4)
def _read_brands(path: Path, drugs_file: Path) -> dict[str, tuple[str, float]]:
    rows = read_resource(path, BRAND_SPEC, key="brand")
    drugs = _read_drugs(drugs_file)
    for r in rows:
        if r["drug"] not in drugs:
            raise ResourceError(
                path, "drug missing from resources/drugs.csv", row=r["_row"], column="drug", value=r["drug"]
            )
    return {r["brand"]: (r["drug"], r["strength_mg"]) for r in rows}


@lru_cache(maxsize=4)
def _read_dose_limits(path: Path, drugs_file: Path) -> dict[str, tuple[float, float]]:
    rows = read_resource(path, DOSE_LIMIT_SPEC, key="drug")
    for r in rows:
        if r["max_plausible_daily_mg"] < r["label_max_daily_mg"]:
            raise ResourceError(
                path,
                "maximum plausible daily dose below the label maximum",
                row=r["_row"],
                column="max_plausible_daily_mg",
                value=r["max_plausible_daily_mg"],
            )
    limits = {r["drug"]: (r["max_plausible_daily_mg"], r["label_max_daily_mg"]) for r in rows}
    missing = sorted(set(_read_drugs(drugs_file)) - set(limits))
    if missing:
        raise ResourceError(path, f"no maximum daily dose for drug(s) of drugs.csv: {', '.join(missing)}")
    return limits


class DoseLimits:
    """Checks daily doses against ``resources/max_daily_doses.csv``, for every format.

    ``check_record``: a single record's dose (also one that is later quarantined: an
    implausible number is an error, whatever its day). ``add_daily``: running total per
    patient, study day and drug (regular and as-needed together), checked as it grows, so the
    error names the record that pushed the day over the limit.
    """

    def __init__(self):
        self.limits = load_dose_limits()
        self.totals: dict[tuple, float] = {}

    def _raise(self, file, row, column, text, drug, amount, what):
        raise self.error(file, row, column, text, drug, amount, what)

    def error(self, file, row, column, text, drug, amount, what) -> IngestError:
        """The error for ``amount`` mg of ``drug`` above its plausible maximum."""
        limit, label = self.limits[drug]
        return IngestError(
            file,
            f"{what} {format_number(amount)} mg of {drug} is above the maximum plausible "
            f"daily dose {format_number(limit)} mg (label maximum {format_number(label)} mg; "
            "resources/max_daily_doses.csv)",
            row=row,
            column=column,
            value=text,
        )

    def check_record(self, file, row, column, text, drug, dose_mg, what="daily dose"):
        # ``what``: "single dose" for one administration (sdtm CMDOSE), which is implausible
        # above the daily maximum too
        if dose_mg > self.limits[drug][0] + 1e-9:
            self._raise(file, row, column, text, drug, dose_mg, what)

    def add_daily(self, file, row, column, text, pid, day, drug, dose_mg):
        key = (pid, int(day), drug)
        total = self.totals.get(key, 0.0) + float(dose_mg)
        self.totals[key] = total
        if total > self.limits[drug][0] + 1e-9:
            self._raise(
                file,
                row,
                column,
                text,
                drug,
                total,
                f"with this record the daily total on study day {int(day)}, of",
            )


def dose_runs(days, doses) -> list[tuple[int, int, float]]:
    """(first day, last day, dose) for each run of consecutive days with an unchanged dose.

    The writers turn daily doses back into prescriptions with it (``ecrf_cz``, ``sdtm``).
    """
    days = np.asarray(days, dtype=np.int64)
    doses = np.asarray(doses, dtype=float)
    first, last = dose_run_bounds(np.zeros((0, len(days)), dtype=np.int64), days, doses)
    return [(int(days[a]), int(days[b]), float(doses[a])) for a, b in zip(first, last)]


def dose_run_bounds(groups: np.ndarray, days: np.ndarray, doses: np.ndarray):
    """Row indices (first, last) of each dose run, vectorized over many series at once.

    Rows are in series order (``groups``: one integer key per row in each line, e.g. patient
    and drug, rows of a series contiguous) and day order within a series. A run continues
    while the series is the same, the day is the previous day + 1 and the dose is equal.
    """
    n = len(days)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    same = (days[1:] == days[:-1] + 1) & (doses[1:] == doses[:-1])
    for key in np.atleast_2d(groups):
        if len(key):
            same &= key[1:] == key[:-1]
    new[1:] = ~same
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, n - 1)
    return first, last


def concat_parts(parts) -> StudyTables:
    """One study's tables from parts holding whole patients (``write_parts`` of a format that
    needs the whole study at once)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no parts given")
    if len(parts) == 1:
        return parts[0]
    return StudyTables(
        parts[0].study,
        *(
            pd.concat([getattr(p, name) for p in parts], ignore_index=True)
            for name in ("subjects", "ratings", "medication")
        ),
    )


# ----------------------------------------------------------------------------- decoding


def require_file(path, role: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise IngestError(path, f"missing file (needed as {role!r})")
    return path


def _row_of(data: bytes, pos: int) -> int:
    # physical line index: 0 = header, 1 = first data record
    return data.count(b"\n", 0, pos)


def _field_at(data: bytes, pos: int, delimiter: str, encoding: str) -> tuple[str | None, str]:
    """(column name, field text) around byte ``pos``, decoded leniently, for error messages."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    end = len(data) if end < 0 else end
    line = data[start:end].rstrip(b"\r")
    index = line[: pos - start].count(delimiter.encode())
    fields = line.decode(encoding, errors="replace").split(delimiter)
    header_end = data.find(b"\n")
    header = data[: header_end if header_end >= 0 else len(data)].rstrip(b"\r")
    names = header.decode(encoding, errors="replace").lstrip("\ufeff").split(delimiter)
    column = names[index].strip() if index < len(names) else None
    return column, fields[index] if index < len(fields) else ""


ENCODING_NAMES = {"cp1250": "cp1250 (Windows-1250)", "utf-8": "UTF-8"}
MAGIC = {  # file signatures of things handed over instead of a CSV export
    b"PK\x03\x04": "a zip archive, e.g. an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an OLE2 document, e.g. an Excel .xls workbook",
    b"$FL2": "an SPSS .sav file",
    b"$FL3": "an SPSS .sav file (compressed)",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
}


def sniff_binary(data: bytes) -> str | None:
    """What a file is if it is not 8-bit text: ``"file is UTF-16 encoded"``, ``"file is binary
    (a zip archive ...)"``, or ``None`` for plain text. Looks at the first 4 KB only."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "file is UTF-32 encoded (byte-order mark)"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "file is UTF-16 encoded (byte-order mark)"
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return f"file is binary ({kind}), not a delimited text export"
    nul = head.count(b"\x00")
    if nul:
        # UTF-16 text without a byte-order mark: every other byte of ASCII characters is NUL
        half = max(len(head) // 2, 1)
        if nul >= 0.3 * half and max(head[0::2].count(0), head[1::2].count(0)) >= 0.9 * nul:
            return "file looks UTF-16 encoded (NUL bytes between the characters)"
        return f"file is binary ({nul} NUL bytes in its first {len(head)} bytes), not a delimited text export"
    return None


def decode_text(path: Path, encoding: str, delimiter: str, id_column: str | None = None) -> str:
    """Decode a whole export strictly in ``encoding`` ("cp1250" or "utf-8").

    A UTF-8 file handed over where cp1250 is expected usually *decodes* as cp1250 without
    error (as mojibake such as ``ÄŒÃ­slo``), so it is detected explicitly: non-ASCII bytes that
    form valid UTF-8 sequences are practically never Czech cp1250 text. A field of
    ``id_column`` is never quoted in the message (raw identifiers stay out of logs).
    """

    def where(pos: int, lenient: str):
        row = _row_of(data, pos)
        column, value = _field_at(data, pos, delimiter, lenient)
        return {"row": row, "column": column, "value": None if (row > 0 and column == id_column) else value}

    data = path.read_bytes()
    kind = sniff_binary(data)
    if kind is not None:
        raise IngestError(
            path,
            f"{kind}; this format must be {ENCODING_NAMES[encoding]} text (re-export it as delimited text)",
        )
    if encoding == "cp1250":
        if data.startswith(codecs.BOM_UTF8):
            raise IngestError(
                path,
                "file starts with a UTF-8 byte-order mark; this format must be cp1250 (Windows-1250) encoded",
                row=0,
            )
        high = re.search(rb"[\x80-\xff]", data)  # the first non-ASCII byte
        first = None if high is None else high.start()
        if first is not None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                raise IngestError(
                    path,
                    "file is UTF-8 encoded; this format must be cp1250 (Windows-1250) "
                    "encoded (convert e.g. with `iconv -f UTF-8 -t CP1250`)",
                    **where(first, "utf-8"),
                )
    else:
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(
            path,
            f"bytes not valid in the expected encoding {encoding} "
            f"(byte 0x{data[exc.start]:02x}){_looks_like(data, encoding)}; re-export the file "
            f"as {encoding}",
            **where(exc.start, encoding),
        ) from None


def _looks_like(data: bytes, expected: str) -> str:
    """Name the encoding the file probably has, when it is not the expected one."""
    if expected == "utf-8":
        try:
            data.decode("cp1250")
        except UnicodeDecodeError:
            return ""
        return ": the file looks cp1250 (Windows-1250) or Latin-1 encoded"
    return ""


def check_line_terminator(path: Path, text: str, delimiter: str) -> None:
    """A file must end with a line terminator: without one its last record may have been cut
    inside its last field (``14`` read as ``1``), which no other check can see."""
    if text.endswith(("\n", "\r")):
        return
    last_start = max(text.rfind("\n"), text.rfind("\r")) + 1
    row = len(re.findall(r"\r\n|\n|\r", text[:last_start]))
    header = re.split(r"\r\n|\n|\r", text, maxsplit=1)[0].lstrip("\ufeff").split(delimiter)
    field = text[last_start:].count(delimiter)
    column = header[field].strip() if row > 0 and field < len(header) else None
    raise IngestError(
        path,
        "file does not end with a line terminator: its last record may be cut off "
        "(re-export or copy the complete file)",
        row=row,
        column=column,
    )


def sniff_delimiter(text: str, delimiter: str, columns: list[str]) -> str | None:
    """Another delimiter that splits the header into more of the expected ``columns`` than
    ``delimiter`` does (e.g. ``','`` in a file that should be ``';'``-separated), else None."""
    line = re.split(r"\r\n|\n|\r", text, maxsplit=1)[0].lstrip("\ufeff")

    def hits(sep):
        return len({h.strip().strip('"') for h in line.split(sep)} & set(columns))

    best, score = None, hits(delimiter)
    for sep in (",", ";", "\t", "|"):
        if sep != delimiter and line.count(sep) and hits(sep) > score:
            best, score = sep, hits(sep)
    if best is None and delimiter not in line:
        counts = {sep: line.count(sep) for sep in (",", ";", "\t", "|") if sep != delimiter}
        sep = max(counts, key=counts.get)
        best = sep if counts[sep] else None
    return best


# ----------------------------------------------------------------------------- values

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def parse_number(file, row, column, text: str, *, decimal: str) -> float | None:
    """A plain decimal number (no thousands separators, no exponent); ``None`` if empty."""
    s = text.strip()
    if s == "":
        return None
    other = "." if decimal == "," else ","
    if other in s:
        raise IngestError(
            file,
            f"number uses {other!r}; this format's decimal separator is {decimal!r}",
            row=row,
            column=column,
            value=text,
        )
    s = s.replace(decimal, ".")
    if not _NUMBER.match(s):
        raise IngestError(file, "not a number", row=row, column=column, value=text)
    return float(s)


def parse_int(file, row, column, text: str) -> int:
    s = text.strip()
    if not _INTEGER.match(s):
        raise IngestError(file, "not an integer", row=row, column=column, value=text)
    if len(s.lstrip("+-")) > 9:  # int() refuses > 4300 digits; no field here needs 10
        raise IngestError(file, "integer with more than 9 digits", row=row, column=column, value=text)
    return int(s)


def parse_date(file, row, column, text: str) -> dt.date:
    """Czech date ``dd.mm.yyyy`` (one-digit day/month accepted)."""
    m = _DATE.match(text.strip())
    if m:
        try:
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        except ValueError:
            pass
    raise IngestError(file, "date does not parse (expected dd.mm.yyyy)", row=row, column=column, value=text)


def check_range(file, row, column, value: float | None, lo: float, hi: float, what: str):
    if value is not None and not (lo <= value <= hi):
        raise IngestError(
            file,
            f"{what} outside the allowed range {lo:g}..{hi:g}",
            row=row,
            column=column,
            value=value,
        )
    return value


def check_whole(file, row, column, value: float | None, what: str):
    """Rating-scale totals (sums of item scores) and counts are whole numbers (``23,5`` is a
    typo)."""
    if value is not None and not float(value).is_integer():
        raise IngestError(file, f"{what} must be a whole number", row=row, column=column, value=value)
    return value


def require_patients(file, n_patients: int, n_read: int, what: str = "a header only") -> None:
    """A study without a single patient record cannot be analysed: say so plainly."""
    if n_patients == 0:
        extra = f" and {n_read} blank record(s)" if n_read else ""
        raise IngestError(file, f"no patient records: the file has {what}{extra}")


def check_dose(file, row, column, value: float | None, what: str = "dose"):
    if value is None or not value > 0:
        raise IngestError(
            file, f"impossible {what}: must be a number > 0", row=row, column=column, value=value
        )
    return value


def format_number(x: float, decimal: str = ".") -> str:
    """Shortest round-tripping positional text of ``x`` (``43``, ``226.4``) with ``decimal``."""
    return np.format_float_positional(float(x), trim="-").replace(".", decimal)


def format_date(d: dt.date) -> str:
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def as_date(value) -> dt.date:
    return pd.Timestamp(value).date()


def raw_id_text(value) -> str:
    """Raw identifier as text; integer-valued numbers lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ----------------------------------------------------------------------------- assembly


def subjects_frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=SUBJECT_COLUMNS)
    return frame.astype({c: "float64" for c in FLOAT_SUBJECT_COLUMNS})


def ratings_frame(
    study: str, patients: list[str], observed: dict[tuple[str, str, str], tuple[float, int]]
) -> pd.DataFrame:
    """All scale x visit rows for every patient; an absent rating is kept as score NaN with
    status ``missing`` at its nominal study day."""
    rows = []
    for pid in patients:
        for scale in SCALES:
            for visit in VISITS:
                hit = observed.get((pid, scale, visit))
                if hit is None:
                    rows.append((pid, study, scale, visit, VISIT_STUDY_DAY[visit], np.nan, "missing"))
                else:
                    rows.append((pid, study, scale, visit, hit[1], hit[0], "observed"))
    frame = pd.DataFrame(rows, columns=RATING_COLUMNS)
    return frame.astype({"study_day": "int64", "score": "float64"})


def medication_frame(study: str, patients: list[str], records: list[tuple], drugs: dict[str, str]):
    """Daily totals per (patient, day, drug, as_needed) from (pid, day, drug, dose, as_needed)
    tuples, sorted by patient file order, drug, as_needed, day."""
    order = {p: i for i, p in enumerate(patients)}
    totals: dict[tuple, float] = {}
    for pid, day, drug, dose, prn in records:
        key = (pid, int(day), drug, bool(prn))
        totals[key] = totals.get(key, 0.0) + float(dose)
    keys = sorted(totals, key=lambda k: (order[k[0]], k[2], k[3], k[1]))
    rows = [(p, study, d, g, drugs[g], round(totals[(p, d, g, n)], 9), n) for p, d, g, n in keys]
    frame = pd.DataFrame(rows, columns=MEDICATION_COLUMNS)
    return frame.astype(
        {
            "study_day": "int64",
            "dose_mg": "float64",
            "as_needed": "bool",
            "drug": "str",
            "drug_class": "str",
            "patient_id": "str",
            "study": "str",
        }
    )


def in_study_period(day: int) -> bool:
    return STUDY_DAYS[0] <= day <= STUDY_DAYS[1]


def report_frame(study: str, files: list[tuple[Path, int]], quarantine: Quarantine):
    rows = []
    for path, n_read in files:
        q = quarantine.count(path)
        rows.append((study, str(path), n_read, n_read - q, q))
    return pd.DataFrame(rows, columns=REPORT_COLUMNS).astype({c: "int64" for c in REPORT_COLUMNS[2:]})


class Pseudonyms:
    """Raw id -> pseudonym for one study; raw ids stay inside this object."""

    def __init__(self, study: str, key: bytes):
        self.study, self._key, self._map = study, key, {}
        self._known: pd.Index | None = None  # raw ids of ``array``, and their pseudonyms
        self._values = np.empty(0, object)
        self._parts, self._parts_count = np.empty(0, np.int64), 0  # partition of each value

    def __call__(self, raw: str) -> str:
        if raw not in self._map:
            self._map[raw] = pseudonymize(self.study, raw, self._key)
        return self._map[raw]

    def many(self, raws: list[str]) -> list[str]:
        """The pseudonym of each of ``raws``, each distinct new one computed once."""
        new = [r for r in dict.fromkeys(raws) if r not in self._map]
        self._map.update(zip(new, pseudonymize_many(self.study, new, self._key)))
        return [self._map[r] for r in raws]

    def array(self, raws: np.ndarray) -> np.ndarray:
        """``many`` of distinct ``raws`` as an object array, looked up column-wise (pandas'
        hash tables): each file of a registry export names 10^6 distinct patients, and a dict
        lookup per ID and file cost more than computing the pseudonym once."""
        pos = self._positions(raws)  # first: it may add values
        return self._values[pos]

    def array_and_partitions(self, raws: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``array(raws)`` and each pseudonym's partition of ``count``
        (``partition.partition_of``), each computed once per distinct ID for every file of the
        study (the files of a registry export name the same 10^6 patients)."""
        pos = self._positions(raws)
        if self._parts_count != count:
            self._parts, self._parts_count = np.empty(0, np.int64), count
        if len(self._parts) < len(self._values):
            new = partition_of(self._values[len(self._parts) :].tolist(), count)
            self._parts = np.concatenate([self._parts, new])
        return self._values[pos], self._parts[pos]

    def _positions(self, raws: np.ndarray) -> np.ndarray:
        """Where each of distinct ``raws`` is in the known IDs, pseudonymizing new ones."""
        raws = pd.Index(raws, dtype=object)
        pos = self._known.get_indexer(raws) if self._known is not None else np.full(len(raws), -1)
        if (pos < 0).any():
            new = raws[pos < 0]
            values = np.array(pseudonymize_many(self.study, new.tolist(), self._key) + [None], object)[:-1]
            self._known = new if self._known is None else self._known.append(new)
            self._values = np.concatenate([self._values, values])
            pos = self._known.get_indexer(raws)
        return pos


def result(
    study, subjects, ratings, medication, files, quarantine, warnings, text_as_categories=False
) -> IngestResult:
    """The validated result. Categorical text columns (the column-wise readers' ratings and
    intakes) become ``str`` columns, unless ``text_as_categories``: an ingest job keeps the
    codes and writes its Parquet files from them (``io.write_study_tables``)."""
    tables = StudyTables(study, subjects, ratings, medication)
    if not text_as_categories:
        tables = tables.as_text()
    tables = tables.validate()
    return IngestResult(tables, quarantine.frame(), report_frame(study, files, quarantine), warnings)
