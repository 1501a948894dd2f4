"""ecrf_cz reader: every hard error names file, row, column and value; soft problems are
quarantined or flagged and reconcile per file."""

from __future__ import annotations

import pytest
from format_example import example_truth

from ketamine_bzd.errors import IngestError
from ketamine_bzd.formats import ecrf_cz
from ketamine_bzd.pseudonym import pseudonymize

KEY = b"test-key"
STUDY = "ket2013"


@pytest.fixture
def files(tmp_path):
    return ecrf_cz.write(example_truth(STUDY), tmp_path)


def edit(path, old, new, count=1):
    text = path.read_bytes().decode("cp1250")
    assert old in text, old
    path.write_bytes(text.replace(old, new, count).encode("cp1250"))


def append(path, line):
    path.write_bytes(path.read_bytes() + (line + "\r\n").encode("cp1250"))


def raises(files, file, row, column, value, match):
    with pytest.raises(IngestError, match=match) as info:
        ecrf_cz.read(STUDY, files, KEY)
    err, msg = info.value, str(info.value)
    assert err.file == str(file) and str(file) in msg
    assert err.row == row and (row is None or f"row {row}" in msg)
    assert err.column == column and (column is None or repr(column) in msg)
    if value is not None:
        assert str(value) in msg
    return err


def test_missing_file(files):
    files["prn"].unlink()
    raises(files, files["prn"], None, None, None, "missing file")


def test_missing_column(files):
    edit(files["ratings"], "Škála", "Skala")
    raises(files, files["ratings"], 0, "Škála", None, "missing column")


def test_utf8_file_where_cp1250_expected(files):
    path = files["patients"]
    path.write_bytes(path.read_bytes().decode("cp1250").encode("utf-8"))
    err = raises(files, path, 0, "Číslo pacienta", "Číslo pacienta", "UTF-8 encoded")
    assert "Ä" not in str(err)  # detected, not mojibake


def test_byte_undefined_in_cp1250(files):
    path = files["prescriptions"]
    data = path.read_bytes().replace(b"Zoloft", b"Zol\x81ft", 1)
    path.write_bytes(data)
    raises(files, path, 4, "Přípravek", "Zol", "not valid in the expected encoding cp1250")


def test_unknown_brand(files):
    edit(files["prescriptions"], "Zoloft 100 mg", "Zoloft 100mg")
    raises(files, files["prescriptions"], 4, "Přípravek", "Zoloft 100mg", "unknown brand")


def test_unknown_brand_in_prn(files):
    edit(files["prn"], "Neurol 0,5 mg", "Neurol 0,75 mg")
    raises(files, files["prn"], 1, "Přípravek", "Neurol 0,75 mg", "unknown brand")


def test_duplicate_patient_names_row_not_id(files):
    edit(files["patients"], "\r\n102;", "\r\n101;")
    err = raises(files, files["patients"], 2, "Číslo pacienta", None, "duplicate patient")
    assert "101" not in str(err) and "as row 1" in str(err)


@pytest.mark.parametrize(
    "text, match",
    [
        ("0", "impossible number of tablets"),
        ("-1", "impossible number of tablets"),
        ("25", r"impossible number of tablets \(> 20\)"),
        ("dvě", "not a number"),
        ("0,3", "quarters"),
        ("0.5", "decimal separator"),
    ],
)
def test_impossible_tablets(files, text, match):
    edit(files["prescriptions"], "2014;2\r\n", f"2014;{text}\r\n")
    raises(files, files["prescriptions"], 1, "Tablet denně", text, match)


def test_impossible_prn_tablets(files):
    edit(files["prn"], "2015;0,5", "2015;0")
    raises(files, files["prn"], 2, "Počet tablet", 0.0, "impossible number of tablets")


def test_score_out_of_range(files):
    edit(files["ratings"], "BL;11.03.2014;MADRS;30", "BL;11.03.2014;MADRS;61")
    raises(files, files["ratings"], 1, "Celkové skóre", 61.0, r"MADRS score outside .* 0\.\.60")


def test_age_out_of_range(files):
    edit(files["patients"], "101;Ž;43;", "101;Ž;143;")
    raises(files, files["patients"], 1, "Věk (roky)", 143.0, "outside the allowed range 18..90")


def test_unknown_sex_code(files):
    edit(files["patients"], "101;Ž;", "101;F;")
    raises(files, files["patients"], 1, "Pohlaví", "F", "sex must be")


def test_unknown_visit_code(files):
    edit(files["ratings"], ";D3;", ";D5;")
    raises(files, files["ratings"], 7, "Kód návštěvy", "D5", "unknown visit code")


def test_unknown_scale(files):
    edit(files["ratings"], ";BDI-II;", ";BDI;")
    raises(files, files["ratings"], 2, "Škála", "BDI", "unknown scale")


@pytest.mark.parametrize("bad", ["31.02.2014", "2014-03-12", "12/03/2014"])
def test_date_does_not_parse(files, bad):
    edit(files["patients"], "12.03.2014", bad)
    raises(files, files["patients"], 1, "Datum infuze", bad, "date does not parse")


