"""``sdtm``: CDISC SDTM domains as shared by sponsors (YODA, Vivli, CSDR).

Each domain is one file, a SAS transport file (``.xpt``, XPORT v5 or v8, read with pyreadstat)
or a UTF-8 CSV with the same variables (``.csv``). File roles (``docs/data-contract.md``,
section 6):

- required: ``dm`` (demographics), ``ex`` (exposure: defines day 0), ``qs`` (MADRS, BDI-II,
  BAI), ``cm`` (concomitant medication);
- optional: ``sv`` (subject visits: planned ``VISITDY`` when QS lacks it), ``suppdm``
  (illness history and episode as supplemental qualifiers of DM), ``vs`` (baseline body
  weight), ``pc`` (ketamine/norketamine serum levels). A missing optional domain leaves its
  canonical columns missing.

Day 0 is the date of the first ``EX`` record whose ``EXTRT`` is a configured study drug
(``options.study_drug``); study days are calendar days from it (canonical day -1 = the day
before, unlike SDTM ``--DY``, which has no day 0). Options: :class:`Options`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from ..canonical import (
    PK_COLUMNS,
    PK_MAX_NG_ML,
    PK_TIMES_MIN,
    SCALES,
    SCORE_RANGE,
    STUDY_DAYS,
    SUBJECT_RANGES,
    VISIT_STUDY_DAY,
    VISITS,
    StudyTables,
)
from ..errors import IngestError, Quarantine
from ..shipped import resource_path
from . import common
from .common import IngestResult

REQUIRED_ROLES = ("dm", "ex", "qs", "cm")
OPTIONAL_ROLES = ("sv", "suppdm", "vs", "pc")
FILE_ROLES = REQUIRED_ROLES + OPTIONAL_ROLES
DEFAULT_FILENAMES = {role: f"{role}.xpt" for role in FILE_ROLES}
OTHER_DRUG = "other"  # cmdecod table: a known drug that is neither a BZD nor an antidepressant
XPORT_MAGIC = b"HEADER RECORD*******LIB"
# ReadStat stamps the write time into the XPORT headers ("29NOV26:13:29:50"); a fixed stamp
# makes the written files byte-reproducible
_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_XPT_FIXED = b"01JAN00:00:00:00"

# --- variables read per domain (required; optional ones are read when present)
DM_VARS = ["USUBJID", "SEX", "AGE", "ARM"]
EX_VARS = ["USUBJID", "EXTRT", "EXSTDTC"]
QS_VARS = ["USUBJID", "QSCAT", "QSTESTCD", "QSORRES", "QSSTRESN", "QSDTC"]
CM_VARS = ["USUBJID", "CMDECOD", "CMDOSFRQ", "CMSTDTC", "CMENDTC"]
SV_VARS = ["USUBJID", "VISITNUM", "VISITDY"]
SUPPDM_VARS = ["USUBJID", "QNAM", "QVAL"]
VS_VARS = ["USUBJID", "VSTESTCD", "VSSTRESN", "VSSTRESU"]
PC_VARS = ["USUBJID", "PCTESTCD", "PCTPT", "PCORRES", "PCSTRESN", "PCSTRESU"]
REQUIRED_VARS = {
    "dm": DM_VARS,
    "ex": EX_VARS,
    "qs": QS_VARS,
    "cm": CM_VARS,
    "sv": SV_VARS,
    "suppdm": SUPPDM_VARS,
    "vs": VS_VARS,
    "pc": PC_VARS,
}

SEX_CODES = ("F", "M")
# SUPPDM qualifiers -> canonical subject column (numbers) or episode (coded)
SUPPDM_NUMBERS = {
    "MDDDURY": "mdd_duration_years",
    "EPIDURW": "episode_duration_weeks",
    "NHOSP": "n_hospitalizations",
}
SUPPDM_EPISODE = "EPISODE"
EPISODE_CODES = {"FIRST": "first", "RECURRENT": "recurrent"}
WEIGHT_TESTCD, WEIGHT_UNITS = "WEIGHT", ("kg",)
PC_TESTCD = {"KETAMINE": "ketamine", "NORKETAM": "norketamine"}
PC_TPT = {f"{t} MIN": t for t in PK_TIMES_MIN}
PC_TEXT = {"<LLOQ": "below_lloq", "<LOD": "below_lod"}
PC_UNITS = ("ng/mL", "ng/ml", "ug/L")

# CMDOSU -> factor to mg (units of mass only: a dose in tablets or mL has no mg value)
UNIT_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
# CMDOSFRQ (CDISC CT codelist FREQ) -> administrations per day; PRN = as needed, ONCE = a
# single administration on the start day
FREQ_PER_DAY = {
    "QD": 1,
    "QAM": 1,
    "QPM": 1,
    "QHS": 1,
    "Q24H": 1,
    "EVERY DAY": 1,
    "BID": 2,
    "Q12H": 2,
    "TID": 3,
    "Q8H": 3,
    "QID": 4,
    "Q6H": 4,
}
PRN, ONCE = "PRN", "ONCE"
NOT_DONE = "NOT DONE"

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?$")


def _items(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i:02d}" for i in range(1, n + 1))


# QSCAT/QSTESTCD of the three instruments, modelled on the CDISC QRS naming pattern (short name;
# stem + version digit + item number) but not verified against the published terminology: check
# them against the study's define.xml and override them in the config (options.scales)
DEFAULT_SCALES = {
    "madrs": {"category": "MADRS", "total": "MADRS111", "items": _items("MADRS1", 10), "item_range": (0, 6)},
    "bdi": {"category": "BDI-II", "total": "BDI0122", "items": _items("BDI01", 21), "item_range": (0, 3)},
    "bai": {"category": "BAI", "total": "BAI0122", "items": _items("BAI01", 21), "item_range": (0, 3)},
}
# planned VISITDY (SDTM numbering: day 1 = first dose, no day 0) of each canonical visit
DEFAULT_VISIT_DAYS = {"day0": -1, "day1": 2, "day3": 4, "day7": 8}
# canonical study-day windows (day 0 = first dose), inclusive, for visit_rule "window"
DEFAULT_VISIT_WINDOWS = {"day0": (-3, 0), "day1": (1, 2), "day3": (3, 5), "day7": (6, 9)}
VISIT_RULES = ("nominal", "window")


@dataclass(frozen=True)
class Options:
    """The ``options`` of an ``sdtm`` study in the config (schema: ``schemas/config.schema.yaml``).

    ``study_drug``: ``EXTRT`` values (case-insensitive) whose first exposure is day 0;
    ``arm_pattern``: regular expression searched (case-insensitive) in ``DM.ARM``: subjects of
    other arms are quarantined; ``visit_rule``: ``nominal`` (a rating belongs to the visit whose
    planned ``VISITDY`` is in ``visit_days``) or ``window`` (the rating nearest to the nominal
    study day within ``visit_windows``); ``scales``: QSCAT/QSTESTCD codes per scale.
    """

    study_drug: tuple[str, ...] = ("KETAMINE", "ESKETAMINE")
    arm_pattern: str = "ketamine"
    visit_rule: str = "nominal"
    visit_days: dict = field(default_factory=lambda: dict(DEFAULT_VISIT_DAYS))
    visit_windows: dict = field(default_factory=lambda: dict(DEFAULT_VISIT_WINDOWS))
    scales: dict = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_SCALES.items()})

    @classmethod
    def from_config(cls, options: dict | None) -> Options:
        options = dict(options or {})
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"sdtm options: unknown key(s) {sorted(unknown)}")
        values = {}
        if "study_drug" in options:
            drugs = options["study_drug"]
            values["study_drug"] = tuple([drugs] if isinstance(drugs, str) else drugs)
        if "arm_pattern" in options:
            values["arm_pattern"] = str(options["arm_pattern"])
        if "visit_rule" in options:
            if options["visit_rule"] not in VISIT_RULES:
                raise ValueError(f"sdtm options: visit_rule must be one of {VISIT_RULES}")
            values["visit_rule"] = options["visit_rule"]
        if "visit_days" in options:
            values["visit_days"] = {**DEFAULT_VISIT_DAYS, **options["visit_days"]}
        if "visit_windows" in options:
            values["visit_windows"] = {
                **DEFAULT_VISIT_WINDOWS,
                **{k: tuple(v) for k, v in options["visit_windows"].items()},
            }
        if "scales" in options:
            scales = {k: dict(v) for k, v in DEFAULT_SCALES.items()}
            for name, spec in options["scales"].items():
                if name not in scales:
                    raise ValueError(f"sdtm options: scales: unknown scale {name!r} ({SCALES})")
                scales[name].update(spec)
                scales[name]["items"] = tuple(scales[name]["items"])
            values["scales"] = scales
        out = cls(**values)
        out.check()
        return out

    def check(self) -> None:
        spans = sorted(tuple(self.visit_windows[v]) for v in VISITS)
        for (lo1, hi1), (lo2, hi2) in itertools.pairwise(spans):
            if lo2 <= hi1:
                raise ValueError(f"sdtm options: visit_windows overlap ({lo1}..{hi1}, {lo2}..{hi2})")
        for visit, (lo, hi) in self.visit_windows.items():
            if not lo <= VISIT_STUDY_DAY[visit] <= hi:
                raise ValueError(
                    f"sdtm options: visit_windows[{visit}] must contain the nominal "
                    f"study day {VISIT_STUDY_DAY[visit]}"
                )
        if len(set(self.visit_days.values())) != len(self.visit_days):
            raise ValueError("sdtm options: visit_days must differ between visits")


def cmdecod_path() -> Path:
    """The CMDECOD table read: ``resources/sdtm_cmdecod.csv`` as passed in by the rule, else shipped."""
    return resource_path("sdtm_cmdecod.csv")


def load_cmdecod(path: str | Path | None = None) -> dict[str, str]:
    """Upper-case ``CMDECOD`` -> generic drug (or ``other``), from ``resources/sdtm_cmdecod.csv``."""
    return _read_cmdecod(Path(path or cmdecod_path()))


@lru_cache(maxsize=4)
def _read_cmdecod(path: Path) -> dict[str, str]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {c.strip().upper(): d for c, d in zip(frame["cmdecod"], frame["drug"])}


# ----------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class IsoDate:
    """An ISO 8601 date, possibly partial: ``earliest``/``latest`` are the days it may mean."""

    text: str
    earliest: dt.date
    latest: dt.date

    @property
    def partial(self) -> bool:
        return self.earliest != self.latest


def parse_dtc(file, row, column, text) -> IsoDate | None:
    """``--DTC`` (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, optionally ``Thh:mm[:ss]``); ``None`` if
    empty. Anything else (e.g. ``12/03/2014``, ``2014-13-01``) is a hard error."""
    s = _text(text)
    if s == "":
        return None
    parsed = _iso_date(s)
    if parsed is None:
        raise IngestError(
            file,
            "date does not parse as ISO 8601 (YYYY-MM-DD, YYYY-MM or YYYY, optionally with Thh:mm)",
            row=row,
            column=column,
            value=s,
        )
    return parsed


@lru_cache(maxsize=65536)
def _iso_date(s: str) -> IsoDate | None:
    # cached: a domain repeats the same few hundred dates many times
    m = _ISO.match(s)
    if not m:
        return None
    try:
        y = int(m[1])
        if m[3]:
            d = dt.date(y, int(m[2]), int(m[3]))
            return IsoDate(s, d, d)
        if m[2]:
            month = int(m[2])
            first = dt.date(y, month, 1)
            last = dt.date(y + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
            return IsoDate(s, first, last)
        return IsoDate(s, dt.date(y, 1, 1), dt.date(y, 12, 31))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- files


@dataclass
class Domain:
    """Records of one domain file: ``rows`` = (row number, {variable: value}) for each
    non-blank record (1-based); ``variables`` = the file's variables; ``n_read`` = all records."""

    file: Path
    rows: list[tuple[int, dict]]
    variables: set[str]
    n_read: int


