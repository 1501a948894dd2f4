"""Property-based fuzzing of both ingest readers (issue 8, deliverable 6).

A valid export of the example truth is mutated once, at byte level (insert, replace or delete a
byte, or cut the file inside a record) or at cell level (one cell set to a value the data
contract forbids), and read again. Allowed outcomes:

- ``same``: the same canonical tables (e.g. a byte in a label, a space the reader strips);
- ``error``: an :class:`IngestError` naming the mutated file, and the row (the row and column for
  a cell mutation), whose message holds no raw identifier;
- ``quarantined``: only for a mutation inside a patient identifier (the record then belongs to
  no known patient): other tables, and the quarantine table lists the orphaned records with
  their reason, as the data contract prescribes.

Never another exception, never other tables without an error or a quarantine entry. Mutations
that turn a valid export into another valid export (a digit into another digit, a byte inside a
number of the ``.sav`` data) are not generated: no reader can tell them from real data. The
examples are fixed (``derandomize=True``, no example database), their number is bounded by
``EXAMPLES`` and printed at the end of each test.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from format_example import canonical_order, example_truth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketamine_bzd import canonical
from ketamine_bzd.errors import IngestError
from ketamine_bzd.formats import ecrf_cz, spss_wide

KEY = b"fuzz-key"
STUDY = "fuzz"
RAW_IDS = ("101", "102", "103")
# examples per run (about 25 s in all); KETAMINE_BZD_FUZZ_SCALE multiplies them for a deeper
# run by hand (the examples stay derandomized, so a deeper run is reproducible too)
SCALE = float(os.environ.get("KETAMINE_BZD_FUZZ_SCALE", "1"))
EXAMPLES = {
    k: max(1, int(v * SCALE))
    for k, v in {
        "ecrf_bytes": 70,
        "ecrf_cells": 70,
        "spss_csv_bytes": 30,
        "sav_dictionary_bytes": 40,
        "spss_cells": 50,
    }.items()
}
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


class Export:
    """A pristine export in ``pristine/`` and a working copy in ``work/`` that each example
    resets; ``baseline`` = the canonical tables of the pristine export."""

    def __init__(self, module, base: Path):
        self.module = module
        self.pristine = module.write(example_truth(STUDY), base / "pristine")
        self.files = {r: base / "work" / p.name for r, p in self.pristine.items()}
        (base / "work").mkdir()
        self.reset()
        self.baseline = canonical_order(module.read(STUDY, self.files, KEY).tables)
        self.outcomes: Counter = Counter()

    def reset(self):
        for role, path in self.pristine.items():
            shutil.copyfile(path, self.files[role])

    def read(self):
        return self.module.read(STUDY, self.files, KEY)


@pytest.fixture(scope="module")
def ecrf(tmp_path_factory):
    return Export(ecrf_cz, tmp_path_factory.mktemp("fuzz_ecrf"))


@pytest.fixture(scope="module")
def spss(tmp_path_factory):
    return Export(spss_wide, tmp_path_factory.mktemp("fuzz_spss"))


@pytest.fixture(autouse=True)
def fast_validation(monkeypatch):
    """Tables equal to the (validated) baseline need no second pandera pass: 3/4 of a read's
    time. Any other tables are validated as in production."""
    validate = canonical.StudyTables.validate
    baselines: list = []

    def maybe_validate(self):
        if any(_same(canonical_order(self), b) for b in baselines):
            return self
        return validate(self)

    monkeypatch.setattr(canonical.StudyTables, "validate", maybe_validate)
    return baselines


def _same(a, b) -> bool:
    return all(
        getattr(a, n).reset_index(drop=True).equals(getattr(b, n).reset_index(drop=True))
        for n in ("subjects", "ratings", "medication")
    )


def _no_raw_id(message: str, path: Path) -> bool:
    # row numbers are not values (row 101 of a file with patient 101 is fine)
    text = re.sub(r"\brows? \d+", "", message.replace(str(path), ""))
    return not any(re.search(rf"(?<![0-9A-Za-z]){i}(?![0-9A-Za-z])", text) for i in RAW_IDS)


def check(export: Export, path: Path, *, row=None, column=None, in_id=False) -> str:
    """Read the mutated export and classify the outcome; fail on anything not allowed."""
    try:
        result = export.read()
    except IngestError as err:
        msg = str(err)
        assert err.file == str(path) and str(path) in msg, msg
        assert _no_raw_id(msg, path), msg
        assert len(msg) < 600 + len(str(path)), msg
        if row is not None:  # a cell mutation: named exactly
            assert (err.row, err.column) == (row, column), (row, column, msg)
        else:
            file_level = err.row is None and any(
                k in msg for k in ("binary", "UTF-16", ".sav", "no patient records")
            )
            assert err.row is not None or file_level, msg
        return "error"
    tables = canonical_order(result.tables)
    if _same(tables, export.baseline):
        return "same"
    assert in_id, "tables changed without an error or a quarantine entry"
    assert len(result.quarantine) > 0, "an identifier changed without a quarantine entry"
    assert "patient not in the patients file" in set(result.quarantine["reason"])
    return "quarantined"


def cell_of(data: bytes, pos: int, delimiter: bytes) -> tuple[int, int]:
    """(physical line, field index) of byte ``pos`` (quotes ignored: the exports quote only
    brand names, which hold no delimiter)."""
    line_start = max(data.rfind(b"\n", 0, pos), data.rfind(b"\r", 0, pos)) + 1
    return data.count(b"\n", 0, line_start), data[line_start:pos].count(delimiter)


# ----------------------------------------------------------------------------- byte level

# bytes that never turn one valid value into another: no digits, no decimal separator, no
# minus sign (a day -7 without its '-' is day 7), nothing that is a valid code by itself
HOSTILE = {
    "ecrf_cz": b'\x00\x81\x98\xff\x8e\x01"; .\t\n\rx<',
    "spss_wide": b'\x00\x81\xff\x01", ;\t\n\rx<',
}
DELETABLE = {  # bytes whose loss cannot give another valid value
    "ecrf_cz": set(b';"\r\n .<'),
    "spss_wide": set(b',"\r\n '),
}


@st.composite
def byte_mutation(draw, export: Export, roles: tuple[str, ...]):
    fmt = export.module.__name__.rsplit(".", 1)[1]
    role = draw(st.sampled_from(roles))
    data = export.pristine[role].read_bytes()
    op = draw(st.sampled_from(["insert", "replace", "delete", "truncate"]))
    if op == "truncate":  # inside a record: a cut at a record boundary loses whole records
        inside = [i for i in range(1, len(data)) if data[i - 1] not in b"\r\n"]
        pos = inside[draw(st.integers(0, len(inside) - 1))]
        return role, pos, data[:pos]
    if op == "delete":
        where = [i for i, b in enumerate(data) if b in DELETABLE[fmt]]
        pos = where[draw(st.integers(0, len(where) - 1))]
        return role, pos, data[:pos] + data[pos + 1 :]
    pos = draw(st.integers(0, len(data) - (op == "replace")))
    # whitespace replacing a field's first or last character is stripped, and a line end
    # replacing a record's last character leaves a shorter value and a blank line: deletions
    alphabet = [b for b in HOSTILE[fmt] if op == "insert" or b not in b" \t\r\n"]
    byte = bytes([draw(st.sampled_from(alphabet))])
    if op == "replace" and data[pos : pos + 1] == byte:
        return role, pos, data
    return role, pos, data[:pos] + byte + data[pos + (op == "replace") :]


def run_byte_case(export, case, id_columns, delimiter):
    role, pos, mutated = case
    export.reset()
    path = export.files[role]
    path.write_bytes(mutated)
    original = export.pristine[role].read_bytes()
    line, field = cell_of(original, min(pos, len(original) - 1), delimiter)
    header = original.split(b"\n", 1)[0].rstrip(b"\r").split(delimiter)
    in_id = line > 0 and field < len(header) and header[field] in id_columns
    outcome = check(export, path, in_id=in_id)
    export.outcomes[outcome] += 1


def test_fuzz_ecrf_bytes(ecrf, fast_validation):
    fast_validation.append(ecrf.baseline)
    ids = {ecrf_cz.ID.encode("cp1250")}

    @settings(FUZZ, max_examples=EXAMPLES["ecrf_bytes"])
    @given(case=byte_mutation(ecrf, ecrf_cz.FILE_ROLES))
    def fuzz(case):
        run_byte_case(ecrf, case, ids, b";")

    fuzz()
    print(f"ecrf_cz byte-level: {sum(ecrf.outcomes.values())} examples, {dict(ecrf.outcomes)}")
    assert sum(ecrf.outcomes.values()) >= EXAMPLES["ecrf_bytes"] // 2


def test_fuzz_spss_medication_bytes(spss, fast_validation):
    fast_validation.append(spss.baseline)
    spss.outcomes.clear()

    @settings(FUZZ, max_examples=EXAMPLES["spss_csv_bytes"])
    @given(case=byte_mutation(spss, ("medication",)))
    def fuzz(case):
        run_byte_case(spss, case, {b"ID"}, b",")

    fuzz()
    print(f"spss_wide medication byte-level: {sum(spss.outcomes.values())} examples, {dict(spss.outcomes)}")


@st.composite
def sav_dictionary_mutation(draw, export: Export):
    data = export.pristine["patients"].read_bytes()
    end = data.find(b"\xe7\x03\x00\x00") + 8  # record type 999 ends the dictionary
    if draw(st.booleans()):  # a cut anywhere
        pos = draw(st.integers(0, len(data) - 1))
        return pos, data[:pos]
    pos = draw(st.integers(0, end - 1))
    byte = draw(st.integers(0, 255))
    return pos, data[:pos] + bytes([byte]) + data[pos + 1 :]


def test_fuzz_sav_dictionary_bytes(spss, fast_validation):
    """Bytes of the .sav dictionary (names, types, labels, counts, lengths) and cuts anywhere.
    Before the structural check a damaged count crashed ReadStat with a segmentation fault."""
    fast_validation.append(spss.baseline)
    spss.outcomes.clear()

    @settings(FUZZ, max_examples=EXAMPLES["sav_dictionary_bytes"])
    @given(case=sav_dictionary_mutation(spss))
    def fuzz(case):
        _, mutated = case
        spss.reset()
        spss.files["patients"].write_bytes(mutated)
        # a byte of the ID variable's name or of the data can change identifiers: not here
        spss.outcomes[check(spss, spss.files["patients"])] += 1

    fuzz()
    print(
        f"spss_wide .sav dictionary byte-level: {sum(spss.outcomes.values())} examples, {dict(spss.outcomes)}"
    )


# ----------------------------------------------------------------------------- cell level


class Long(str):
    """A 100,000-character value with a short repr (hypothesis prints failing examples)."""

    def __repr__(self):
        return f"<{len(self)} x {self[:1]!r}>"


LONG = Long("9" * 100_000)
BAD_TEXT = ["x", "?", "NaN", "inf", "1e3", "0x1F", "--5", "K09-001", "\x01", '";"', LONG]
BAD_DATE = ["31.02.2014", "2014-03-12", "12.13.2014", "1.1.14", "x", "12.03.2014 10:00", LONG]


def ecrf_vocabulary(column: str) -> list[str]:
    """Values the data contract forbids in ``column`` (never a valid value)."""
    if column == ecrf_cz.ID:
        return ["", "Z-999"]
    if column in (ecrf_cz.SEX, ecrf_cz.EPISODE, ecrf_cz.VISIT_CODE, ecrf_cz.SCALE, ecrf_cz.BRAND):
        return ["", "m", "Ž ž", *BAD_TEXT]
    if column in (ecrf_cz.INFUSION, ecrf_cz.START, ecrf_cz.PRN_DATE, ecrf_cz.VISIT_DATE):
        return ["", *BAD_DATE]
    if column == ecrf_cz.STOP:
        return BAD_DATE
    if column == ecrf_cz.SCORE:
        return ["-1", "64", "23,5", "1.5", *BAD_TEXT]
    if column in (ecrf_cz.TABLETS_DAY, ecrf_cz.PRN_TABLETS):
        return ["", "0", "-1", "25", "0,3", "0.5", *BAD_TEXT]
    if column in ecrf_cz.PK_HEADERS.values():
        return ["-1", "<lloq", "< LOD", "1.5", "60000", *BAD_TEXT]
    canon = {h: c for c, h in ecrf_cz.SUBJECT_HEADERS.items()}[column]
    lo, hi = canonical.SUBJECT_RANGES[canon]
    extra = ["2,5"] if canon == "n_hospitalizations" else []
    return [str(lo - 1), str(hi + 1).replace(".", ","), "1.5", *extra, *BAD_TEXT]


def csv_rows(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def write_rows(path: Path, rows, encoding: str, delimiter: str, newline: str) -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


@st.composite
def ecrf_cell(draw, export: Export):
    role = draw(st.sampled_from(ecrf_cz.FILE_ROLES))
    rows = csv_rows(export.pristine[role], "cp1250", ";")
    row = draw(st.integers(1, len(rows) - 1))
    column = draw(st.sampled_from(rows[0]))
    value = draw(st.sampled_from(ecrf_vocabulary(column)))
    return role, row, column, value


def test_fuzz_ecrf_cells(ecrf, fast_validation):
    fast_validation.append(ecrf.baseline)
    ecrf.outcomes.clear()

    @settings(FUZZ, max_examples=EXAMPLES["ecrf_cells"])
    @given(case=ecrf_cell(ecrf))
    def fuzz(case):
        role, row, column, value = case
        ecrf.reset()
        path = ecrf.files[role]
        rows = csv_rows(path, "cp1250", ";")
        rows[row][rows[0].index(column)] = value
        write_rows(path, rows, "cp1250", ";", "\r\n")
        in_id = column == ecrf_cz.ID and value != ""
        outcome = check(ecrf, path, row=None if in_id else row, column=column, in_id=in_id)
        ecrf.outcomes[outcome] += 1

    fuzz()
    print(f"ecrf_cz cell-level: {sum(ecrf.outcomes.values())} examples, {dict(ecrf.outcomes)}")
    assert ecrf.outcomes["error"] > 0 and ecrf.outcomes["same"] == 0


def sav_vocabulary(var: str) -> list:
    if var == "ID":
        return [""]
    if var in ("SEX", "EPISODE"):
        return [0.0, 3.0, 1.5, -1.0, 1e9]
    if var.split("_")[0] in spss_wide.SCALE_VAR.values():
        return [-1.0, 64.0, 18.5, 1e9, 30.000001]
    if var.split("_")[0] in spss_wide.ANALYTE_VAR.values():
        return [-3.0, -1.5, -9.5, 60_000.0, 1e12]
    canon = {v: c for c, (v, _) in spss_wide.SUBJECT_VARS.items()}[var]
    lo, hi = canonical.SUBJECT_RANGES[canon]
    extra = [2.5] if canon == "n_hospitalizations" else []
    return [float(lo - 1), float(hi + 1), -1e9, *extra]


MED_VOCABULARY = {
    "ID": [""],
    "DAY": ["", "1.5", "x", "-", "1e1", LONG],
    "DRUG": ["", "x", "clonazepamx", "K09-001", LONG],
    "DOSE_MG": ["", "0", "-1", "1,5", "x", "1e3", "100000", LONG],
    "PRN": ["", "2", "yes", "0.0", "-1", LONG],
}


@st.composite
def spss_cell(draw, n_cases: int, n_med: int):
    if draw(st.booleans()):
        var = draw(st.sampled_from(spss_wide.SAV_VARIABLES))
        return "patients", draw(st.integers(1, n_cases)), var, draw(st.sampled_from(sav_vocabulary(var)))
    column = draw(st.sampled_from(spss_wide.MED_COLUMNS))
    return "medication", draw(st.integers(1, n_med)), column, draw(st.sampled_from(MED_VOCABULARY[column]))


def test_fuzz_spss_cells(spss, fast_validation):
    fast_validation.append(spss.baseline)
    spss.outcomes.clear()
    frame, meta = pyreadstat.read_sav(str(spss.pristine["patients"]), user_missing=True)
    med = csv_rows(spss.pristine["medication"], "utf-8", ",")
    missing = {k: [r["lo"] for r in v] for k, v in meta.missing_ranges.items()}

    @settings(FUZZ, max_examples=EXAMPLES["spss_cells"])
    @given(case=spss_cell(len(frame), len(med) - 1))
    def fuzz(case):
        role, row, column, value = case
        spss.reset()
        path = spss.files[role]
        if role == "patients":
            edited = frame.copy()
            edited[column] = edited[column].astype(object if column == "ID" else np.float64)
            edited.loc[row - 1, column] = value
            pyreadstat.write_sav(
                edited, str(path), missing_ranges=missing, variable_value_labels=meta.variable_value_labels
            )
        else:
            rows = [list(r) for r in med]
            rows[row][rows[0].index(column)] = value
            write_rows(path, rows, "utf-8", ",", "\n")
        spss.outcomes[check(spss, path, row=row, column=column)] += 1

    fuzz()
    print(f"spss_wide cell-level: {sum(spss.outcomes.values())} examples, {dict(spss.outcomes)}")
    assert spss.outcomes["error"] > 0 and spss.outcomes["same"] == 0


def test_sav_cut_inside_data_is_named(tmp_path):
    """The regression behind the sav fuzzing: a .sav cut inside its data."""
    files = spss_wide.write(example_truth(STUDY), tmp_path)
    data = files["patients"].read_bytes()
    files["patients"].write_bytes(data[:-5])
    with pytest.raises(IngestError, match="damaged SPSS .sav file: header announces 3 cases"):
        spss_wide.read(STUDY, files, KEY)


def test_sav_damaged_label_length_is_an_error_not_a_crash(tmp_path):
    files = spss_wide.write(example_truth(STUDY), tmp_path)
    data = bytearray(files["patients"].read_bytes())
    # the first variable record (ID) has a label: its length field follows the 8-byte name
    first = 176
    assert data[first : first + 4] == b"\x02\x00\x00\x00"
    data[first + 32 : first + 36] = (10_000_000).to_bytes(4, "little")
    files["patients"].write_bytes(bytes(data))
    with pytest.raises(IngestError, match="damaged SPSS .sav file: variable label length"):
        spss_wide.read(STUDY, files, KEY)


def test_fuzz_vocabularies_are_invalid_for_their_columns():
    """Guard on the fuzzer itself: no vocabulary value is a valid value of its column."""
    valid = {
        ecrf_cz.SEX: set(ecrf_cz.SEX_CODES),
        ecrf_cz.SCALE: set(ecrf_cz.SCALE_NAMES),
        ecrf_cz.VISIT_CODE: set(ecrf_cz.VISIT_CODES),
        ecrf_cz.EPISODE: set(ecrf_cz.EPISODE_CODES),
    }
    for column, allowed in valid.items():
        assert not allowed & set(ecrf_vocabulary(column))
    assert not {1.0, 2.0} & set(sav_vocabulary("SEX"))
    assert (
        pd.Series(sav_vocabulary("MADRS_D0")).map(lambda v: 0 <= v <= 60 and float(v).is_integer()).sum() == 0
    )