def test_stop_before_start(files):
    edit(files["prescriptions"], "05.03.2014;14.03.2014", "05.03.2014;04.03.2014")
    raises(files, files["prescriptions"], 1, "Datum do", "04.03.2014", "stops before it starts")


def test_pk_text_not_allowed(files):
    edit(files["patients"], ";<LLOQ;", ";< LLOQ;")
    raises(files, files["patients"], 2, "Norketamin 10 min (ng/ml)", "< LLOQ", "not a number")


def test_wrong_delimiter_field_count(files):
    append(files["prn"], "101,Neurol 0,5 mg,12.03.2014,1")
    raises(files, files["prn"], 3, None, None, "fields but the header has 4")


# ----------------------------------------------------------------------------- soft


def test_quarantine_and_reconciliation(files):
    append(files["prn"], "")  # blank line
    append(files["prn"], ";;;")  # blank record
    append(files["prn"], "999;Neurol 0,5 mg;12.03.2014;1")  # unknown patient
    append(files["prn"], "101;Neurol 0,5 mg;25.03.2014;1")  # study day 13
    append(files["prescriptions"], "101;Neurol 0,5 mg;01.01.2014;31.01.2014;1")  # outside
    append(files["ratings"], "999;BL;11.03.2014;MADRS;30")  # unknown patient
    result = ecrf_cz.read(STUDY, files, KEY)
    q = result.quarantine
    prn = q[q["file"] == str(files["prn"])]
    assert prn["row"].tolist() == [3, 4, 5, 6]
    assert prn["reason"].tolist()[:2] == ["blank line", "blank line"]
    assert prn["reason"].iloc[2] == "patient not in the patients file"
    assert prn["value"].iloc[2] == pseudonymize(STUDY, "999", KEY)
    assert "outside the study period" in prn["reason"].iloc[3]
    assert "entirely outside" in q[q["file"] == str(files["prescriptions"])]["reason"].iloc[0]
    assert not q.to_csv().count(";999;") and "999" not in q["value"].fillna("").str.cat()
    rep = result.report.set_index("file")
    assert (rep.rows_read == rep.rows_accepted + rep.rows_quarantined).all()
    assert rep.loc[str(files["prn"]), ["rows_read", "rows_accepted", "rows_quarantined"]].tolist() == [
        6,
        2,
        4,
    ]
    assert rep.loc[str(files["ratings"]), "rows_quarantined"] == 1
    assert len(q) == rep.rows_quarantined.sum()


def test_missing_visit_kept_as_missing(files):
    # a visit row present with an empty score is the same as an absent row
    edit(files["ratings"], "BL;11.03.2014;MADRS;30", "BL;11.03.2014;MADRS;")
    ratings = ecrf_cz.read(STUDY, files, KEY).tables.ratings
    pid = pseudonymize(STUDY, "101", KEY)
    row = ratings[(ratings.patient_id == pid) & (ratings.scale == "madrs") & (ratings.visit == "day0")]
    assert row["status"].item() == "missing" and row["study_day"].item() == -1
    assert row["score"].isna().item()
    assert len(ratings) == 36


def test_prescription_clipped_to_study_period_with_warning(files):
    edit(files["prescriptions"], "05.03.2014;14.03.2014", "01.01.2014;14.03.2014")
    result = ecrf_cz.read(STUDY, files, KEY)
    assert any("clipped" in w and "row 1" in w for w in result.warnings)
    med = result.tables.medication
    assert med["study_day"].between(-7, 7).all()
    assert result.quarantine.empty


def test_open_prescription_runs_to_day_7_and_prn_summed(files):
    edit(files["prescriptions"], "05.03.2014;14.03.2014;2", "05.03.2014;;2")
    append(files["prn"], "103;Rivotril 0,5 mg;22.01.2015;0,5")
    med = ecrf_cz.read(STUDY, files, KEY).tables.medication
    p1, p3 = (pseudonymize(STUDY, i, KEY) for i in ("101", "103"))
    clon = med[(med.patient_id == p1) & (med.drug == "clonazepam")]
    # the open prescription (1 mg) overlaps the 2 mg one from day 3: daily totals add up
    assert clon.groupby("study_day")["dose_mg"].sum().loc[3:].eq(3.0).all()
    prn = med[(med.patient_id == p3) & med.as_needed]
    assert prn["dose_mg"].tolist() == [0.5]


def test_encoding_error_in_id_field_does_not_leak_the_id(files):
    path = files["ratings"]
    path.write_bytes(path.read_bytes().replace(b"\r\n102;BL", b"\r\n1\x8102;BL", 1))
    err = raises(files, path, 13, "Číslo pacienta", None, "not valid in the expected encoding")
    assert err.value is None and "102" not in str(err)


def test_czech_brand_with_diacritics_read_from_cp1250(files):
    append(files["prn"], "101;Oxazepam Léčiva 10 mg;12.03.2014;0,5")
    med = ecrf_cz.read(STUDY, files, KEY).tables.medication
    oxa = med[med.drug == "oxazepam"]
    assert oxa[["study_day", "dose_mg", "as_needed"]].values.tolist() == [[0, 5.0, True]]