def _text(value) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _number(file, row, column, value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if math.isnan(value) else float(value)
    return common.parse_number(file, row, column, _text(value), decimal=".")


def read_domain(path, role: str, quarantine: Quarantine) -> Domain:
    """Read one domain (``.xpt`` or ``.csv``); missing required variables are a hard error,
    blank records are quarantined."""
    path = common.require_file(path, role)
    suffix = path.suffix.lower()
    if suffix == ".xpt":
        head = path.read_bytes()[:80]
        if not head.startswith(XPORT_MAGIC):
            looks = "CSV text" if b"," in head or b";" in head else "not XPORT"
            raise IngestError(
                path,
                f"not a SAS transport (XPORT) file: its first bytes are "
                f"{looks}; export the domain as XPORT (v5) or name the file .csv",
                row=0,
            )
        try:
            frame, _ = pyreadstat.read_xport(str(path))
        except pyreadstat.ReadstatError as exc:  # one clear message, not a traceback
            raise IngestError(path, f"unreadable SAS transport file ({exc})", row=0) from None
        names = [str(c).upper() for c in frame.columns]
        records = [dict(zip(names, values)) for values in frame.itertuples(index=False, name=None)]
    elif suffix == ".csv":
        text = common.decode_text(path, "utf-8", ",", "USUBJID")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = [h.strip().upper() for h in next(reader)]
            rows = list(reader)
        except StopIteration:
            raise IngestError(path, "empty file: no header line", row=0) from None
        except csv.Error as exc:
            raise IngestError(path, f"malformed CSV: {exc}", row=reader.line_num - 1) from None
        names = header
        records = []
        for i, r in enumerate(rows, start=1):
            if r and len(r) != len(header):
                raise IngestError(path, f"record has {len(r)} fields but the header has {len(header)}", row=i)
            records.append(dict(zip(header, r)) if r else {})
    else:
        raise IngestError(path, f"a {role.upper()} domain must be a .xpt or .csv file")
    variables = set(names)
    if len(variables) != len(names):
        raise IngestError(path, "duplicated variable", row=0)
    for var in REQUIRED_VARS[role]:
        if var not in variables:
            raise IngestError(path, f"missing required variable of {role.upper()}", row=0, column=var)
    out = []
    for i, rec in enumerate(records, start=1):
        if not rec or not any(_text(v) for v in rec.values()):
            quarantine.add(path, i, None, None, "blank record")
            continue
        out.append((i, rec))
    return Domain(path, out, variables, len(records))


# ----------------------------------------------------------------------------- read


@dataclass
class _Context:
    study: str
    options: Options
    quarantine: Quarantine
    pseudo: common.Pseudonyms
    warnings: list[str]
    kept: dict = field(default_factory=dict)  # pid -> DM row of kept subjects
    excluded: dict = field(default_factory=dict)  # pid -> reason the subject is not analysed
    day0: dict = field(default_factory=dict)  # pid -> date of first study-drug exposure

    def patient(self, dom: Domain, row: int, rec: dict) -> str:
        raw = _text(rec.get("USUBJID"))
        if not raw:
            raise IngestError(dom.file, "empty USUBJID", row=row, column="USUBJID")
        return self.pseudo(common.raw_id_text(raw))

    def analysed(self, dom: Domain, row: int, pid: str) -> bool:
        """True for a kept, exposed subject; other records are quarantined with the reason."""
        if pid in self.day0:
            return True
        reason = self.excluded.get(pid, "patient not in DM")
        self.quarantine.add(dom.file, row, "USUBJID", pid, reason)
        return False


def read(
    study: str, files: dict[str, Path], key: bytes, options: dict | Options | None = None
) -> IngestResult:
    """Ingest SDTM domains strictly (see module doc and ``docs/data-contract.md``, section 6)."""
    opts = options if isinstance(options, Options) else Options.from_config(options)
    for role in REQUIRED_ROLES:
        if role not in files:
            raise IngestError(f"<{role}>", f"no path given for file role {role!r}")
    unknown = set(files) - set(FILE_ROLES)
    if unknown:
        raise IngestError(f"<{min(unknown)}>", f"unknown file role (sdtm roles: {FILE_ROLES})")
    ctx = _Context(study, opts, Quarantine(study), common.Pseudonyms(study, key), [])
    domains = {role: read_domain(files[role], role, ctx.quarantine) for role in FILE_ROLES if role in files}
    subjects = _dm(ctx, domains["dm"])
    _ex(ctx, domains["ex"], domains["dm"])
    subjects = [s for s in subjects if s["patient_id"] in ctx.day0]
    patients = [s["patient_id"] for s in subjects]
    by_pid = {s["patient_id"]: s for s in subjects}
    if "suppdm" in domains:
        _suppdm(ctx, domains["suppdm"], by_pid)
    if "vs" in domains:
        _vs(ctx, domains["vs"], by_pid)
    if "pc" in domains:
        _pc(ctx, domains["pc"], by_pid)
    observed = _qs(ctx, domains["qs"], domains.get("sv"))
    drugs = common.load_drugs()
    med = _cm(ctx, domains["cm"], drugs, common.DoseLimits())
    return common.result(
        study,
        common.subjects_frame(subjects),
        common.ratings_frame(study, patients, observed),
        common.medication_frame(study, patients, med, drugs),
        [(d.file, d.n_read) for d in domains.values()],
        ctx.quarantine,
        ctx.warnings,
    )


def _dm(ctx: _Context, dom: Domain) -> list[dict]:
    arm = re.compile(ctx.options.arm_pattern, re.IGNORECASE)
    out, first_seen = [], {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        if pid in first_seen:
            raise IngestError(
                dom.file,
                f"duplicate USUBJID in DM (same as row {first_seen[pid]})",
                row=row,
                column="USUBJID",
            )
        first_seen[pid] = row
        sex = _text(rec["SEX"]).upper()
        if sex not in SEX_CODES:
            raise IngestError(
                dom.file, "SEX must be 'F' or 'M'", row=row, column="SEX", value=_text(rec["SEX"])
            )
        age = _number(dom.file, row, "AGE", rec["AGE"])
        if age is not None and "AGEU" in dom.variables and _text(rec["AGEU"]).upper() not in ("YEARS", ""):
            raise IngestError(
                dom.file, "AGEU must be YEARS", row=row, column="AGEU", value=_text(rec["AGEU"])
            )
        common.check_range(dom.file, row, "AGE", age, *SUBJECT_RANGES["age_years"], "age")
        arm_text = _text(rec["ARM"])
        if not arm.search(arm_text):
            ctx.excluded[pid] = f"arm not analysed (ARM does not match {ctx.options.arm_pattern!r})"
            ctx.quarantine.add(dom.file, row, "ARM", arm_text, ctx.excluded[pid])
            continue
        rec_out = {
            "patient_id": pid,
            "study": ctx.study,
            "sex": sex,
            "age_years": age,
            "weight_kg": np.nan,
            "mdd_duration_years": np.nan,
            "episode_duration_weeks": np.nan,
            "n_hospitalizations": np.nan,
            "episode": None,
        }
        for col in PK_COLUMNS:
            rec_out[col], rec_out[f"{col}_status"] = np.nan, "missing"
        ctx.kept[pid] = (row, _text(rec.get("RFSTDTC")))
        out.append(rec_out)
    return out


def _ex(ctx: _Context, dom: Domain, dm: Domain) -> None:
    drugs = {d.strip().upper() for d in ctx.options.study_drug}
    first: dict[str, tuple[dt.date, int]] = {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        treatment = _text(rec["EXTRT"])
        if treatment.upper() not in drugs:
            ctx.quarantine.add(
                dom.file, row, "EXTRT", treatment, f"EXTRT is not a study drug ({', '.join(sorted(drugs))})"
            )
            continue
        start = parse_dtc(dom.file, row, "EXSTDTC", rec["EXSTDTC"])
        if start is None or start.partial:
            raise IngestError(
                dom.file,
                "study-drug exposure needs a complete start date (YYYY-MM-DD) to define day 0",
                row=row,
                column="EXSTDTC",
                value=_text(rec["EXSTDTC"]),
            )
        if pid not in ctx.kept:
            ctx.quarantine.add(dom.file, row, "USUBJID", pid, ctx.excluded.get(pid, "patient not in DM"))
            continue
        if pid not in first or start.earliest < first[pid][0]:
            first[pid] = (start.earliest, row)
    for pid, (dm_row, rfstdtc) in ctx.kept.items():
        if pid not in first:
            ctx.excluded[pid] = f"not exposed to the study drug (no EX record with EXTRT in {sorted(drugs)})"
            ctx.quarantine.add(dm.file, dm_row, "USUBJID", pid, ctx.excluded[pid])
            ctx.warnings.append(f"{dm.file} row {dm_row}: patient {pid} {ctx.excluded[pid]}; not analysed")
            continue
        ctx.day0[pid] = first[pid][0]
        ref = parse_dtc(dm.file, dm_row, "RFSTDTC", rfstdtc)
        if ref is not None and not ref.earliest <= first[pid][0] <= ref.latest:
            ctx.warnings.append(
                f"{dm.file} row {dm_row}: RFSTDTC {ref.text} differs from the first "
                f"study-drug exposure {first[pid][0].isoformat()} ({dom.file} row "
                f"{first[pid][1]}); day 0 is taken from EX"
            )


def _suppdm(ctx, dom, by_pid):
    seen = {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        qnam, qval = _text(rec["QNAM"]).upper(), _text(rec["QVAL"])
        if qnam not in SUPPDM_NUMBERS and qnam != SUPPDM_EPISODE:
            ctx.quarantine.add(dom.file, row, "QNAM", qnam, "supplemental qualifier not read")
            continue
        if not ctx.analysed(dom, row, pid):
            continue
        if (pid, qnam) in seen:
            raise IngestError(
                dom.file,
                f"duplicate QNAM for one subject (as row {seen[pid, qnam]})",
                row=row,
                column="QNAM",
                value=qnam,
            )
        seen[pid, qnam] = row
        if qnam == SUPPDM_EPISODE:
            if qval.upper() not in EPISODE_CODES:
                raise IngestError(
                    dom.file, "EPISODE must be FIRST or RECURRENT", row=row, column="QVAL", value=qval
                )
            by_pid[pid]["episode"] = EPISODE_CODES[qval.upper()]
        else:
            col = SUPPDM_NUMBERS[qnam]
            value = common.parse_number(dom.file, row, "QVAL", qval, decimal=".")
            by_pid[pid][col] = common.check_range(dom.file, row, "QVAL", value, *SUBJECT_RANGES[col], qnam)
            if col in common.WHOLE_SUBJECT_COLUMNS:
                common.check_whole(dom.file, row, "QVAL", value, qnam)


def _vs(ctx, dom, by_pid):
    weights: dict[str, list] = {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        if _text(rec["VSTESTCD"]).upper() != WEIGHT_TESTCD:
            ctx.quarantine.add(dom.file, row, "VSTESTCD", _text(rec["VSTESTCD"]), "vital sign not read")
            continue
        if not ctx.analysed(dom, row, pid):
            continue
        value = _number(dom.file, row, "VSSTRESN", rec["VSSTRESN"])
        if value is None:
            continue
        if _text(rec["VSSTRESU"]) not in WEIGHT_UNITS:
            raise IngestError(
                dom.file,
                "body weight must be in kg",
                row=row,
                column="VSSTRESU",
                value=_text(rec["VSSTRESU"]),
            )
        common.check_range(dom.file, row, "VSSTRESN", value, *SUBJECT_RANGES["weight_kg"], "weight")
        baseline = "VSBLFL" in dom.variables and _text(rec["VSBLFL"]).upper() == "Y"
        weights.setdefault(pid, []).append((baseline, value, row))
    for pid, recs in weights.items():
        flagged = [r for r in recs if r[0]]
        if len(flagged) > 1 or (not flagged and len(recs) > 1):
            raise IngestError(
                dom.file,
                "several WEIGHT records for one subject: flag exactly one baseline record with VSBLFL = Y",
                row=recs[-1][2],
                column="VSBLFL",
            )
        by_pid[pid]["weight_kg"] = (flagged or recs)[0][1]


def _pc(ctx, dom, by_pid):
    seen = {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        analyte = PC_TESTCD.get(_text(rec["PCTESTCD"]).upper())
        minutes = PC_TPT.get(_text(rec["PCTPT"]).upper())
        if analyte is None or minutes is None:
            ctx.quarantine.add(
                dom.file,
                row,
                "PCTESTCD",
                _text(rec["PCTESTCD"]),
                "analyte or time point not read (KETAMINE/NORKETAM at 0/10/30 MIN)",
            )
            continue
        if not ctx.analysed(dom, row, pid):
            continue
        col = f"{analyte}_ng_ml_{minutes}min"
        if (pid, col) in seen:
            raise IngestError(
                dom.file,
                f"duplicate serum level (as row {seen[pid, col]})",
                row=row,
                column="PCTPT",
                value=_text(rec["PCTPT"]),
            )
        seen[pid, col] = row
        orres = _text(rec["PCORRES"]).upper()
        value = _number(dom.file, row, "PCSTRESN", rec["PCSTRESN"])
        if "PCSTAT" in dom.variables and _text(rec["PCSTAT"]).upper() == NOT_DONE:
            status = "missing"
        elif orres in PC_TEXT and value is None:
            status = PC_TEXT[orres]
        elif value is not None:
            if value < 0:
                raise IngestError(
                    dom.file, "serum level must be >= 0", row=row, column="PCSTRESN", value=value
                )
            if _text(rec["PCSTRESU"]) not in PC_UNITS:
                raise IngestError(
                    dom.file,
                    f"serum level unit must be one of {PC_UNITS}",
                    row=row,
                    column="PCSTRESU",
                    value=_text(rec["PCSTRESU"]),
                )
            # every unit of PC_UNITS is ng/ml, so the canonical limit applies as it stands
            common.check_range(dom.file, row, "PCSTRESN", value, 0, PK_MAX_NG_ML, "serum level (ng/ml)")
            status = "measured"
        else:
            status = "missing"
        by_pid[pid][col] = value if status == "measured" else np.nan
        by_pid[pid][f"{col}_status"] = status


# --- QS


def _qs(ctx, dom, sv):
    """(pid, scale, visit) -> (score, study day) from QS items / totals (see the contract)."""
    opts = ctx.options
    by_cat = {spec["category"].upper(): name for name, spec in opts.scales.items()}
    nominal = opts.visit_rule == "nominal"
    visitdy_of = _sv_visitdy(ctx, sv) if sv is not None else {}
    if nominal and "VISITDY" not in dom.variables and sv is None:
        raise IngestError(
            dom.file,
            "visit_rule 'nominal' needs VISITDY in QS or an SV file (or use visit_rule 'window')",
            row=0,
            column="VISITDY",
        )
    has_visitnum = "VISITNUM" in dom.variables
    events: dict[tuple, dict] = {}
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        cat = _text(rec["QSCAT"]).upper()
        scale = by_cat.get(cat)
        if scale is None:
            ctx.quarantine.add(dom.file, row, "QSCAT", _text(rec["QSCAT"]), "questionnaire not read")
            continue
        spec = opts.scales[scale]
        code = _text(rec["QSTESTCD"]).upper()
        if code != spec["total"] and code not in spec["items"]:
            ctx.quarantine.add(
                dom.file, row, "QSTESTCD", code, f"not a configured {spec['category']} item or total"
            )
            continue
        value = _qs_value(dom, row, rec)
        when = parse_dtc(dom.file, row, "QSDTC", rec["QSDTC"])
        if when is not None and when.partial:
            raise IngestError(
                dom.file,
                "rating date must be complete (YYYY-MM-DD)",
                row=row,
                column="QSDTC",
                value=when.text,
            )
        if not ctx.analysed(dom, row, pid):
            continue
        visitnum = _visitnum(dom, row, rec) if has_visitnum else ""
        key = (pid, scale, visitnum or (when.earliest.isoformat() if when else ""))
        ev = events.setdefault(
            key, {"rows": [], "values": {}, "date": None, "visitdy": None, "first_row": row}
        )
        if code in ev["values"]:
            raise IngestError(
                dom.file,
                f"duplicate {code} record for one subject and visit (as row {ev['values'][code][1]})",
                row=row,
                column="QSTESTCD",
                value=code,
            )
        ev["values"][code] = (value, row)
        ev["rows"].append(row)
        if when is not None:
            ev["date"] = ev["date"] or when.earliest
        if "VISITDY" in dom.variables and _text(rec["VISITDY"]):
            ev["visitdy"] = int(_number(dom.file, row, "VISITDY", rec["VISITDY"]))
        elif visitnum and (pid, visitnum) in visitdy_of:
            ev["visitdy"] = visitdy_of[pid, visitnum]
    candidates: dict[tuple, list] = {}
    for (pid, scale, _), ev in events.items():
        score = _score(ctx, dom, scale, ev)
        day = None if ev["date"] is None else (ev["date"] - ctx.day0[pid]).days
        if nominal:
            visit = next((v for v, d in opts.visit_days.items() if d == ev["visitdy"]), None)
            reason = f"VISITDY {ev['visitdy']} is not a visit of options.visit_days"
        else:
            if day is None:
                raise IngestError(
                    dom.file, "visit_rule 'window' needs QSDTC", row=ev["first_row"], column="QSDTC"
                )
            visit = next((v for v, (lo, hi) in opts.visit_windows.items() if lo <= day <= hi), None)
            reason = f"rating on study day {day}, outside every visit window"
        if visit is None:
            for r in ev["rows"]:
                ctx.quarantine.add(
                    dom.file,
                    r,
                    "QSDTC" if not nominal else "VISITDY",
                    ev["date"] if not nominal else ev["visitdy"],
                    reason,
                )
            continue
        if day is None:
            day = VISIT_STUDY_DAY[visit]
        candidates.setdefault((pid, scale, visit), []).append(
            (abs(day - VISIT_STUDY_DAY[visit]), day, score, ev)
        )
    observed = {}
    for key, cands in candidates.items():
        cands.sort(key=lambda c: (c[0], c[1]))
        if nominal and len(cands) > 1:
            raise IngestError(
                dom.file,
                f"two ratings of {key[1]} for one subject at visit {key[2]} "
                f"(rows {cands[0][3]['first_row']} and {cands[1][3]['first_row']})",
                row=cands[1][3]["first_row"],
            )
        for _, day, _, ev in cands[1:]:
            for r in ev["rows"]:
                ctx.quarantine.add(
                    dom.file, r, "QSDTC", ev["date"], f"not the rating nearest to the nominal day of {key[2]}"
                )
        _, day, score, _ = cands[0]
        if score is not None:
            observed[key] = (score, day)
    return observed


def _qs_value(dom, row, rec) -> float | None:
    """QSSTRESN, checked against a numeric QSORRES; ``None`` when not done / not answered."""
    orres = _text(rec["QSORRES"])
    stresn = _number(dom.file, row, "QSSTRESN", rec["QSSTRESN"])
    if "QSSTAT" in dom.variables and _text(rec["QSSTAT"]).upper() == NOT_DONE:
        return None
    try:
        original = float(orres) if orres else None
    except ValueError:
        original = None  # a text answer: QSSTRESN carries its standardized score
    if stresn is None and orres:
        raise IngestError(
            dom.file, "QSSTRESN is empty but QSORRES is given", row=row, column="QSSTRESN", value=orres
        )
    if original is not None and stresn is not None and not math.isclose(original, stresn):
        raise IngestError(
            dom.file, f"QSSTRESN disagrees with QSORRES ({orres!r})", row=row, column="QSSTRESN", value=stresn
        )
    return stresn


def _score(ctx, dom, scale, ev) -> float | None:
    spec = ctx.options.scales[scale]
    values = ev["values"]
    lo_item, hi_item = spec["item_range"]
    for code in spec["items"]:
        if code in values and values[code][0] is not None:
            common.check_range(
                dom.file, values[code][1], "QSSTRESN", values[code][0], lo_item, hi_item, f"{code} item score"
            )
            common.check_whole(dom.file, values[code][1], "QSSTRESN", values[code][0], f"{code} item score")
    total = values.get(spec["total"], (None, None))
    if total[0] is not None:
        common.check_range(
            dom.file, total[1], "QSSTRESN", total[0], *SCORE_RANGE[scale], f"{spec['category']} total score"
        )
        return common.check_whole(dom.file, total[1], "QSSTRESN", total[0], f"{spec['category']} total score")
    present = [c for c in spec["items"] if c in values and values[c][0] is not None]
    if not present:
        return None
    missing = [c for c in spec["items"] if c not in present]
    if missing:
        ctx.warnings.append(
            f"{dom.file} row {ev['first_row']}: {spec['category']} has no total "
            f"record and items {', '.join(missing)} are missing: total left missing"
        )
        return None
    return float(sum(values[c][0] for c in present))


def _visitnum(dom: Domain, row: int, rec: dict) -> str:
    """VISITNUM as a key that is the same for 1, 1.0 and "1.0" (XPORT numeric vs CSV text)."""
    return _text(_number(dom.file, row, "VISITNUM", rec["VISITNUM"]))


def _sv_visitdy(ctx, sv: Domain) -> dict:
    out = {}
    for row, rec in sv.rows:
        pid = ctx.patient(sv, row, rec)
        visitnum, visitdy = _visitnum(sv, row, rec), _text(rec["VISITDY"])
        if visitdy:
            out[pid, visitnum] = int(_number(sv.file, row, "VISITDY", rec["VISITDY"]))
    return out


# --- CM


def _cm(ctx, dom, drugs, limits: common.DoseLimits):
    table = load_cmdecod()
    lo, hi = STUDY_DAYS
    out = []
    for row, rec in dom.rows:
        pid = ctx.patient(dom, row, rec)
        name = _text(rec["CMDECOD"])
        drug = table.get(name.upper())
        if drug is None:
            raise IngestError(
                dom.file,
                "unknown drug (CMDECOD not in resources/sdtm_cmdecod.csv; "
                "add a row with its generic name and source)",
                row=row,
                column="CMDECOD",
                value=name,
            )
        if drug == OTHER_DRUG:
            ctx.quarantine.add(dom.file, row, "CMDECOD", name, "not a BZD or antidepressant")
            continue
        if drug not in drugs:
            raise IngestError(cmdecod_path(), "CMDECOD maps to a drug missing from drugs.csv", value=drug)
        freq = _text(rec["CMDOSFRQ"]).upper()
        total = _number(dom.file, row, "CMDOSTOT", rec["CMDOSTOT"]) if "CMDOSTOT" in dom.variables else None
        if freq not in FREQ_PER_DAY and freq not in (PRN, ONCE) and not (freq == "" and total):
            raise IngestError(
                dom.file,
                f"unparseable frequency (known: {', '.join([*FREQ_PER_DAY, PRN, ONCE])})",
                row=row,
                column="CMDOSFRQ",
                value=_text(rec["CMDOSFRQ"]),
            )
        dose, dose_column = _cm_dose(dom, row, rec)
        daily = total if total else dose * FREQ_PER_DAY.get(freq, 1)
        daily_column = "CMDOSTOT" if total else dose_column
        daily_text = _text(rec[daily_column])
        # checked before any quarantine: an implausible number is an error, whatever its day
        limits.check_record(dom.file, row, dose_column, _text(rec[dose_column]), drug, dose, "single dose")
        limits.check_record(dom.file, row, daily_column, daily_text, drug, daily)
        start = parse_dtc(dom.file, row, "CMSTDTC", rec["CMSTDTC"])
        end = parse_dtc(dom.file, row, "CMENDTC", rec["CMENDTC"])
        if start is None:
            raise IngestError(dom.file, "medication start date missing", row=row, column="CMSTDTC")
        if end is not None and end.latest < start.earliest:
            raise IngestError(
                dom.file,
                f"medication ends before it starts (CMSTDTC {start.text})",
                row=row,
                column="CMENDTC",
                value=end.text,
            )
        for var, d in (("CMSTDTC", start), ("CMENDTC", end)):
            if d is not None and d.partial:
                imputed = d.earliest if var == "CMSTDTC" else d.latest
                ctx.warnings.append(
                    f"{dom.file} row {row}: partial {var} {d.text} imputed as "
                    f"{imputed.isoformat()} (start: earliest, end: latest day)"
                )
        if not ctx.analysed(dom, row, pid):
            continue
        first = (start.earliest - ctx.day0[pid]).days
        last = hi if end is None else (end.latest - ctx.day0[pid]).days
        as_needed = freq == PRN
        if freq in (PRN, ONCE) and first != last and end is not None and not total:
            ctx.quarantine.add(
                dom.file,
                row,
                "CMDOSFRQ",
                freq,
                f"{freq} over several days without CMDOSTOT: daily amount unknown",
            )
            continue
        if freq == ONCE:
            last = first
        if last < lo or first > hi:
            ctx.quarantine.add(
                dom.file, row, "CMSTDTC", start.text, "medication entirely outside the study period -7..7"
            )
            continue
        if first < lo or last > hi:
            ctx.warnings.append(
                f"{dom.file} row {row}: medication days {first}..{last} clipped "
                f"to the study period {lo}..{hi}"
            )
        common.check_dose(dom.file, row, daily_column, daily)
        for d in range(max(first, lo), min(last, hi) + 1):
            limits.add_daily(dom.file, row, daily_column, daily_text, pid, d, drug, daily)
            out.append((pid, d, drug, round(daily, 9), as_needed))
    return out


def _cm_dose(dom, row, rec) -> tuple[float, str]:
    """(mg per administration, the variable it came from) from CMDOSE/CMDOSU, else a numeric
    CMDOSTXT (with CMDOSU)."""
    unit = _text(rec.get("CMDOSU", "")) if "CMDOSU" in dom.variables else ""
    dose, column = None, "CMDOSE"
    if "CMDOSE" in dom.variables:
        dose = _number(dom.file, row, "CMDOSE", rec["CMDOSE"])
    if dose is None and "CMDOSTXT" in dom.variables and _text(rec["CMDOSTXT"]):
        column = "CMDOSTXT"
        dose = common.parse_number(dom.file, row, column, _text(rec["CMDOSTXT"]), decimal=".")
    if dose is None:
        raise IngestError(
            dom.file, "no dose: CMDOSE empty and CMDOSTXT not numeric", row=row, column="CMDOSE"
        )
    if unit.lower() not in UNIT_TO_MG and unit not in UNIT_TO_MG:
        raise IngestError(
            dom.file,
            f"unknown dose unit (known: {', '.join(UNIT_TO_MG)})",
            row=row,
            column="CMDOSU",
            value=unit,
        )
    common.check_dose(dom.file, row, column, dose)
    return dose * UNIT_TO_MG.get(unit, UNIT_TO_MG.get(unit.lower())), column


# ----------------------------------------------------------------------------- write


def write(truth: StudyTables, outdir: Path) -> dict[str, Path]:
    """Write ``truth`` (raw ids as USUBJID, ``subjects.infusion_date`` = first ketamine dose) as
    the eight SDTM domains (XPORT v5; same input, same bytes). MADRS is written as total
    records, BDI-II and BAI as items only (the read sums them), regular medication as one CM
    record per run of days with an unchanged dose (``QD``), as-needed doses as one-day ``PRN``
    records."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {role: outdir / name for role, name in DEFAULT_FILENAMES.items()}
    study = truth.study.upper()
    subj = truth.subjects
    ids = [str(p) for p in subj["patient_id"]]
    day0 = {str(p): common.as_date(d) for p, d in zip(subj["patient_id"], subj["infusion_date"])}

    def iso(pid, day):
        return (day0[pid] + dt.timedelta(days=int(day))).isoformat()

    dm = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": "DM",
            "USUBJID": ids,
            "SUBJID": ids,
            "RFSTDTC": [day0[p].isoformat() for p in ids],
            "AGE": subj["age_years"].astype(float).tolist(),
            "AGEU": "YEARS",
            "SEX": subj["sex"].tolist(),
            "ARMCD": "KET",
            "ARM": "KETAMINE 0.54 MG/KG IV",
        }
    )
    ex = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": "EX",
            "USUBJID": ids,
            "EXSEQ": 1.0,
            "EXTRT": "KETAMINE",
            "EXDOSE": 0.54,
            "EXDOSU": "mg/kg",
            "EXROUTE": "INTRAVENOUS",
            "EXSTDTC": [day0[p].isoformat() for p in ids],
        }
    )
    supp, vs, pc = [], [], []
    for rec in subj.to_dict("records"):
        pid = str(rec["patient_id"])
        supp.append((pid, SUPPDM_EPISODE, {v: k for k, v in EPISODE_CODES.items()}[rec["episode"]]))
        for qnam, col in SUPPDM_NUMBERS.items():
            if not _isnan(rec[col]):
                supp.append((pid, qnam, common.format_number(rec[col])))
        if not _isnan(rec["weight_kg"]):
            vs.append(
                (
                    pid,
                    WEIGHT_TESTCD,
                    common.format_number(rec["weight_kg"]),
                    float(rec["weight_kg"]),
                    "kg",
                    "Y",
                )
            )
        for testcd, analyte in PC_TESTCD.items():
            for tpt, minutes in PC_TPT.items():
                col = f"{analyte}_ng_ml_{minutes}min"
                status = rec[f"{col}_status"]
                orres = {
                    "measured": common.format_number(rec[col]) if status == "measured" else "",
                    "below_lloq": "<LLOQ",
                    "below_lod": "<LOD",
                    "missing": "",
                }[status]
                pc.append(
                    (
                        pid,
                        testcd,
                        tpt,
                        orres,
                        float(rec[col]) if status == "measured" else np.nan,
                        "ng/mL",
                        NOT_DONE if status == "missing" else "",
                    )
                )
    suppdm = pd.DataFrame(supp, columns=["USUBJID", "QNAM", "QVAL"])
    suppdm.insert(0, "STUDYID", study)
    suppdm.insert(1, "RDOMAIN", "DM")
    vs_frame = pd.DataFrame(vs, columns=["USUBJID", "VSTESTCD", "VSORRES", "VSSTRESN", "VSSTRESU", "VSBLFL"])
    pc_frame = pd.DataFrame(
        pc, columns=["USUBJID", "PCTESTCD", "PCTPT", "PCORRES", "PCSTRESN", "PCSTRESU", "PCSTAT"]
    )

    visitnum = {v: float(i + 1) for i, v in enumerate(VISITS)}
    order = {p: i for i, p in enumerate(ids)}
    ratings = truth.ratings[truth.ratings["status"] == "observed"]
    qs, sv_rows = [], set()
    for r in sorted(
        ratings.to_dict("records"),
        key=lambda r: (order[str(r["patient_id"])], VISITS.index(r["visit"]), SCALES.index(r["scale"])),
    ):
        pid, spec = str(r["patient_id"]), DEFAULT_SCALES[r["scale"]]
        date = iso(pid, r["study_day"])
        common_part = (pid, spec["category"], visitnum[r["visit"]], DEFAULT_VISIT_DAYS[r["visit"]], date)
        sv_rows.add((order[pid], pid, visitnum[r["visit"]], DEFAULT_VISIT_DAYS[r["visit"]], date))
        score = float(r["score"])
        items = None if r["scale"] == "madrs" else _split(score, len(spec["items"]), spec["item_range"][1])
        if items is None:
            qs.append((*common_part, spec["total"], score))
        else:
            qs += [(*common_part, code, v) for code, v in zip(spec["items"], items)]
    qs_frame = pd.DataFrame(
        [(p, c, code, common.format_number(v), float(v), vn, vd, d) for p, c, vn, vd, d, code, v in qs],
        columns=["USUBJID", "QSCAT", "QSTESTCD", "QSORRES", "QSSTRESN", "VISITNUM", "VISITDY", "QSDTC"],
    )
    sv_frame = pd.DataFrame(
        [s[1:] for s in sorted(sv_rows)], columns=["USUBJID", "VISITNUM", "VISITDY", "SVSTDTC"]
    )

    cm = []
    decod = {
        drug: name
        for name, drug in reversed(list(load_cmdecod().items()))
        if drug != OTHER_DRUG and " " not in name
    }
    med = truth.medication
    regular = med[~med["as_needed"].astype(bool)]
    for (pid, drug), g in sorted(
        regular.groupby(["patient_id", "drug"], sort=False), key=lambda kv: (order[str(kv[0][0])], kv[0][1])
    ):
        g = g.sort_values("study_day")
        for first, last, dose in common.dose_runs(g["study_day"].tolist(), g["dose_mg"].tolist()):
            cm.append((str(pid), decod[drug], dose, "mg", "QD", iso(str(pid), first), iso(str(pid), last)))
    prn = med[med["as_needed"].astype(bool)]
    for r in sorted(
        prn.to_dict("records"), key=lambda r: (order[str(r["patient_id"])], r["study_day"], r["drug"])
    ):
        pid = str(r["patient_id"])
        cm.append(
            (
                pid,
                decod[r["drug"]],
                float(r["dose_mg"]),
                "mg",
                PRN,
                iso(pid, r["study_day"]),
                iso(pid, r["study_day"]),
            )
        )
    cm_frame = pd.DataFrame(
        cm, columns=["USUBJID", "CMDECOD", "CMDOSE", "CMDOSU", "CMDOSFRQ", "CMSTDTC", "CMENDTC"]
    )
    cm_frame.insert(2, "CMTRT", cm_frame["CMDECOD"].str.lower())

    frames = {
        "dm": dm,
        "ex": ex,
        "qs": qs_frame,
        "cm": cm_frame,
        "sv": sv_frame,
        "suppdm": suppdm,
        "vs": vs_frame,
        "pc": pc_frame,
    }
    for role, frame in frames.items():
        write_xpt(frame, paths[role], role.upper())
    return paths


def write_parts(parts, outdir: Path) -> dict[str, Path]:
    """``write`` of a study given in parts (whole patients each, in order); SDTM needs the
    whole study at once, so the parts are joined first."""
    return write(common.concat_parts(parts), outdir)


def write_xpt(frame: pd.DataFrame, path: Path, name: str) -> None:
    """``frame`` as a SAS XPORT v5 file with a fixed creation stamp (byte-reproducible)."""
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype.kind not in "fiu":
            frame[col] = frame[col].astype(object).map(lambda v: "" if v is None else str(v))
        else:
            frame[col] = frame[col].astype("float64")
    pyreadstat.write_xport(frame, str(path), table_name=name, file_format_version=5)
    data = path.read_bytes()
    head = _XPT_STAMP.sub(_XPT_FIXED, data[:640])
    path.write_bytes(head + data[640:])


def _isnan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _split(total: float, n: int, item_max: int) -> list[int] | None:
    """An integer total as ``n`` item scores (as even as possible); ``None`` if impossible."""
    if total != int(total) or total > n * item_max:
        return None
    q, r = divmod(int(total), n)
    return [q + 1 if i < r else q for i in range(n)]
