"""spss_wide reader: every hard error names file, row, column and value; soft problems are
quarantined or flagged and reconcile per file."""

from __future__ import annotations

import numpy as np
import pyreadstat
import pytest
from format_example import example_truth

from ketamine_bzd.errors import IngestError
from ketamine_bzd.formats import spss_wide
from ketamine_bzd.pseudonym import pseudonymize

KEY = b"test-key"
STUDY = "ket2009"


@pytest.fixture
def files(tmp_path):
    return spss_wide.write(example_truth(STUDY), tmp_path)


def rewrite_sav(path, mutate, extra_missing=None):
    """Edit the .sav as a user would in SPSS, keeping labels and user-missing declarations."""
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    frame = mutate(frame)
    missing = {k: [r["lo"] for r in v] for k, v in meta.missing_ranges.items() if k in frame}
    missing.update(extra_missing or {})
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={k: v for k, v in meta.column_names_to_labels.items() if k in frame},
        variable_value_labels={k: v for k, v in meta.variable_value_labels.items() if k in frame},
        missing_ranges=missing,
    )


def set_cell(row, var, value):
    def mutate(frame):
        frame.loc[row - 1, var] = value
        return frame

    return mutate


def edit_csv(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append_csv(path, line):
    path.write_bytes(path.read_bytes() + (line + "\n").encode("utf-8"))


def raises(files, file, row, column, value, match):
    with pytest.raises(IngestError, match=match) as info:
        spss_wide.read(STUDY, files, KEY)
    err, msg = info.value, str(info.value)
    assert err.file == str(file) and str(file) in msg
    assert err.row == row and (row is None or f"row {row}" in msg)
    assert err.column == column and (column is None or repr(column) in msg)
    if value is not None:
        assert str(value) in msg
    return err


@pytest.mark.parametrize("role", spss_wide.FILE_ROLES)
def test_missing_file(files, role):
    files[role].unlink()
    raises(files, files[role], None, None, None, "missing file")


def test_missing_variable(files):
    rewrite_sav(files["patients"], lambda f: f.drop(columns=["MADRS_D3"]))
    raises(files, files["patients"], None, "MADRS_D3", None, "missing variable")


def test_missing_csv_column(files):
    edit_csv(files["medication"], "DOSE_MG", "DOSE")
    raises(files, files["medication"], 0, "DOSE_MG", None, "missing column")


def test_not_a_sav_file(files):
    files["patients"].write_text("ID,SEX\n101,1\n")
    raises(files, files["patients"], None, None, None, "not a readable SPSS .sav file")


def test_duplicate_patient_names_row_not_id(files):
    rewrite_sav(files["patients"], set_cell(3, "ID", "101"))
    err = raises(files, files["patients"], 3, "ID", None, "duplicate patient")
    assert "101" not in str(err) and "as row 1" in str(err)


def test_sex_code(files):
    rewrite_sav(files["patients"], set_cell(2, "SEX", 3.0))
    raises(files, files["patients"], 2, "SEX", 3.0, "sex must be coded 1")


def test_age_out_of_range(files):
    rewrite_sav(files["patients"], set_cell(1, "AGE", 150.0))
    raises(files, files["patients"], 1, "AGE", 150.0, "outside the allowed range 18..90")


def test_score_out_of_range(files):
    rewrite_sav(files["patients"], set_cell(2, "MADRS_D1", 70.0))
    raises(files, files["patients"], 2, "MADRS_D1", 70.0, r"MADRS score outside .* 0\.\.60")


def test_unknown_pk_code(files):
    rewrite_sav(files["patients"], set_cell(1, "KET_10", -5.0))
    raises(files, files["patients"], 1, "KET_10", -5.0, "unknown serum-level code")


def test_unknown_drug(files):
    edit_csv(files["medication"], "101,-7,clonazepam", "101,-7,clonazepamum")
    raises(files, files["medication"], 1, "DRUG", "clonazepamum", "unknown generic drug name")


@pytest.mark.parametrize(
    "text, match",
    [
        ("0", "impossible daily dose"),
        ("-2", "impossible daily dose"),
        ("abc", "not a number"),
        ("1,5", "decimal separator"),
    ],
)
def test_impossible_dose(files, text, match):
    edit_csv(files["medication"], "101,-7,clonazepam,1,0", f'101,-7,clonazepam,"{text}",0')
    raises(files, files["medication"], 1, "DOSE_MG", text if text != "0" else 0.0, match)


def test_non_integer_day(files):
    edit_csv(files["medication"], "101,-7,clonazepam", "101,-7.5,clonazepam")
    raises(files, files["medication"], 1, "DAY", "-7.5", "not an integer")


def test_prn_flag(files):
    edit_csv(files["medication"], "101,-7,clonazepam,1,0", "101,-7,clonazepam,1,yes")
    raises(files, files["medication"], 1, "PRN", "yes", "as-needed flag must be 0 or 1")


def test_duplicate_daily_record(files):
    append_csv(files["medication"], "101,-7,clonazepam,1,0")
    n = len(files["medication"].read_text().splitlines()) - 1
    raises(files, files["medication"], n, None, None, "duplicate daily record")


def test_cp1250_where_utf8_expected(files):
    path = files["medication"]
    path.write_bytes(path.read_bytes() + "101,1,oxazepam Léčiva,10,0\n".encode("cp1250"))
    n = len(path.read_bytes().splitlines()) - 1
    raises(files, path, n, "DRUG", "oxazepam L", "not valid in the expected encoding utf-8")


# ----------------------------------------------------------------------------- soft


def test_quarantine_and_reconciliation(files):
    path = files["medication"]
    n0 = len(path.read_text().splitlines()) - 1
    append_csv(path, "")
    append_csv(path, "999,0,diazepam,5,0")  # patient not in the .sav
    append_csv(path, "101,8,diazepam,5,0")  # day 8
    append_csv(path, "101,-8,diazepam,5,1")  # day -8
    result = spss_wide.read(STUDY, files, KEY)
    q = result.quarantine
    assert q["row"].tolist() == [n0 + 1, n0 + 2, n0 + 3, n0 + 4]
    assert q["reason"].iloc[0] == "blank line"
    assert q["reason"].iloc[1] == "patient not in the patients file"
    assert q["value"].iloc[1] == pseudonymize(STUDY, "999", KEY)
    assert q["reason"].iloc[2:].str.contains("outside the study period").all()
    rep = result.report.set_index("file")
    assert (rep.rows_read == rep.rows_accepted + rep.rows_quarantined).all()
    assert rep.loc[str(path)].tolist()[1:] == [n0 + 4, n0, 4]
    assert rep.loc[str(files["patients"])].tolist()[1:] == [3, 3, 0]


def test_blank_sav_record_quarantined(files):
    def add_blank(frame):
        frame.loc[len(frame)] = [""] + [np.nan] * (frame.shape[1] - 1)
        return frame

    rewrite_sav(files["patients"], add_blank)
    result = spss_wide.read(STUDY, files, KEY)
    assert result.quarantine["row"].tolist() == [4]
    assert result.report.iloc[0][["rows_read", "rows_accepted", "rows_quarantined"]].tolist() == [4, 3, 1]
    assert len(result.tables.subjects) == 3


def test_user_missing_score_and_system_missing_pk(files):
    """A score code declared user-missing in the file is a missing visit; a system-missing
    serum level is 'not sampled'."""

    def mutate(frame):
        frame.loc[0, "BDI_D7"] = 99.0
        frame.loc[0, "NORKET_30"] = np.nan
        return frame

    rewrite_sav(files["patients"], mutate, extra_missing={"BDI_D7": [99.0]})
    result = spss_wide.read(STUDY, files, KEY)
    r = result.tables.ratings
    pid = pseudonymize(STUDY, "101", KEY)
    bdi7 = r[(r.patient_id == pid) & (r.scale == "bdi") & (r.visit == "day7")]
    assert bdi7["status"].item() == "missing" and bdi7["score"].isna().item()
    s = result.tables.subjects.set_index("patient_id").loc[pid]
    assert s["norketamine_ng_ml_30min_status"] == "missing" and np.isnan(s["norketamine_ng_ml_30min"])


def test_pk_codes_carry_value_labels_and_user_missing(files):
    _, meta = pyreadstat.read_sav(str(files["patients"]), user_missing=True)
    assert meta.variable_value_labels["KET_0"] == {-1.0: "below LLOQ", -2.0: "below LOD", -9.0: "not sampled"}
    assert {r["lo"] for r in meta.missing_ranges["NORKET_10"]} == {-1.0, -2.0, -9.0}
    assert meta.variable_value_labels["SEX"] == {1.0: "male", 2.0: "female"}
    frame, _ = pyreadstat.read_sav(str(files["patients"]))  # SPSS default: codes are missing
    assert frame["NORKET_10"].isna().sum() == 1


def test_numeric_id_variable_matches_csv_ids(files):
    rewrite_sav(files["patients"], lambda f: f.assign(ID=f["ID"].astype(float)))
    result = spss_wide.read(STUDY, files, KEY)
    assert result.quarantine.empty
    assert set(result.tables.medication.patient_id) == {
        pseudonymize(STUDY, i, KEY) for i in ("101", "102", "103")
    }
